"""What a reader makes of a file: the report as a flat run of elements in reading order.

Every format (plain text, Markdown, PDF, HTML, DOCX) is read into these, and one assembler
turns them into sections with the contract's ids, heading paths and sentences, so that a
report means the same to the rest of the product whatever it was published as.

Text is plain: no list markers, table pipes, emphasis marks or tags. Quotes are slices of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ElementKind = Literal["heading", "paragraph", "list_item", "table_row"]
Format = Literal["txt", "md", "pdf", "html", "docx"]


@dataclass(frozen=True)
class Element:
    kind: ElementKind
    # Plain text. A table row keeps its cells in `cells` and leaves this empty.
    text: str = ""
    # heading: 1 (top) to 6, relative to the report's own headings; list_item: nesting depth,
    # 0 for a top-level item. Unused for the other kinds.
    level: int = 0
    # table_row: the plain text of each cell, in column order.
    cells: tuple[str, ...] = ()
    # table_row: the table's header row (column names, not data).
    header: bool = False
    # Paged formats: the 1-based page of the element's first character; None elsewhere.
    page: int | None = None
    # Paged formats: (offset into `text`, page) for each later page the text runs onto, so
    # that a sentence's page is the page of its own first character.
    page_breaks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Extracted:
    format: Format
    elements: list[Element] = field(default_factory=list)
    # The report's title when the format marks one (a PDF's largest line on page 1, a page's
    # main h1, a Word Title style); None: the first element is the title.
    title: str | None = None
    # Paged formats: the number of pages; None elsewhere.
    pages: int | None = None


class UnreadableReport(ValueError):
    """A file that cannot be read as a report; `code` says why, for the API's 422."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
