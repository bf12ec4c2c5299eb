"""Reading plain-text and Markdown reports into sections.

The first line is the title; text before the first heading is section `intro`; a numbered
question heading is `q<n>`; any other heading is its slug (the contract's rule).
"""

from __future__ import annotations

import re

from peelqa.reports.model import Document, Section, slugify
from peelqa.reports.sentences import split_sentences

# "2. How effective ...?", "## 2) How ...?", "Question 2: How ...?"
_QUESTION_RE = re.compile(r"^(?:question\s+)?(\d{1,3})\s*[.):]\s+(\S.*\?)$", re.IGNORECASE)
_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_OR_TABLE_RE = re.compile(r"^\s*(?:[-*+•>|]|\d+[.)]\s+\S.*[.;:,]$)")

# A plain-text heading is one short line that reads like a title, not a sentence.
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 10


def _blocks(raw: str) -> list[str]:
    """Paragraph blocks: runs of non-blank lines, stripped, with their inner line breaks kept."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return [b.strip() for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def _heading_of(block: str) -> tuple[str, str, int | None] | None:
    """(section id, heading text, question number) when the block is a heading, else None."""
    if "\n" in block:
        first, _, _ = block.partition("\n")
        # A Markdown heading directly followed by text with no blank line still opens a section.
        if not _MD_HEADING_RE.match(first):
            return None
        block = first
    md = _MD_HEADING_RE.match(block)
    line = md.group(2).strip() if md else block.strip()
    line = line.strip("*_ ").strip()
    if not line:
        return None
    q = _QUESTION_RE.match(line)
    if q:
        return f"q{int(q.group(1))}", q.group(2).strip(), int(q.group(1))
    if md:
        return slugify(line), line, None
    if _LIST_OR_TABLE_RE.match(line):
        return None
    words = line.split()
    if (
        len(line) <= _MAX_HEADING_CHARS
        and len(words) <= _MAX_HEADING_WORDS
        and line[0].isupper()
        and line[-1] not in ".,;:!)\"'”’"
        and not line.endswith("?")
    ):
        return slugify(line), line, None
    return None


def _split_heading_block(block: str) -> tuple[str, str]:
    head, _, rest = block.partition("\n")
    return head, rest.strip()


def parse_document(doc_id: str, raw: str) -> Document:
    blocks = _blocks(raw)
    if not blocks:
        return Document(doc=doc_id, title=doc_id, sections=[])
    title_block = blocks[0].split("\n")[0]
    md = _MD_HEADING_RE.match(title_block)
    title = (md.group(2) if md else title_block).strip()
    rest_of_title = blocks[0].split("\n", 1)[1].strip() if "\n" in blocks[0] else ""
    body = ([rest_of_title] if rest_of_title else []) + blocks[1:]

    sections: list[Section] = []
    seen: dict[str, int] = {}
    current = Section(doc=doc_id, section="intro", heading=title, text="")
    paragraphs: list[str] = []

    def close() -> None:
        if paragraphs or current.section != "intro":
            current.text = "\n\n".join(paragraphs)
            current.sentences = split_sentences(current.text)
            sections.append(current)

    for block in body:
        found = _heading_of(block)
        if found is None:
            paragraphs.append(block)
            continue
        close()
        sid, heading, number = found
        seen[sid] = seen.get(sid, 0) + 1
        if seen[sid] > 1:
            sid = f"{sid}-{seen[sid]}"
        current = Section(doc=doc_id, section=sid, heading=heading, text="", number=number)
        paragraphs = []
        _, trailing = _split_heading_block(block)
        if trailing:
            paragraphs.append(trailing)
    close()
    return Document(doc=doc_id, title=title, sections=sections)
