"""Composing replies: the report's own sentences, each cited, opened by a direct reply where one
can be checked against the quote; the report's structure; refusals that point somewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from peelqa.index.store import Index
from peelqa.kinds import AnswerType, explains_grades, reply_span
from peelqa.models import AskResponse, Citation
from peelqa.text import GRADE_RE, canonical_grade, is_negation, words

# Grades that answer "did they do well?" with a yes, and with a no. "adequate" is neither.
_YES_GRADES = frozenset(["outstanding", "good"])
_NO_GRADES = frozenset(["requires improvement", "inadequate"])
# A grade this many words after a word that says no is denied, not given ("not yet good").
NEGATION_REACH = 3


@dataclass(frozen=True)
class Chosen:
    """A sentence chosen for the answer, and how surely it answers (the model's probability)."""

    row: int
    doc: str
    section: str
    sentence: int
    text: str
    probability: float


def _denied(text: str, at: int) -> bool:
    """Whether a word just before this offset (NEGATION_REACH words) says no ("not yet
    good")."""
    return any(is_negation(w) for w in words(text[:at])[-NEGATION_REACH:])


def denies_its_grades(text: str) -> bool:
    """Whether a sentence names grades only to deny them ("the force is not yet good at
    investigating crime")."""
    found = list(GRADE_RE.finditer(text))
    return bool(found) and all(_denied(text, m.start()) for m in found)


def direct_reply(
    *,
    expects: AnswerType,
    yes_no: bool,
    lead: str,
    abbreviation: str | None,
    asked: frozenset[str] = frozenset(),
) -> str | None:
    """A short reply stated in the lead sentence's own words ("Requires improvement",
    "No: graded 'requires improvement'", "62.1 percent"), or None when none can be checked.
    `abbreviation`: the long form of an abbreviation the question asks about, when the lead
    spells it out; `asked`: the figures the question itself writes."""
    if abbreviation is not None and abbreviation in lead:
        return abbreviation
    if expects != AnswerType.GRADE:
        span = reply_span(expects, lead, asked=asked)
        return span[0].upper() + span[1:] if span else None
    found_all = list(GRADE_RE.finditer(lead))
    # "The force is not yet good at investigating crime": the grade a sentence denies is no
    # reply.
    if any(_denied(lead, m.start()) for m in found_all):
        return None
    grades = {canonical_grade(m.group(1)) for m in found_all}
    if len(grades) == 1 and not explains_grades(lead):
        (grade,) = grades
        found = found_all[0].group(1)
        if yes_no and grade in _YES_GRADES | _NO_GRADES:
            return f"{'Yes' if grade in _YES_GRADES else 'No'}: graded '{found}'"
        return found[0].upper() + found[1:]
    return None


def compose(
    chosen: list[Chosen], index: Index, *, reply: str | None, several_reports: bool
) -> AskResponse:
    citations: list[Citation] = []
    parts: list[str] = []
    for n, c in enumerate(chosen, 1):
        sec = index.section(c.doc, c.section)
        doc = index.document(c.doc)
        assert sec is not None and doc is not None  # chosen from the index
        citations.append(
            Citation(
                doc=c.doc,
                section=c.section,
                heading=sec.heading,
                path=sec.path,
                title=doc.title,
                quote=c.text,
                score=round(c.probability, 4),
                page=sec.sentences[c.sentence].page,
            )
        )
        parts.append(f"{c.text} [{n}]")
    if reply:
        parts.insert(0, f"{reply}. [1]" if not reply.endswith((".", "?", "!")) else f"{reply} [1]")
    if several_reports:
        # Never mixing reports silently: say which one the quotes are from.
        parts.insert(0, f"From “{citations[0].title}”:")
    return AskResponse(answer=" ".join(parts), answered=True, citations=citations, reply=reply)


def overlap(sa: frozenset[str] | set[str], sb: frozenset[str] | set[str]) -> float:
    """Shared content words, as a share of the shorter sentence's."""
    return len(sa & sb) / max(1, min(len(sa), len(sb)))


def structure_answer(*, doc_id: str, count: int | None, index: Index) -> AskResponse | None:
    """ "Which questions did the inspection look at?": the report's numbered questions, each
    cited; None when the report has no such questions or not that many."""
    doc = index.document(doc_id)
    if doc is None:
        return None
    questions = [s for s in doc.sections if s.number is not None]
    if len(questions) < 2 or (count is not None and count != len(questions)):
        return None
    cites = [
        Citation(
            doc=doc.doc,
            section=s.section,
            heading=s.heading,
            path=s.path,
            title=doc.title,
            quote=s.heading,
            score=1.0,
        )
        for s in questions
    ]
    lines = [f"{s.number}. {s.heading} [{i}]" for i, s in enumerate(questions, 1)]
    answer = f"The report looks at {len(questions)} questions: " + " ".join(lines)
    return AskResponse(answer=answer, answered=True, citations=cites)


def refusal(suggestions: list[str], intro: str = "The report does not answer that.") -> AskResponse:
    """One short sentence, and up to three nearby topics the reports do cover."""
    text = intro
    if suggestions:
        text += " It does cover: " + "; ".join(s.rstrip("?") for s in suggestions) + "."
    text = re.sub(r"\.\.$", ".", text)
    return AskResponse(answer=text, answered=False, citations=[], suggestions=suggestions)
