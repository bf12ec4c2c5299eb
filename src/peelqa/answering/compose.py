"""Composing replies: cited answers in the reports' own sentences, the report's structure, and
refusals that say what the reports do cover."""

from __future__ import annotations

from peelqa.answering.retrieve import Hit, Retrieval
from peelqa.answering.verification import verified
from peelqa.index.store import Index
from peelqa.models import AskResponse, Citation
from peelqa.text import NUMBER_WORDS, content_words, words

# Words of a question about the report's own structure ("what are the four questions?").
_STRUCTURE_NOUNS = frozenset(["questions", "areas", "sections", "topics", "themes", "parts"])
_STRUCTURE_WORDS = _STRUCTURE_NOUNS | frozenset(
    """
    inspection report look looked looking examine examined assess assessed focus cover
    covered covers main key consider considered ask asked list name inspectors
    """.split()
)


def compose(chosen: list[Hit], index: Index) -> AskResponse:
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
                path=sec.path,
                quote=h.text,
                score=round(h.score, 4),
                page=sec.sentences[h.sentence].page,
            )
        )
        parts.append(f"{h.text} [{n}]")
    return AskResponse(answer=" ".join(parts), answered=True, citations=citations)


def overlap(sa: set[str], sb: set[str]) -> float:
    """Shared content words, as a share of the shorter sentence's."""
    return len(sa & sb) / max(1, min(len(sa), len(sb)))


def structure_answer(*, question: str, retrieval: Retrieval, index: Index) -> AskResponse | None:
    """ "Which questions did the inspection look at?": the report's numbered questions, each
    cited; None when the question asks anything more."""
    ws = content_words(question)
    if not ws or not (_STRUCTURE_NOUNS & set(ws)):
        return None
    doc_id = retrieval.hits[0].doc if retrieval.hits else index.documents[0].doc
    doc = index.document(doc_id)
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
        and w not in NUMBER_WORDS
        and not w.isdigit()
    ]
    counts = [NUMBER_WORDS.get(w) or (int(w) if w.isdigit() else None) for w in ws]
    if extra or any(c is not None and c != len(questions) for c in counts):
        return None
    cites = [
        Citation(
            doc=doc.doc,
            section=s.section,
            heading=s.heading,
            path=s.path,
            quote=s.heading,
            score=1.0,
        )
        for s in questions
    ]
    lines = [f"{s.number}. {s.heading} [{i}]" for i, s in enumerate(questions, 1)]
    answer = f"The report looks at {len(questions)} questions: " + " ".join(lines)
    return verified(AskResponse(answer=answer, answered=True, citations=cites), index)


def covered_topics(index: Index) -> list[str]:
    """The question headings a refusal offers instead (the first eight of the corpus)."""
    return [s.heading for d in index.documents for s in d.sections if s.number][:8]


def refusal(covers: list[str], intro: str = "The report does not answer that.") -> AskResponse:
    text = intro
    if covers:
        text += " It covers: " + "; ".join(covers[:8])
        text += "" if covers[-1].endswith("?") else "."
    return AskResponse(answer=text, answered=False, citations=[])
