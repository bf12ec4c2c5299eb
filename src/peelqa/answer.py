"""Extractive answers: pick the report's sentences that answer, cite each, or say it is not there.

Nothing here generates wording about the inspection: an answer is made of the report's own
sentences, so an instruction hidden in a question cannot make the product assert anything the
report does not say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from peelqa.cache import AnswerCache, cache_key
from peelqa.embed import Vectors
from peelqa.facts import choose_fact, fact_kind
from peelqa.index import Index
from peelqa.lexicon import STOPWORDS, content_words, expand_shorthand, words
from peelqa.models import AskResponse, Citation, Turn
from peelqa.retrieve import Hit, Retrieval, Retriever
from peelqa.verification import verified

# Below this sentence score the best passage shares too little with the question to be an
# answer (dev and held-out answerable questions score above ~0.28; chit-chat and general
# knowledge below ~0.26).
MIN_SCORE = 0.265
# A question asking for a figure, date or grade only has to be about the report at all: the
# fact must then be found in a sentence about the question's subject (facts.py).
MIN_FACT_SCORE = 0.2
# Extra sentences from the lead's section must score at least 70% of the lead (more context
# helps the reader judge the quote; below that they drift off the question); from another
# section, 92%, so that an answer does not wander across topics.
EXTRA_SENTENCE_RATIO = 0.7
OTHER_SECTION_RATIO = 0.92
MAX_SENTENCES = 3
# Maximal marginal relevance: how much a new sentence must differ from those already taken.
MMR_LAMBDA = 0.75
# A sentence sharing this much of its vocabulary with one already chosen adds nothing.
MAX_REDUNDANCY = 0.7

_FOLLOW_UP_OPENERS = ("and", "also", "but", "so", "then", "what about", "how about")
_FILLERS = ("ok", "okay", "right", "well", "great", "cool", "thanks", "thank you", "cheers")
_DEICTIC = frozenset(
    """
    that this it its they them their those these there he she him her his such
    """.split()
)
_CHITCHAT = frozenset(
    """
    hi hello hey thanks thank you cheers bye goodbye ok okay great cool nice good
    morning afternoon evening lol yes no yeah nope sure
    """.split()
)
_QUESTION_WORDS = frozenset(
    ["what", "why", "how", "who", "when", "where", "which", "whose", "whom"]
)

# Words of a question about the report's own structure ("what are the four questions?").
_STRUCTURE_NOUNS = frozenset(["questions", "areas", "sections", "topics", "themes", "parts"])
_STRUCTURE_WORDS = _STRUCTURE_NOUNS | frozenset(
    """
    inspection report look looked looking examine examined assess assessed focus cover
    covered covers main key consider considered ask asked list name inspectors
    """.split()
)
_NUMBER_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}


@dataclass
class Engine:
    """The question-answering core: a retriever plus the rules of composing and refusing."""

    retriever: Retriever
    cache: AnswerCache = field(default_factory=lambda: AnswerCache(0))

    @property
    def index(self) -> Index:
        return self.retriever.index

    def recall(self, *, question: str, history: list[Turn] | None = None) -> AskResponse | None:
        """The answer already made for this question and history, if it is still cached."""
        return self.cache.get(cache_key(question, history or []))

    def queries(self, *, question: str, history: list[Turn] | None = None) -> list[str]:
        """The texts that answering this question encodes, in the words the encoder reads.

        A server encodes them ahead, in a shared batch and without holding a thread, and passes
        the vectors to `ask` as `known`; a text missing there is simply encoded by `ask`.
        """
        prepared = _prepare(question, history or [])
        if prepared is None:
            return []
        question, context = prepared
        searched = (
            self.retriever.follow_up_queries(question=question, context=context)
            if context
            else (question,)
        )
        return [self.retriever.query_text(q) for q in searched]

    def ask(
        self,
        *,
        question: str,
        history: list[Turn] | None = None,
        known: Mapping[str, Vectors] | None = None,
    ) -> AskResponse:
        history = history or []
        key = cache_key(question, history)
        found = self.cache.get(key)
        if found is None:
            found = self._answer(question, history, known)
            self.cache.put(key, found)
        return found

    def _answer(
        self, question: str, history: list[Turn], known: Mapping[str, Vectors] | None
    ) -> AskResponse:
        prepared = _prepare(question, history)
        if prepared is None:
            return self._refusal(intro="I answer questions about the inspection report.")
        question, context = prepared
        if context:
            retrieval = self.retriever.search_follow_up(
                question=question, context=context, known=known
            )
        else:
            retrieval = self.retriever.search(question, known=known)
        structure = self._structure_answer(question, retrieval)
        if structure is not None:
            return structure
        chosen = self._choose(question, retrieval)
        if not chosen:
            return self._refusal()
        return verified(_compose(chosen, self.index), self.index) or self._refusal()

    # -- choosing sentences -------------------------------------------------------------

    def _choose(self, question: str, retrieval: Retrieval) -> list[Hit]:
        hits = retrieval.hits
        kind = fact_kind(question)
        # A fact question has its own, stricter test below; others need a close enough passage.
        if not hits or hits[0].score < (MIN_FACT_SCORE if kind else MIN_SCORE):
            return []
        if self._unknown_names(question):
            return []
        lead = hits[0]
        if kind is not None:
            # The question asks for a figure, a date or a grade: only a sentence giving one
            # about the question's subject answers it; leading with anything else would not.
            fact = choose_fact(
                kind=kind, question=question, retrieval=retrieval, retriever=self.retriever
            )
            if fact is None:
                return []
            lead = fact
        chosen = [lead]
        # Support from the lead's own section reads as one answer; a sentence from elsewhere
        # must be nearly as strong as the lead to earn its place.
        # A sentence that several reports share comes once: a later copy would only ever be
        # dropped as a repeat, after an MMR round each (11 copies at 1,000 synthetic reports).
        texts = {lead.text}
        pool = []
        for h in hits:
            if h.text in texts or h.score < lead.score * (
                EXTRA_SENTENCE_RATIO if h.section == lead.section else OTHER_SECTION_RATIO
            ):
                continue
            texts.add(h.text)
            pool.append(h)
        # Each sentence's words once, not once per comparison.
        said = {id(h): set(content_words(h.text)) for h in (lead, *pool)}
        while pool and len(chosen) < MAX_SENTENCES:
            # Maximal marginal relevance: relevant, but not a repeat of what is already said.
            def mmr(h: Hit) -> float:
                redundancy = max(_overlap(said[id(h)], said[id(c)]) for c in chosen)
                return MMR_LAMBDA * h.score - (1 - MMR_LAMBDA) * redundancy

            best = max(pool, key=mmr)
            pool.remove(best)
            if max(_overlap(said[id(best)], said[id(c)]) for c in chosen) < MAX_REDUNDANCY:
                chosen.append(best)
        return chosen

    def _unknown_names(self, question: str) -> list[str]:
        """Proper names in the question that no report mentions: another force, person, place."""
        tokens = re.findall(r"[A-Za-z][A-Za-z'’-]+", question)
        names = []
        for pos, tok in enumerate(tokens):
            word = re.sub(r"['’]s?$", "", tok.lower())
            if pos == 0 or not tok[0].isupper() or word in STOPWORDS or len(word) < 3:
                continue
            vocab = self.retriever.vocabulary
            if not all(x in vocab for x in vocab.correct(word)):
                names.append(tok)
        return names

    # -- the report's structure -------------------------------------------------------------

    def _structure_answer(self, question: str, retrieval: Retrieval) -> AskResponse | None:
        ws = content_words(question)
        if not ws or not (_STRUCTURE_NOUNS & set(ws)):
            return None
        doc_id = retrieval.hits[0].doc if retrieval.hits else self.index.documents[0].doc
        doc = self.index.document(doc_id)
        assert doc is not None  # the id comes from a hit or from the index itself
        title_words = set(words(doc.title))
        questions = [s for s in doc.sections if s.number is not None]
        if len(questions) < 2:
            return None
        extra = [
            w
            for w in ws
            if w not in _STRUCTURE_WORDS
            and w not in title_words
            and w not in _NUMBER_WORDS
            and not w.isdigit()
        ]
        counts = [_NUMBER_WORDS.get(w) or (int(w) if w.isdigit() else None) for w in ws]
        if extra or any(c is not None and c != len(questions) for c in counts):
            return None
        cites = [
            Citation(doc=doc.doc, section=s.section, heading=s.heading, quote=s.heading, score=1.0)
            for s in questions
        ]
        lines = [f"{s.number}. {s.heading} [{i}]" for i, s in enumerate(questions, 1)]
        answer = f"The report looks at {len(questions)} questions: " + " ".join(lines)
        return verified(AskResponse(answer=answer, answered=True, citations=cites), self.index)

    # -- refusing ----------------------------------------------------------------------------

    @cached_property
    def _covers(self) -> list[str]:
        """The question headings a refusal offers instead (the first eight of the corpus)."""
        return [s.heading for d in self.index.documents for s in d.sections if s.number][:8]

    def _refusal(self, intro: str = "The report does not answer that.") -> AskResponse:
        covers = self._covers
        text = intro
        if covers:
            text += " It covers: " + "; ".join(covers[:8])
            text += "" if covers[-1].endswith("?") else "."
        return AskResponse(answer=text, answered=False, citations=[])


def _prepare(question: str, history: list[Turn]) -> tuple[str, str] | None:
    """The question as it is answered (shorthand spelt out) and the conversation context it
    needs ("" if none); None for chit-chat. `queries` and `_answer` both start here, so what is
    encoded ahead is what answering searches."""
    question = expand_shorthand(question)
    if _is_chitchat(question):
        return None
    return question, conversation_context(question=question, history=history)


def _compose(chosen: list[Hit], index: Index) -> AskResponse:
    citations: list[Citation] = []
    parts: list[str] = []
    for n, h in enumerate(chosen, 1):
        sec = index.section(h.doc, h.section)
        assert sec is not None
        citations.append(
            Citation(
                doc=h.doc,
                section=h.section,
                heading=sec.heading,
                quote=h.text,
                score=round(h.score, 4),
            )
        )
        parts.append(f"{h.text} [{n}]")
    return AskResponse(answer=" ".join(parts), answered=True, citations=citations)


def _overlap(sa: set[str], sb: set[str]) -> float:
    """Shared content words, as a share of the shorter sentence's."""
    return len(sa & sb) / max(1, min(len(sa), len(sb)))


def _strip_fillers(question: str) -> str:
    q = question.strip().lower()
    changed = True
    while changed:
        changed = False
        for f in _FILLERS:
            if q.startswith(f + " ") or q.startswith(f + ","):
                q = q[len(f) + 1 :].lstrip(" ,")
                changed = True
    return q


def _is_chitchat(question: str) -> bool:
    ws = words(question)
    return (
        bool(ws)
        and all(w in _CHITCHAT or w in STOPWORDS for w in ws)
        and not (set(ws) & _QUESTION_WORDS)
    )


def needs_context(question: str) -> bool:
    """Whether a question only makes sense with the conversation before it."""
    q = _strip_fillers(question)
    ws = words(q)
    if not ws:
        return True
    if q.startswith(_FOLLOW_UP_OPENERS) and (len(ws) == 1 or q[len(ws[0])] in " ,"):
        return True
    content = content_words(q)
    if not content:
        return True
    return bool(_DEICTIC & set(ws)) and len(content) <= 3


def conversation_context(*, question: str, history: list[Turn]) -> str:
    """The earlier user turns a follow-up needs to be understood; empty when it stands alone.

    A self-contained question is searched alone, so an old topic never overrides a new one.
    """
    users = [t.content for t in history if t.role == "user"]
    if not users or not needs_context(question):
        return ""
    context = [users[-1]]
    # Walk back through chained follow-ups ("and that?" after "why?") to the topic they share.
    for earlier in reversed(users[:-1]):
        if not needs_context(context[0]):
            break
        context.insert(0, earlier)
    return " ".join(context)


def resolve_query(*, question: str, history: list[Turn]) -> str:
    """The text a follow-up is searched with: its context, then the question."""
    context = conversation_context(question=question, history=history)
    return f"{context} {question}" if context else question
