"""From a reader's elements to a `Document`: sections with the contract's ids, heading paths,
blocks and sentences.

The one place the contract's section rules live, for every format: text before the first
heading is `intro`; a numbered question heading ("2. How effective is ...?") is `q2`; any other
heading is its slug; a repeated id gets `-2`, `-3` in document order; a heading under another
starts a section of its own, whose `path` is the headings from the top section down to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from peelqa.reports.elements import Element, Extracted
from peelqa.reports.model import Block, BlockKind, Document, Section, Sentence, slugify
from peelqa.reports.sentences import sentence_spans

# "2. How effective ...?", "2) How ...?", "Question 2: How ...?"
QUESTION_RE = re.compile(r"^(?:question\s+)?(\d{1,3})\s*[.):]\s+(\S.*\?)$", re.IGNORECASE)
BLOCK_SEPARATOR = "\n\n"


@dataclass
class _Open:
    """A section being filled: its identity, and its blocks as (kind, text, page breaks)."""

    section: Section
    parts: list[tuple[BlockKind, str, tuple[tuple[int, int], ...]]] = field(default_factory=list)


def assemble(doc_id: str, extracted: Extracted) -> Document:
    elements = list(extracted.elements)
    title = extracted.title
    if title is None:
        title = _text_of(elements.pop(0)) if elements else doc_id
    title = " ".join(title.split()) or doc_id
    headings = [e.level for e in elements if e.kind == "heading"]
    base = min(headings, default=1)

    sections: list[Section] = []
    seen: dict[str, int] = {}
    stack: list[Section] = []  # the open headings above the current section
    current = _Open(Section(doc=doc_id, section="intro", heading=title, text="", path=[title]))
    rows: list[Element] = []  # the table being read

    def flush_rows() -> None:
        for text, page in table_texts(rows):
            current.parts.append(("table_row", text, ((0, page),) if page else ()))
        rows.clear()

    for e in elements:
        if e.kind == "table_row":
            rows.append(e)
            continue
        flush_rows()
        if e.kind != "heading":
            text = " ".join(e.text.split())
            if text:
                kind: BlockKind = "list_item" if e.kind == "list_item" else "paragraph"
                current.parts.append((kind, text, _page_breaks(e, text)))
            continue
        _close(current, sections)
        level = max(1, e.level - base + 1)
        while stack and stack[-1].level >= level:
            stack.pop()
        current = _Open(_heading_section(doc_id, e.text, level, stack, seen))
        stack.append(current.section)
    flush_rows()
    _close(current, sections)
    return Document(
        doc=doc_id, title=title, sections=sections, format=extracted.format, pages=extracted.pages
    )


def _heading_section(
    doc_id: str, raw: str, level: int, stack: list[Section], seen: dict[str, int]
) -> Section:
    line = " ".join(raw.split()).strip("*_ ")
    q = QUESTION_RE.match(line)
    sid, heading, number = (
        (f"q{int(q.group(1))}", q.group(2).strip(), int(q.group(1)))
        if q
        else (slugify(line), line, None)
    )
    seen[sid] = seen.get(sid, 0) + 1
    if seen[sid] > 1:
        sid = f"{sid}-{seen[sid]}"
    parent = stack[-1] if stack else None
    return Section(
        doc=doc_id,
        section=sid,
        heading=heading,
        text="",
        number=number,
        path=[*(s.heading for s in stack), heading],
        level=level,
        parent=parent.section if parent else None,
    )


def _close(open_: _Open, sections: list[Section]) -> None:
    sec = open_.section
    if sec.section == "intro" and not open_.parts:
        return  # no text before the first heading: no intro section
    texts: list[str] = []
    offset = 0
    for b, (kind, text, breaks) in enumerate(open_.parts):
        pages = tuple((offset + o, p) for o, p in breaks)
        block = Block(kind=kind, start=offset, end=offset + len(text), pages=pages)
        sec.blocks.append(block)
        for start, end in sentence_spans(text):
            sec.sentences.append(
                Sentence(
                    start=offset + start,
                    end=offset + end,
                    block=b,
                    page=block.page_at(offset + start),
                )
            )
        texts.append(text)
        offset += len(text) + len(BLOCK_SEPARATOR)
    sec.text = BLOCK_SEPARATOR.join(texts)
    sections.append(sec)


def table_texts(rows: list[Element]) -> list[tuple[str, int | None]]:
    """A table's data rows as plain text: "Investigating crime: Good" for two columns; with
    more, the first cell, then the others named by their column ("999 calls answered within
    10 seconds: Force 62.1%; England and Wales 71.2%"). The header row is not a row of text."""
    header = next((r.cells for r in rows if r.header), ())
    data = [r for r in rows if not r.header] or [r for r in rows if r.header]
    out: list[tuple[str, int | None]] = []
    for r in data:
        cells = [" ".join(c.split()) for c in r.cells]
        if not any(cells):
            continue
        first, rest = cells[0], cells[1:]
        if len([c for c in cells if c]) == 1:
            text = next(c for c in cells if c)
        elif len(cells) == 2:
            text = f"{first}: {rest[0]}" if first else rest[0]
        else:
            names = [" ".join(h.split()) for h in header[1:]] if header else []
            named = [
                f"{names[i]} {c}" if i < len(names) and names[i] else c
                for i, c in enumerate(rest)
                if c
            ]
            text = f"{first}: {'; '.join(named)}" if first else "; ".join(named)
        out.append((text, r.page))
    return out


def _text_of(e: Element) -> str:
    return e.text if e.kind != "table_row" else " ".join(e.cells)


def _page_breaks(e: Element, text: str) -> tuple[tuple[int, int], ...]:
    """The element's pages as offsets into its whitespace-folded text."""
    if e.page is None:
        return ()
    breaks = [(0, e.page)]
    for offset, page in e.page_breaks:
        before = e.text[:offset]
        folded = len(" ".join(before.split()))
        # Folding keeps one space between words: where the break falls between two words, the
        # next page starts after that space.
        between = before[-1:].isspace() or e.text[offset : offset + 1].isspace()
        breaks.append((min(len(text), folded + (1 if folded and between else 0)), page))
    return tuple(breaks)
