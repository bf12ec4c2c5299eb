"""What the answer model knows of each candidate sentence: one row of numbers a candidate.

Groups (the ablation study removes one at a time):
- `dense`: the encoder's similarity of the question to the sentence (read with its section's
  topic), to its chunk, and where the sentence ranks among the candidates;
- `lexical`: how much of what the question is about (its focus, weighted by rarity) the
  sentence, its headings, and its chunk (BM25) carry;
- `kind`: what kind of answer the question asks for, and whether the sentence carries it (a
  count, a percentage, money, a date, a grade, a person...), "how many X" needing a number of X;
- `names`: proper names in the question that the sentence has, or that no report uses;
- `scope`: whether the sentence is from a report the question names;
- `structure`: list item, table row, the section's first sentence, the introduction, a summary;
- `follow_up`: for a follow-up, the similarity with the question read with its conversation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from peelqa.answering.retrieve import Candidates, Retriever
from peelqa.answering.scope import title_years
from peelqa.answering.understand import Question
from peelqa.index.store import Index
from peelqa.kinds import (
    CARRIED,
    FIRST_BIT,
    GRADES_BIT,
    LIST_ITEM_BIT,
    TABLE_ROW_BIT,
    AnswerType,
    counts_of,
)
from peelqa.text import terms

Matrix = npt.NDArray[np.float64]

# The kinds the model weighs when asked for, each with an "asked" and an "asked and carried".
_TYPED = CARRIED
_SUMMARY_RE = re.compile(
    r"\b(summary|overall|conclusion|judge?ments?|observations|overview)\b", re.IGNORECASE
)

GROUPS: dict[str, list[str]] = {
    "dense": ["dense", "full_dense", "chunk_dense", "dense_rank", "dense_gap", "max_dense"],
    "lexical": [
        "lex_sentence",
        "lex_topic",
        "lex_union",
        "lex_gap",
        "focus_missing",
        "chunk_bm25",
        "max_lex",
        "no_focus",
    ],
    "kind": [
        *(f"asks_{k.value}" for k in _TYPED),
        *(f"carries_asked_{k.value}" for k in _TYPED),
        "asked_not_carried",
        "counts_focus",
        "count_as_percentage",
        "asks_yes_no",
    ],
    "names": ["unknown_names", "names_found", "names_missing", "other_force"],
    "scope": ["in_named_report", "scoped"],
    "structure": [
        "list_item",
        "table_row",
        "first",
        "intro",
        "summary",
        "several_grades",
        "overall_match",
        "depth",
        "length",
    ],
    "follow_up": ["follow_up", "context_dense", "previous_section"],
}
FEATURES: list[str] = [name for names in GROUPS.values() for name in names]
_COL = {name: i for i, name in enumerate(FEATURES)}


class FeatureBuilder:
    """Per-index facts of every sentence, computed once, and the feature rows of a question."""

    def __init__(self, *, index: Index, retriever: Retriever) -> None:
        self.index = index
        self.retriever = retriever
        refs = index.sentence_refs
        self.flags = np.asarray(index.sentence_flags, dtype=np.int64)
        docs = {d.doc: i for i, d in enumerate(index.documents)}
        self.doc_of = np.array([docs[d] for d, _, _ in refs], dtype=np.intp)
        self.doc_ids = [d.doc for d in index.documents]
        self._sentences_in_report = np.bincount(self.doc_of, minlength=len(self.doc_ids))
        sections = index.sections
        self.depth = np.array([sections[(d, s)].level for d, s, _ in refs], dtype=np.float64)
        self.intro = np.array([s == "intro" for _, s, _ in refs], dtype=np.float64)
        summary = {
            key: bool(_SUMMARY_RE.search(" ".join(sec.path))) for key, sec in sections.items()
        }
        self.summary = np.array([summary[(d, s)] for d, s, _ in refs], dtype=np.float64)
        self.length = np.array(
            [math.log1p(len(sections[(d, s)].sentence_text(i).split())) for d, s, i in refs],
            dtype=np.float64,
        )

    def report_sentences(self, row: int) -> int:
        return int(self._sentences_in_report[int(self.doc_of[row])])

    def title(self, row: int) -> str:
        return self.index.documents[int(self.doc_of[row])].title

    def text(self, row: int) -> str:
        d, s, i = self.index.sentence_refs[row]
        return self.index.sections[(d, s)].sentence_text(i)

    def build(self, q: Question, c: Candidates) -> Matrix:
        n = len(c)
        x = np.zeros((n, len(FEATURES)), dtype=np.float64)
        if n == 0:
            return x
        rows = c.rows
        col = _COL
        # dense
        x[:, col["dense"]] = c.dense
        x[:, col["full_dense"]] = c.full_dense
        x[:, col["chunk_dense"]] = c.chunk_dense
        order = np.argsort(-c.dense, kind="stable")
        rank = np.empty(n, dtype=np.float64)
        rank[order] = np.arange(n, dtype=np.float64)
        x[:, col["dense_rank"]] = 1.0 / (1.0 + rank)
        x[:, col["dense_gap"]] = c.dense - c.dense.max()
        x[:, col["max_dense"]] = c.dense.max()
        # lexical
        self._lexical(q, c, x)
        # kind
        flags = self.flags[rows]
        carried_flags = [(flags >> b) & 1 for b in range(len(CARRIED))]
        asked = q.expects
        if asked in _TYPED:
            b = CARRIED.index(asked)
            x[:, col[f"asks_{asked.value}"]] = 1.0
            x[:, col[f"carries_asked_{asked.value}"]] = carried_flags[b]
            x[:, col["asked_not_carried"]] = 1 - carried_flags[b]
        if asked == AnswerType.COUNT and (q.count_noun or q.focus_prefixes):
            prefixes = [q.count_noun] if q.count_noun else list(q.focus_prefixes)
            x[:, col["counts_focus"]] = [float(counts_of(self.text(r), prefixes)) for r in rows]
            pct = carried_flags[CARRIED.index(AnswerType.PERCENTAGE)]
            cnt = carried_flags[CARRIED.index(AnswerType.COUNT)]
            x[:, col["count_as_percentage"]] = pct * (1 - cnt)
        x[:, col["asks_yes_no"]] = float(q.yes_no)
        # names
        x[:, col["unknown_names"]] = min(len(q.unknown_names), 3)
        if q.names:
            found = np.zeros(n, dtype=np.float64)
            for j, r in enumerate(rows):
                low = self.text(r).lower()
                found[j] = sum(1 for w in q.names if w in low) / len(q.names)
            x[:, col["names_found"]] = found
            x[:, col["names_missing"]] = 1.0 - found
        x[:, col["other_force"]] = float(q.other_force)
        # scope
        if q.docs is not None:
            named = np.array([self.doc_ids.index(d) for d in q.docs if d in self.doc_ids])
            x[:, col["in_named_report"]] = np.isin(self.doc_of[rows], named)
            x[:, col["scoped"]] = 1.0
        # structure
        x[:, col["list_item"]] = (flags >> LIST_ITEM_BIT) & 1
        x[:, col["table_row"]] = (flags >> TABLE_ROW_BIT) & 1
        x[:, col["first"]] = (flags >> FIRST_BIT) & 1
        x[:, col["several_grades"]] = (flags >> GRADES_BIT) & 1
        if q.overall:
            x[:, col["overall_match"]] = [
                float("overall" in self.text(r).lower()) for r in rows.tolist()
            ]
        x[:, col["intro"]] = self.intro[rows]
        x[:, col["summary"]] = self.summary[rows]
        x[:, col["depth"]] = self.depth[rows]
        x[:, col["length"]] = self.length[rows]
        # follow-up
        if q.follow_up:
            x[:, col["follow_up"]] = 1.0
            x[:, col["context_dense"]] = c.context_dense
            said = set(terms(q.previous))
            if said:
                r = self.retriever
                sections = r.section_of_row[rows]
                share = {
                    int(i): len(said & r.section_terms[int(i)]) / len(said)
                    for i in np.unique(sections)
                }
                x[:, col["previous_section"]] = [share[int(i)] for i in sections]
        return x

    def _lexical(self, q: Question, c: Candidates, x: Matrix) -> None:
        col = _COL
        x[:, col["chunk_bm25"]] = c.chunk_lexical
        if not q.focus:
            x[:, col["no_focus"]] = 1.0
            return
        r = self.retriever
        weights = [(t, r.idf(t)) for t in q.focus]
        total = sum(w for _, w in weights) or 1.0
        sent_terms, topic_terms = r.sentence_terms, r.topic_terms
        lex_s = np.zeros(len(c), dtype=np.float64)
        lex_t = np.zeros(len(c), dtype=np.float64)
        lex_u = np.zeros(len(c), dtype=np.float64)
        for j, row in enumerate(c.rows.tolist()):
            st, tt = sent_terms[row], topic_terms[row]
            a = b = u = 0.0
            for t, w in weights:
                in_s, in_t = t in st, t in tt
                a += w * in_s
                b += w * in_t
                u += w * (in_s or in_t)
            lex_s[j], lex_t[j], lex_u[j] = a, b, u
        lex_s /= total
        lex_t /= total
        lex_u /= total
        x[:, col["lex_sentence"]] = lex_s
        x[:, col["lex_topic"]] = lex_t
        x[:, col["lex_union"]] = lex_u
        x[:, col["lex_gap"]] = lex_u - lex_u.max()
        x[:, col["focus_missing"]] = (1.0 - lex_u) * min(total, 20.0) / 10.0
        x[:, col["max_lex"]] = lex_u.max()


# What the question model knows: the question, and its best candidates as the sentence model
# ranks them.
QUESTION_FEATURES: list[str] = [
    "top_p",
    "second_p",
    "top_gap",
    "top_dense",
    "max_dense",
    "top_lex_union",
    "top_lex_sentence",
    "max_lex_union",
    "top_carries_asked",
    "top5_carries_asked",
    "top_counts_focus",
    "top_focus_missing",
    "unseen_focus",
    "unknown_names",
    "other_force",
    "top_names_found",
    "no_focus",
    "focus_terms",
    "follow_up",
    "top_previous_section",
    "yes_no",
    "top_in_named_report",
    "scoped",
    "top_summary",
    "top_table_row",
    "top_chunk_bm25",
    "dense_z",
    "report_size",
    "asks_year",
    "year_in_title",
    "year_in_top",
    "asks_kind",
    "kind_in_title",
    "definition_defined",
    "definition_undefined",
    *(f"asks_{k.value}" for k in AnswerType),
]


def question_features(
    q: Question,
    x: Matrix,
    p: npt.NDArray[np.float64],
    *,
    known: Callable[[str], bool],
    idf: Callable[[str], float],
    title: Callable[[int], str],
    text: Callable[[int], str],
    rows: npt.NDArray[np.intp],
    report_sentences: Callable[[int], int],
) -> npt.NDArray[np.float64]:
    """The question model's features. `known`: whether the reports use a term at all; `idf`:
    how rare a term is; `title` and `text`: the report title and the text of a candidate
    (by its index row); `rows`: the candidates' rows; `report_sentences`: how many sentences
    a candidate's report has (similarities run higher in a long report)."""
    f = np.zeros(len(QUESTION_FEATURES), dtype=np.float64)
    at = {name: i for i, name in enumerate(QUESTION_FEATURES)}
    f[at[f"asks_{q.expects.value}"]] = 1.0
    f[at["yes_no"]] = float(q.yes_no)
    f[at["follow_up"]] = float(q.follow_up)
    f[at["no_focus"]] = float(not q.focus)
    f[at["focus_terms"]] = min(len(q.focus), 6)
    f[at["unknown_names"]] = min(len(q.unknown_names), 3)
    f[at["other_force"]] = float(q.other_force)
    f[at["scoped"]] = float(q.docs is not None)
    total = sum(idf(t) for t in q.focus)
    if total > 0:
        f[at["unseen_focus"]] = sum(idf(t) for t in q.focus if not known(t)) / total
    if len(p) == 0:
        return f
    order = np.argsort(-p, kind="stable")
    top = int(order[0])
    row = x[top]
    f[at["top_p"]] = p[top]
    f[at["second_p"]] = p[order[1]] if len(p) > 1 else 0.0
    f[at["top_gap"]] = f[at["top_p"]] - f[at["second_p"]]
    f[at["top_dense"]] = row[_COL["dense"]]
    dense = x[:, _COL["dense"]]
    f[at["dense_z"]] = (dense[top] - dense.mean()) / (dense.std() + 1e-6)
    f[at["report_size"]] = math.log1p(report_sentences(int(rows[top])))
    f[at["max_dense"]] = row[_COL["max_dense"]]
    f[at["top_lex_union"]] = row[_COL["lex_union"]]
    f[at["top_lex_sentence"]] = row[_COL["lex_sentence"]]
    f[at["max_lex_union"]] = row[_COL["max_lex"]]
    f[at["top_focus_missing"]] = row[_COL["focus_missing"]]
    f[at["top_names_found"]] = row[_COL["names_found"]]
    f[at["top_previous_section"]] = row[_COL["previous_section"]]
    f[at["top_in_named_report"]] = row[_COL["in_named_report"]]
    f[at["top_summary"]] = row[_COL["summary"]]
    f[at["top_table_row"]] = row[_COL["table_row"]]
    f[at["top_chunk_bm25"]] = row[_COL["chunk_bm25"]]
    f[at["top_counts_focus"]] = row[_COL["counts_focus"]]
    if q.expects in _TYPED:
        carries = x[:, _COL[f"carries_asked_{q.expects.value}"]]
        f[at["top_carries_asked"]] = carries[top]
        f[at["top5_carries_asked"]] = carries[order[:5]].max()
    if q.expects == AnswerType.DEFINITION:
        f[at["definition_defined" if q.abbreviation else "definition_undefined"]] = 1.0
    # Does the report (its title) and the best sentence agree with the year and the kind of
    # inspection the question names?
    head, lead = title(int(rows[top])), text(int(rows[top]))
    if q.years:
        f[at["asks_year"]] = 1.0
        f[at["year_in_title"]] = float(bool(q.years & title_years(head)))
        f[at["year_in_top"]] = float(any(str(y) in lead for y in q.years))
    if q.kinds:
        f[at["asks_kind"]] = 1.0
        f[at["kind_in_title"]] = float(any(k in head.lower() for k in q.kinds))
    return f
