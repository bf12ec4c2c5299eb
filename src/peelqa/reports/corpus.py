"""The corpus folder: which files are reports, their checksum, and reading them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from peelqa.reports.assemble import assemble
from peelqa.reports.elements import Extracted, UnreadableReport
from peelqa.reports.markdown import read_markdown
from peelqa.reports.model import Document
from peelqa.reports.plain import read_plain

# The contract's formats; a report's id is its file name without the extension.
REPORT_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")


def report_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    # A name starting with a dot is a file on its way (an upload, a copy tool's temporary).
    return sorted(
        p
        for p in corpus_dir.iterdir()
        if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES and not p.name.startswith(".")
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(corpus_dir: Path) -> dict[str, str]:
    """Every report's file name and the SHA-256 of its bytes, in name order."""
    return {p.name: file_sha256(p) for p in report_files(corpus_dir)}


def digest_of(digests: dict[str, str]) -> str:
    """One hash of a corpus's file names and their files' hashes."""
    h = hashlib.sha256()
    for name, sha in sorted(digests.items()):
        h.update(f"{name}\0{sha}\0".encode())
    return h.hexdigest()


def corpus_sha256(corpus_dir: Path) -> str:
    """Hash of the names and bytes of every report, so any edit, addition or removal shows."""
    return digest_of(file_digests(corpus_dir))


def extract(path: Path) -> Extracted:
    """A report file's elements, by its format (the readers of PDF, web pages and Word files
    are imported only when a report needs them)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from peelqa.reports.formats.pdf import read_pdf

        return read_pdf(path)
    if suffix in (".html", ".htm"):
        from peelqa.reports.formats.html import read_html

        return read_html(path)
    if suffix == ".docx":
        from peelqa.reports.formats.docx import read_docx

        return read_docx(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableReport("not_utf8", f"{path.name} is not UTF-8 text") from None
    if suffix == ".md":
        return read_markdown(raw)
    return read_plain(raw)


def read_report(path: Path) -> Document:
    return assemble(path.stem, extract(path))


def read_corpus(corpus_dir: Path) -> list[Document]:
    docs = [read_report(p) for p in report_files(corpus_dir)]
    if not docs:
        raise FileNotFoundError(
            f"corpus folder {corpus_dir} holds no report ({', '.join(REPORT_SUFFIXES)})"
        )
    return docs


def parse_report(doc_id: str, raw: str, *, format: str = "txt") -> Document:
    """A report from its text: `format` "md" reads Markdown, anything else plain text."""
    return assemble(doc_id, read_markdown(raw) if format == "md" else read_plain(raw))
