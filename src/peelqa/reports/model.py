"""The document model: reports, their sections and sentences with exact positions.

Every quote the product shows is a slice of a section's text, so quotes are exact by
construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SLUG_RE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Sentence:
    """A sentence as [start, end) offsets into its section's text."""

    start: int
    end: int
    paragraph: int


@dataclass
class Section:
    doc: str
    section: str
    heading: str
    text: str
    number: int | None = None
    sentences: list[Sentence] = field(default_factory=list)

    def sentence_text(self, i: int) -> str:
        s = self.sentences[i]
        return self.text[s.start : s.end]


@dataclass
class Document:
    doc: str
    title: str
    sections: list[Section]

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.section == section_id), None)


def slugify(heading: str) -> str:
    """Lower case, each run of other characters turned into one '-', trimmed (CONTRACT.md)."""
    return _SLUG_RE.sub("-", heading.lower()).strip("-") or "section"
