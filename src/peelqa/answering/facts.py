"""Questions asking for one kind of fact (a figure, a date, a grade), and sentences giving it.

A dense ranking finds what a question is about; it cannot tell whether a sentence actually
gives the figure or the grade asked for. These rules can, for any report of the family.
"""

from __future__ import annotations

import functools
import re

from peelqa.answering.retrieve import Hit, Retrieval, Retriever
from peelqa.text import (
    GRADE_PATTERN,
    NUMBER_WORD_PATTERN,
    NUMBER_WORDS,
    content_words,
    is_negation,
    stem,
    words,
)

_QUANTITY_Q = re.compile(
    r"\bhow (many|much|long|often|big|large|old|fast|quickly)\b|"
    r"\b(population|budget|budgets|cost|costs|salary|salaries|percentage|proportion|amount"
    r"|number of|figures? for|statistics?|rate of)\b",
    re.IGNORECASE,
)
_TIME_Q = re.compile(r"^\s*(when|what (year|date|month|time))\b|\bsince when\b", re.IGNORECASE)
_GRADE_Q = re.compile(
    r"\b(grade[sd]?|grading|rated|rating|ratings|judged|judgement|judgment|verdict|score[sd]?)\b"
    r"|\b(did|does|do)\b.{0,60}\brate\b",
    re.IGNORECASE,
)
_EXPANSION_Q = re.compile(
    r"\b(stand|stands) for\b|\b(acronym|abbreviation|initials)\b|\bshort for\b|"
    r"\bwhat is (an? |the )?[A-Z]{2,8}\b(?! (do|does|say))",
)
_GRADES = f"({GRADE_PATTERN})"
_NOT_GRADED = re.compile(r"\b(not (been )?graded|ungraded|no grade)\b", re.IGNORECASE)
_ALL_AREAS = re.compile(r"\b(each|all|every)\b.{0,40}\b(areas?|questions?)\b", re.IGNORECASE)
_EVERY = re.compile(r"\b(each|every|all|areas|questions)\b", re.IGNORECASE)
_OVERALL = re.compile(r"\boverall\b", re.IGNORECASE)

PATTERNS = {
    # A year is a date, not a count: "how many ..." is not answered by "by the end of 2018".
    "quantity": re.compile(
        r"\b(?!(1[89]|20)\d\d\b)\d[\d,.]*|\b(annual|annually|yearly|monthly|weekly|daily"
        rf"|{NUMBER_WORD_PATTERN}|half|third|quarter|once|twice|single)\b",
        re.IGNORECASE,
    ),
    "time": re.compile(
        r"\b(1[89]\d\d|20\d\d|january|february|march|april|may|june|july|august|september"
        r"|october|november|december|spring|summer|autumn|winter|years?|months?|weeks?|days?"
        r"|decades?|since|ago|until|by the end|recent(ly)?|now|currently|next)\b",
        re.IGNORECASE,
    ),
    "grade": re.compile(
        rf"['‘\"“]{_GRADES}['’\"”]|\b(grade[sd]?|grading|rated|judged|assessed)\b.{{0,80}}"
        rf"\b{_GRADES}\b|{_NOT_GRADED.pattern}",
        re.IGNORECASE,
    ),
}
# Words that only say which kind of fact is wanted; they are not its subject.
_FACT_WORDS = {
    "expansion": frozenset("stand stands short acronym abbreviation initials".split()),
    "quantity": frozenset(
        """
        many much long often big large old fast quickly number figure figures amount
        total statistic statistics rate
        """.split()
    ),
    "time": frozenset(["year", "date", "month", "time", "day"]),
    "grade": frozenset(
        """
        grade grades graded grading rated rating ratings judged judgement judgment
        verdict score scored scores overall area areas get got receive received give
        given
        """.split()
    ),
}
_FACT_STEMS = {k: frozenset(stem(w) for w in v) for k, v in _FACT_WORDS.items()}
# How far below the best sentence a figure or date may score and still be the answer.
FACT_SCORE_SLACK = 0.10
# A word in at least this share of a report's sections is its setting (the force's name,
# "police"), not the subject of a question.
SETTING_SHARE = 0.5


def fact_kind(question: str) -> str | None:
    if _EXPANSION_Q.search(question):
        return "expansion"
    if _GRADE_Q.search(question):
        return "grade"
    if _QUANTITY_Q.search(question):
        return "quantity"
    if _TIME_Q.search(question):
        return "time"
    return None


def choose_fact(
    *, kind: str, question: str, retrieval: Retrieval, retriever: Retriever
) -> Hit | None:
    """The sentence that gives the fact asked for, or None when the reports do not give it."""
    if not retrieval.hits:
        return None
    doc = retrieval.hits[0].doc
    if kind == "expansion":
        return _choose_expansion(question, retrieval, retriever)
    # Only the sentences giving this kind of fact are scored (which they are is the same for
    # every question: found once per report).
    refs = retriever.remember(
        ("givers", doc, kind), functools.partial(_givers, retriever, doc, kind)
    )
    givers = retriever.score_sentences(retrieval, refs)
    subject = _subject_terms(kind, retrieval, retriever, doc)
    if kind == "grade":
        return _choose_grade(question, retrieval, retriever, givers, subject)
    floor = retrieval.hits[0].score - FACT_SCORE_SLACK
    for h in givers:
        if h.score < floor:
            break
        # A figure about the setting alone ("how many officers does the force have?") needs no
        # subject word; otherwise the sentence must name what the question asks about.
        if subject and not any(mentions(h.text, p) for p in subject):
            continue
        if _HOW_MANY.search(question) and subject and not counts_of(h.text, subject):
            continue
        return h
    return None


_HOW_MANY = re.compile(r"\bhow many\b", re.IGNORECASE)
_COUNT = re.compile(rf"\b(?!(1[89]|20)\d\d\b)(\d[\d,]*|{NUMBER_WORD_PATTERN})\b")
# "How many X" is answered by a number with a word for X close after it ("34 active organised
# crime groups", "35 percent of frontline officers"), not by a duration or a date elsewhere.
COUNT_WINDOW_WORDS = 6


def counts_of(text: str, subject: list[str]) -> bool:
    for m in _COUNT.finditer(text):
        after = " ".join(text[m.end() :].split()[:COUNT_WINDOW_WORDS])
        if any(mentions(after, p) for p in subject):
            return True
    return False


def _subject_terms(kind: str, retrieval: Retrieval, retriever: Retriever, doc: str) -> list[str]:
    """The question's words that say what the fact is about, as prefixes ("protect" for
    "protecting"), leaving out the report's setting and words that only name the kind of fact.

    Prefixes rather than stems: a stem joins "effectiveness" to the everyday "effective",
    which would blur a PEEL pillar into a common adjective.
    """
    out: list[str] = []
    for word in content_words(retriever.vocabulary.mend(retrieval.query)):
        if word in _FACT_WORDS[kind] or word.isdigit() or word in NUMBER_WORDS:
            continue
        prefix = word_prefix(word)
        share = retriever.remember(
            ("share", doc, prefix), functools.partial(_section_share, retriever, doc, prefix)
        )
        if 0 < share < SETTING_SHARE:
            out.append(prefix)
    return out


def _givers(retriever: Retriever, doc: str, kind: str) -> list[tuple[str, str, int]]:
    """The report's sentences that give a fact of this kind, in report order."""
    pattern = PATTERNS[kind]
    return [
        ref
        for ref in retriever.document_sentences(doc)
        if pattern.search(retriever.sentence_text(ref))
    ]


def _section_share(retriever: Retriever, doc: str, prefix: str) -> float:
    """The share of the report's sections that use a word (by its prefix)."""
    report = retriever.index.document(doc)
    sections = report.sections if report is not None else []
    spread = sum(1 for s in sections if mentions(s.heading + " " + s.text, prefix))
    return spread / max(1, len(sections))


def word_prefix(word: str) -> str:
    """A light stem: enough of the word to keep its meaning, dropping inflections."""
    return word[: max(5, len(word) - 3)]


def mentions(text: str, prefix: str) -> bool:
    return re.search(rf"\b{re.escape(prefix)}", text, re.IGNORECASE) is not None


def unknown_subject_words(question: str, retriever: Retriever) -> list[str]:
    """Words of a grade question that no report uses, in any form (by stem, after mending
    slips of spelling): the grade of something never assessed."""
    vocab = retriever.vocabulary
    return [
        w
        for w in content_words(question)
        if w not in _FACT_WORDS["grade"]
        and not w.isdigit()
        and not any(retriever.is_known_term(stem(x)) for x in vocab.correct(w, compounds=False))
    ]


def _choose_grade(
    question: str,
    retrieval: Retrieval,
    retriever: Retriever,
    givers: list[Hit],
    subject: list[str],
) -> Hit | None:
    if not givers or unknown_subject_words(question, retriever):
        return None
    if any(is_negation(w) for w in words(question)):
        ungraded = [h for h in givers if _NOT_GRADED.search(h.text)]
        if ungraded:
            return ungraded[0]
    if not subject:
        # The force's grade: the overall one, unless the question asks about every area.
        wanted = _ALL_AREAS if _EVERY.search(question) else _OVERALL
        return next((h for h in givers if wanted.search(h.text)), givers[0])
    # The section the question is about, as retrieval sees it, may state its own grade...
    topical = next(
        (h.section for h in retrieval.hits if any(mentions(h.text, p) for p in subject)),
        retrieval.hits[0].section,
    )
    for h in givers:
        if h.section == topical:
            return h
    # ...or a summary names the area beside its grade, or grades every area at once.
    for h in givers:
        if any(mentions(h.text, p) for p in subject):
            return h
    # "each of the above areas" grades the question areas only, not the intro's general terms.
    doc = retriever.index.document(givers[0].doc)
    assert doc is not None  # a hit's report
    area = doc.section(topical)
    if area is None or area.number is None:
        return None
    return next((h for h in givers if _ALL_AREAS.search(h.text)), None)


def _spelling_out(retriever: Retriever, short: str) -> list[tuple[str, str, int]]:
    """The sentences that give `short`'s long form with it in brackets."""
    long = retriever.index.abbreviations[short]
    pattern = re.compile(rf"{re.escape(long)}\s*\({re.escape(short)}s?\)")
    return [
        ref for ref in retriever.index.sentence_refs if pattern.search(retriever.sentence_text(ref))
    ]


def _choose_expansion(question: str, retrieval: Retrieval, retriever: Retriever) -> Hit | None:
    """What an abbreviation stands for: only where a report spells it out."""
    abbreviations = retriever.index.abbreviations
    for token in re.findall(r"[A-Za-z]{2,8}", question):
        short = next((k for k in abbreviations if k.lower() == token.lower()), None)
        if short is None:
            continue
        # Which sentences spell it out depends on the index alone: found once (a pass over
        # every sentence, which grows with the corpus), then remembered.
        refs = retriever.remember(
            ("spelt out", short), functools.partial(_spelling_out, retriever, short)
        )
        found = retriever.score_sentences(retrieval, refs, limit=1)
        if found:
            return found[0]
    return None
