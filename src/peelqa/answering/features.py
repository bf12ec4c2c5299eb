"""What the answer model knows of each candidate sentence: one row of numbers a candidate.

Groups (the ablation study removes one at a time):
- `dense`: the encoder's similarity of the question to the sentence (read with its section's
  topic), to its chunk, and where the sentence ranks among the candidates;
- `adapted`: the same similarity with the question's vector moved by the fitted adapter
  (model.Adapter), and where the sentence ranks by it;
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

from peelqa.answering.adapter import Adapter
from peelqa.answering.retrieve import Candidates, Retriever
from peelqa.answering.scope import title_years
from peelqa.answering.understand import Question
from peelqa.index.store import Index
from peelqa.kinds import (
    CARRIED,
    FIGURE_KINDS,
    FIRST_BIT,
    GRADES_BIT,
    LIST_ITEM_BIT,
    TABLE_ROW_BIT,
    AnswerType,
    carries,
    counts_of,
    roles_in,
    spells,
    without_figures,
)
from peelqa.text import content_words, stem

Matrix = npt.NDArray[np.float64]
# A candidate the previous answer quoted: at least this share of its terms (and this many) are
# in that answer.
QUOTED_SHARE = 0.8
QUOTED_MIN_TERMS = 3

# The kinds the model weighs when asked for, each with an "asked" and an "asked and carried".
_TYPED = CARRIED
# Back matter: what the grades mean, where the figures come from. Rarely the answer.
_ANNEX_RE = re.compile(
    r"\b(annex|appendix|about the data|glossary|methodology|definitions|about this report)\b",
    re.IGNORECASE,
)
_SUMMARY_RE = re.compile(
    r"\b(summary|overall|conclusion|judge?ments?|observations|overview)\b", re.IGNORECASE
)

GROUPS: dict[str, list[str]] = {
    "dense": ["dense", "full_dense", "chunk_dense", "dense_rank", "dense_gap", "max_dense"],
    "adapted": ["adapted", "adapted_rank", "adapted_gap", "max_adapted"],
    "lexical": [
        "lex_sentence",
        "lex_topic",
        "lex_union",
        "lex_attribute",
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
    "names": ["unknown_names", "names_found", "names_missing", "other_force", "role_missing"],
    "scope": ["in_named_report", "scoped"],
    "structure": [
        "list_item",
        "table_row",
        "first",
        "intro",
        "summary",
        "annex",
        "several_grades",
        "overall_match",
        "depth",
        "length",
    ],
    "follow_up": ["follow_up", "context_dense", "previous_section", "quoted", "near_quoted"],
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
        annex = {key: bool(_ANNEX_RE.search(" ".join(sec.path))) for key, sec in sections.items()}
        self.annex = np.array([annex[(d, s)] for d, s, _ in refs], dtype=np.float64)
        # Every sentence's text and its words, by row: looked up for every candidate.
        self.texts = [sections[(d, s)].sentence_text(i) for d, s, i in refs]
        self.lower = [t.lower() for t in self.texts]
        self.words = [frozenset(content_words(t)) for t in self.texts]
        # The roles a sentence names, read the first time a question asks about one (most
        # never do; reading them all here would add to start-up with many reports).
        self._roles: dict[int, frozenset[str]] = {}
        self.length = np.array(
            [math.log1p(len(sections[(d, s)].sentence_text(i).split())) for d, s, i in refs],
            dtype=np.float64,
        )

    def report_sentences(self, row: int) -> int:
        return int(self._sentences_in_report[int(self.doc_of[row])])

    def title(self, row: int) -> str:
        return self.index.documents[int(self.doc_of[row])].title

    def text(self, row: int) -> str:
        return self.texts[row]

    def roles(self, row: int) -> frozenset[str]:
        found = self._roles.get(row)
        if found is None:
            found = self._roles[row] = roles_in(self.texts[row])
        return found

    def build(self, q: Question, c: Candidates, adapter: Adapter) -> Matrix:
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
        x[:, col["dense_rank"]] = _reciprocal_rank(c.dense)
        x[:, col["dense_gap"]] = c.dense - c.dense.max()
        x[:, col["max_dense"]] = c.dense.max()
        self.adapt(c, adapter, x)
        # lexical
        self._lexical(q, c, x)
        # kind
        flags = self.flags[rows]
        self._kind(q, rows, flags, x)
        x[:, col["asks_yes_no"]] = float(q.yes_no)
        # names
        x[:, col["unknown_names"]] = min(len(q.unknown_names), 3)
        if q.names:
            found = np.zeros(n, dtype=np.float64)
            lower = self.lower
            for j, r in enumerate(rows.tolist()):
                low = lower[r]
                found[j] = sum(1 for w in q.names if w in low) / len(q.names)
            x[:, col["names_found"]] = found
            x[:, col["names_missing"]] = 1.0 - found
        x[:, col["other_force"]] = float(q.other_force)
        if q.roles:
            # "Who's the deputy chief constable?" is not answered by "X was appointed chief
            # constable": the role asked, not a word of it, must be the sentence's.
            x[:, col["role_missing"]] = [float(not q.roles & self.roles(r)) for r in rows.tolist()]
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
            x[:, col["overall_match"]] = [float("overall" in self.lower[r]) for r in rows.tolist()]
        x[:, col["intro"]] = self.intro[rows]
        x[:, col["summary"]] = self.summary[rows]
        x[:, col["annex"]] = self.annex[rows]
        x[:, col["depth"]] = self.depth[rows]
        x[:, col["length"]] = self.length[rows]
        # follow-up
        if q.follow_up:
            x[:, col["follow_up"]] = 1.0
            x[:, col["context_dense"]] = c.context_dense
            said = set(q.previous_terms)
            if said:
                r = self.retriever
                sections = r.section_of_row[rows]
                share = {
                    int(i): len(said & r.section_terms[int(i)]) / len(said)
                    for i in np.unique(sections)
                }
                x[:, col["previous_section"]] = [share[int(i)] for i in sections]
                self._quoted(rows, said, x)
        return x

    def adapt(self, c: Candidates, adapter: Adapter, x: Matrix) -> None:
        """The `adapted` group of a question's rows: training rewrites it with each fold's
        adapter, the rest of the row stays as built."""
        if not len(c):
            return
        vec = adapter.apply(c.qvec)
        sims = (c.vectors @ vec).astype(np.float64)
        col = _COL
        x[:, col["adapted"]] = sims
        x[:, col["adapted_rank"]] = _reciprocal_rank(sims)
        x[:, col["adapted_gap"]] = sims - sims.max()
        # Above or below the cosine the adapter learnt that answers need.
        x[:, col["max_adapted"]] = sims.max() - adapter.bar(vec)

    def _kind(
        self, q: Question, rows: npt.NDArray[np.intp], flags: npt.NDArray[np.int64], x: Matrix
    ) -> None:
        col = _COL

        def flagged(kind: AnswerType) -> npt.NDArray[np.int64]:
            bit: npt.NDArray[np.int64] = (flags >> CARRIED.index(kind)) & 1
            return bit

        asked = q.expects
        if asked in _TYPED:
            carried = flagged(asked)
            # The question's own figures answer nothing.
            if q.figures and asked in FIGURE_KINDS and carried.any():
                carried = carried.copy()
                for j, r in enumerate(rows.tolist()):
                    text = self.text(r)
                    if carried[j] and any(f in text for f in q.figures):
                        carried[j] = carries(asked, text, besides=q.figures)
            if asked == AnswerType.DEFINITION and q.acronyms:
                # "What does THRIVE stand for?": a sentence that spells it out carries the
                # answer, however it is worded ("assess threat, risk, harm...").
                carried = carried | np.array(
                    [any(spells(self.text(r), a) for a in q.acronyms) for r in rows.tolist()],
                    dtype=np.int64,
                )
            x[:, col[f"asks_{asked.value}"]] = 1.0
            x[:, col[f"carries_asked_{asked.value}"]] = carried
            x[:, col["asked_not_carried"]] = 1 - carried
        if asked == AnswerType.COUNT and (q.count_noun or q.focus_prefixes):
            prefixes = [q.count_noun] if q.count_noun else list(q.focus_prefixes)
            x[:, col["counts_focus"]] = [
                float(counts_of(without_figures(self.text(r), q.figures), prefixes)) for r in rows
            ]
            pct = flagged(AnswerType.PERCENTAGE)
            cnt = flagged(AnswerType.COUNT)
            x[:, col["count_as_percentage"]] = pct * (1 - cnt)

    def _quoted(self, rows: npt.NDArray[np.intp], said: set[str], x: Matrix) -> None:
        """Which candidates the previous answer quoted (nearly all their words are in it),
        and how near the others stand to one of those in their section."""
        r = self.retriever
        terms_of = r.sentence_terms
        quoted = np.array(
            [
                len(terms_of[row]) >= QUOTED_MIN_TERMS
                and len(terms_of[row] & said) >= QUOTED_SHARE * len(terms_of[row])
                for row in rows.tolist()
            ],
            dtype=np.float64,
        )
        x[:, _COL["quoted"]] = quoted
        if not quoted.any():
            return
        refs = self.index.sentence_refs
        spots: dict[tuple[str, str], list[int]] = {}
        for j in np.flatnonzero(quoted).tolist():
            d, sec, i = refs[int(rows[j])]
            spots.setdefault((d, sec), []).append(i)
        near = np.zeros(len(rows), dtype=np.float64)
        for j, row in enumerate(rows.tolist()):
            d, sec, i = refs[row]
            found = spots.get((d, sec))
            if found and not quoted[j]:
                near[j] = 1.0 / (1.0 + min(abs(i - k) for k in found))
        x[:, _COL["near_quoted"]] = near

    def _lexical(self, q: Question, c: Candidates, x: Matrix) -> None:
        col = _COL
        x[:, col["chunk_bm25"]] = c.chunk_lexical
        if not q.focus:
            x[:, col["no_focus"]] = 1.0
            return
        r = self.retriever
        weights = [(t, r.idf(t)) for t in q.focus]
        total = sum(w for _, w in weights) or 1.0
        # What is asked about its subject: the focus without the names ("appointed" of "when
        # was Rachel Quayle appointed?"), which a sentence naming the subject may lack.
        named = {stem(n) for n in q.names}
        attribute_total = sum(w for t, w in weights if t not in named)
        lex_s = np.zeros(len(c), dtype=np.float64)
        lex_t = np.zeros(len(c), dtype=np.float64)
        lex_u = np.zeros(len(c), dtype=np.float64)
        lex_a = np.zeros(len(c), dtype=np.float64)
        sent_terms, topic_terms = r.sentence_terms, r.topic_terms
        # Each term with its family: a sentence has the term when it has any of them.
        forms = [(t, w, r.family(t) | {t}) for t, w in weights]
        for j, row in enumerate(c.rows.tolist()):
            st, tt = sent_terms[row], topic_terms[row]
            a = b = u = v = 0.0
            for t, w, form in forms:
                in_s = not form.isdisjoint(st)
                in_t = not form.isdisjoint(tt)
                if in_s:
                    a += w
                if in_t:
                    b += w
                if in_s or in_t:
                    u += w
                    if t not in named:
                        v += w
            lex_s[j], lex_t[j], lex_u[j], lex_a[j] = a, b, u, v
        lex_s /= total
        lex_t /= total
        lex_u /= total
        if attribute_total > 0:
            lex_a /= attribute_total
        x[:, col["lex_sentence"]] = lex_s
        x[:, col["lex_topic"]] = lex_t
        x[:, col["lex_union"]] = lex_u
        x[:, col["lex_attribute"]] = lex_a if attribute_total > 0 else lex_u
        x[:, col["lex_gap"]] = lex_u - lex_u.max()
        x[:, col["focus_missing"]] = (1.0 - lex_u) * min(total, 20.0) / 10.0
        x[:, col["max_lex"]] = lex_u.max()


def _reciprocal_rank(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1 for the highest value, 1/2 for the next..."""
    order = np.argsort(-values, kind="stable")
    rank = np.empty(len(values), dtype=np.float64)
    rank[order] = np.arange(len(values), dtype=np.float64)
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + rank)
    return out


# Which way a question feature may move the question model, where reason says: a better best
# sentence can only make an answer likelier, and words the reports never use, names they do
# not know, another force or an undefined abbreviation only less likely. The model's trees
# keep to these (FREE ones go either way). Without them it learnt from the development corpus,
# whose unanswerable questions were written to share the report's words, that a focus the
# reports never use marks an answerable question, and answered "Who won the cup?".
UP, DOWN, FREE = 1, -1, 0

# What the question model knows: the question, and its best candidates as the sentence model
# ranks them; each with its direction.
_QUESTION: list[tuple[str, int]] = [
    ("top_p", UP),
    ("second_p", FREE),
    ("top_gap", FREE),
    ("top_dense", UP),
    ("max_dense", UP),
    ("top_adapted", UP),
    ("max_adapted", UP),
    ("top_lex_union", UP),
    ("top_lex_sentence", UP),
    ("top_lex_attribute", UP),
    ("max_lex_union", UP),
    ("top_carries_asked", UP),
    ("top5_carries_asked", UP),
    ("top_counts_focus", UP),
    ("top_focus_missing", DOWN),
    ("unseen_focus", DOWN),
    ("unknown_names", DOWN),
    ("other_force", DOWN),
    ("top_role_missing", DOWN),
    ("top_names_found", UP),
    ("no_focus", FREE),
    ("focus_terms", FREE),
    ("follow_up", FREE),
    ("top_previous_section", FREE),
    ("top_quoted", FREE),
    ("top_near_quoted", FREE),
    ("yes_no", FREE),
    ("top_in_named_report", UP),
    ("scoped", FREE),
    ("top_summary", FREE),
    ("top_table_row", FREE),
    ("top_chunk_bm25", UP),
    ("dense_z", UP),
    ("report_size", FREE),
    ("asks_year", FREE),
    ("year_in_title", UP),
    ("year_in_top", UP),
    ("asks_kind", FREE),
    ("kind_in_title", UP),
    ("definition_defined", UP),
    ("definition_undefined", DOWN),
    ("overall_grade", UP),
    *((f"asks_{k.value}", FREE) for k in AnswerType),
]
QUESTION_FEATURES: list[str] = [name for name, _ in _QUESTION]
DIRECTION: dict[str, int] = dict(_QUESTION)


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
    # Plain Python floats: for one question's few dozen numbers, numpy calls cost more than
    # the arithmetic.
    f = [0.0] * len(QUESTION_FEATURES)
    at = _QCOL
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
        return np.array(f)
    probs = p.tolist()
    ranked = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
    top = ranked[0]
    row = x[top].tolist()
    f[at["top_p"]] = probs[top]
    f[at["second_p"]] = probs[ranked[1]] if len(ranked) > 1 else 0.0
    f[at["top_gap"]] = f[at["top_p"]] - f[at["second_p"]]
    f[at["top_dense"]] = row[_COL["dense"]]
    dense = x[:, _COL["dense"]].tolist()
    mean = sum(dense) / len(dense)
    spread = math.sqrt(sum((d - mean) ** 2 for d in dense) / len(dense))
    f[at["dense_z"]] = (dense[top] - mean) / (spread + 1e-6)
    f[at["report_size"]] = math.log1p(report_sentences(int(rows[top])))
    for name, feature in _TOP_COPIES:
        f[at[name]] = row[_COL[feature]]
    if q.expects in _TYPED:
        column = _COL[f"carries_asked_{q.expects.value}"]
        f[at["top_carries_asked"]] = row[column]
        f[at["top5_carries_asked"]] = max(float(x[j, column]) for j in ranked[:5])
        # Every report of the family grades: the grade of the whole is there to be quoted
        # when the best sentences give grades.
        if q.expects == AnswerType.GRADE and q.overall:
            f[at["overall_grade"]] = f[at["top5_carries_asked"]]
    if q.expects == AnswerType.DEFINITION:
        f[at["definition_defined" if q.abbreviation else "definition_undefined"]] = 1.0
    # Does the report (its title) and the best sentence agree with the year and the kind of
    # inspection the question names?
    if q.years or q.kinds:
        head, lead = title(int(rows[top])), text(int(rows[top]))
        if q.years:
            f[at["asks_year"]] = 1.0
            f[at["year_in_title"]] = float(bool(q.years & title_years(head)))
            f[at["year_in_top"]] = float(any(str(y) in lead for y in q.years))
        if q.kinds:
            f[at["asks_kind"]] = 1.0
            f[at["kind_in_title"]] = float(any(k in head.lower() for k in q.kinds))
    return np.array(f)


_QCOL = {name: i for i, name in enumerate(QUESTION_FEATURES)}
# Question features that are the best candidate's own sentence features.
_TOP_COPIES = (
    ("max_dense", "max_dense"),
    ("top_adapted", "adapted"),
    ("max_adapted", "max_adapted"),
    ("top_lex_union", "lex_union"),
    ("top_lex_sentence", "lex_sentence"),
    ("top_lex_attribute", "lex_attribute"),
    ("max_lex_union", "max_lex"),
    ("top_focus_missing", "focus_missing"),
    ("top_names_found", "names_found"),
    ("top_previous_section", "previous_section"),
    ("top_quoted", "quoted"),
    ("top_near_quoted", "near_quoted"),
    ("top_in_named_report", "in_named_report"),
    ("top_summary", "summary"),
    ("top_table_row", "table_row"),
    ("top_chunk_bm25", "chunk_bm25"),
    ("top_counts_focus", "counts_focus"),
    ("top_role_missing", "role_missing"),
)
