"""Checking a generated answer against the report, sentence by sentence, before anyone sees it.

A generated sentence reaches the user only when it cites a passage that exists and that passage
supports it:
- its facts are in the passage: names, numbers, inspection grades and quoted terms (names of
  the report's own subject, from its title and introduction, may always be used);
- it says no where the passage says no, and yes where it says yes (negation);
- it judges as the passage does ("weak" is no paraphrase of "strong");
- its words are mostly the passage's own (`MIN_COVERAGE`), and its meaning is close to the
  passage: cosine similarity of the app's own sentence embeddings at least `MIN_SIMILARITY`
  (both measured in bench/grounding.py on faithful paraphrases and on deliberately wrong
  sentences; see the README).
A sentence without a usable marker, or citing the wrong passage, is repaired when exactly such
support is found in another passage; otherwise it is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from peelqa.encoder.base import Vectors
from peelqa.index.store import Index
from peelqa.models import Citation
from peelqa.reports.sentences import split_sentences
from peelqa.text import (
    GRADE_RE,
    MARKER_RE,
    NEGATIONS,
    NUMBER_WORDS,
    STOPWORDS,
    canonical_grade,
    marker_numbers,
    stem,
    words,
)

Encode = Callable[[list[str]], Awaitable[Vectors]]

# Measured by bench/grounding.py on tests/data/grounding.jsonl (42 faithful paraphrases of report
# sentences, 67 deliberately wrong sentences, and every faithful one cited against each passage
# of another section: 775 wrong in all). Once names, numbers, grades, negation and judging words
# are checked, these two keep 40/42 faithful and drop 770/775 wrong; the 5 kept are true
# sentences of the report cited to a neighbouring passage. Similarity 0.5 would drop a third
# faithful one for nothing; coverage 0.6 lets 5 more wrong ones through.
MIN_SIMILARITY = 0.45
MIN_COVERAGE = 0.7

_LEADING_MARKERS_RE = re.compile(r"^((?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+)\s*")
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]|\d[\d,]*(?:\.\d+)?")
_QUOTED_RE = re.compile(r"[“\"]([^”\"]{2,})[”\"]|(?<![A-Za-z])['‘]([^'’]{2,}?)['’](?![A-Za-z])")

# Counts written as words are numbers too, but not "one": it is far more often a pronoun ("one
# of the areas") than a count.
_NUMBER_WORDS = {w: str(n) for w, n in NUMBER_WORDS.items() if w != "one"}
# Words that carry a passage's "no" into a paraphrase without a negation word ("may not be
# making the best use" -> "may be making poor use").
_SHORTFALL = frozenset(
    """
    poor poorly weak weakness inconsistent inconsistently limited unacceptable concern
    concerned concerns delay delays delayed improve improved improvement improvements
    better more less fewer yet gap gaps shortfall shortfalls problem problems risk
    """.split()
)
# Words that judge. A claim may only judge as its passage does: "weak" where the report says
# "strong", "consistently" where it says "inconsistently", "already" where it says "yet to" are
# the flips that embeddings barely notice (measured: similarity 0.5-0.85).
_JUDGING = frozenset(
    """
    strong strongly weak weakly good poor poorly bad badly excellent effective effectively
    ineffective well consistent consistently inconsistent inconsistently adequate adequately
    sufficient insufficient high low quick quickly fast slow slowly praised praise criticised
    commended fully already entirely completely always never clear clearly successful
    unsuccessful worse worst best great effective timely prompt promptly robust
    """.split()
)
# Sentence openers that are capitalised only because they come first.
_OPENERS = frozenset(
    """
    overall however also additionally furthermore moreover finally first second third
    specifically importantly notably similarly meanwhile still instead currently yes
    according in the this these those it its there their they inspectors officers staff
    while although though because since as at for from on by with whereas some many
    """.split()
)


@dataclass
class Verdict:
    sentence: str  # as the model wrote it
    text: str  # what the user sees when kept: the claim and its markers, normalised
    kept: bool
    repaired: bool = False
    reason: str = "supported"
    similarity: float | None = None
    markers: list[int] = field(default_factory=list)


def split_generated(text: str) -> list[str]:
    """Sentences of generated text; a marker written after the full stop ("... safe. [1]")
    belongs to the sentence before it."""
    out: list[str] = []
    for line in re.split(r"\n+", text):
        line = _BULLET_RE.sub("", line)
        for s in split_sentences(line):
            piece = line[s.start : s.end]
            lead = _LEADING_MARKERS_RE.match(piece)
            if lead and out:
                out[-1] += " " + lead.group(1).strip()
                piece = piece[lead.end() :]
            if piece.strip():
                out.append(piece.strip())
    return out


def markers_of(sentence: str) -> list[int]:
    found: list[int] = []
    for m in MARKER_RE.finditer(sentence):
        for n in marker_numbers(m):
            if n not in found:
                found.append(n)
    return found


# Placeholders small models copy from the instructions: "[n]", "[source]", "[1-2]".
_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\s]{0,12}\]")


def claim_of(sentence: str) -> str:
    """The sentence without its markers (nor marker-like placeholders), in tidy spacing."""
    text = _PLACEHOLDER_RE.sub("", MARKER_RE.sub("", sentence))
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _norm(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def _words(text: str) -> set[str]:
    return set(words(text))


def numbers_in(text: str) -> set[str]:
    found = set()
    for tok in _TOKEN_RE.findall(text):
        if tok[0].isdigit():
            found.add(tok.replace(",", "").rstrip("."))
        elif tok.lower() in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[tok.lower()])
    return found


def grades_in(text: str) -> set[str]:
    return {canonical_grade(g) for g in GRADE_RE.findall(text)}


def quoted_in(text: str) -> set[str]:
    return {_norm(a or b).strip(" .,") for a, b in _QUOTED_RE.findall(text)}


def negated(text: str) -> bool:
    ws = _words(text.replace("n't", " not").replace("n’t", " not"))
    return bool(ws & NEGATIONS) or "yet to" in _norm(text)


@dataclass
class Context:
    """What any sentence may name besides its passage: the reports' subjects (title and
    introduction), and which capitalised openers are plain words (used in lower case)."""

    subject_words: dict[str, set[str]]  # doc -> words of its title and introduction
    lower_words: set[str]

    @classmethod
    def of(cls, index: Index) -> Context:
        subject: dict[str, set[str]] = {}
        lower: set[str] = set()
        for d in index.documents:
            intro = " ".join(s.text for s in d.sections if s.section == "intro")
            subject[d.doc] = _words(d.title + " " + intro)
            for s in d.sections:
                lower |= set(re.findall(r"\b[a-z][a-z'-]+", s.heading + " " + s.text))
        return cls(subject_words=subject, lower_words=lower)

    def names_in(self, claim: str) -> set[str]:
        """Proper names and abbreviations: capitalised words, except an opener that is a plain
        word capitalised only because a sentence starts with it."""
        names = set()
        tokens = _TOKEN_RE.findall(claim)
        for i, tok in enumerate(tokens):
            if not tok[0].isupper():
                continue
            low = tok.lower().replace("’", "'")
            acronym = len(tok) > 1 and tok.isupper()
            plain = low in STOPWORDS or low in _OPENERS or low in self.lower_words
            if i == 0 and not acronym and plain:
                continue
            if low in STOPWORDS and not acronym:
                continue  # "I", "A"
            names.add(re.sub(r"'s$", "", low))
        return names


def unsupported_facts(claim: str, passages: list[Citation], context: Context) -> list[str]:
    """Facts of the claim that the passages do not give; empty when all are there."""
    text = " ".join(p.quote for p in passages)
    headings = " ".join(p.heading for p in passages)
    allowed_names = _words(text + " " + headings)
    for p in passages:
        allowed_names |= context.subject_words.get(p.doc, set())
    missing = []
    for name in sorted(context.names_in(claim)):
        parts = words(name)
        if not all(w in allowed_names for w in parts):
            missing.append(f"name {name!r}")
    given_numbers = numbers_in(text + " " + headings)
    for p in passages:
        given_numbers |= {w for w in context.subject_words.get(p.doc, set()) if w.isdigit()}
    missing += [f"number {n!r}" for n in sorted(numbers_in(claim) - given_numbers)]
    passage_words = _words(text)
    for g in sorted(grades_in(claim)):
        key = "improvement" if g == "requires improvement" else g
        if key not in passage_words:
            missing.append(f"grade {g!r}")
    norm_text = re.sub(r"\s+", " ", _norm(text))
    missing += [f"quote {q!r}" for q in sorted(quoted_in(claim)) if q not in norm_text]
    return missing


def judging_matches(claim: str, passages: list[Citation]) -> list[str]:
    """Judging words of the claim that its passages do not use."""
    given = {stem(w) for w in _words(" ".join(p.quote for p in passages))}
    return sorted(w for w in _words(claim) & _JUDGING if stem(w) not in given)


def coverage(claim: str, passages: list[Citation], context: Context) -> float:
    """Share of the claim's content words (stemmed) that its passages or the report's subject
    use: a paraphrase keeps most of its source's words, an addition does not. Not the
    headings: a small model pads a sentence with its section's heading (seen with SmolLM2)."""
    own = {stem(w) for w in _words(claim) if w not in STOPWORDS}
    if not own:
        return 1.0
    text = " ".join(p.quote for p in passages)
    given = {stem(w) for w in _words(text)}
    for p in passages:
        given |= {stem(w) for w in context.subject_words.get(p.doc, set())}
    return len(own & given) / len(own)


def polarity_matches(claim: str, passages: list[Citation]) -> bool:
    """A "no" in the claim needs one in a passage; a passage's "no" needs the claim to keep it
    (as a negation or as a word of shortfall) when the claim rests on that passage alone."""
    claim_neg = negated(claim)
    if claim_neg:
        return any(negated(p.quote) for p in passages)
    if len(passages) == 1 and negated(passages[0].quote):
        return bool(_words(claim) & _SHORTFALL)
    return True


class Checker:
    """Judges the sentences of one generated answer against its numbered passages."""

    def __init__(
        self,
        *,
        passages: list[Citation],
        context: Context,
        encode: Encode,
        min_similarity: float = MIN_SIMILARITY,
        min_coverage: float = MIN_COVERAGE,
    ) -> None:
        self.passages, self.context, self.encode = passages, context, encode
        self.min_similarity, self.min_coverage = min_similarity, min_coverage
        self._vectors: dict[tuple[int, ...], Vectors] = {}

    async def _passage_vector(self, numbers: tuple[int, ...]) -> Vectors:
        if not self._vectors:
            singles = await self.encode([p.quote for p in self.passages])
            for n, row in enumerate(singles, 1):
                self._vectors[(n,)] = row
        if numbers not in self._vectors:
            joined = " ".join(self.passages[n - 1].quote for n in numbers)
            self._vectors[numbers] = (await self.encode([joined]))[0]
        return self._vectors[numbers]

    async def similarity(self, claim_vector: Vectors, numbers: tuple[int, ...]) -> float:
        sims = [float(np.dot(claim_vector, await self._passage_vector((n,)))) for n in numbers]
        if len(numbers) > 1:
            sims.append(float(np.dot(claim_vector, await self._passage_vector(numbers))))
        return max(sims)

    async def support(self, claim: str, claim_vector: Vectors, numbers: tuple[int, ...]) -> str:
        """'' when the passages `numbers` support the claim, else why not."""
        cited = [self.passages[n - 1] for n in numbers]
        missing = unsupported_facts(claim, cited, self.context)
        if missing:
            return "not in passage: " + ", ".join(missing)
        if not polarity_matches(claim, cited):
            return "negation differs from passage"
        judging = judging_matches(claim, cited)
        if judging:
            return "judges unlike the passage: " + ", ".join(judging)
        share = coverage(claim, cited, self.context)
        if share < self.min_coverage:
            return f"words not from the passage ({share:.2f} of them are)"
        sim = await self.similarity(claim_vector, numbers)
        if sim < self.min_similarity:
            return f"meaning too far from passage ({sim:.2f})"
        return ""

    async def check(self, sentence: str) -> Verdict:
        claim = claim_of(sentence)
        cited = markers_of(sentence)
        valid = tuple(n for n in cited if 1 <= n <= len(self.passages))
        if not _words(claim) - STOPWORDS:
            return Verdict(sentence, "", kept=False, reason="no content", markers=cited)
        claim_vector = (await self.encode([claim]))[0]
        if valid and len(valid) == len(cited):
            why = await self.support(claim, claim_vector, valid)
            if not why:
                sim = await self.similarity(claim_vector, valid)
                text = _with_markers(claim, valid)
                return Verdict(sentence, text, kept=True, similarity=sim, markers=list(valid))
        elif not cited:
            why = "no marker"
        else:
            why = "cites a passage that does not exist: " + ", ".join(
                f"[{n}]" for n in cited if n not in valid
            )
        # Repair: the one passage that supports the claim fully, best match first.
        candidates = []
        for n in range(1, len(self.passages) + 1):
            if (n,) == valid:
                continue
            if not await self.support(claim, claim_vector, (n,)):
                candidates.append((await self.similarity(claim_vector, (n,)), n))
        if candidates:
            sim, n = max(candidates)
            text = _with_markers(claim, (n,))
            return Verdict(
                sentence, text, kept=True, repaired=True, reason=why, similarity=sim, markers=[n]
            )
        return Verdict(sentence, "", kept=False, reason=why, markers=cited)


def _with_markers(claim: str, numbers: tuple[int, ...]) -> str:
    return claim + " " + "".join(f"[{n}]" for n in numbers)
