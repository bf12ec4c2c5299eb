"""The PDF, web page and Word readers, on real files the tests make from one source each.

PDFs are printed by headless Chromium (Debian's /usr/bin/chromium through Playwright) with a
running header (protective marking, title) and a "Page N of M" footer; the web pages wrap the
same report in a site's chrome; the Word files are written by python-docx. Every reader must
give back the source's own text: the same headings at the same levels, the same paragraphs,
list items and table rows.
"""

from __future__ import annotations

import io
import os
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import format_files as ff
import pypdfium2 as pdfium
import pytest
from conftest import REPORT

from peelqa.reports.elements import Element, Extracted, UnreadableReport
from peelqa.reports.formats.docx import read_docx
from peelqa.reports.formats.html import read_html
from peelqa.reports.formats.pdf import read_pdf
from peelqa.reports.formats.sniff import sniff

SOURCES = {
    "northamptonshire": ff.from_text("northamptonshire", REPORT.read_text(encoding="utf-8")),
    "kingsmere": ff.kingsmere(),
}
LONG = ff.kingsmere(areas=24, depth=3, seed=11)
FORCES = ff.forces_table()


def shape(elements: list[Element]) -> list[tuple[str, int, str, tuple[str, ...], bool]]:
    """What must agree between formats: kind, level, text (whitespace aside), cells."""
    return [
        (e.kind, e.level, " ".join(e.text.split()), tuple(" ".join(c.split()) for c in e.cells),
         e.header)
        for e in elements
    ]  # fmt: skip


def rejoin_at_sentence_page_breaks(
    got: list[Element], expected: list[Element]
) -> tuple[list[Element], int]:
    """`got` with each paragraph that the reader ended at the foot of a page, on a full line
    ending a sentence, joined to the next page's first paragraph where the source has the two
    as one. Nothing on the page tells such a break from a paragraph's end, and the reader
    takes it for an end (pdf._Assembler.continues_over_page); how many were joined is
    returned so that a test can bound it."""
    out: list[Element] = []
    joined = 0
    i = 0
    while i < len(got):
        e = got[i]
        want = expected[len(out)] if len(out) < len(expected) else None
        nxt = got[i + 1] if i + 1 < len(got) else None
        last_page = e.page_breaks[-1][1] if e.page_breaks else e.page
        if (
            want is not None
            and nxt is not None
            and e.kind == want.kind == nxt.kind == "paragraph"
            and e.text.endswith((".", "?", "!"))
            and last_page is not None
            and nxt.page == last_page + 1
            and want.text == f"{e.text} {nxt.text}"
        ):
            breaks = (*e.page_breaks, (len(e.text) + 1, last_page + 1))
            out.append(Element(kind="paragraph", text=want.text, page=e.page, page_breaks=breaks))
            joined += 1
            i += 2
            continue
        out.append(e)
        i += 1
    return out, joined


def all_text(x: Extracted) -> str:
    return "\n".join([e.text for e in x.elements] + [" | ".join(e.cells) for e in x.elements])


# ---- files ------------------------------------------------------------------------------------


@dataclass
class Printed:
    pdf: Path
    extracted: Extracted


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("formats")


@pytest.fixture(scope="session")
def printed(files: Path) -> dict[str, Printed]:
    """Every PDF printed once, and read once. Playwright stops before the tests run:
    its sync API keeps an event loop running in this thread while it is up, and later test
    modules' asyncio.run() would find it."""
    if not ff.CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    sources = [*SOURCES.items(), ("long", LONG), ("forces", FORCES)]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ff.CHROMIUM), args=ff.CHROMIUM_ARGS)
        try:
            paths = {
                name: ff.print_pdf(browser, src, files / f"{name}.pdf") for name, src in sources
            }
        finally:
            browser.close()
    return {name: Printed(path, read_pdf(path)) for name, path in paths.items()}


def raw_pages(path: Path) -> list[str]:
    """Each page's text as PDFium gives it, running header and footer included."""
    doc = pdfium.PdfDocument(str(path))
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def body_text(page: str, title: str) -> str:
    """A page's raw text without its running header and footer, whitespace collapsed, and
    the hyphen PDFium marks at a line end (U+FFFE, no line break after it) written as one."""
    text = page.replace("\ufffe", "-")
    text = re.sub(rf"{ff.PROTECTIVE_MARKING}\s+(?:Page \d+ of \d+|{re.escape(title)})", " ", text)
    return " ".join(text.split())


# ---- PDF printed by Chromium ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", SOURCES)
def test_pdf_gives_back_the_source(printed: dict[str, Printed], name: str) -> None:
    src, got = SOURCES[name], printed[name].extracted
    assert got.format == "pdf"
    assert got.title == src.title
    assert shape(got.elements) == shape(src.expected())
    assert got.pages == len(raw_pages(printed[name].pdf)) >= 2


@pytest.mark.browser
def test_pdf_headings_levels_lists_and_table(printed: dict[str, Printed]) -> None:
    got = printed["kingsmere"].extracted.elements
    headings = [(e.level, e.text) for e in got if e.kind == "heading"]
    assert headings[:4] == [(1, "Overall summary"), (2, "Our judgments"),
                            (2, "Causes of concern and areas for improvement"),
                            (2, "HM Inspector’s observations")]  # fmt: skip
    assert (1, "Providing a service to victims of crime") in headings
    assert (2, "Areas for improvement") in headings
    assert {lvl for lvl, _ in headings} == {1, 2, 3}  # h2, h3 and the bold body-size h4
    assert all(not h.startswith(ff.KINGSMERE_TITLE) for _, h in headings)

    rows = [e for e in got if e.kind == "table_row"]
    assert all(r.text == "" for r in rows)
    # The judgments table, ruled round every cell.
    judgments, ruled_by_rows = rows[: len(ff.JUDGMENTS) + 1], rows[len(ff.JUDGMENTS) + 1 :]
    assert judgments[0].cells == ("Area", "Grade") and judgments[0].header
    assert [r.cells for r in judgments[1:]] == [(a, g) for a, g in ff.JUDGMENTS]
    assert not any(r.header for r in judgments[1:])
    # A table with a rule under each row and no column lines: columns from the text's gaps.
    assert [(r.cells, r.header) for r in ruled_by_rows] == [
        (("Area", "Causes of concern", "Areas for improvement"), True),
        (("Responding to the public", "1", "3"), False),
        (("Investigating crime", "1", "4"), False),
        (("Protecting vulnerable people", "0", "2"), False),
    ]

    items = [e for e in got if e.kind == "list_item"]
    assert {e.level for e in items} == {0, 1}
    nested = [e for e in items if e.level == 1]
    assert nested and all(e.text == "the force should review its approach within six months."
                          for e in nested)  # fmt: skip
    # Neither the drawn bullets nor the typed numbers of an ordered list are text.
    assert all(not re.match(r"^(?:[•·◦▪-]|\d+\.)\s", e.text) for e in items)


@pytest.mark.browser
@pytest.mark.parametrize("name", SOURCES)
def test_pdf_drops_running_header_footer_page_numbers_and_marking(
    printed: dict[str, Printed], name: str
) -> None:
    p = printed[name]
    pages = raw_pages(p.pdf)
    total = len(pages)
    # They are in the file on every page...
    for n, text in enumerate(pages, 1):
        assert f"Page {n} of {total}" in text
        assert text.count(ff.PROTECTIVE_MARKING) >= 2
    # ... and not in the report.
    text = all_text(p.extracted)
    assert ff.PROTECTIVE_MARKING not in text
    assert not re.search(r"Page \d+ of \d+", text)
    assert not any(re.fullmatch(r"\d+", e.text) for e in p.extracted.elements)
    assert all(e.text != SOURCES[name].title for e in p.extracted.elements)


@pytest.mark.browser
# Northamptonshire's two pages break between paragraphs; these break inside them.
@pytest.mark.parametrize("name", ["kingsmere", "long"])
def test_pdf_paragraph_across_pages_is_one_with_its_page_breaks(
    printed: dict[str, Printed], name: str
) -> None:
    p = printed[name]
    title = p.extracted.title or ""
    bodies = [body_text(t, title) for t in raw_pages(p.pdf)]
    split = [e for e in p.extracted.elements if e.page_breaks]
    assert split, "the report prints with paragraphs that run onto the next page"
    for e in split:
        assert e.page is not None
        (offset, page), *_ = e.page_breaks
        assert page == e.page + 1 and 0 < offset < len(e.text)
        before, after = e.text[:offset].rstrip(), e.text[offset:]
        # Its first page's text ends with the words before the break, the next page's text
        # begins with the words after it.
        assert bodies[e.page - 1].endswith(before[-40:])
        assert bodies[page - 1].startswith(after[:40])
    # Every element's page is its own first page, in reading order.
    numbers = [e.page for e in p.extracted.elements]
    assert None not in numbers and numbers == sorted(numbers)  # type: ignore[type-var]
    assert numbers[-1] == p.extracted.pages


@pytest.mark.browser
def test_pdf_table_over_pages_keeps_one_header_row(printed: dict[str, Printed]) -> None:
    p = printed["forces"]
    pages = raw_pages(p.pdf)
    assert len(pages) >= 2 and all("Force Investigating crime" in t for t in pages[:2])
    rows = [e for e in p.extracted.elements if e.kind == "table_row"]
    assert [r.header for r in rows].count(True) == 1 and rows[0].header
    assert {r.page for r in rows} == set(range(1, len(pages) + 1))
    assert shape(p.extracted.elements) == shape(FORCES.expected())
    assert p.extracted.title == FORCES.title


@pytest.mark.browser
def test_pdf_joins_hyphenated_line_ends_and_keeps_compounds(printed: dict[str, Printed]) -> None:
    p = printed["kingsmere"]
    raw = "".join(raw_pages(p.pdf))
    # The printed page breaks both words at a hyphen ending the line.
    assert "investi\ufffegations" in raw and "anti\ufffesocial" in raw
    para = next(e for e in p.extracted.elements if e.text.startswith(ff.HYPHENATED_PARAGRAPH))
    assert "its investigations of domestic abuse" in para.text
    assert "The force’s anti-social behaviour strategy" in para.text
    assert "\ufffe" not in para.text and "\x02" not in para.text


@pytest.mark.browser
def test_pdf_of_forty_pages_reads_whole(printed: dict[str, Printed]) -> None:
    # How fast is the bench's (`make bench BENCH_ARGS="--studies ingest"`), not a test's.
    p = printed["long"]
    assert p.extracted.pages is not None and p.extracted.pages >= 38
    got, joined = rejoin_at_sentence_page_breaks(p.extracted.elements, LONG.expected())
    assert shape(got) == shape(LONG.expected())
    # Of 40-odd page breaks, a few fall after a sentence on a full line inside a paragraph.
    assert joined <= 3


@pytest.mark.browser
def test_pdf_with_an_owner_password_only_is_read(printed: dict[str, Printed], files: Path) -> None:
    """Restrictions on printing or copying do not lock the text: such a PDF opens without a
    password in every viewer, and is read."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.constants import UserAccessPermissions

    writer = PdfWriter(clone_from=PdfReader(printed["northamptonshire"].pdf))
    writer.encrypt(
        user_password="", owner_password="owner", permissions_flag=UserAccessPermissions(0)
    )
    path = files / "restricted.pdf"
    with path.open("wb") as f:
        writer.write(f)
    assert shape(read_pdf(path).elements) == shape(SOURCES["northamptonshire"].expected())


@pytest.mark.browser
def test_truncated_download_is_refused(printed: dict[str, Printed], files: Path) -> None:
    path = ff.truncated_pdf(printed["kingsmere"].pdf, files / "truncated.pdf")
    with pytest.raises(UnreadableReport) as e:
        read_pdf(path)
    assert e.value.code == "corrupt" and "incomplete" in e.value.message


# ---- all formats agree ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", SOURCES)
def test_pdf_web_page_and_word_agree_with_the_source(
    printed: dict[str, Printed], files: Path, name: str
) -> None:
    src = SOURCES[name]
    readings = {
        "pdf": printed[name].extracted,
        "html": read_html(ff.web_page(src)),
        "html without landmarks": read_html(ff.web_page(src, semantic=False)),
        "docx": read_docx(ff.write_docx(src, files / f"{name}.docx")),
    }
    expected = shape(src.expected())
    for fmt, x in readings.items():
        assert x.title == src.title, fmt
        assert shape(x.elements) == expected, fmt
    headings = {fmt: [(e.level, e.text) for e in x.elements if e.kind == "heading"]
                for fmt, x in readings.items()}  # fmt: skip
    assert len({tuple(h) for h in headings.values()}) == 1
    assert len(headings["pdf"]) >= 4


# ---- web pages --------------------------------------------------------------------------------

CHROME_TEXTS = (
    "Skip to main content",
    "Cookies on this website",
    "Accept additional cookies",
    "Related links",
    "Interactive data for all forces",
    "Share this page",
    "Crown copyright",
    "Freedom of information",
    "About us",
    "dataLayer",
)


@pytest.mark.parametrize("semantic", [True, False], ids=["main-article", "densest-block"])
@pytest.mark.parametrize("name", SOURCES)
def test_web_page_is_the_report_without_the_site(name: str, semantic: bool) -> None:
    src = SOURCES[name]
    page = ff.web_page(src, semantic=semantic)
    assert all(t in page for t in CHROME_TEXTS[:-1])
    got = read_html(page)
    assert got.format == "html" and got.title == src.title and got.pages is None
    assert shape(got.elements) == shape(src.expected())
    text = all_text(got)
    for chrome in CHROME_TEXTS:
        assert chrome not in text
    assert all(e.page is None for e in got.elements)


def test_web_page_text_is_what_a_reader_sees() -> None:
    page = """<!doctype html><html><head><title>t</title><style>p{color:red}</style></head>
    <body><main>
      <h1>  PEEL 2023&ndash;25:
            An inspection of <em>Kingsmere</em> Police </h1>
      <h2>Our <a href="#j">judgments</a></h2>
      <p>The <strong>force</strong>&rsquo;s <a href="/plan">plan</a>, agreed with the
         <abbr title="police and crime commissioner">PCC</abbr>,&nbsp;is&nbsp;clear &amp; it
         <span class="x">works</span>.<br>Officers
         know their <b>prio</b><i>rities</i>; an<span>ti</span>-social beha&shy;viour is
         down<sup>1</sup>.</p>
      Text outside any paragraph, in the section itself.
      <div>A text block in a <em>div</em><div>and one inside it</div></div>
      <h3>Areas for improvement</h3>
      <ol><li>First <strong>area</strong>
            <ul><li>its detail<ol><li>deeper still</li></ol></li></ul></li>
          <li><p>Second area,</p><p>in two paragraphs.</p></li></ol>
      <table><caption>Table 1: judgments</caption>
        <thead><tr><td>Area</td><td>Grade</td></tr></thead>
        <tbody><tr><th scope="row">Investigating crime</th><td>Requires <em>improvement</em>
        </td></tr></tbody></table>
      <p hidden>Not shown.</p><p style="display: none">Not shown either.</p>
      <script>var notText = 1;</script><!-- nor a comment -->
    </main></body></html>"""
    got = read_html(page)
    assert got.title == "PEEL 2023–25: An inspection of Kingsmere Police"
    assert [(e.kind, e.level, e.text, e.cells, e.header) for e in got.elements] == [
        ("heading", 1, "Our judgments", (), False),
        ("paragraph", 0, "The force’s plan, agreed with the PCC, is clear & it works. Officers "
         "know their priorities; anti-social behaviour is down1.", (), False),
        ("paragraph", 0, "Text outside any paragraph, in the section itself.", (), False),
        ("paragraph", 0, "A text block in a div", (), False),
        ("paragraph", 0, "and one inside it", (), False),
        ("heading", 2, "Areas for improvement", (), False),
        ("list_item", 0, "First area", (), False),
        ("list_item", 1, "its detail", (), False),
        ("list_item", 2, "deeper still", (), False),
        ("list_item", 0, "Second area, in two paragraphs.", (), False),
        ("paragraph", 0, "Table 1: judgments", (), False),
        ("table_row", 0, "", ("Area", "Grade"), True),
        ("table_row", 0, "", ("Investigating crime", "Requires improvement"), False),
    ]  # fmt: skip


def test_web_page_from_bytes_in_its_declared_charset(files: Path) -> None:
    html = (
        '<html><head><meta charset="windows-1252"></head><body><article><h1>Caf\xe9 '
        "report</h1><p>The force\x92s view \x96 good.</p></article></body></html>"
    )
    data = html.encode("latin-1")
    path = files / "cp1252.html"
    path.write_bytes(data)
    for source in (data, path):
        got = read_html(source)
        assert got.title == "Café report"
        assert [e.text for e in got.elements] == ["The force’s view – good."]


def test_web_page_without_report_text_is_refused() -> None:
    with pytest.raises(UnreadableReport) as e:
        read_html("<html><body><nav><a href='/'>Home</a></nav><script>x()</script></body></html>")
    assert e.value.code == "empty"


# ---- Word -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_word_gives_back_the_source(files: Path, name: str) -> None:
    src = SOURCES[name]
    got = read_docx(ff.write_docx(src, files / f"word-{name}.docx"))
    assert got.format == "docx" and got.title == src.title and got.pages is None
    assert shape(got.elements) == shape(src.expected())


def test_word_numbering_tables_in_body_order_and_bold_header(files: Path) -> None:
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    d.add_paragraph("Kingsmere Police", style="Title")
    d.add_paragraph("Summary", style="Heading 2")
    d.add_paragraph("Before the table.")
    t = d.add_table(rows=2, cols=2)
    for cell, text in zip(t.rows[0].cells, ("Area", "Grade"), strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    t.rows[1].cells[0].text = "Responding to the public"
    t.rows[1].cells[1].text = "Good"
    d.add_paragraph("After the table.")
    d.add_paragraph("Detail", style="Heading 3")
    # A list made by numbering on the paragraph itself (as Word's list buttons do).
    for level, text in ((0, "first point"), (1, "its sub-point")):
        p = d.add_paragraph(text, style="List Paragraph")
        numPr = OxmlElement("w:numPr")
        ilvl, num = OxmlElement("w:ilvl"), OxmlElement("w:numId")
        ilvl.set(qn("w:val"), str(level))
        num.set(qn("w:val"), "1")
        numPr.append(ilvl)
        numPr.append(num)
        p._p.get_or_add_pPr().append(numPr)
    run = d.add_paragraph().add_run("Line one")
    run.add_break()
    run.add_text("line two.\tTabbed.")
    path = files / "word-shapes.docx"
    d.save(str(path))
    got = read_docx(path)
    assert got.title == "Kingsmere Police"
    assert [(e.kind, e.level, e.text, e.cells, e.header) for e in got.elements] == [
        ("heading", 1, "Summary", (), False),
        ("paragraph", 0, "Before the table.", (), False),
        ("table_row", 0, "", ("Area", "Grade"), True),
        ("table_row", 0, "", ("Responding to the public", "Good"), False),
        ("paragraph", 0, "After the table.", (), False),
        ("heading", 2, "Detail", (), False),
        ("list_item", 0, "first point", (), False),
        ("list_item", 1, "its sub-point", (), False),
        ("paragraph", 0, "Line one line two. Tabbed.", (), False),
    ]


def test_damaged_word_file_is_refused(files: Path) -> None:
    good = ff.write_docx(SOURCES["kingsmere"], files / "to-damage.docx").read_bytes()
    for name, data in (("cut.docx", good[: len(good) // 2]), ("text.docx", b"not a zip")):
        path = files / name
        path.write_bytes(data)
        with pytest.raises(UnreadableReport) as e:
            read_docx(path)
        assert e.value.code == "corrupt", name


# ---- PDFs that cannot be read -----------------------------------------------------------------


def test_scanned_pdf_is_refused_as_without_text_layer(files: Path) -> None:
    with pytest.raises(UnreadableReport) as e:
        read_pdf(ff.scanned_pdf(files / "scanned.pdf"))
    assert e.value.code == "no_text_layer"
    assert "no text layer" in e.value.message and "OCR" in e.value.message


def test_encrypted_pdf_is_refused(files: Path) -> None:
    scan = ff.scanned_pdf(files / "to-encrypt.pdf")
    with pytest.raises(UnreadableReport) as e:
        read_pdf(ff.encrypted_pdf(scan, files / "encrypted.pdf"))
    assert e.value.code == "encrypted" and "password" in e.value.message


@pytest.mark.parametrize(
    "damage",
    ["truncated", "empty", "not a pdf", "garbage body"],
)
def test_damaged_pdf_is_refused_as_corrupt(files: Path, damage: str) -> None:
    whole = ff.scanned_pdf(files / f"whole-{damage}.pdf").read_bytes()
    data = {
        "truncated": whole[: len(whole) * 2 // 5],
        "empty": b"",
        "not a pdf": b"<html>a page saved with the wrong name</html>",
        "garbage body": b"%PDF-1.7\n" + random.Random(1).randbytes(5000) + b"\n%%EOF\n",
    }[damage]
    path = files / f"{damage}.pdf"
    path.write_bytes(data)
    with pytest.raises(UnreadableReport) as e:
        read_pdf(path)
    assert e.value.code == "corrupt"
    assert "damaged or incomplete" in e.value.message


# ---- sniffing ---------------------------------------------------------------------------------


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def _xlsx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


def test_sniff_judges_by_content(files: Path) -> None:
    src = SOURCES["kingsmere"]
    docx_bytes = ff.write_docx(src, files / "sniff.docx").read_bytes()
    pdf_bytes = ff.scanned_pdf(files / "sniff.pdf").read_bytes()
    cases: dict[str, tuple[bytes, str | None]] = {
        "pdf": (pdf_bytes, "pdf"),
        "pdf head": (pdf_bytes[:512], "pdf"),
        "docx": (docx_bytes, "docx"),
        "docx head": (docx_bytes[:4096], "docx"),
        "web page": (ff.web_page(src).encode(), "html"),
        "html fragment": (b"\n  <div class='x'><p>Hello</p></div>", "html"),
        "html after a comment": (b"<!-- saved page --><html><body></body></html>", "html"),
        "utf-8 text": (REPORT.read_bytes(), "text"),
        "text with a bom": ("\ufeffHMIC: PEEL 2015 – report".encode(), "text"),
        "markdown": (b"# PEEL 2016\n\n## 1. How well?\n\n- a point\n", "text"),
        "text cut mid-character": ("PEEL 2023–25".encode()[:6], "text"),
        "png": (_png(), None),
        "random binary": (random.Random(3).randbytes(4096), None),
        "spreadsheet zip": (_xlsx_like(), None),
        "nul in text": (b"PEEL report\x00\x00 text", None),
        "latin-1 text": ("Caf\xe9 report".encode("latin-1"), None),
        "empty": (b"", None),
    }
    for name, (data, expected) in cases.items():
        assert sniff(data) == expected, name
    # The name does not matter: only bytes are passed.
    assert sniff((files / "sniff.docx").read_bytes()) == "docx"


def test_running_matter_patterns() -> None:
    """What counts as a page number or a protective marking in a page's margin, on any page
    (repetition across pages finds the rest, such as a running title)."""
    from peelqa.reports.formats.pdf import _MARKING, _PAGE_NUMBER

    for marking in ("OFFICIAL", "OFFICIAL - SENSITIVE", "OFFICIAL-SENSITIVE", "Official Sensitive",
                    "OFFICIAL – FOR PUBLIC RELEASE", "NOT PROTECTIVELY MARKED"):  # fmt: skip
        assert _MARKING.match(marking), marking
    for number in ("3", "Page 3", "Page 3 of 12", "3 of 12", "3/12", "- 4 -", "iv"):
        assert _PAGE_NUMBER.match(number), number
    for text in ("Official figures show a fall", "Page 3 shows", "2023–25", "Officers"):
        assert not (_MARKING.match(text) or _PAGE_NUMBER.match(text)), text
