"""The corpus folder: which files are reports, their checksum, and reading them all."""

from __future__ import annotations

import hashlib
from pathlib import Path

from peelqa.reports.model import Document
from peelqa.reports.plain import parse_document

REPORT_SUFFIXES = (".txt", ".md")


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
