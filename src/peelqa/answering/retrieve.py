"""Finding candidate sentences: dense (FAISS) and lexical (BM25) rankings of chunks, fused; the
sentences of the best chunks are the candidates the answer model scores.

Chunks find the right neighbourhood; sentences are what an answer quotes. A follow-up is also
searched with its conversation, and the sections that search finds join the candidates.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

from peelqa.answering.understand import Question
from peelqa.encoder.base import Embedder, Vectors
from peelqa.index.build import topics
from peelqa.index.store import Index
from peelqa.text import stem, terms

# Reciprocal rank fusion constant: 60 is the value of the original paper and rarely worth tuning.
RRF_K = 60
# Candidate chunks taken from each ranking before fusion, and kept after it.
CANDIDATES_PER_RANKING = 16
FUSED_CHUNKS = 20
# A follow-up also takes every sentence of the sections its conversation points at (the best
# two, so that a neighbouring topic stays in reach).
FOLLOW_UP_SECTIONS = 2
# A question that names a section's topic ("how does it respond to the public?") takes the
# sentences of the sections whose headings carry most of its focus: at most this many, each
# carrying at least this share of the focus.
TOPIC_SECTIONS = 2
TOPIC_SHARE = 0.5
MAX_TOPIC_SENTENCES = 40
# Stems sharing a start this long are one word's family; the families looked up are kept, up
# to this many (questions vary).
FAMILY_PREFIX = 7
AGENT_MIN = 6
MAX_FAMILIES = 50_000

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


@dataclass
class Candidates:
    """The sentences that may answer a question, with what retrieval knows of each."""

    rows: Ints  # sentence rows of the index
    dense: Floats  # cosine of the question and the sentence (read with its section's topic)
    chunk_dense: Floats  # cosine of the question and the sentence's chunk
    chunk_lexical: Floats  # BM25 of the sentence's chunk, over the best chunk's
    context_dense: Floats  # follow-ups: cosine with the question read with its conversation
    full_dense: Floats  # cosine with the question as asked, framing included
    qvec: Vectors
    vectors: Vectors  # the sentences' own vectors, one a row (the adapter's features read them)

    def __len__(self) -> int:
        return len(self.rows)


class Retriever:
    def __init__(self, *, index: Index, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        topic = topics(index.documents)
        # Each abbreviation and its long form stand for one another on the corpus side, so a
        # query with either form matches text with either, without counting the concept twice.
        self._synonyms = [
            (stem(short.lower()), set(terms(long))) for short, long in index.abbreviations.items()
        ]
        self.chunk_terms = [
            self._augment(terms(topic[(c.doc, c.section)] + " " + c.text)) for c in index.chunks
        ]
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG
        self._bm25 = bm25s.BM25()
        self._bm25.index([t or ["\0"] for t in self.chunk_terms], show_progress=False)
        refs = index.sentence_refs
        self.sentence_terms = [
            frozenset(self._augment(terms(index.sections[(d, s)].sentence_text(i))))
            for d, s, i in refs
        ]
        # The words of each sentence's section topic (its heading path) and report title.
        topic_terms = {key: frozenset(self._augment(terms(t))) for key, t in topic.items()}
        self.topic_terms = [topic_terms[(d, s)] for d, s, _ in refs]
        # Inverse document frequency of stems over sentences: rare words carry the topic.
        df: Counter[str] = Counter()
        for st in self.sentence_terms:
            df.update(st)
        n = max(1, len(refs))
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._unseen_idf = math.log(1 + n)
        # Every stem the reports use, in their sentences or their headings.
        known = set(self._idf).union(*topic_terms.values())
        self._stems = sorted(known)
        self._known = frozenset(known)
        self._families: dict[str, frozenset[str]] = {}
        self.row_of = {ref: i for i, ref in enumerate(refs)}
        chunk_of: dict[tuple[str, str, int], int] = {}
        self._doc_chunks: dict[str, list[int]] = {}
        for ci, c in enumerate(index.chunks):
            self._doc_chunks.setdefault(c.doc, []).append(ci)
            for i in range(c.first, c.last + 1):
                chunk_of[(c.doc, c.section, i)] = ci
        self.sentence_chunk = np.array([chunk_of[ref] for ref in refs], dtype=np.intp)
        self._chunk_rows = [
            [self.row_of[(c.doc, c.section, i)] for i in range(c.first, c.last + 1)]
            for c in index.chunks
        ]

        self._section_rows: dict[tuple[str, str], list[int]] = {}
        for row, (d, s, _) in enumerate(refs):
            self._section_rows.setdefault((d, s), []).append(row)
        self.section_keys = list(index.sections)
        position = {key: i for i, key in enumerate(self.section_keys)}
        self.section_of_row = np.array([position[(d, s)] for d, s, _ in refs], dtype=np.intp)
        self.section_terms = [
            frozenset(self._augment(terms(sec.heading + " " + sec.text)))
            for sec in index.sections.values()
        ]
        self._section_doc = [d for d, _ in self.section_keys]
        # Topic term -> the sections whose heading path has it (an inverted index).
        postings: dict[str, list[int]] = {}
        for i, key in enumerate(self.section_keys):
            for t in topic_terms[key]:
                postings.setdefault(t, []).append(i)
        self._topic_postings = {t: np.array(v, dtype=np.intp) for t, v in postings.items()}

    def _augment(self, found: list[str]) -> list[str]:
        present = set(found)
        extra: list[str] = []
        for short, long in self._synonyms:
            if short in present:
                extra.extend(long - present)
            elif long <= present:
                extra.append(short)
        return found + extra

    def family(self, term: str) -> frozenset[str]:
        """Other stems of the reports' that share a long start with `term` ("legitim" of
        "legitimate" and "legitimaci" of "legitimacy", which the stemmer leaves apart), and an
        agent noun's verb or a verb's agent noun."""
        found = self._families.get(term)
        if found is None:
            found = frozenset()
            if len(term) >= FAMILY_PREFIX:
                at = bisect.bisect_left(self._stems, term)
                longer = []
                while at < len(self._stems) and self._stems[at].startswith(term):
                    longer.append(self._stems[at])
                    at += 1
                shorter = [
                    term[:k] for k in range(FAMILY_PREFIX, len(term)) if term[:k] in self._known
                ]
                found = frozenset(longer + shorter) - {term}
            # An agent noun and its verb ("caller" and "call", "offender" and "offend").
            agent = term[:-2] if term.endswith("er") and len(term) >= AGENT_MIN else term + "er"
            if agent in self._known:
                found |= {agent}
            if len(self._families) < MAX_FAMILIES:
                self._families[term] = found
        return found

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)

    def is_known_term(self, term: str) -> bool:
        """Whether the reports use the term, or a stem of its family."""
        return term in self._idf or bool(self.family(term))

    def vector(self, text: str, known: Mapping[str, Vectors] | None) -> Vectors:
        """The vector of an encoder text: from `known` (encoded ahead by the caller) or now."""
        vec: Vectors | None = None if known is None else known.get(text)
        if vec is None:
            vec = self.embedder.encode([text])[0]
        return vec

    def candidates(
        self, question: Question, *, known: Mapping[str, Vectors] | None = None
    ) -> Candidates:
        qvec = self.vector(question.core_text, known)
        fvec = (
            qvec
            if question.encoder_text == question.core_text
            else self.vector(question.encoder_text, known)
        )
        allowed = (
            [ci for doc in question.docs for ci in self._doc_chunks.get(doc, [])]
            if question.docs
            else None
        )
        bm = self._bm25_scores(list(question.terms))
        chunks = self._chunks(qvec, bm, allowed)
        cvec = qvec
        rows: list[int] = []
        if question.follow_up:
            cvec = self.vector(question.searches[-1], known)
            context_bm = self._bm25_scores(list(question.terms) + terms(question.context))
            found = self._chunks(cvec, context_bm, allowed)
            sections = list(dict.fromkeys(self._section(ci) for ci in found))
            for key in sections[:FOLLOW_UP_SECTIONS]:
                rows.extend(self._section_rows.get(key, []))
            chunks = list(dict.fromkeys(chunks + found[: FUSED_CHUNKS // 2]))
            # What the previous answer quoted: a "why?" is answered next to it.
            for ci in self._lexical_rank(
                self._bm25_scores(list(question.previous_terms)), allowed, FOLLOW_UP_SECTIONS
            ):
                rows.extend(self._section_rows.get(self._section(ci), []))
        for ci in chunks:
            rows.extend(self._chunk_rows[ci])
        for key in self._topic_sections(question):
            rows.extend(self._section_rows.get(key, [])[:MAX_TOPIC_SENTENCES])
        ordered = np.array(list(dict.fromkeys(rows)), dtype=np.intp)
        return self._measure(ordered, qvec, cvec, fvec, bm)

    def _topic_sections(self, question: Question) -> list[tuple[str, str]]:
        """The sections whose heading paths carry most of the question's focus."""
        total = sum(self.idf(t) for t in question.focus)
        postings = []
        for t in question.focus:
            posted = [
                self._topic_postings[u] for u in (t, *self.family(t)) if u in self._topic_postings
            ]
            if posted:
                sections = posted[0] if len(posted) == 1 else np.unique(np.concatenate(posted))
                postings.append((sections, self.idf(t)))
        if not postings or total <= 0:
            return []
        score = np.zeros(len(self.section_keys), dtype=np.float64)
        for sections, w in postings:
            score[sections] += w  # each section once a term
        score /= total
        best = np.argsort(-score, kind="stable")[: TOPIC_SECTIONS * 4].tolist()
        docs = set(question.docs) if question.docs else None
        out = [
            self.section_keys[i]
            for i in best
            if score[i] >= TOPIC_SHARE and (docs is None or self._section_doc[i] in docs)
        ]
        return out[:TOPIC_SECTIONS]

    def _section(self, ci: int) -> tuple[str, str]:
        c = self.index.chunks[ci]
        return c.doc, c.section

    def _bm25_scores(self, q_terms: list[str]) -> Floats | None:
        if not q_terms:
            return None
        return np.asarray(self._bm25.get_scores(q_terms), dtype=np.float64)

    def _chunks(self, qvec: Vectors, bm: Floats | None, allowed: list[int] | None) -> list[int]:
        """The best chunks by dense and lexical rank, fused."""
        k = min(len(self.index.chunks), CANDIDATES_PER_RANKING)
        if allowed is None:
            dense_rank = [ci for ci, _ in self.index.dense_search(qvec, k)]
        else:
            sims = self.index.chunk_similarities(np.array(allowed, dtype=np.intp), qvec)
            dense_rank = [allowed[i] for i in np.argsort(-sims, kind="stable")[:k].tolist()]
        fused: dict[int, float] = {}
        for r, ci in enumerate(dense_rank):
            fused[ci] = 1.0 / (RRF_K + r + 1)
        for r, ci in enumerate(self._lexical_rank(bm, allowed, k)):
            fused[ci] = fused.get(ci, 0.0) + 1.0 / (RRF_K + r + 1)
        return sorted(fused, key=lambda ci: -fused[ci])[:FUSED_CHUNKS]

    def _lexical_rank(self, bm: Floats | None, allowed: list[int] | None, k: int) -> list[int]:
        if bm is None:
            return []
        if allowed is not None:
            mask = np.full(bm.shape, -np.inf)
            mask[allowed] = 0.0
            bm = bm + mask
        # The k best without sorting every chunk's score (tens of thousands at scale).
        top = np.argpartition(-bm, k - 1)[:k] if k < len(bm) else np.arange(len(bm))
        order = top[np.argsort(-bm[top], kind="stable")]
        return [int(i) for i in order if bm[i] > 0]

    def _measure(
        self, rows: Ints, qvec: Vectors, cvec: Vectors, fvec: Vectors, bm: Floats | None
    ) -> Candidates:
        chunk_ids = self.sentence_chunk[rows]
        vectors = self.index.sentence_vectors[rows]
        dense = (vectors @ qvec).astype(np.float64)
        chunk_dense = self.index.chunk_similarities(chunk_ids, qvec).astype(np.float64)
        context = dense if cvec is qvec else (vectors @ cvec).astype(np.float64)
        full = dense if fvec is qvec else (vectors @ fvec).astype(np.float64)
        lexical = np.zeros(len(rows), dtype=np.float64)
        if bm is not None and len(rows):
            of_chunks = bm[chunk_ids]
            best = of_chunks.max()
            lexical = of_chunks / best if best > 0 else lexical
        return Candidates(
            rows=rows,
            dense=dense,
            chunk_dense=chunk_dense,
            chunk_lexical=lexical,
            context_dense=context,
            full_dense=full,
            qvec=qvec,
            vectors=vectors,
        )
