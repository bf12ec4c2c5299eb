"""Reading reports: documents, sections, paragraphs and sentences with exact positions.

Every quote the product shows is a slice of a section's text, and a section's text is a slice
of the report file (paragraphs joined as they stand), so quotes are exact by construction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

REPORT_SUFFIXES = (".txt", ".md")

# "2. How effective ...?", "## 2) How ...?", "Question 2: How ...?"
_QUESTION_RE = re.compile(r"^(?:question\s+)?(\d{1,3})\s*[.):]\s+(\S.*\?)$", re.IGNORECASE)
_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_OR_TABLE_RE = re.compile(r"^\s*(?:[-*+•>|]|\d+[.)]\s+\S.*[.;:,]$)")
_SLUG_RE = re.compile(r"[^a-z0-9]+")

# A plain-text heading is one short line that reads like a title, not a sentence.
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 10


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


def report_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    return sorted(
        p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES
    )


def corpus_sha256(corpus_dir: Path) -> str:
    """Hash of the names and bytes of every report, so any edit, addition or removal shows."""
    h = hashlib.sha256()
    for path in report_files(corpus_dir):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def read_corpus(corpus_dir: Path) -> list[Document]:
    docs = [
        parse_document(p.stem, p.read_text(encoding="utf-8-sig")) for p in report_files(corpus_dir)
    ]
    if not docs:
        raise FileNotFoundError(f"corpus folder {corpus_dir} holds no .txt or .md report")
    return docs


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


# Abbreviations after which a full stop does not end a sentence.
_NO_BREAK_AFTER = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "no",
    "nos",
    "e.g",
    "i.e",
    "etc",
    "vs",
    "cf",
    "ch",
    "supt",
    "insp",
    "sgt",
    "det",
    "con",
    "co",
    "ltd",
    "inc",
    "para",
    "fig",
    "approx",
    "dept",
    "govt",
}
_BREAK_RE = re.compile(r"[.!?;…]+[\"'”’)\]]*(?=\s+)")
_LIST_ITEM_RE = re.compile(r"\n(?=\s*(?:[-*+•]|\d+[.)])\s)")


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of a section's text as offsets; paragraphs and list items always break."""
    out: list[Sentence] = []
    para_start = 0
    for p_index, para in enumerate(text.split("\n\n")):
        pieces_start = para_start
        for piece in _LIST_ITEM_RE.split(para):
            offset = text.index(piece, pieces_start) if piece else pieces_start
            out.extend(_split_piece(piece, offset, p_index))
            pieces_start = offset + len(piece)
        para_start += len(para) + 2
    return out


def _split_piece(piece: str, offset: int, paragraph: int) -> list[Sentence]:
    out: list[Sentence] = []
    start = 0
    for m in _BREAK_RE.finditer(piece):
        end = m.end()
        nxt = piece[end:].lstrip()
        if not nxt:
            continue
        word = piece[start : m.start()].split()[-1:] or [""]
        last = word[0].lower().lstrip("(\"'“‘")
        is_initial = len(last) == 1 and last.isalpha()
        if m.group().startswith(".") and (last in _NO_BREAK_AFTER or is_initial):
            continue
        # A semicolon only ends a sentence at a line break (list-like text), not mid-line.
        if m.group().startswith(";") and "\n" not in piece[end : end + len(piece[end:]) - len(nxt)]:
            continue
        if not (nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in "\"'“‘(["):
            continue
        out.append(_trimmed(piece, start, end, offset, paragraph))
        start = end
    if piece[start:].strip():
        out.append(_trimmed(piece, start, len(piece), offset, paragraph))
    return [s for s in out if s.end > s.start]


def _trimmed(piece: str, start: int, end: int, offset: int, paragraph: int) -> Sentence:
    chunk = piece[start:end]
    lead = len(chunk) - len(chunk.lstrip())
    trail = len(chunk) - len(chunk.rstrip())
    return Sentence(start=offset + start + lead, end=offset + end - trail, paragraph=paragraph)
