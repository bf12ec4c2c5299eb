"""Reading a plain-text report (`.txt`) into elements.

Plain text marks its structure only by layout: blocks are separated by blank lines; the first
line is the title; a heading is a short line on its own that reads like a title, not a sentence
("Conclusion", "Next steps"), or a numbered question ("2. How effective is ...?"); lines that
start with a bullet or a number are list items. A line starting with `#` is taken as a Markdown
heading, as text exported from Markdown keeps them.
"""

from __future__ import annotations

import re

from peelqa.reports.assemble import QUESTION_RE
from peelqa.reports.elements import Element, Extracted

_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^\s*[-*+•]\s+(?=\S)")
_NUMBER_RE = re.compile(r"^\s*\d{1,3}[.)]\s+(?=\S)")

# A plain-text heading is one short line that reads like a title, not a sentence.
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 10


def read_plain(raw: str) -> Extracted:
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return Extracted(format="txt", title="", elements=[])
    first = lines.pop(0).strip()
    md = _MD_HEADING_RE.match(first)
    title = (md.group(2) if md else first).strip()
    blocks = [b for b in re.split(r"\n[ \t]*\n", "\n".join(lines)) if b.strip()]
    elements: list[Element] = []
    for block in blocks:
        elements.extend(_block_elements([ln.strip() for ln in block.strip().split("\n")]))
    return Extracted(format="txt", title=title, elements=elements)


def _block_elements(lines: list[str]) -> list[Element]:
    heading = heading_of(lines[0])
    if heading is not None and (len(lines) == 1 or _MD_HEADING_RE.match(lines[0])):
        return [heading, *_block_elements(lines[1:])] if len(lines) > 1 else [heading]
    out: list[Element] = []
    prose: list[str] = []
    for line in lines:
        # A bulleted line is always an item; a numbered one when it is one of several lines or
        # reads as a sentence (a numbered question alone on its line is a heading, above).
        marker = _BULLET_RE.match(line) or (
            _NUMBER_RE.match(line) if len(lines) > 1 or line[-1:] in ".;:," else None
        )
        if marker is None:
            prose.append(line)
            continue
        if prose:
            out.append(Element(kind="paragraph", text=" ".join(prose)))
            prose = []
        out.append(Element(kind="list_item", text=line[marker.end() :]))
    if prose:
        out.append(Element(kind="paragraph", text=" ".join(prose)))
    return out


def heading_of(line: str) -> Element | None:
    """The heading a line is, when it is one."""
    md = _MD_HEADING_RE.match(line)
    text = (md.group(2) if md else line).strip().strip("*_ ").strip()
    if not text:
        return None
    if md:
        return Element(kind="heading", text=text, level=len(md.group(1)))
    if QUESTION_RE.match(text):
        return Element(kind="heading", text=text, level=1)
    if _BULLET_RE.match(text) or _NUMBER_RE.match(text) or text[0] in ">|":
        return None
    words = text.split()
    if (
        len(text) <= _MAX_HEADING_CHARS
        and len(words) <= _MAX_HEADING_WORDS
        and text[0].isupper()
        and text[-1] not in ".,;:!)\"'”’"
        and not text.endswith("?")
    ):
        return Element(kind="heading", text=text, level=1)
    return None
