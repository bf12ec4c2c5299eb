"""Hybrid retrieval: dense (FAISS) and lexical (BM25) over chunks, fused, then sentences rescored.

Chunks find the right neighbourhood; sentences are what an answer quotes, so the final ranking is
over sentences: the encoder's similarity of the question to the sentence (with its heading), the
similarity to its chunk, and how much of the question's vocabulary the sentence carries.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import bm25s
import numpy as np

from peelqa.answering.spelling import Vocabulary
from peelqa.encoder.base import Embedder, Vectors
from peelqa.index.store import Index
from peelqa.reports.model import Document
from peelqa.text import STOPWORDS, stem, terms, words

# Reciprocal rank fusion constant: 60 is the value of the original paper and rarely worth tuning.
RRF_K = 60
# Candidate chunks taken from each ranking before fusion.
CANDIDATES_PER_RANKING = 12

# Weights of the sentence score; chosen on the dev set and checked on held-out sets.
W_SENTENCE = 0.45
W_CHUNK = 0.25
W_LEXICAL = 0.30
# A follow-up is answered from the sections its conversation is about (the best two, so that a
# neighbouring topic stays in reach), ranking sentences half by the question alone.
FOLLOW_UP_SECTIONS = 2
FOLLOW_UP_OWN = 0.25
# Index-derived values kept by `Retriever.remember`: a few per report and per question word.
MEMO_SIZE = 4096

T = TypeVar("T")


@dataclass
class Hit:
    doc: str
    section: str
    sentence: int  # index within the section
    text: str
    score: float
    dense: float  # cosine of the question and the sentence (with its heading)
    chunk_dense: float
    lexical: float  # share of the question's term weight found in the sentence


@dataclass
class Retrieval:
    query: str
    hits: list[Hit]  # best first
    query_terms: list[str]
    qvec: Vectors
    weights: dict[str, float]  # query term -> idf


class Retriever:
    def __init__(self, *, index: Index, embedder: Embedder, english: frozenset[str]) -> None:
        """`english`: real English words (the encoder's vocabulary), never spelling-corrected."""
        self.index = index
        self.embedder = embedder
        self._sections = index.sections
        self.vocabulary = Vocabulary(
            [d.title for d in index.documents]
            + [s.heading + "\n" + s.text for s in self._sections.values()],
            english=english,
        )
        # Each abbreviation and its long form stand for one another on the corpus side, so a
        # query with either form matches text with either, without counting the concept twice.
        self._synonyms = [
            (stem(short.lower()), set(terms(long))) for short, long in index.abbreviations.items()
        ]
        self._chunk_terms = [
            self._augment(terms(self._sections[(c.doc, c.section)].heading + " " + c.text))
            for c in index.chunks
        ]
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG
        self._bm25 = bm25s.BM25()
        self._bm25.index([t or ["\0"] for t in self._chunk_terms], show_progress=False)
        # Inverse document frequency of stems over sentences: rare words carry the topic.
        sent_terms = [
            set(self._augment(terms(self._sections[(d, s)].sentence_text(i))))
            for d, s, i in index.sentence_refs
        ]
        df: Counter[str] = Counter()
        for st in sent_terms:
            df.update(st)
        n = max(1, len(sent_terms))
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._unseen_idf = math.log(1 + n)
        self._sentence_terms = sent_terms  # by sentence row
        self._sentence_row = {ref: i for i, ref in enumerate(index.sentence_refs)}
        chunk_of_sentence: dict[tuple[str, str, int], int] = {}
        self._doc_chunks: dict[str, list[int]] = {}
        for ci, c in enumerate(index.chunks):
            self._doc_chunks.setdefault(c.doc, []).append(ci)
            for i in range(c.first, c.last + 1):
                chunk_of_sentence[(c.doc, c.section, i)] = ci
        # Sentence row -> its chunk, as an array: a search takes its candidates' chunks at once.
        self._sentence_chunk = np.array(
            [chunk_of_sentence[ref] for ref in index.sentence_refs], dtype=np.intp
        )
        # Name -> the report it belongs to: a lookup per word of the question, not a pass over
        # every report (a cost that grows with the corpus).
        self._name_doc = {
            name: doc for doc, names in distinctive_names(index.documents).items() for name in names
        }
        self._doc_sentences: dict[str, list[tuple[str, str, int]]] = {}
        self._section_sentences: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        for ref in index.sentence_refs:
            self._doc_sentences.setdefault(ref[0], []).append(ref)
            self._section_sentences.setdefault((ref[0], ref[1]), []).append(ref)
        self._memo: dict[Hashable, Any] = {}

    def remember(self, key: Hashable, make: Callable[[], T]) -> T:
        """A value that depends on the index alone (which sentences give a figure, how many
        sections use a word), made once and then shared by every question that needs it.

        At most `MEMO_SIZE` are kept, the oldest dropped first: the keys include question words,
        which a caller could vary without end.
        """
        try:
            found: T = self._memo[key]
            return found
        except KeyError:
            pass
        value = make()
        if len(self._memo) >= MEMO_SIZE:
            self._memo.pop(next(iter(self._memo)), None)
        self._memo[key] = value
        return value

    def named_document(self, query: str) -> str | None:
        """The one report whose own names (its force, its people) the question uses, if any."""
        named = {self._name_doc[w] for w in words(query) if w in self._name_doc}
        return named.pop() if len(named) == 1 else None

    def _augment(self, found: list[str]) -> list[str]:
        present = set(found)
        extra: list[str] = []
        for short, long in self._synonyms:
            if short in present:
                extra.extend(long - present)
            elif long <= present:
                extra.append(short)
        return found + extra

    def is_known_term(self, term: str) -> bool:
        return term in self._idf

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)

    def expand(self, query: str) -> str:
        """Spell out abbreviations for the encoder, which may never have seen them."""
        extra: list[str] = []
        low = query.lower()
        for short, long in self.index.abbreviations.items():
            if re.search(rf"\b{re.escape(short.lower())}s?\b", low) and long.lower() not in low:
                extra.append(long)
        return query if not extra else f"{query} ({'; '.join(extra)})"

    def query_text(self, query: str) -> str:
        """What the encoder reads for a query: misspellings mended, abbreviations spelt out."""
        return self.expand(self.vocabulary.mend_in_place(query))

    def follow_up_queries(self, *, question: str, context: str) -> tuple[str, str]:
        """A follow-up is searched twice: with its conversation, and on its own."""
        return f"{context} {question}", question

    def encode_query(self, text: str, known: Mapping[str, Vectors] | None = None) -> Vectors:
        """The vector of an encoder text: from `known` (encoded ahead by the caller) or now."""
        vec: Vectors | None = None if known is None else known.get(text)
        if vec is None:
            vec = self.embedder.encode([text])[0]
        return vec

    def search(
        self, query: str, *, known: Mapping[str, Vectors] | None = None, limit: int = 12
    ) -> Retrieval:
        expanded = self.query_text(query)
        mended = self.vocabulary.mend(query)
        qvec = self.encode_query(expanded, known)
        q_terms = terms(mended)

        k = min(len(self.index.chunks), CANDIDATES_PER_RANKING)
        named = self.named_document(query)
        if named is None:
            dense_rank = [ci for ci, _ in self.index.dense_search(qvec, k)]
            allowed = None
        else:
            # A question naming one report's force is answered from that report alone.
            allowed = self._doc_chunks[named]
            sims = self.index.chunk_similarities(np.array(allowed, dtype=np.intp), qvec)
            dense_rank = [allowed[i] for i in np.argsort(-sims, kind="stable")[:k].tolist()]
        lex_rank: list[int] = []
        if q_terms:
            bm = self._bm25.get_scores(q_terms)
            if allowed is not None:
                mask = np.full(bm.shape, -np.inf)
                mask[allowed] = 0.0
                bm = bm + mask
            # The k best without sorting every chunk's score (12,000 at 1,000 reports).
            top = np.argpartition(-bm, k - 1)[:k] if k < len(bm) else np.arange(len(bm))
            order = top[np.argsort(-bm[top], kind="stable")]
            lex_rank = [int(i) for i in order if bm[i] > 0]
        fused: dict[int, float] = {}
        for ranking in (dense_rank, lex_rank):
            for r, ci in enumerate(ranking):
                fused[ci] = fused.get(ci, 0.0) + 1.0 / (RRF_K + r + 1)

        weights = {t: self.idf(t) for t in q_terms}
        retrieval = Retrieval(
            query=expanded,
            hits=[],
            query_terms=q_terms,
            qvec=qvec,
            weights=weights,
        )
        refs = [
            (c.doc, c.section, i)
            for c in (self.index.chunks[ci] for ci in fused)
            for i in range(c.first, c.last + 1)
        ]
        retrieval.hits = self.score_sentences(retrieval, refs, limit=limit)
        return retrieval

    def search_follow_up(
        self,
        *,
        question: str,
        context: str,
        known: Mapping[str, Vectors] | None = None,
        limit: int = 12,
    ) -> Retrieval:
        """A follow-up: the conversation picks the sections, the question picks the sentences.

        Searching the question with its context alone lets the earlier topic drown what is
        asked now ("does the force accept that?"), so within the sections the combined search
        finds, sentences are ranked by the question itself as much as by the combination.
        """
        with_context, alone = self.follow_up_queries(question=question, context=context)
        combined = self.search(with_context, known=known, limit=limit)
        own = self.search(alone, known=known, limit=limit)
        sections: list[tuple[str, str]] = []
        for h in combined.hits:
            if (h.doc, h.section) not in sections:
                sections.append((h.doc, h.section))
        chosen = [self._section_sentences.get(key, []) for key in sections[:FOLLOW_UP_SECTIONS]]
        chosen.sort(key=lambda refs: self._sentence_row[refs[0]] if refs else 0)  # report order
        refs = [r for sec_refs in chosen for r in sec_refs]
        own_score = {
            (h.doc, h.section, h.sentence): h.score for h in self.score_sentences(own, refs)
        }
        hits = self.score_sentences(combined, refs)
        for h in hits:
            h.score = (
                FOLLOW_UP_OWN * own_score[(h.doc, h.section, h.sentence)]
                + (1 - FOLLOW_UP_OWN) * h.score
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        combined.hits = hits[:limit]
        return combined

    def score_sentences(
        self,
        retrieval: Retrieval,
        refs: list[tuple[str, str, int]],
        *,
        limit: int | None = None,
    ) -> list[Hit]:
        """Score the given sentences for the retrieval's question, best first (the best `limit`
        of them if given; equal scores keep the order of `refs`)."""
        if not refs:
            return []
        total_w = sum(retrieval.weights.values()) or 1.0
        weights = list(retrieval.weights.items())
        qvec = retrieval.qvec
        # The cosines to the sentences and to their chunks as two products, and Hit objects for
        # the sentences kept only: per sentence, these cost microseconds in Python, and a search at
        # 1,000 reports scores ~40 sentences to keep 12.
        row_list = [self._sentence_row[ref] for ref in refs]
        rows = np.array(row_list, dtype=np.intp)
        # In float64 from here, as the sums of Python floats were before.
        dense = (self.index.sentence_vectors[rows] @ qvec).astype(np.float64)
        chunk = self.index.chunk_similarities(self._sentence_chunk[rows], qvec).astype(np.float64)
        terms_of = self._sentence_terms
        lexical = np.array(
            [sum(w for t, w in weights if t in terms_of[r]) for r in row_list], dtype=np.float64
        )
        lexical /= total_w
        scores = W_SENTENCE * dense + W_CHUNK * chunk + W_LEXICAL * lexical
        best = np.argsort(-scores, kind="stable")[:limit].tolist()
        return [
            Hit(
                refs[i][0],
                refs[i][1],
                refs[i][2],
                self.sentence_text(refs[i]),
                float(scores[i]),
                float(dense[i]),
                float(chunk[i]),
                float(lexical[i]),
            )
            for i in best
        ]

    def sentence_text(self, ref: tuple[str, str, int]) -> str:
        return self._sections[(ref[0], ref[1])].sentence_text(ref[2])

    def document_sentences(self, doc: str) -> list[tuple[str, str, int]]:
        return self._doc_sentences.get(doc, [])


def distinctive_names(documents: list[Document]) -> dict[str, set[str]]:
    """Per report, the proper names (capitalised mid-sentence, used at least twice) that no
    other report in the corpus uses at all: its force, county and people."""
    if len(documents) < 2:
        return {}
    vocab = {
        d.doc: Counter(w for s in d.sections for w in words(s.heading + " " + s.text))
        for d in documents
    }
    # In how many reports each word occurs: a name is distinctive when that is one (its own).
    reports_using: Counter[str] = Counter()
    for counts in vocab.values():
        reports_using.update(counts.keys())
    names: dict[str, set[str]] = {}
    for d in documents:
        text = " ".join(s.text for s in d.sections)
        capitalised = {m.lower() for m in re.findall(r"(?<=[a-z,;] )[A-Z][a-z]{2,}", text)}
        names[d.doc] = {
            w
            for w in capitalised
            if w not in STOPWORDS and vocab[d.doc][w] >= 2 and reports_using[w] == 1
        }
    return names
