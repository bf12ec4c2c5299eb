"""Reading a question once: from the question and the conversation to a typed `Question`.

Everything downstream (retrieval, the features, the answer model, composing the reply) reads
the fields of this value; nothing parses the question's text again.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from peelqa.answering.conversation import (
    conversation_context,
    is_chitchat,
    is_other_task,
    opens_follow_up,
    previous_answer,
)
from peelqa.answering.scope import KINDS, Profile, name_words, named_reports, years_asked
from peelqa.answering.spelling import Vocabulary
from peelqa.kinds import AnswerType, expected_type, figures_in, is_yes_no, roles_in
from peelqa.models import Turn
from peelqa.text import (
    JOINING_WORDS,
    MARKER_RE,
    NUMBER_WORDS,
    STOPWORDS,
    content_words,
    expand_shorthand,
    stem,
    words,
)
from peelqa.text import terms as text_terms  # (`terms` names a local and a field here)

# Words that frame a question about an inspection without saying what it is about.
FRAME_WORDS = frozenset(
    """
    force forces police constabulary report reports inspection inspections inspectorate hmic
    hmicfrs peel inspectors inspector found find say says said think thought mention mentioned
    anything something area areas part parts section sections bit overall according
    """.split()
)
_ROLE_WORDS = frozenset(["inspector", "inspectors"])
# Words that only say which kind of answer is wanted; they are not its subject.
KIND_WORDS = frozenset(
    """
    grade grades graded grading rated rating ratings judged judgement judgment judgments
    verdict score scored many much number numbers figure figures amount total percentage
    percent proportion share rate long quickly fast soon wait waiting time times year years
    date month when who whose name named stand stands short acronym abbreviation mean means
    meaning why reason reasons list main key get got give given receive received award awarded
    well badly good poorly pass passed do did does doing done perform performed performance
    """.split()
)
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z'’&-]+")
_ACRONYM_RE = re.compile(r"\b[A-Z]{2,6}s?\b")
_LOWER_ACRONYM_RE = re.compile(r"\b[a-z]{3,6}\b")
# A word written in capitals, of any length ("HMICFRS" too, which _ACRONYM_RE leaves out).
_CAPITALS_RE = re.compile(r"\b[A-Z]{2,}s?\b")
# Tags pasted into a question ("</question>") are never what it asks about, nor are citation
# markers ("[9]"); read as words they would count as focus the reports lack.
_TAG_RE = re.compile(r"</?[A-Za-z][\w-]*\s*/?>")
_JOINERS = r"(?:(?:" + "|".join(map(re.escape, sorted(JOINING_WORDS))) + r")[^\S\n]+)?"
# Words that say which report, or that the question is about a report, and nothing more.
_SCOPE_WORDS = frozenset(
    """
    hmic hmicfrs peel inspection inspections report reports inspectorate according
    police constabulary force's
    """.split()
)
_YEARISH_RE = re.compile(r"(?:19|20)\d\d(?:\s?[/–-]\s?\d\d(?:\d\d)?)?s?")
# Abbreviations looked up (with what they stand for, or None); bounded, as questions vary.
MAX_SPELT = 4096
# A phrase an abbreviation may stand for is told from another by the words of its sentence, up
# to this many characters either side, compared by their first PREFIX letters ("vacant",
# "vacancies").
AROUND = 100
PREFIX = 5
# A question about the report's own structure ("what are the four questions?") names one of
# these and nothing else but words of these kinds and the titles'.
_STRUCTURE_NOUNS = frozenset(["questions", "areas", "sections", "topics", "themes", "parts"])
_STRUCTURE_WORDS = _STRUCTURE_NOUNS | frozenset(
    """
    inspection report look looked looking examine examined assess assessed focus cover
    covered covers main key consider considered ask asked list name inspectors
    """.split()
)


# "these days", "so far": when, as of now, which every report's present tense already says;
# as focus terms they would match "12 days" and "far".
_NOW_RE = re.compile(
    r"\b(?:these days|nowadays|currently|at the moment|at present|so far|right now|to date"
    r"|any ?more)\b",
    re.IGNORECASE,
)


# "How does that compare nationally?": a comparison with what was just answered.
_COMPARES_RE = re.compile(
    r"\b(?:that|this|it|those|these)\b(?:\W+\w+){0,3}?\W+compar\w*|\bcompar\w*\W+(?:that|this|it)\b",
    re.IGNORECASE,
)


def _kind_asked_before(question: str, asked: AnswerType, history: list[Turn]) -> AnswerType:
    """What a follow-up asks for, `asked` being what it asks for read alone. One that names
    no kind of its own ("what about investigations?", "and the year before?", "how does that
    compare nationally?") asks for what the question it follows asked for: a grade after a
    grade, a count after a count."""
    if asked != AnswerType.DESCRIPTION or not (
        opens_follow_up(question) or _COMPARES_RE.search(question)
    ):
        return asked
    for earlier in reversed([t.content for t in history if t.role == "user"]):
        kind = expected_type(earlier)
        if kind != AnswerType.DESCRIPTION or not opens_follow_up(earlier):
            return kind
    return asked


@dataclass(frozen=True)
class Question:
    asked: str  # as the user typed it (trimmed)
    text: str  # shorthand spelt out: what is answered
    encoder_text: str  # misspellings mended, abbreviations spelt out: what the encoder reads
    # The encoder text without what only says which report is meant (the force's name, the
    # year, "the PEEL inspection"), which would otherwise draw the reports' introductions.
    core_text: str
    terms: tuple[str, ...]  # stems of the content words, spelling mended
    focus: tuple[str, ...]  # stems of what is asked about (no frame or kind words)
    focus_prefixes: tuple[str, ...]  # light stems of the focus words, for matching in text
    expects: AnswerType
    yes_no: bool
    names: tuple[str, ...]  # proper names the question uses (lower case)
    unknown_names: tuple[str, ...]  # ... of which the reports never use
    docs: tuple[str, ...] | None  # the reports it names; None: not scoped
    context: str  # the conversation a follow-up needs ("" when it stands alone)
    chitchat: bool
    previous: str = ""  # a follow-up: the answer it follows
    previous_terms: tuple[str, ...] = ()  # ... and its stems
    # The years and kinds of inspection a question names as the time or kind of a report.
    years: frozenset[int] = frozenset()
    kinds: frozenset[str] = frozenset()
    # The question asks about the whole ("overall", or a grade with no area named).
    overall: bool = False
    # It names a force ("Leicestershire Police") that no report is about.
    other_force: bool = False
    # "how many officers ...": the light stem of what is to be counted.
    count_noun: str | None = None
    # The long form of an abbreviation the question uses, as the reports define it.
    abbreviation: str | None = None
    # The abbreviations the question writes ("THRIVE", "pfcc" as "PFCC"), defined or not.
    acronyms: tuple[str, ...] = ()
    # The roles it names ("Who's the deputy chief constable?"), as kinds.roles_in reads them.
    roles: frozenset[str] = frozenset()
    # A question about the report's structure, and the number of parts it names, if any.
    asks_structure: bool = False
    structure_count: int | None = None
    # The figures the question itself writes ("999" of "how many 999 calls"): never its answer.
    figures: frozenset[str] = frozenset()
    # A question of two parts ("When did the MASH open, and has it got a backlog?"): the stems
    # its second part asks about that its first does not ("backlog").
    second: tuple[str, ...] = ()

    def within(self, docs: Sequence[str] | None) -> Question:
        """The question asked of these reports only (a caller's scope): the ones it names
        among them, else all of them. None: no scope."""
        if docs is None:
            return self
        named = tuple(d for d in self.docs or () if d in docs)
        return dataclasses.replace(self, docs=named or tuple(docs))

    @property
    def follow_up(self) -> bool:
        return bool(self.context)

    @property
    def searches(self) -> tuple[str, ...]:
        """The encoder texts answering uses: the question without its framing, as asked when
        that differs, and a follow-up with its conversation."""
        out = [self.core_text]
        if self.encoder_text != self.core_text:
            out.append(self.encoder_text)
        if self.context:
            out.append(f"{self.context} {self.encoder_text}")
        return tuple(out)


class Understander:
    """Reads questions against one index: its vocabulary, abbreviations and reports."""

    def __init__(
        self,
        *,
        vocabulary: Vocabulary,
        abbreviations: dict[str, str],
        profiles: dict[str, Profile],
        titles: list[str],
        texts: list[str],
    ) -> None:
        """`texts`: the reports' section texts, where an abbreviation the reports never define
        is looked for as a phrase with its initials."""
        self.vocabulary = vocabulary
        self.texts = texts
        self._spelt: dict[str, dict[str, list[set[str]]]] = {}
        self.abbreviations = abbreviations
        self.profiles = profiles
        self._known = frozenset(vocabulary.counts)
        self._report_names = frozenset(n for p in profiles.values() for n in p.names)
        self._sorted_names = sorted(self._report_names)
        self._title_words = frozenset(w for title in titles for w in words(title))
        self._initials = frozenset(i.lower() for p in profiles.values() for i in p.initials)
        self._years = frozenset(y for p in profiles.values() for y in p.years)
        self._own_forces = frozenset(n for p in profiles.values() for n in p.own)
        # What the reports write in capitals ("MARACs"): an abbreviation, never a short form of
        # a force's name, however its letters start.
        self._acronyms = frozenset(
            a.lower().removesuffix("s") for t in texts for a in _CAPITALS_RE.findall(t)
        )

    def _names_report(self, word: str) -> bool:
        """A word that names a report's force, also in a short form people use ("ravs" for
        Ravensworth): which report is meant, not what is asked about it."""
        if word in self._report_names:
            return True
        if len(word) < 3 or word in self.vocabulary.english or word in STOPWORDS:
            return False
        if word.removesuffix("s") in self._acronyms:
            return False
        short = word[: max(3, len(word) - 3)] if word.endswith("s") else word
        # The names that start with it, found in the sorted names (many with many reports).
        at = bisect.bisect_left(self._sorted_names, short)
        while at < len(self._sorted_names) and self._sorted_names[at].startswith(short):
            if len(self._sorted_names[at]) >= len(short) + 3:
                return True
            at += 1
        return False

    def _title_year(self, word: str) -> bool:
        """A year of a report's title ("2018", the "22" of "2021/22"): says which report, and
        sentences of that report that happen to repeat it are no nearer the answer."""
        if not word.isdigit() or len(word) not in (2, 4):
            return False
        year = int(word) if len(word) == 4 else 2000 + int(word)
        return year in self._years

    def read(self, question: str, history: list[Turn]) -> Question:
        pasted = MARKER_RE.sub(" ", _TAG_RE.sub(" ", question))
        text = expand_shorthand(" ".join(pasted.split()))
        chitchat = is_chitchat(text) or is_other_task(text)
        context = "" if chitchat else conversation_context(question=text, history=history)
        mended = self.vocabulary.mend(text)
        terms = self._terms(mended)
        asked = expected_type(text)
        expects = _kind_asked_before(text, asked, history) if context else asked
        # "Which HM Inspector signed it?": the role asked for is what the question is about.
        frame = FRAME_WORDS - _ROLE_WORDS if expects == AnswerType.PERSON else FRAME_WORDS
        mended_words = content_words(mended)
        focus_words = self._focus_words(mended, frame)
        own_focus = bool(focus_words)
        if context and not own_focus:
            # "why?", "and the year before?": a follow-up with nothing of its own to ask about
            # asks about what the latest question that named something did ("investigations"
            # of "what about investigations?", not the question before that too), and its
            # words then count for the candidates' lexical features. The encoder text stays
            # as asked: with the earlier question in it too, a refit answered fewer questions
            # right (docs/quality.md).
            for earlier in reversed([t.content for t in history if t.role == "user"]):
                if found := self._focus_words(
                    self.vocabulary.mend(expand_shorthand(earlier)), frame
                ):
                    focus_words = found
                    break
        names, unknown = self._names(question)
        previous = previous_answer(history) if context else ""
        scope_text = f"{context} {text}" if context else text
        structure, count = self._structure(content_words(text))
        abbreviations: list[str] = []
        encoder_text = self._expand(self.vocabulary.mend_in_place(text), abbreviations)
        besides = {w[:PREFIX] for w in mended_words}
        typed = self._abbreviations_in(question, frozenset(mended_words))
        phrases = [p for a in typed if (p := self._phrase(a, besides))]
        if phrases:  # "LPAs" where the report only says "local policing areas"
            encoder_text = f"{encoder_text} ({'; '.join(phrases)})"
            mended = f"{mended} {' '.join(phrases)}"
            terms = self._terms(mended)
            focus_words += [w for p in phrases for w in content_words(p)]
        return Question(
            asked=question.strip(),
            text=text,
            encoder_text=encoder_text,
            core_text=self._core(encoder_text),
            terms=terms,
            focus=tuple(dict.fromkeys(stem(w) for w in focus_words)),
            focus_prefixes=tuple(dict.fromkeys(w[: max(5, len(w) - 3)] for w in focus_words)),
            expects=expects,
            yes_no=is_yes_no(text),
            names=names,
            unknown_names=unknown,
            docs=named_reports(scope_text, self.profiles, known=self._known),
            context=context,
            chitchat=chitchat,
            previous=previous,
            previous_terms=tuple(text_terms(previous)),
            abbreviation=abbreviations[0] if abbreviations else None,
            acronyms=tuple(typed),
            roles=roles_in(text),
            years=frozenset(years_asked(text)),
            kinds=frozenset(k for k in KINDS if k in text.lower()),
            count_noun=_count_noun(mended),
            overall="overall" in words(text) or (asked == AnswerType.GRADE and not own_focus),
            # A force named that no report is about: unknown, or a neighbour a report mentions.
            other_force=any(
                bool(ws & set(unknown)) or bool(self._own_forces and not ws & self._own_forces)
                for ws in _force_names(question)
            ),
            asks_structure=structure,
            structure_count=count,
            figures=figures_in(pasted),
            second=_second_part(mended, frame),
        )

    def _focus_words(self, mended: str, frame: frozenset[str]) -> list[str]:
        """What a mended question asks about: its content words without its frame, the kinds
        of answer, what only names a report and what only says "as of now"."""
        return [
            w
            for w in content_words(_NOW_RE.sub(" ", mended))
            if w not in frame
            and w not in KIND_WORDS
            and not self._names_report(w)
            and not self._title_year(w)
        ]

    def _structure(self, content: list[str]) -> tuple[bool, int | None]:
        if not content or not _STRUCTURE_NOUNS & set(content):
            return False, None
        counts = [NUMBER_WORDS.get(w) or (int(w) if w.isdigit() else None) for w in content]
        extra = [
            w
            for w, n in zip(content, counts, strict=True)
            if n is None and w not in _STRUCTURE_WORDS and w not in self._title_words
        ]
        numbers = {n for n in counts if n is not None}
        if extra or len(numbers) > 1:
            return False, None
        return True, numbers.pop() if numbers else None

    def _names(self, question: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Capitalised words past the first (another force, a person, a place or a scheme),
        and the reports' own names however they are typed ("eastmoor")."""
        names: list[str] = []
        unknown: list[str] = []
        for pos, tok in enumerate(_NAME_RE.findall(question)):
            word = re.sub(r"['’]s?$", "", tok.lower())
            if self._names_report(word):
                names.append(word)
                continue
            if pos == 0 or not tok[0].isupper() or word in STOPWORDS or len(word) < 3:
                continue
            if (word in FRAME_WORDS or word in _SCOPE_WORDS) and word not in self.vocabulary:
                continue  # "HMICFRS" of a report that says "we": the inspectorate, not a name
            names.append(word)
            corrected = self.vocabulary.correct(word)
            if not all(x in self.vocabulary for x in corrected):
                unknown.append(word)
        return tuple(names), tuple(unknown)

    def _terms(self, mended: str) -> tuple[str, ...]:
        """Stems of the words that say what is asked, not which report."""
        return tuple(
            stem(w)
            for w in content_words(mended)
            if w not in _SCOPE_WORDS and not self._names_report(w)
        )

    def _core(self, text: str) -> str:
        """The text without the words that only name a report or frame the question as one
        about an inspection; the text itself when nothing else would be left."""
        kept = []
        for tok in text.split():
            bare = tok.strip(".,;:?!()'\"’‘“”").lower()
            if (
                bare in _SCOPE_WORDS
                or bare in self._report_names
                or _YEARISH_RE.fullmatch(bare)
                or (tok.strip(".,;:?!()").isupper() and bare.replace("&", "") in self._initials)
            ):
                continue
            kept.append(tok)
        core = " ".join(kept)
        return core if content_words(core) else text

    def _abbreviations_in(self, question: str, unmended: frozenset[str]) -> list[str]:
        """The abbreviations a question writes: in capitals, and typed in lower case ("pfcc
        name?") when the word is neither English nor one of the reports' own, and spelling
        left it as typed (`unmended`: the content words of the mended question)."""
        found = _ACRONYM_RE.findall(question)
        for w in _LOWER_ACRONYM_RE.findall(question):
            if (
                w in unmended
                and w not in self._known
                and w not in self.vocabulary.english
                and w not in self._initials  # a force's own ("sp")
            ):
                # "dcs": the plural of "DC", as "DCs" is.
                found.append(w[:-1].upper() + "s" if w.endswith("s") else w.upper())
        return found

    def _phrase(self, acronym: str, besides: set[str]) -> str | None:
        """The phrase of the reports whose initials spell an abbreviation they never define
        ("LPA" -> "local policing areas"); None when there is none or the abbreviation is the
        reports' own word. Never one that repeats a word of the question; of several ("DC":
        "detective constable", "deserves credit"), the one written among the question's other
        words ("DC posts vacant": "detective constable posts were vacant"), then the most
        frequent. `besides`: the question's words, by their first PREFIX letters."""
        short = acronym.rstrip("s") if acronym.endswith("s") and len(acronym) > 2 else acronym
        if short in self.abbreviations or short.lower() in self._known:
            return None
        if short not in self._spelt:
            if len(self._spelt) >= MAX_SPELT:
                self._spelt.pop(next(iter(self._spelt)))
            self._spelt[short] = _initials_phrases(short, self.texts)
        besides = besides - {w[:PREFIX] for w in short.lower().split()}
        # A phrase the question already writes a word of is not what it abbreviates ("call
        # handling" is not spelt "HP").
        found = {
            phrase: uses
            for phrase, uses in self._spelt[short].items()
            if not besides & {w[:PREFIX] for w in phrase.split()}
        }
        if not found:
            return None

        def standing(phrase: str) -> tuple[int, int]:
            near = max(len(besides & around) for around in found[phrase])
            return near, len(found[phrase])

        return max(found, key=standing)

    def _expand(self, text: str, found: list[str]) -> str:
        """Spell out the abbreviations the reports define, for the encoder; their long forms
        are added to `found`."""
        extra: list[str] = []
        low = text.lower()
        for short, long in self.abbreviations.items():
            if re.search(rf"\b{re.escape(short.lower())}s?\b", low):
                found.append(long)
                if long.lower() not in low:
                    extra.append(long)
        return text if not extra else f"{text} ({'; '.join(extra)})"


def _initials_phrases(short: str, texts: list[str]) -> dict[str, list[set[str]]]:
    """The phrases whose words' initials spell `short` (joining words skipped), in the order
    the texts first use them, each with the words of the sentence of every use of it (by their
    first PREFIX letters)."""
    letters = short.lower()
    # Its words may stand in a list ("the police, fire and crime commissioner"), never on two
    # lines (a heading and the sentence after it).
    between = r"\w*,?[^\S\n]+" + _JOINERS
    # A word a letter, or a first word in capitals for the first k letters ("HM Inspector" of
    # "HMI"): (pattern, how many words it spells).
    patterns = []
    for k in (0, *range(2, len(letters))):
        head = rf"(?-i:{re.escape(short[:k].upper())})[^\S\n]+{_JOINERS}" if k else ""
        rest = between.join(re.escape(ch) for ch in letters[k:])
        patterns.append((re.compile(rf"\b{head}{rest}\w*", re.I), len(letters) - k + bool(k)))
    found: dict[str, list[set[str]]] = {}
    joiners = {"and", "of", "for", "the", "&", "in", "on", "to"}
    for text in texts:
        for pattern, spelling in patterns:
            for m in pattern.finditer(text):
                phrase = m.group(0).lower()
                kept = [w for w in phrase.split() if w not in joiners]
                if len(kept) != spelling or any(w in STOPWORDS for w in kept):
                    continue
                # Its sentence (a heading is a line of its own), at most AROUND either side.
                start = max(m.start() - AROUND, *(text.rfind(c, 0, m.start()) for c in ".\n"))
                ends = [e for c in ".\n" if (e := text.find(c, m.end())) >= 0]
                around = text[max(0, start) : min([m.end() + AROUND, *ends])]
                found.setdefault(phrase, []).append(
                    {w[:PREFIX] for w in content_words(around)} - {w[:PREFIX] for w in kept}
                )
    return found


# Where a question's second part starts: "..., and how many ...", "... and has it worked?".
_SECOND_PART_RE = re.compile(
    r",?\s+and\s+(?:then\s+)?(?=(?:how|when|what|who|which|why|where|has|have|had|did|does|do|is"
    r"|are|was|were|will|can|by when)\b)",
    re.IGNORECASE,
)


def _second_part(text: str, frame: frozenset[str]) -> tuple[str, ...]:
    """The stems a question's second part asks about that its first part does not, without
    frame words and words that only say the kind of answer; () for a question of one part."""
    parts = _SECOND_PART_RE.split(text, maxsplit=1)
    if len(parts) != 2:
        return ()
    first = {stem(w) for w in content_words(parts[0])}
    second = [
        stem(w)
        for w in content_words(parts[1])
        if w not in frame and w not in KIND_WORDS and not w.isdigit()
    ]
    return tuple(dict.fromkeys(t for t in second if t not in first))


_COUNT_NOUN_RE = re.compile(
    r"\bhow many (?:(?:of|more|fewer|new|extra|additional|the)\s+)*([a-z]+)"
)


def _count_noun(text: str) -> str | None:
    """What "how many X" counts, as a light stem ("officers" -> "offic")."""
    m = _COUNT_NOUN_RE.search(text.lower())
    if m is None or m.group(1) in STOPWORDS:
        return None
    word = m.group(1)
    return word[: max(4, len(word) - 3)]


_FORCE_NAME_RE = re.compile(r"\b([A-Z][a-z]+)(?:\s[A-Z][a-z]+)?\s(?:Police|Constabulary)\b")


def _force_names(question: str) -> list[frozenset[str]]:
    """The words of each force named in the question ("leicestershire" of "Leicestershire
    Police"; "mercia" of "West Mercia Police"), in lower case."""
    return [
        frozenset(name_words(m.group(0))) or frozenset([m.group(1).lower()])
        for m in _FORCE_NAME_RE.finditer(question)
    ]
