"""The `ingest` study: how fast each format is read and indexed, and what adding one report to
a 1,000-report index costs against building that index from nothing.

The files are the ones the tests make (`tests/format_files.py`): one modern report of about
40 printed pages (A4, running header and footer, page numbers, tables) as a PDF printed by
headless Chromium, a web page in a site's chrome, a Word file, Markdown and plain text. PDFs
are rated in pages a second, the others in words a second. *read* is the reader and the
assembler; *indexed* adds chunking and embedding with the serving encoder's fp32 export, as
a build does.

Adding one report is `peelqa build` over a copy of the 1,000-report corpus with one report
more, its index a copy (hard links) of the bench's 1,000-report index with its stored parts:
only the new report is read and embedded. Removing it again is one more build. The full
build is the one the bench made of that corpus (its `build s`), so the 1,000-report build is
not run a second time.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.corpora import Built, _peelqa_build, report
from bench.inputs import OUT, ROOT


@dataclass(frozen=True)
class FormatRate:
    format: str
    pages: int | None
    words: int
    read_s: float  # median of 3 readings
    indexed_s: float  # read, chunked and embedded: one build of a corpus of that file
    unit: str  # "pages/s" (PDF) or "words/s"
    read_rate: float
    indexed_rate: float


@dataclass(frozen=True)
class AddOne:
    reports: int  # in the index before the one added
    full_build_s: float  # the bench's build of those reports
    add_one_s: float  # `peelqa build` with one report more
    remove_one_s: float  # `peelqa build` with it removed again


@dataclass(frozen=True)
class IngestStudy:
    formats: list[FormatRate]
    add_one: AddOne | None


def _format_files(out: Path) -> dict[str, Path]:
    """The long report in every format; the PDF only where Chromium and Playwright are."""
    sys.path.insert(0, str(ROOT / "tests"))
    import format_files as ff

    src = ff.kingsmere(areas=24, depth=3, seed=11)
    files = {
        "md": out / "report.md",
        "html": out / "report.html",
        "docx": out / "report.docx",
        "txt": out / "report.txt",
    }
    files["md"].write_text(ff.markdown(src), encoding="utf-8")
    files["html"].write_text(ff.web_page(src), encoding="utf-8")
    ff.write_docx(src, files["docx"])
    plain = [src.title] + [
        b.text if b.kind != "table_row" else " ".join(b.cells) for b in src.blocks
    ]
    files["txt"].write_text("\n\n".join(plain) + "\n", encoding="utf-8")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return files
    if ff.CHROMIUM.exists():
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(ff.CHROMIUM), args=ff.CHROMIUM_ARGS)
            try:
                files["pdf"] = ff.print_pdf(browser, src, out / "report.pdf")
            finally:
                browser.close()
    return dict(sorted(files.items()))


def format_rates(base: Built) -> list[FormatRate]:
    from peelqa.encoder.onnx import OnnxEmbedder
    from peelqa.index.build import build_index
    from peelqa.reports.corpus import read_report

    embedder: Any = OnnxEmbedder(base.gen / "encoder")
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        files = _format_files(Path(tmp))
        for fmt, path in files.items():
            times = []
            for _ in range(3):
                t = time.perf_counter()
                doc = read_report(path)
                times.append(time.perf_counter() - t)
            corpus = Path(tmp) / f"corpus-{fmt}"
            corpus.mkdir()
            shutil.copy(path, corpus / path.name)
            t = time.perf_counter()
            build_index(corpus_dir=corpus, index_dir=Path(tmp) / f"index-{fmt}", embedder=embedder)
            indexed = time.perf_counter() - t
            words = sum(len(s.text.split()) for s in doc.sections)
            amount = float(doc.pages or 0) if fmt == "pdf" else float(words)
            read = statistics.median(times)
            rates.append(
                FormatRate(
                    format=fmt,
                    pages=doc.pages,
                    words=words,
                    read_s=read,
                    indexed_s=indexed,
                    unit="pages/s" if fmt == "pdf" else "words/s",
                    read_rate=amount / read,
                    indexed_rate=amount / indexed,
                )
            )
    return rates


def add_one(built: Built) -> AddOne:
    """One report added to (and then removed from) a copy of `built`, by `peelqa build`."""
    from peelqa.index.store import current_generation

    work = OUT / "ingest-add-one"
    shutil.rmtree(work, ignore_errors=True)
    corpus, index = work / "corpus", work / "index"
    shutil.copytree(built.corpus, corpus, copy_function=os.link)
    gen = current_generation(built.index)
    index.mkdir(parents=True)
    shutil.copytree(gen, index / gen.name, copy_function=os.link)
    if (built.index / "parts").is_dir():
        shutil.copytree(built.index / "parts", index / "parts", copy_function=os.link)
    (index / "CURRENT").write_text(gen.name + "\n")
    try:
        extra = corpus / "peel-2020-newfordshire-extra.txt"
        extra.write_text(
            report(random.Random(2020), year=2020, force="Newfordshire"), encoding="utf-8"
        )
        added = _peelqa_build(corpus, index)
        extra.unlink()
        removed = _peelqa_build(corpus, index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return AddOne(
        reports=built.reports, full_build_s=built.build_s, add_one_s=added, remove_one_s=removed
    )


def ingest_study(base: Built, large: Built | None) -> IngestStudy:
    return IngestStudy(
        formats=format_rates(base), add_one=add_one(large) if large is not None else None
    )
