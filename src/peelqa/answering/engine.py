"""The question-answering core, one straight path:
understand → retrieve → score → decide → compose → verify.

Nothing here generates wording about the inspection: an answer is made of the report's own
sentences (opened by a reply in those sentences' words), so an instruction hidden in a
question cannot make the product assert anything the report does not say.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from peelqa.answering.cache import AnswerCache, cache_key
from peelqa.answering.compose import (
    Chosen,
    compose,
    denies_its_grades,
    direct_reply,
    overlap,
    refusal,
    structure_answer,
)
from peelqa.answering.features import (
    FEATURES,
    QUESTION_FEATURES,
    FeatureBuilder,
    question_features,
)
from peelqa.answering.model import AnswerModel
from peelqa.answering.retrieve import Candidates, Retriever
from peelqa.answering.scope import profiles
from peelqa.answering.spelling import Vocabulary
from peelqa.answering.understand import Question, Understander
from peelqa.answering.verification import verified
from peelqa.encoder.base import Vectors
from peelqa.index.store import Index
from peelqa.kinds import CARRIED, FIGURE_KINDS, LIST_ITEM_BIT, TABLE_ROW_BIT, AnswerType
from peelqa.models import AskResponse, Turn
from peelqa.reports.model import Section, Sentence
from peelqa.text import GRADE_PATTERN

MAX_SENTENCES = 3
# A list answers with its items, up to this many.
MAX_LIST_ITEMS = 6
# An overall grade asked of a report that grades areas in a table: the table's rows, up to this
# many; the table one of the best this many candidates stands in is looked at first.
MAX_TABLE_ROWS = 12
TABLE_REACH = 8
# A sentence that speaks of an overall grade ("We no longer give an overall grade").
_OVERALL_GRADE_RE = re.compile(r"\boverall\b.{0,40}\b(grade|judge?ment|rating)", re.IGNORECASE)
# An item of a list of grades: an area and its grade ("Efficiency: Good"), perhaps with the
# grade it had before ("Efficiency: good (2017: good)").
_GRADE_ITEM_RE = re.compile(
    rf"[^:]{{3,120}}:\s*(?:{GRADE_PATTERN})\b\.?(?:\s*\([^()]{{0,80}}\))?\.?", re.IGNORECASE
)
# A lead that only denies an area's grade gives way to one of the best this many candidates
# that states one.
STATED_GRADE_REACH = 8
# A lead without the figure asked gives way to one of the best few that has it, when the
# sentence model gives that one at least this (with the support bar beside the lead, 0.05, a
# tune question was lost; with the support floor, 0.2, one of the two validation questions it
# gains was not gained).
FIGURE_LEAD_FLOOR = 0.1
# A sentence that opens by pointing back at the one before it.
_ANAPHOR_RE = re.compile(r"(?:It|This|These|They|He|She|Its|Their|That)\b")
_GRADE_BIT = CARRIED.index(AnswerType.GRADE)
_QUOTED = FEATURES.index("quoted")
_CARRIES_ASKED = {k: FEATURES.index(f"carries_asked_{k.value}") for k in FIGURE_KINDS}
# Maximal marginal relevance: how much a new sentence must differ from those already taken.
MMR_LAMBDA = 0.75
# A sentence sharing this much of its vocabulary with one already chosen adds nothing.
MAX_REDUNDANCY = 0.7
# Questions whose reading is kept for the `ask` that follows their `queries`: about as many as
# the server may have in flight between the two.
READINGS_KEPT = 512
# Refusals point at the nearest topics the reports cover.
SUGGESTIONS = 3


@dataclass
class Analysis:
    """Everything answering worked out for one question: what `--explain` prints."""

    question: Question
    candidates: Candidates
    features: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]  # of each candidate: it answers
    question_features: npt.NDArray[np.float64]
    answer_probability: float  # the best candidate's answer is right
    decision: str = ""
    chosen: list[Chosen] = field(default_factory=list)


class Engine:
    """The answering core over one index."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        english: frozenset[str],
        model: AnswerModel | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.retriever = retriever
        self.index: Index = retriever.index
        self.model = model if model is not None else AnswerModel.load()
        self.cache = cache if cache is not None else AnswerCache(0)
        index = self.index
        vocabulary = Vocabulary(
            [d.title for d in index.documents]
            + [s.heading + "\n" + s.text for s in index.sections.values()],
            english=english,
        )
        self.understander = Understander(
            vocabulary=vocabulary,
            abbreviations=index.abbreviations,
            profiles=profiles(index.documents, common=english),
            titles=[d.title for d in index.documents],
            texts=[s.heading + "\n" + s.text for s in index.sections.values()],
        )
        self.features = FeatureBuilder(index=index, retriever=retriever)
        self._several = len(index.documents) > 1
        # Each report's sentences that speak of an overall grade (Engine._overall_sentences).
        self._speaking: dict[str, list[int]] = {}
        self._readings: dict[bytes, Question] = {}
        self._read_lock = threading.Lock()

    # -- the API the server and the CLI use ---------------------------------------------

    def recall(
        self,
        *,
        question: str,
        history: list[Turn] | None = None,
        docs: Sequence[str] | None = None,
    ) -> AskResponse | None:
        """The answer already made for this question and history, if it is still cached."""
        return self.cache.get(cache_key(question, history or [], docs))

    def queries(self, *, question: str, history: list[Turn] | None = None) -> list[str]:
        """The texts that answering this question encodes, in the words the encoder reads.

        A server encodes them ahead, in a shared batch and without holding a thread, and passes
        the vectors to `ask` as `known`; a text missing there is simply encoded by `ask`.
        """
        q = self._read(question, history or [])
        return [] if q.chitchat else list(q.searches)

    def _read(self, question: str, history: list[Turn]) -> Question:
        """The question read, once: `queries` and then `ask` read the same question in a row
        (the server encodes in between), so the last few readings are kept."""
        key = cache_key(question, history)
        with self._read_lock:
            found = self._readings.get(key)
        if found is None:
            found = self.understander.read(question, history)
            with self._read_lock:
                self._readings[key] = found
                while len(self._readings) > READINGS_KEPT:
                    self._readings.pop(next(iter(self._readings)))
        return found

    def ask(
        self,
        *,
        question: str,
        history: list[Turn] | None = None,
        known: Mapping[str, Vectors] | None = None,
        docs: Sequence[str] | None = None,
    ) -> AskResponse:
        """`docs`: answer from these reports only (ids the index holds)."""
        history = history or []
        key = cache_key(question, history, docs)
        found = self.cache.get(key)
        if found is None:
            found = self.answer(self.analyse(question, history, known, docs))
            self.cache.put(key, found)
        return found

    # -- the path ------------------------------------------------------------------------

    def analyse(
        self,
        question: str,
        history: list[Turn],
        known: Mapping[str, Vectors] | None = None,
        docs: Sequence[str] | None = None,
    ) -> Analysis:
        """Understand, retrieve and score: the candidates and their probabilities."""
        q = self._read(question, history).within(docs)
        empty = np.zeros(0, dtype=np.float64)
        if q.chitchat:
            none = Candidates(
                rows=np.zeros(0, dtype=np.intp),
                dense=empty,
                chunk_dense=empty,
                chunk_lexical=empty,
                context_dense=empty,
                full_dense=empty,
                qvec=np.zeros(0, dtype=np.float32),
                vectors=np.zeros((0, 0), dtype=np.float32),
            )
            nothing = np.zeros(len(QUESTION_FEATURES))
            x0 = np.zeros((0, len(FEATURES)))
            return Analysis(q, none, x0, empty, nothing, 0.0, "chit-chat")
        candidates = self.retriever.candidates(q, known=known)
        x = self.features.build(q, candidates, self.model.adapter)
        return self.score(Analysis(q, candidates, x, empty, empty, 0.0))

    def score(self, a: Analysis) -> Analysis:
        """The model's probabilities for an analysis's candidates and question."""
        a.probabilities = self.model.sentence_probabilities(a.features)
        a.question_features = question_features(
            a.question,
            a.features,
            a.probabilities,
            known=self.retriever.is_known_term,
            idf=self.retriever.idf,
            title=self.features.title,
            text=self.features.text,
            rows=a.candidates.rows,
            report_sentences=self.features.report_sentences,
        )
        a.answer_probability = self.model.answer_probability(a.question_features)
        return a

    def answer(self, a: Analysis) -> AskResponse:
        """Decide, compose and verify."""
        q = a.question
        if q.chitchat:
            return refusal([], intro="I answer questions about the inspection reports.")
        p = a.probabilities
        if q.asks_structure and len(p):
            # The report's own list of questions: its headings, each cited, nothing to judge.
            doc = self.index.sentence_refs[int(a.candidates.rows[int(np.argmax(p))])][0]
            listed = structure_answer(doc_id=doc, count=q.structure_count, index=self.index)
            checked = verified(listed, self.index) if listed is not None else None
            if checked is not None:
                a.decision = "answered with the report's numbered questions"
                return checked
        if len(p) == 0 or a.answer_probability < self.model.threshold:
            a.decision = (
                f"refused: the probability of a right answer, {a.answer_probability:.2f}, is "
                f"below the threshold {self.model.threshold:.2f}"
            )
            return refusal(self._suggestions(a))
        lead = self._lead(a)
        lead_doc = self.index.sentence_refs[int(a.candidates.rows[lead])][0]
        a.chosen = self._choose(a, lead)
        a.decision = (
            f"answered: the probability of a right answer, {a.answer_probability:.2f}, reaches "
            f"the threshold {self.model.threshold:.2f}; {len(a.chosen)} sentence(s) from "
            f"{lead_doc}"
        )
        reply = direct_reply(
            expects=q.expects,
            yes_no=q.yes_no,
            # A table of grades answers with all its rows: no one grade of them is the reply.
            lead=" ".join(c.text for c in a.chosen)
            if self._is_table(a.chosen)
            else a.chosen[0].text,
            abbreviation=q.abbreviation if q.expects == AnswerType.DEFINITION else None,
            asked=q.figures,
        )
        response = compose(a.chosen, self.index, reply=reply, several_reports=self._several)
        return verified(response, self.index) or refusal(self._suggestions(a))

    def _lead(self, a: Analysis) -> int:
        """The likeliest candidate, unless it misses what the question asks and a likely one
        of its report has it: for "why?" after an answer, one that answer did not quote; for a
        figure, one that gives the kind asked; for an area's grade, when the likeliest only
        denies a grade ("However, the force is not yet good at investigating crime"), one
        that states one ("Grade: Requires improvement")."""
        p, rows = a.probabilities, a.candidates.rows
        lead = int(np.argmax(p))
        q = a.question
        if q.follow_up and q.expects == AnswerType.REASON:
            # "why?" after an answer asks for the reasons of what it quoted, which is the
            # finding itself. (Applied to every follow-up, tune lost one question for each it
            # gained: "how many investigators has it got?" may be answered by what was quoted.)
            quoted = a.features[:, _QUOTED]
            if quoted[lead]:
                return self._instead(a, lead, lambda j: not quoted[j], len(p), 0.0)
        if q.expects in FIGURE_KINDS and not q.follow_up:
            # "what % of victims were happy?": "Most victims are satisfied" says nothing of
            # the figure asked, which a likely sentence of the same report may give.
            carried = a.features[:, _CARRIES_ASKED[q.expects]]
            if not carried[lead]:
                return self._instead(
                    a, lead, lambda j: bool(carried[j]), STATED_GRADE_REACH, FIGURE_LEAD_FLOOR
                )
        if q.expects != AnswerType.GRADE or q.overall:
            return lead
        if not denies_its_grades(self.features.text(int(rows[lead]))):
            return lead

        def states(j: int) -> bool:
            row = int(rows[j])
            return self._carries_grade(row) and not denies_its_grades(self.features.text(row))

        return self._instead(a, lead, states, STATED_GRADE_REACH, self.model.support_floor)

    def _instead(
        self, a: Analysis, lead: int, fits: Callable[[int], bool], reach: int, floor: float
    ) -> int:
        """The likeliest of the best `reach` candidates after the lead, from its report and
        at least `floor` likely, that `fits`; the lead when none does."""
        p, rows = a.probabilities, a.candidates.rows
        refs = self.index.sentence_refs
        doc = refs[int(rows[lead])][0]
        for j in np.argsort(-p, kind="stable").tolist()[1:reach]:
            if p[j] >= floor and refs[int(rows[j])][0] == doc and fits(j):
                return int(j)
        return lead

    def _choose(self, a: Analysis, lead: int) -> list[Chosen]:
        """The lead sentence and up to two more from the same report that also answer, by
        maximal marginal relevance (relevant, but not a repeat of what is already said)."""
        p, rows = a.probabilities, a.candidates.rows
        refs = self.index.sentence_refs
        lead_doc, lead_section, lead_at = refs[int(rows[lead])]
        floor = max(self.model.support_floor, self.model.support_ratio * float(p[lead]))

        def joins(j: int) -> bool:
            doc, section, at = refs[int(rows[j])]
            if j == lead or doc != lead_doc:
                return False
            # The sentence before or after the lead in its section often completes it ("Since
            # it started, assaults have fallen by 18 percent."): it joins on a lower bar.
            beside = section == lead_section and abs(at - lead_at) == 1
            if beside and at == lead_at + 1 and _ANAPHOR_RE.match(self.features.text(int(rows[j]))):
                # It goes on with the lead's subject ("It merged six units...", "This means
                # that..."): the lead's answer, whatever it shares with the question.
                return True
            return bool(p[j] >= floor or (beside and p[j] >= self.model.support_near))

        pool = [j for j in np.argsort(-p, kind="stable").tolist() if joins(j)]
        texts = {j: self.features.text(int(rows[j])) for j in [lead, *pool]}
        # A lead-in ("The review found:") says nothing without the list it introduces.
        pool = [j for j in pool if not _leads_in(texts[j])]
        said = {j: self.features.words[int(rows[j])] for j in texts}
        chosen = [lead]
        seen = {texts[lead]}
        while pool and len(chosen) < MAX_SENTENCES:
            best = max(
                pool,
                key=lambda j: (
                    MMR_LAMBDA * p[j]
                    - (1 - MMR_LAMBDA) * max(overlap(said[j], said[c]) for c in chosen)
                ),
            )
            pool.remove(best)
            redundant = max(overlap(said[best], said[c]) for c in chosen) >= MAX_REDUNDANCY
            if not redundant and texts[best] not in seen:
                chosen.append(best)
                seen.add(texts[best])
        out = []
        for j in chosen:
            d, s, i = refs[int(rows[j])]
            out.append(Chosen(int(rows[j]), d, s, i, texts[j], float(p[j])))
        out = self._with_second_part(a, out)
        out = self._with_reasons(a, out)
        lead_text = texts[lead]
        if (
            a.question.expects == AnswerType.GRADE
            and a.question.overall
            and not ("overall" in lead_text.lower() and self._carries_grade(int(rows[lead])))
        ):
            # No sentence states the overall grade: the report's table of grades, after the
            # lead when that is not one of its rows (it may say why there is no overall one).
            table = self._grades_table(a, lead_doc)
            if table:
                if any(c.row == out[0].row for c in table):
                    return table
                # A sentence that speaks of the overall grade ("We no longer give an overall
                # grade") says why the areas' grades answer.
                first = self._speaks_of_overall(a, lead_doc, {c.row for c in table})
                if first is not None:
                    return [first, *table]
                # A lead that speaks of grades, or grades beside the table, may say why there
                # is no overall one; one that only happens to use a grade's word elsewhere in
                # the report ("a good understanding") is no part of the answer.
                beside = out[0].section == table[0].section and out[0].doc == table[0].doc
                about = "grade" in lead_text.lower() or (
                    beside and self._carries_grade(int(rows[lead]))
                )
                return [out[0], *table] if about else table
        if (
            a.question.expects == AnswerType.LIST
            or self._is_list_item(int(rows[lead]))
            or _leads_in(texts[lead])
        ):
            out = self._whole_list(out, a)
        return out

    def _with_second_part(self, a: Analysis, chosen: list[Chosen]) -> list[Chosen]:
        """For a question of two parts ("When did the MASH open, and has it got a backlog?"),
        the answer with the sentence of the lead's section with the most of the words its
        second part asks about ("backlog"), the likeliest of those, else the first, in place
        of the last supporting sentence when the answer is full; as it was when it already
        has one or the section has none. The second part's answer is seldom a likely
        candidate: the question's vector is mostly its first part."""
        terms = a.question.second
        if not terms or not chosen:
            return chosen
        forms = [set(self.retriever.family(t)) | {t} for t in terms]
        has = self.retriever.sentence_terms

        def hits(row: int) -> int:
            return sum(not f.isdisjoint(has[row]) for f in forms)

        lead = chosen[0]
        sec = self.index.section(lead.doc, lead.section)
        if sec is None or any(hits(c.row) for c in chosen):
            return chosen
        p = {int(r): float(q) for r, q in zip(a.candidates.rows, a.probabilities, strict=True)}
        best: tuple[int, float, int] | None = None
        for i in range(len(sec.sentences)):
            row = self.retriever.row_of[(lead.doc, lead.section, i)]
            found, likely = hits(row), p.get(row, 0.0)
            # Ties go to the first in the section.
            if found and (best is None or (found, likely) > best[:2]):
                best = (found, likely, i)
        if best is None:
            return chosen
        return [*chosen[: MAX_SENTENCES - 1], self._chosen(a, lead.doc, sec, best[2])]

    def _with_reasons(self, a: Analysis, chosen: list[Chosen]) -> list[Chosen]:
        """For a question asking why, the answer with the sentence after the lead in its
        paragraph straight after it (in place of the last supporting one when the answer is
        full): a report states a finding and then gives its reasons ("The quality of domestic
        abuse investigations is inconsistent. Response officers..."), and the lead is often
        the finding, which shares the question's words."""
        if a.question.expects != AnswerType.REASON or not chosen:
            return chosen
        lead = chosen[0]
        sec = self.index.section(lead.doc, lead.section)
        at = lead.sentence + 1
        if sec is None or at >= len(sec.sentences):
            return chosen
        if sec.sentences[at].block != sec.sentences[lead.sentence].block:
            return chosen
        after = self._chosen(a, lead.doc, sec, at)
        if any(c.row == after.row for c in chosen):
            return chosen
        return [lead, after, *chosen[1:]][:MAX_SENTENCES]

    def _chosen(self, a: Analysis, doc: str, sec: Section, i: int) -> Chosen:
        """A sentence of a section, as chosen, with its probability when it is a candidate
        (else 0)."""
        row = self.retriever.row_of[(doc, sec.section, i)]
        found = np.flatnonzero(a.candidates.rows == row)
        likely = float(a.probabilities[found[0]]) if len(found) else 0.0
        return Chosen(row, doc, sec.section, i, sec.sentence_text(i), likely)

    def _flag(self, row: int, bit: int) -> bool:
        return bool((int(self.index.sentence_flags[row]) >> bit) & 1)

    def _carries_grade(self, row: int) -> bool:
        return self._flag(row, _GRADE_BIT)

    def _grades_table(self, a: Analysis, doc: str) -> list[Chosen]:
        """An overall grade asked of a report that grades each area in a table ("Our
        judgments"): the table's rows, in its order, after the sentence that introduces them
        when one does ("...as follows:"), from the section of the best candidate
        that is such a row, else from the report's first table of grades. Empty when the
        report has none."""
        p, rows = a.probabilities, a.candidates.rows
        refs = self.index.sentence_refs
        near = [
            j
            for j in np.argsort(-p, kind="stable").tolist()[:TABLE_REACH]
            if refs[rows[j]][0] == doc
        ]
        # The lead's own section first (a table of grades may sit under the lead sentence).
        sections = [refs[rows[near[0]]][1]] if near else []
        sections += [
            refs[rows[j]][1]
            for j in near
            if self._is_table_row(int(rows[j])) and self._carries_grade(int(rows[j]))
        ]
        # Then the report's tables in its order: the best candidates need not be rows of it
        # when the question names only the report ("how did they do in the 2021 PEEL?").
        document = self.index.document(doc)
        sections += [s.section for s in document.sections] if document is not None else []
        for section in dict.fromkeys(sections):
            sec = self.index.section(doc, section)
            if sec is None:
                continue
            out: list[Chosen] = []
            for i in range(len(sec.sentences)):
                r = self.retriever.row_of[(doc, section, i)]
                if self._grades_row(r) and len(out) < MAX_TABLE_ROWS:
                    out.append(Chosen(r, doc, section, i, sec.sentence_text(i), float(p[near[0]])))
            if len(out) >= 2:
                # The table with the sentence that introduces it ("We make graded judgments in
                # nine of these ten as follows:").
                at = out[0].sentence - 1
                if at >= 0 and _leads_in(text := sec.sentence_text(at)):
                    r = self.retriever.row_of[(doc, section, at)]
                    out.insert(0, Chosen(r, doc, section, at, text, out[0].probability))
                return out
        return []

    def _grades_row(self, row: int) -> bool:
        """A row of a table of grades, or an item of a list of them ("- Efficiency: Good")."""
        if not self._carries_grade(row):
            return False
        return self._is_table_row(row) or (
            self._is_list_item(row) and bool(_GRADE_ITEM_RE.fullmatch(self.features.text(row)))
        )

    def _speaks_of_overall(self, a: Analysis, doc: str, table: set[int]) -> Chosen | None:
        """The likeliest candidate of this report, not a row of its table, that speaks of an
        overall grade or judgment, else the report's first sentence that does."""
        p, rows = a.probabilities, a.candidates.rows
        speaking = [row for row in self._overall_sentences(doc) if row not in table]

        def chosen(row: int, probability: float) -> Chosen:
            d, section, i = self.index.sentence_refs[row]
            return Chosen(row, d, section, i, self.features.text(row), probability)

        for j in np.argsort(-p, kind="stable").tolist():
            if int(rows[j]) in speaking:
                return chosen(int(rows[j]), float(p[j]))
        # Else the first in the report: the question may name only the report ("bracks'
        # overall rating?"), and what it says of an overall grade stands in its introduction.
        return chosen(speaking[0], float(p.max())) if speaking else None

    def _overall_sentences(self, doc: str) -> list[int]:
        """The rows of a report's sentences that speak of an overall grade, in its order (read
        once a report, when first asked for)."""
        found = self._speaking.get(doc)
        if found is None:
            found = []
            document = self.index.document(doc)
            for sec in document.sections if document is not None else []:
                for i in range(len(sec.sentences)):
                    if _OVERALL_GRADE_RE.search(sec.sentence_text(i)):
                        found.append(self.retriever.row_of[(doc, sec.section, i)])
            self._speaking[doc] = found
        return found

    def _is_table_row(self, row: int) -> bool:
        return self._flag(row, TABLE_ROW_BIT)

    def _is_table(self, chosen: list[Chosen]) -> bool:
        return sum(self._grades_row(c.row) for c in chosen) > 1

    def _is_list_item(self, row: int) -> bool:
        return self._flag(row, LIST_ITEM_BIT)

    def _whole_list(self, chosen: list[Chosen], a: Analysis) -> list[Chosen]:
        """A lead that is a list item answers with its list: the other items of the list it
        stands in (consecutive list items of its section), in the report's order, after the
        sentence that introduces the list ("Within six months, the force should:"). A lead
        that introduces a list ("...the following:") brings the list after it, and so does a
        lead whose paragraph ends by introducing one when a list is asked for ("... The plan
        has four priorities:")."""
        lead = chosen[0]
        sec = self.index.section(lead.doc, lead.section)
        if sec is None or (span := self._list_span(sec, lead, a.question)) is None:
            return chosen
        first, last, intro = span
        in_list = [i for i, s in enumerate(sec.sentences) if first <= s.block <= last]
        if (
            len(in_list) > last - first + 1
            and self._is_list_item(lead.row)
            and a.question.expects not in (AnswerType.LIST, AnswerType.GRADE)
        ):
            # A sentence of an item of several ("7. Reducing waiting times. Addressed. The
            # average wait has fallen..."), not asked for a list (nor a grade: a list of
            # grades is the answer): the other items' sentences would be fragments of other
            # answers, but its own item says what it is about.
            block = sec.sentences[lead.sentence].block
            own = [
                self._chosen(a, lead.doc, sec, i)
                for i in in_list
                if sec.sentences[i].block == block and i != lead.sentence
            ]
            rows = {c.row for c in own} | {lead.row}
            return [lead, *own, *(c for c in chosen[1:] if c.row not in rows)][:MAX_SENTENCES]
        items = [lead]
        if intro is not None:
            # Before a list item that leads, after a lead that stands before the list.
            items.insert(
                0 if self._is_list_item(lead.row) else 1, self._chosen(a, lead.doc, sec, intro)
            )
        for i in in_list:
            row = self.retriever.row_of[(lead.doc, lead.section, i)]
            if row != lead.row and len(items) < MAX_LIST_ITEMS:
                items.append(self._chosen(a, lead.doc, sec, i))
        return items

    def _list_span(
        self, sec: Section, lead: Chosen, q: Question
    ) -> tuple[int, int, int | None] | None:
        """The blocks of the list a lead answers with, first and last, and the sentence that
        introduces the list when another does; None when the lead brings no list."""
        blocks = sec.blocks
        first = last = sec.sentences[lead.sentence].block
        intro: int | None = None
        if not self._is_list_item(lead.row):
            if first + 1 >= len(blocks) or blocks[first + 1].kind != "list_item":
                return None
            ending = self._block_end(sec.sentences, first)
            if not _leads_in(lead.text):
                if not (q.expects == AnswerType.LIST and _leads_in(sec.sentence_text(ending))):
                    return None
                intro = ending
            first = last = first + 1
        while first > 0 and blocks[first - 1].kind == "list_item":
            first -= 1
        while last + 1 < len(blocks) and blocks[last + 1].kind == "list_item":
            last += 1
        if self._is_list_item(lead.row) and first > 0:
            ending = self._block_end(sec.sentences, first - 1)
            if _leads_in(sec.sentence_text(ending)):
                intro = ending
        return first, last, intro

    @staticmethod
    def _block_end(sentences: Sequence[Sentence], block: int) -> int:
        """The index of the last sentence of a block (blocks hold at least one)."""
        return max(i for i, s in enumerate(sentences) if s.block == block)

    def _suggestions(self, a: Analysis) -> list[str]:
        """The headings of the sections the best candidates come from (nearest first)."""
        out: list[str] = []
        refs = self.index.sentence_refs
        for j in np.argsort(-a.probabilities, kind="stable").tolist():
            d, s, _ = refs[int(a.candidates.rows[j])]
            sec = self.index.section(d, s)
            if sec is not None and sec.heading not in out and s != "intro":
                out.append(sec.heading)
            if len(out) == SUGGESTIONS:
                break
        return out


def _leads_in(text: str) -> bool:
    return text.rstrip().endswith(":")
