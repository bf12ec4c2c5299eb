"""The question-answering core: a retriever plus the rules of choosing, composing and refusing.

Nothing here generates wording about the inspection: an answer is made of the report's own
sentences, so an instruction hidden in a question cannot make the product assert anything the
report does not say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from peelqa.answering.cache import AnswerCache, cache_key
from peelqa.answering.compose import compose, covered_topics, overlap, refusal, structure_answer
from peelqa.answering.conversation import prepare
from peelqa.answering.facts import choose_fact, fact_kind
from peelqa.answering.retrieve import Hit, Retrieval, Retriever
from peelqa.answering.verification import verified
from peelqa.encoder.base import Vectors
from peelqa.index.store import Index
from peelqa.models import AskResponse, Turn
from peelqa.text import STOPWORDS, content_words

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
        prepared = prepare(question, history or [])
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
        prepared = prepare(question, history)
        if prepared is None:
            return self._refusal(intro="I answer questions about the inspection report.")
        question, context = prepared
        if context:
            retrieval = self.retriever.search_follow_up(
                question=question, context=context, known=known
            )
        else:
            retrieval = self.retriever.search(question, known=known)
        structure = structure_answer(question=question, retrieval=retrieval, index=self.index)
        if structure is not None:
            return structure
        chosen = self._choose(question, retrieval)
        if not chosen:
            return self._refusal()
        return verified(compose(chosen, self.index), self.index) or self._refusal()

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
                redundancy = max(overlap(said[id(h)], said[id(c)]) for c in chosen)
                return MMR_LAMBDA * h.score - (1 - MMR_LAMBDA) * redundancy

            best = max(pool, key=mmr)
            pool.remove(best)
            if max(overlap(said[id(best)], said[id(c)]) for c in chosen) < MAX_REDUNDANCY:
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

    # -- refusing ----------------------------------------------------------------------------

    @cached_property
    def _covers(self) -> list[str]:
        return covered_topics(self.index)

    def _refusal(self, intro: str = "The report does not answer that.") -> AskResponse:
        return refusal(self._covers, intro)
