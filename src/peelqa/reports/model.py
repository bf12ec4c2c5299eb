"""The document model: reports, their nested sections, blocks and sentences with exact positions.

A section's text is its blocks (paragraphs, list items, table rows) as plain text joined by a
blank line; every sentence and every quote is a slice of it, so quotes are exact by
construction. A section holds only its own text: a `###` under a `##` is a section of its own,
and `path` gives the headings from the top section down to it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Literal

_SLUG_RE = re.compile(r"[^a-z0-9]+")

BlockKind = Literal["paragraph", "list_item", "table_row"]


@dataclass(frozen=True)
class Sentence:
    """A sentence as [start, end) offsets into its section's text."""

    start: int
    end: int
    block: int  # index of its block in the section
    page: int | None = None  # paged formats: the page of its first character


@dataclass(frozen=True)
class Block:
    """A paragraph, list item or table row as [start, end) offsets into its section's text."""

    kind: BlockKind
    start: int
    end: int
    # Paged formats: (offset into the section's text, page) where each page of it begins.
    pages: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        if not self.pages:
            return None
        i = bisect.bisect_right([o for o, _ in self.pages], offset) - 1
        return self.pages[max(0, i)][1]


@dataclass
class Section:
    doc: str
    section: str
    heading: str
    text: str
    number: int | None = None  # the question number of a numbered question heading
    path: list[str] = field(default_factory=list)  # headings from the top section down
    level: int = 1  # 1 for a top section (and intro), 2 under it, ...
    parent: str | None = None  # the id of the section it sits in
    blocks: list[Block] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)

    def sentence_text(self, i: int) -> str:
        s = self.sentences[i]
        return self.text[s.start : s.end]

    def block_of(self, i: int) -> Block:
        return self.blocks[self.sentences[i].block]


@dataclass
class Document:
    doc: str
    title: str
    sections: list[Section]
    format: str = "txt"
    pages: int | None = None

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.section == section_id), None)


def slugify(heading: str) -> str:
    """Lower case, each run of other characters turned into one '-', trimmed (CONTRACT.md)."""
    return _SLUG_RE.sub("-", heading.lower()).strip("-") or "section"


def document_to_json(d: Document) -> dict[str, Any]:
    """The document as plain JSON data (what an index generation stores)."""
    return {
        "doc": d.doc,
        "title": d.title,
        "format": d.format,
        "pages": d.pages,
        "sections": [
            {
                "section": s.section,
                "heading": s.heading,
                "text": s.text,
                "number": s.number,
                "path": s.path,
                "level": s.level,
                "parent": s.parent,
                "blocks": [[b.kind, b.start, b.end, [list(p) for p in b.pages]] for b in s.blocks],
                "sentences": [[x.start, x.end, x.block, x.page] for x in s.sentences],
            }
            for s in d.sections
        ],
    }


def document_from_json(j: dict[str, Any]) -> Document:
    return Document(
        doc=j["doc"],
        title=j["title"],
        format=j.get("format", "txt"),
        pages=j.get("pages"),
        sections=[
            Section(
                doc=j["doc"],
                section=s["section"],
                heading=s["heading"],
                text=s["text"],
                number=s["number"],
                path=list(s["path"]),
                level=int(s["level"]),
                parent=s["parent"],
                blocks=[
                    Block(kind=k, start=a, end=b, pages=tuple((o, p) for o, p in pages))
                    for k, a, b, pages in s["blocks"]
                ],
                sentences=[Sentence(a, b, blk, page) for a, b, blk, page in s["sentences"]],
            )
            for s in j["sections"]
        ],
    )
