"""Report files for the readers' tests, made from one source so their texts can be compared.

A `Source` is a report as the author wrote it: a title and a run of blocks. It is rendered to
the HTML that Chromium prints to PDF, to a web page inside a site's chrome, and to a Word file
written by python-docx; each reader must give the source's own text back.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from peelqa.reports.elements import Element

BlockKind = Literal["heading", "paragraph", "list_item", "table_row"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PROTECTIVE_MARKING = "OFFICIAL"


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str = ""
    # heading: 1 = a top-level section (an h2 / Heading 1); list_item: nesting depth.
    level: int = 0
    cells: tuple[str, ...] = ()
    header: bool = False
    ordered: bool = False

    def element(self) -> Element:
        return Element(
            kind=self.kind, text=self.text, level=self.level, cells=self.cells, header=self.header
        )


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    blocks: tuple[Block, ...]

    def expected(self) -> list[Element]:
        return [b.element() for b in self.blocks]


def H(level: int, text: str) -> Block:
    return Block("heading", text, level=level)


def P(text: str) -> Block:
    return Block("paragraph", text)


def LI(text: str, level: int = 0, *, ordered: bool = False) -> Block:
    return Block("list_item", text, level=level, ordered=ordered)


def ROW(*cells: str, header: bool = False) -> Block:
    return Block("table_row", cells=cells, header=header)


# ---- the sources ------------------------------------------------------------------------------

_QUESTION_HEADING = re.compile(r"^\d+\.\s.*\?$")


def from_text(name: str, raw: str) -> Source:
    """A plain-text report as the product reads it: first line the title, numbered questions
    and short title-like lines as headings, every other block a paragraph."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", raw) if b.strip()]
    title, body = blocks[0], blocks[1:]
    out: list[Block] = []
    for b in body:
        text = " ".join(b.split())
        short = len(text.split()) <= 10 and text[-1] not in ".;:,"
        out.append(H(1, text) if _QUESTION_HEADING.match(text) or short else P(text))
    return Source(name, title, tuple(out))


KINGSMERE_TITLE = "PEEL 2023–25: An inspection of Kingsmere Police"
JUDGMENTS = (
    ("Providing a service to victims of crime", "Adequate"),
    ("Preventing and deterring crime and anti-social behaviour", "Good"),
    ("Responding to the public", "Requires improvement"),
    ("Investigating crime", "Requires improvement"),
    ("Protecting vulnerable people", "Adequate"),
    ("Managing offenders and suspects", "Good"),
    ("Building, supporting and protecting the workforce", "Adequate"),
    ("Leadership and force management", "Outstanding"),
)

# Sentences in the register of an HMICFRS report, for the areas' findings.
_SENTENCES = (
    "The force has a clear understanding of the demand it faces and uses this to plan its "
    "resources.",
    "Supervisors don’t always review investigations at the right time, and some victims wait too "
    "long for an update.",
    "We found that call handlers assess risk well using a structured approach, but they don’t "
    "always record the reasons for their decisions.",
    "The force works well with local authorities, health services and voluntary organisations to "
    "safeguard children and adults at risk.",
    "Neighbourhood teams are visible in their communities and use problem-solving plans to tackle "
    "anti-social behaviour.",
    "In 2023, the force recorded 94.2 percent of reported crimes, which is in line with our "
    "expectations for crime-recording accuracy.",
    "Officers told us that high workloads and frequent abstractions from their usual duties make "
    "it difficult to progress investigations.",
    "The force should make sure that it records the victim’s wishes when deciding how to finalise "
    "a crime, as the Victims’ Code requires.",
    "Leaders communicate a clear vision, and the workforce understands the force’s priorities and "
    "how their work contributes to them.",
    "The force has invested in digital forensics, and the backlog of devices awaiting examination "
    "has fallen from 412 to 137 since our last inspection.",
    "We reviewed 60 case files and found that safeguarding measures were considered in most of "
    "them, although the quality of the records varied.",
    "The force’s use of stop and search is fair and proportionate, and it scrutinises its "
    "officers’ use of force through an independent panel.",
)


def _paragraph(rng: random.Random, n: int) -> str:
    return " ".join(rng.sample(_SENTENCES, n))


def _area(rng: random.Random, area: str, grade: str, depth: int) -> list[Block]:
    out = [
        H(1, area),
        P(f"Kingsmere Police is {grade.lower()} at {area[0].lower()}{area[1:]}."),
        H(2, "Main findings"),
    ]
    for finding in range(depth):
        out.append(H(3, f"Finding {finding + 1}: {rng.choice(_SENTENCES)[:60].rstrip(' ,')}"))
        out.extend(P(_paragraph(rng, rng.randint(3, 6))) for _ in range(rng.randint(2, 3)))
    out.append(H(2, "Areas for improvement"))
    for i in range(rng.randint(2, 3)):
        out.append(LI(rng.choice(_SENTENCES), ordered=True))
        if i == 0:
            out.append(LI("the force should review its approach within six months.", 1))
    out.append(P("We also found the following:"))
    out.extend(LI(s) for s in rng.sample(_SENTENCES, 2))
    return out


def kingsmere(*, areas: int = len(JUDGMENTS), depth: int = 1, seed: int = 7) -> Source:
    """A modern PEEL report of our own making (Kingsmere Police is fictional)."""
    rng = random.Random(seed)
    blocks = [
        H(1, "Overall summary"),
        H(2, "Our judgments"),
        P(
            "Our inspection assessed how good Kingsmere Police is in nine areas of policing. "
            "We make graded judgments in eight of these nine areas as follows:"
        ),
        ROW("Area", "Grade", header=True),
        *(ROW(a, g) for a, g in JUDGMENTS),
        P("We also inspected how effective the force is at tackling serious and organised crime."),
        H(2, "Causes of concern and areas for improvement"),
        P("The table shows how many of each we have raised in each area."),
        ROW("Area", "Causes of concern", "Areas for improvement", header=True),
        ROW("Responding to the public", "1", "3"),
        ROW("Investigating crime", "1", "4"),
        ROW("Protecting vulnerable people", "0", "2"),
        H(2, "HM Inspector’s observations"),
        P(
            "I am pleased with some aspects of the performance of Kingsmere Police in keeping "
            "people safe and reducing crime, but there are areas in which it needs to improve. "
            "The force’s new operating model has improved how it responds to the public, and its "
            "investigation of crime has improved since our last inspection, although too many "
            "investigations are still allocated to officers who lack the training they need."
        ),
        P(
            "The force needs to improve its investigations of domestic abuse. Officers do not "
            "always complete a risk assessment at the "
            "first contact, and supervisors do not always check that they have. The force’s "
            "anti-social behaviour strategy is effective, and its neighbourhood teams work with "
            "partner organisations to solve local problems."
        ),
    ]
    for i in range(areas):
        area, grade = JUDGMENTS[i % len(JUDGMENTS)]
        if i >= len(JUDGMENTS):
            area = f"{area} ({i // len(JUDGMENTS) + 1})"
        blocks.extend(_area(rng, area, grade, depth))
    return Source("kingsmere", KINGSMERE_TITLE, tuple(blocks))


FORCES = (
    "Avon and Somerset", "Bedfordshire", "Cambridgeshire", "Cheshire", "Cleveland", "Cumbria",
    "Derbyshire", "Devon and Cornwall", "Dorset", "Durham", "Dyfed-Powys", "Essex",
    "Gloucestershire", "Gwent", "Hampshire and Isle of Wight", "Hertfordshire", "Humberside",
    "Kent", "Lancashire", "Leicestershire", "Lincolnshire", "Merseyside", "Norfolk",
    "North Wales", "North Yorkshire", "Northumbria", "Nottinghamshire", "South Wales",
    "South Yorkshire", "Staffordshire", "Suffolk", "Surrey", "Sussex", "Thames Valley",
    "Warwickshire", "West Mercia", "West Midlands", "West Yorkshire", "Wiltshire",
)  # fmt: skip


def forces_table() -> Source:
    """A table longer than a page: the browser repeats its header row atop the next page."""
    rng = random.Random(5)
    grades = ("Outstanding", "Good", "Adequate", "Requires improvement", "Inadequate")
    rows = [
        ROW(f"{force} {kind}", rng.choice(grades), rng.choice(grades))
        for kind in ("Police", "Constabulary")
        for force in FORCES
    ]
    return Source(
        "forces",
        "PEEL 2023–25: judgments for every force",
        (
            H(1, "Judgments by force"),
            P("The table gives two of the graded judgments for each force we inspected."),
            ROW("Force", "Investigating crime", "Protecting vulnerable people", header=True),
            *rows,
            P("Forces are listed in alphabetical order within each group."),
        ),
    )


# Where the printed rendering breaks a word at a line end, as a typesetter's hyphenation does:
# "investigations" becomes "investi-" + "gations" on the next line, and the compound
# "anti-social" breaks after its own hyphen. Chromium prints such a hyphen as an ordinary one.
HYPHEN_BREAKS = {"investigations": "investi-<br>gations", "anti-social": "anti-<br>social"}
HYPHENATED_PARAGRAPH = "The force needs to improve its investigations of domestic abuse."


# ---- HTML -------------------------------------------------------------------------------------


def _e(text: str) -> str:
    """Escaped as a publisher's CMS does: named entities for typographic characters."""
    out = html.escape(text, quote=False)
    return out.replace("’", "&rsquo;").replace("–", "&ndash;").replace("“", "&ldquo;")


def _inline(text: str) -> str:
    """Inline markup a web page carries, without changing the text a reader sees."""
    out = _e(text)
    out = out.replace("Kingsmere Police", "<strong>Kingsmere Police</strong>", 1)
    out = out.replace("HMIC ", '<abbr title="HM Inspectorate of Constabulary">HMIC</abbr> ', 1)
    out = out.replace("Victims’ Code", '<a href="/victims-code">Victims&rsquo; Code</a>', 1)
    out = out.replace("Victims&rsquo; Code", '<a href="/victims-code">Victims&rsquo; Code</a>', 1)
    # Source line breaks inside a paragraph, as a CMS's pretty-printer leaves them.
    words = out.split(" ")
    return "\n      ".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))


def report_html(src: Source, *, inline: bool = False, hyphenate: bool = False) -> str:
    """The report's body: h1 title, h2-h4 headings, p, nested ul/ol, a judgments table."""
    fmt = _inline if inline else _e
    out = [f"<h1>{_e(src.title)}</h1>"]
    blocks = list(src.blocks)
    i = 0
    while i < len(blocks):
        b = blocks[i]
        if b.kind == "heading":
            out.append(f"<h{b.level + 1}>{fmt(b.text)}</h{b.level + 1}>")
            i += 1
        elif b.kind == "paragraph":
            text = fmt(b.text)
            if hyphenate and b.text.startswith(HYPHENATED_PARAGRAPH):
                for word, broken in HYPHEN_BREAKS.items():
                    text = text.replace(word, broken, 1)
            out.append(f"<p>{text}</p>")
            i += 1
        elif b.kind == "list_item":
            j = i
            while j < len(blocks) and blocks[j].kind == "list_item":
                j += 1
            out.append(_list_html(blocks[i:j], fmt))
            i = j
        else:
            j = i
            while j < len(blocks) and blocks[j].kind == "table_row":
                j += 1
            out.append(_table_html(blocks[i:j], fmt))
            i = j
    return "\n".join(out)


def _list_html(items: list[Block], fmt: Any) -> str:
    out: list[str] = []
    stack: list[str] = []
    for it in items:
        tag = "ol" if it.ordered else "ul"
        while len(stack) > it.level + 1:
            out.append(f"</li></{stack.pop()}>")
        if len(stack) == it.level + 1 and stack[-1] != tag:
            out.append(f"</li></{stack.pop()}>")
        if len(stack) < it.level + 1:
            out.append(f"<{tag}>")
            stack.append(tag)
        else:
            out.append("</li>")
        out.append(f"<li>{fmt(it.text)}")
    while stack:
        out.append(f"</li></{stack.pop()}>")
    return "".join(out)


def _table_html(rows: list[Block], fmt: Any) -> str:
    """Header rows in <thead>, which a browser repeats atop each page the table runs onto."""
    out = ["<table>"]
    for i, r in enumerate(rows):
        cell = "th" if r.header else "td"
        if i == 0:
            out.append("<thead>" if r.header else "<tbody>")
        elif r.header != rows[i - 1].header:
            out.append("</thead><tbody>")
        out.append("<tr>" + "".join(f"<{cell}>{fmt(c)}</{cell}>" for c in r.cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


PRINT_CSS = """
@page { size: A4; }
body { font-family: 'Liberation Sans', Arial, sans-serif; font-size: 11pt; line-height: 1.4;
       margin: 0; }
h1 { font-size: 24pt; margin: 0 0 18pt; }
h2 { font-size: 17pt; margin: 20pt 0 8pt; }
h3 { font-size: 13.5pt; margin: 14pt 0 6pt; }
h4 { font-size: 11pt; margin: 12pt 0 4pt; }
p { margin: 0 0 8pt; }
li { margin: 0 0 4pt; }
table { border-collapse: collapse; margin: 6pt 0 12pt; width: 100%; }
th, td { border: 0.75pt solid #333; padding: 4pt 6pt; text-align: left; vertical-align: top; }
th { background: #dde4ee; }
/* Later tables ruled as many reports rule them: a line under each row, no column lines. */
table ~ table th, table ~ table td { border: 0; border-bottom: 0.75pt solid #333;
                                     background: none; }
table ~ table tr:first-child th { border-top: 0.75pt solid #333; }
"""


def print_html(src: Source, *, hyphenate: bool = True) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(src.title)}</title><style>{PRINT_CSS}</style></head><body>"
        f"{report_html(src, hyphenate=hyphenate)}</body></html>"
    )


def _header_template(title: str) -> str:
    return (
        '<div style="font-size:8pt;width:100%;margin:0 18mm;display:flex;'
        'justify-content:space-between;font-family:Liberation Sans">'
        f"<span>{PROTECTIVE_MARKING}</span><span>{_e(title)}</span></div>"
    )


FOOTER_TEMPLATE = (
    '<div style="font-size:8pt;width:100%;margin:0 18mm;display:flex;'
    'justify-content:space-between;font-family:Liberation Sans">'
    f"<span>{PROTECTIVE_MARKING}</span>"
    '<span>Page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
)


def print_pdf(browser: Any, src: Source, path: Path) -> Path:
    """A4 from headless Chromium, with a running header (marking, title) and a page footer."""
    page = browser.new_page()
    try:
        page.set_content(print_html(src))
        page.pdf(
            path=str(path),
            format="A4",
            display_header_footer=True,
            header_template=_header_template(src.title),
            footer_template=FOOTER_TEMPLATE,
            margin={"top": "25mm", "bottom": "25mm", "left": "20mm", "right": "20mm"},
        )
    finally:
        page.close()
    return path


# ---- web pages --------------------------------------------------------------------------------

_CHROME_CSS = "body{font-family:sans-serif} .cookie{background:#eee} .sidebar{float:right}"
_NAV = """
  <a class="skip-link" href="#content">Skip to main content</a>
  <div class="logo"><a href="/">His Majesty&rsquo;s Inspectorate of Constabulary and Fire
    &amp; Rescue Services</a></div>
  <nav aria-label="Main"><ul>
    <li><a href="/">Home</a></li><li><a href="/about-us">About us</a></li>
    <li><a href="/publications">Publications</a></li>
    <li><a href="/police-forces">Police forces</a></li>
    <li><a href="/contact">Contact us</a></li>
  </ul></nav>"""
_COOKIES = """
  <h2>Cookies on this website</h2>
  <p>We use some essential cookies to make this website work. We&rsquo;d like to set
    additional cookies to understand how you use the website, remember your settings and
    improve our services. We also use cookies set by other sites to help us deliver content
    from their services.</p>
  <button>Accept additional cookies</button> <button>Reject additional cookies</button>
  <a href="/cookies">View cookies</a>"""
_BREADCRUMBS = """<ol><li><a href="/">Home</a></li><li><a href="/publications">Publications</a>
  </li><li>PEEL 2023&ndash;25</li></ol>"""
_RELATED = """
  <h2>Related links</h2>
  <ul><li><a href="/peel">PEEL assessments 2023&ndash;25</a></li>
    <li><a href="/interactive">Interactive data for all forces</a></li>
    <li><a href="/methodology">How we inspect: our methodology and judgment criteria</a></li>
    <li><a href="/kingsmere">Kingsmere Police: all our reports</a></li></ul>
  <h2>Share this page</h2><ul><li><a href="#">Email</a></li><li><a href="#">LinkedIn</a></li></ul>
"""
_FOOTER = """
  <ul><li><a href="/accessibility">Accessibility</a></li><li><a href="/privacy">Privacy</a></li>
    <li><a href="/cookies">Cookies</a></li><li><a href="/foi">Freedom of information</a></li></ul>
  <p>All content is available under the Open Government Licence v3.0, except where otherwise
    stated. &copy; Crown copyright</p>"""


def web_page(src: Source, *, semantic: bool = True) -> str:
    """The report as a publisher's web page: header with navigation, cookie banner,
    breadcrumbs, a sidebar of related links, a footer. `semantic=False`: the same chrome and
    content in plain divs, without <main>, <article>, <nav>, <aside>, <header> or <footer>."""
    body = report_html(src, inline=True)
    script = "<script>window.dataLayer = [{'page': 'report'}];</script>"
    if semantic:
        page = f"""
<header class="site-header">{_NAV}</header>
<div class="cookie" role="region" aria-label="Cookie banner">{_COOKIES}</div>
<nav class="breadcrumbs" aria-label="Breadcrumb">{_BREADCRUMBS}</nav>
<div class="layout">
  <main id="content"><article class="report">
{body}
  </article></main>
  <aside class="sidebar">{_RELATED}</aside>
</div>
<footer class="site-footer">{_FOOTER}</footer>"""
    else:
        page = f"""
<div class="site-header">{_NAV.replace("<nav", "<div").replace("</nav>", "</div>")}</div>
<div class="cookie">{_COOKIES}</div>
<div class="breadcrumbs">{_BREADCRUMBS}</div>
<div class="layout">
  <div class="sidebar">{_RELATED}</div>
  <div id="content" class="report-body">
{body}
  </div>
</div>
<div class="site-footer">{_FOOTER}</div>"""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(src.title)} - HMICFRS</title><style>{_CHROME_CSS}</style>{script}</head>"
        f"<body>{page}\n{script}</body></html>"
    )


# ---- Word -------------------------------------------------------------------------------------


def write_docx(src: Source, path: Path) -> Path:
    """The report as an author writes it in Word: Title, Heading 1-3, List Bullet / List
    Number (with their level-2 styles for nesting), a table whose first row repeats as header."""
    import docx
    from docx.oxml import OxmlElement

    d = docx.Document()
    d.add_paragraph(src.title, style="Title")
    blocks = list(src.blocks)
    i = 0
    while i < len(blocks):
        b = blocks[i]
        if b.kind == "heading":
            d.add_paragraph(b.text, style=f"Heading {b.level}")
        elif b.kind == "paragraph":
            d.add_paragraph(b.text)
        elif b.kind == "list_item":
            style = "List Number" if b.ordered else "List Bullet"
            d.add_paragraph(b.text, style=style if b.level == 0 else f"{style} {b.level + 1}")
        else:
            j = i
            while j < len(blocks) and blocks[j].kind == "table_row":
                j += 1
            rows = blocks[i:j]
            table = d.add_table(rows=len(rows), cols=len(rows[0].cells))
            table.style = "Table Grid"
            for r, row in zip(table.rows, rows, strict=True):
                for cell, text in zip(r.cells, row.cells, strict=True):
                    cell.text = text
                if row.header:
                    trPr = r._tr.get_or_add_trPr()
                    trPr.append(OxmlElement("w:tblHeader"))
                    for cell in r.cells:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            i = j
            continue
        i += 1
    d.save(str(path))
    return path


# ---- Markdown ---------------------------------------------------------------------------------


def markdown(src: Source) -> str:
    """The report as an author writes it in Markdown: `#` title, `##`-`####` headings, nested
    lists (numbered where the source is), pipe tables with their header row."""
    out = [f"# {src.title}", ""]
    blocks = list(src.blocks)
    for i, b in enumerate(blocks):
        prev = blocks[i - 1].kind if i else None
        if b.kind == "heading":
            out += [f"{'#' * (b.level + 1)} {b.text}", ""]
        elif b.kind == "paragraph":
            out += [b.text, ""]
        elif b.kind == "list_item":
            marker = "1." if b.ordered else "-"
            out.append(f"{'   ' * b.level}{marker} {b.text}")
            if i + 1 == len(blocks) or blocks[i + 1].kind != "list_item":
                out.append("")
        else:
            if prev != "table_row" and not b.header:  # a pipe table needs a header row
                out.append("| " + " | ".join(" " for _ in b.cells) + " |")
                out.append("|" + "---|" * len(b.cells))
            out.append("| " + " | ".join(b.cells) + " |")
            if b.header:
                out.append("|" + "---|" * len(b.cells))
            if i + 1 == len(blocks) or blocks[i + 1].kind != "table_row":
                out.append("")
    return "\n".join(out)


# ---- files that are not reports ---------------------------------------------------------------


def scanned_pdf(path: Path) -> Path:
    """Image-only pages, as a scanner makes them: no text layer at all."""
    from PIL import Image, ImageDraw

    pages = []
    for n in range(2):
        img = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(img)
        for y in range(200, 1500, 40):
            draw.rectangle((150, y, 1090 - (y * 7 + n * 13) % 300, y + 18), fill=30)
        pages.append(img)
    pages[0].save(path, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
    return path


def encrypted_pdf(source_pdf: Path, path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source_pdf))
    writer.encrypt(user_password="kingsmere", owner_password="owner", algorithm="AES-256")
    with path.open("wb") as f:
        writer.write(f)
    return path


def truncated_pdf(source_pdf: Path, path: Path) -> Path:
    """Cut off mid-download: the first 40% of a real PDF's bytes."""
    data = source_pdf.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])
    return path
