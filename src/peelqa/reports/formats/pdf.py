"""PDF reports (their text layer) as elements, read through PDFium (pypdfium2).

PDFium gives each character with its box, baseline, font size and font, and marks the line
ends and word gaps it inferred. From those this module rebuilds what a reader of the page sees:
lines; running headers, footers, page numbers and protective markings (dropped); headings (by
size and weight against the body text); paragraphs joined across line and page breaks; list
items (by their markers, drawn or typed); tables (by the ruling lines drawn around the cells).

pypdfium2 rather than pdfplumber: the same character data comes from C++ several times faster
than pdfminer's pure-Python parser gives it, which matters for reports of 50-100 pages
(PyMuPDF's AGPL is not an option).
"""

from __future__ import annotations

import ctypes
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from peelqa.reports.elements import Element, Extracted, UnreadableReport

# PDFium writes a hyphen that it sees ending a line as U+0002.
_HYPHENS = {"\x02": "-", "\u00ad": "-", "\u2010": "-", "\u2011": "-"}
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demibold|extrabold", re.IGNORECASE)

# Running matter that is never the report's text, wherever it stands in a page's margin.
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?(?:\d{1,5}|[ivxlc]{1,6})(?:\s*(?:of|/)\s*\d{1,5})?$|^[-–—]\s*\d{1,5}\s*[-–—]$",
    re.IGNORECASE,
)
_MARKING = re.compile(
    r"^(?:official(?:\s*[-–—:]?\s*sensitive)?|official\s*[-–—:]?\s*for public release|"
    r"not protectively marked|unclassified|restricted|secret|top secret)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[•·▪▫‣◦○●■□◆◇►▶✓✔➢➤–—*\uf0a7\uf0b7\uf0d8\uf076\uf0fc-]$")
_NUMBER = re.compile(r"^\(?(?:\d{1,2}(?:\.\d{1,2})*|[a-z]|[ivx]{1,5})[.)]$", re.IGNORECASE)
_TERMINAL = (".", "!", "?", ":", ";", "”", '"', "’", ")")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# First parts of compounds that keep their hyphen when a line breaks after it.
_COMPOUND_PREFIXES = {
    "anti", "non", "self", "cross", "multi", "well", "co", "ex", "post", "pre", "cyber",
    "inter", "intra", "sub", "semi", "pro", "counter", "long", "short", "high", "low", "under",
    "over", "mid", "part", "full", "front", "back", "face", "one", "two", "three",
}  # fmt: skip

# The top and bottom shares of a page where running headers and footers stand.
_MARGIN_BAND = 0.14
# A page drawn with more lines than this is a chart or a map, not a table; grouping its lines
# would cost more than the rest of the page.
_MAX_EDGES = 4000
# A page has a text layer when it holds this many characters; a scan has none.
_MIN_PAGE_CHARS = 20


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    bold: bool


@dataclass
class _Line:
    page: int
    words: list[_Word]
    baseline: float
    top: float
    bottom: float
    size: float
    bold: bool

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return self.words[-1].x1

    @property
    def mid(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class _Table:
    x0: float
    x1: float
    ys: list[float]  # row boundaries, top to bottom
    xs: list[float]  # column boundaries, left to right
    verticals: list[tuple[float, float, float]]  # (x, y0, y1)
    page: int = 0
    # (row, cell) -> the lines of words in that cell
    cells: dict[tuple[int, int], list[list[_Word]]] = field(default_factory=dict)

    def holds(self, line: _Line) -> bool:
        return (
            self.x0 - 2 <= line.x0
            and line.x1 <= self.x1 + 2
            and self.ys[-1] < line.mid < self.ys[0]
        )

    def spans(self, row: int) -> list[tuple[float, float]]:
        """The row's cells as x ranges: a column boundary without a rule there is a merged cell."""
        y = (self.ys[row] + self.ys[row + 1]) / 2
        inner = [
            x
            for x in self.xs[1:-1]
            if any(abs(vx - x) < 2 and y0 - 1 <= y <= y1 + 1 for vx, y0, y1 in self.verticals)
        ]
        bounds = [self.xs[0], *inner, self.xs[-1]]
        return list(itertools.pairwise(bounds))

    def place(self, line: _Line) -> None:
        row = next(
            (r for r in range(len(self.ys) - 1) if self.ys[r + 1] <= line.mid <= self.ys[r]), None
        )
        if row is None:
            return
        spans = self.spans(row)
        by_cell: dict[int, list[_Word]] = {}
        for w in line.words:
            cx = (w.x0 + w.x1) / 2
            col = next((c for c, (a, b) in enumerate(spans) if a <= cx <= b), None)
            if col is not None:
                by_cell.setdefault(col, []).append(w)
        for col, ws in by_cell.items():
            self.cells.setdefault((row, col), []).append(ws)


@dataclass
class _Page:
    number: int
    height: float
    # Lines and tables in reading order (a table stands where its first line stood).
    items: list[_Line | _Table]
    markers: list[tuple[float, float, float, float]]


@dataclass
class _Block:
    kind: str  # heading | paragraph | list_item | table
    page: int
    lines: list[_Line] = field(default_factory=list)
    text: str = ""
    page_breaks: list[tuple[int, int]] = field(default_factory=list)
    size: float = 0.0
    bold: bool = False
    # list_item: where its text starts (its marker stands to the left of it).
    indent: float = 0.0
    # table: (cells, header, page) per row
    rows: list[tuple[tuple[str, ...], bool, int]] = field(default_factory=list)

    @property
    def last(self) -> _Line:
        return self.lines[-1]


def read_pdf(path: Path) -> Extracted:
    _check_file(path)
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise UnreadableReport(
                "encrypted",
                "this PDF is encrypted (protected by a password), so peelqa cannot read its "
                "text; upload a copy saved without the password",
            ) from e
        raise _corrupt() from e
    try:
        pages = [_read_page(doc, i) for i in range(len(doc))]
    except pdfium.PdfiumError as e:
        raise _corrupt() from e
    finally:
        doc.close()
    if not pages or max(_char_count(p) for p in pages) < _MIN_PAGE_CHARS:
        raise UnreadableReport(
            "no_text_layer",
            "this PDF has no text layer (it looks scanned); peelqa does not do OCR: upload a "
            "PDF with selectable text, or the report's web page",
        )
    _drop_running_lines(pages)
    return _Assembler(pages).run()


def _corrupt() -> UnreadableReport:
    return UnreadableReport(
        "corrupt",
        "this PDF is damaged or incomplete (it may have been cut off while downloading); "
        "download it again and upload the whole file",
    )


def _check_file(path: Path) -> None:
    """A PDF starts with %PDF- and ends with %%EOF. PDFium opens a file cut off mid-download
    when it can and reads whatever survived, so a missing end is refused here, not guessed at."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1024)
        f.seek(max(0, size - 2048))
        tail = f.read()
    if b"%PDF-" not in head or b"%%EOF" not in tail:
        raise _corrupt()


def _char_count(page: _Page) -> int:
    words = [w for it in page.items if isinstance(it, _Line) for w in it.words]
    words += [
        w
        for it in page.items
        if isinstance(it, _Table)
        for cell in it.cells.values()
        for ws in cell
        for w in ws
    ]
    return sum(len(w.text) for w in words)


def _lines_of(page: _Page) -> list[_Line]:
    return [it for it in page.items if isinstance(it, _Line)]


# ---- characters to lines ----------------------------------------------------------------------


def _read_page(doc: pdfium.PdfDocument, index: int) -> _Page:
    page = doc[index]
    try:
        height = page.get_height()
        textpage = page.get_textpage()
        try:
            lines = _lines(textpage.raw, index + 1)
        finally:
            textpage.close()
        edges, markers = _graphics(page)
    finally:
        page.close()
    items: list[_Line | _Table] = []
    tables = [
        t
        for t in _tables(edges, index + 1)
        if t.xs or _columns(t, [ln for ln in lines if t.holds(ln)])
    ]
    placed: set[int] = set()
    for line in lines:
        table = next((t for t in tables if t.holds(line)), None)
        if table is None:
            items.append(line)
            continue
        table.place(line)
        if id(table) not in placed:
            placed.add(id(table))
            items.append(table)
    return _Page(number=index + 1, height=height, items=items, markers=markers)


# (char, left, right, bottom, top, baseline, size, bold)
_Char = tuple[str, float, float, float, float, float, float, bool]


def _lines(tp: Any, page_no: int) -> list[_Line]:
    n = pdfium_c.FPDFText_CountChars(tp)
    left, right = ctypes.c_double(), ctypes.c_double()
    bottom, top = ctypes.c_double(), ctypes.c_double()
    ox, oy = ctypes.c_double(), ctypes.c_double()
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    bold_of: dict[bytes, bool] = {}
    lines: list[_Line] = []
    chars: list[_Char] = []

    def flush() -> None:
        if chars:
            line = _make_line(chars, page_no)
            if line is not None:
                lines.append(line)
            chars.clear()

    last_obj: int | None = -1
    bold = False
    gap = False
    for i in range(n):
        u = pdfium_c.FPDFText_GetUnicode(tp, i)
        if u in (0x0D, 0x0A):
            flush()
            gap = False
            continue
        ch = chr(u)
        if pdfium_c.FPDFText_IsGenerated(tp, i) or ch.isspace():
            gap = True
            continue
        pdfium_c.FPDFText_GetCharBox(tp, i, left, right, bottom, top)
        pdfium_c.FPDFText_GetCharOrigin(tp, i, ox, oy)
        size = pdfium_c.FPDFText_GetFontSize(tp, i)
        # Font lookups are per text object (a run of one style), not per character.
        obj = ctypes.cast(pdfium_c.FPDFText_GetTextObject(tp, i), ctypes.c_void_p).value
        if obj != last_obj:
            last_obj = obj
            pdfium_c.FPDFText_GetFontInfo(tp, i, name, len(name), ctypes.byref(flags))
            font = name.value
            if font not in bold_of:
                bold_of[font] = bool(
                    _BOLD_NAME.search(font.decode("latin-1"))
                    or pdfium_c.FPDFText_GetFontWeight(tp, i) >= 600
                    or flags.value & (1 << 18)  # ForceBold
                )
            bold = bold_of[font]
        if chars:
            prev = chars[-1]
            # A new baseline or a jump back to the left is a new line, whatever PDFium inferred.
            if abs(oy.value - prev[5]) > 0.5 * max(size, 1.0) or left.value < prev[1] - 2.0:
                flush()
                gap = False
            elif gap or left.value - prev[2] > 0.3 * max(size, 1.0):
                chars.append((" ", prev[2], left.value, 0.0, 0.0, prev[5], 0.0, False))
        gap = False
        chars.append((ch, left.value, right.value, bottom.value, top.value, oy.value, size, bold))
    flush()
    return lines


def _make_line(chars: list[_Char], page_no: int) -> _Line | None:
    words: list[_Word] = []
    run: list[_Char] = []
    for c in [*chars, (" ", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, False)]:
        if c[0] != " ":
            run.append(c)
            continue
        if run:
            text = "".join(_LIGATURES.get(r[0], _HYPHENS.get(r[0], r[0])) for r in run)
            bold = sum(r[7] for r in run) * 2 > len(run)
            words.append(_Word(text, run[0][1], run[-1][2], bold))
            run = []
    real = [c for c in chars if c[0] != " "]
    if not words or not real:
        return None
    sizes = Counter(round(c[6], 1) for c in real)
    baselines = sorted(c[5] for c in real)
    return _Line(
        page=page_no,
        words=words,
        baseline=baselines[len(baselines) // 2],
        top=max(c[4] for c in real),
        bottom=min(c[3] for c in real),
        size=sizes.most_common(1)[0][0],
        bold=sum(c[7] for c in real) >= 0.9 * len(real),
    )


def _graphics(
    page: pdfium.PdfPage,
) -> tuple[list[tuple[float, float, float, float]], list[tuple[float, float, float, float]]]:
    """Ruling lines (thin paths, and the sides of plain rectangles) and small shapes that can
    be list bullets, as (left, bottom, right, top)."""
    edges: list[tuple[float, float, float, float]] = []
    markers: list[tuple[float, float, float, float]] = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH]):
        x0, y0, x1, y1 = obj.get_bounds()
        w, h = x1 - x0, y1 - y0
        if (w <= 2.5 < h) or (h <= 2.5 < w):
            edges.append((x0, y0, x1, y1))
        elif w <= 9 and h <= 9:
            markers.append((x0, y0, x1, y1))
        elif pdfium_c.FPDFPath_CountSegments(obj.raw) <= 6:
            # A filled or stroked rectangle: a cell's shading or its box.
            edges += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
    return edges, markers


def _merge(values: list[float], tol: float = 2.0) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if out and v - out[-1] <= tol:
            continue
        out.append(v)
    return out


def _tables(edges: list[tuple[float, float, float, float]], page_no: int) -> list[_Table]:
    """Grids of ruling lines with at least two rows and two columns."""
    if not 4 <= len(edges) <= _MAX_EDGES:
        return []
    parent = list(range(len(edges)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(edges)), key=lambda i: edges[i][0])
    for a_pos, a in enumerate(order):
        _, ay0, ax1, ay1 = edges[a]
        for b in order[a_pos + 1 :]:
            bx0, by0, _, by1 = edges[b]
            if bx0 > ax1 + 2:
                break
            if by0 <= ay1 + 2 and ay0 <= by1 + 2:
                parent[find(b)] = find(a)
    groups: dict[int, list[tuple[float, float, float, float]]] = {}
    for i, e in enumerate(edges):
        groups.setdefault(find(i), []).append(e)
    tables = []
    loose: list[tuple[float, float, float, float]] = []
    for group in groups.values():
        hs = [e for e in group if (e[2] - e[0]) >= (e[3] - e[1])]
        vs = [e for e in group if (e[2] - e[0]) < (e[3] - e[1])]
        ys = _merge([(e[1] + e[3]) / 2 for e in hs])[::-1]
        xs = _merge([(e[0] + e[2]) / 2 for e in vs])
        if len(ys) < 3 or len(xs) < 3:
            loose += [e for e in hs if e[2] - e[0] > 20]
            continue
        verticals = [((e[0] + e[2]) / 2, e[1], e[3]) for e in vs]
        tables.append(_Table(x0=xs[0], x1=xs[-1], ys=ys, xs=xs, verticals=verticals, page=page_no))
    return tables + _rule_tables(loose, page_no)


def _rule_tables(rules: list[tuple[float, float, float, float]], page_no: int) -> list[_Table]:
    """Tables ruled by horizontal lines only: three or more rules of one width stacked at row
    distances. Their columns are found from the text later (`_columns`)."""
    # A browser draws a row's rule cell by cell: collinear pieces that touch are one rule.
    joined: list[tuple[float, float, float, float]] = []
    for e in sorted(rules, key=lambda e: (round((e[1] + e[3]) / 2), e[0])):
        if joined:
            j = joined[-1]
            same_y = abs((j[1] + j[3]) / 2 - (e[1] + e[3]) / 2) <= 1
            if same_y and e[0] <= j[2] + 2 and e[2] >= j[0] - 2:
                joined[-1] = (j[0], min(j[1], e[1]), max(j[2], e[2]), max(j[3], e[3]))
                continue
        joined.append(e)
    by_span: dict[tuple[int, int], list[float]] = {}
    for x0, y0, x1, y1 in joined:
        key = next(
            (k for k in by_span if abs(k[0] - x0) <= 2 and abs(k[1] - x1) <= 2),
            (round(x0), round(x1)),
        )
        by_span.setdefault(key, []).append((y0 + y1) / 2)
    tables = []
    for (x0, x1), ys in by_span.items():
        run: list[float] = []
        for y in [*_merge(ys)[::-1], float("-inf")]:
            if run and run[-1] - y <= 80:
                run.append(y)
                continue
            if len(run) >= 3:
                tables.append(_Table(x0=x0, x1=x1, ys=run, xs=[], verticals=[], page=page_no))
            run = [y]
    return tables


def _columns(table: _Table, lines: list[_Line]) -> bool:
    """Column boundaries of a table without vertical rules: where no word of any of its lines
    stands, over at least a character's width. False: one column, not a table."""
    spans = sorted((w.x0, w.x1) for ln in lines for w in ln.words)
    if not spans:
        return False
    size = max(ln.size for ln in lines)
    xs = [float(table.x0)]
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= 0.8 * size:
            xs.append((x0 + reach) / 2)
        reach = max(reach, x1)
    if len(xs) < 2:
        return False
    table.xs = [*xs, float(table.x1)]
    table.verticals = [(x, table.ys[-1], table.ys[0]) for x in table.xs]
    return True


# ---- running headers and footers --------------------------------------------------------------


def _key(line: _Line) -> str:
    return re.sub(r"\d+", "#", " ".join(line.text.lower().split()))


def _segments(line: _Line) -> list[str]:
    """The line's parts that stand apart (a header's left and right halves)."""
    out: list[list[str]] = [[]]
    prev: _Word | None = None
    for w in line.words:
        if prev is not None and w.x0 - prev.x1 > 1.5 * line.size:
            out.append([])
        out[-1].append(w.text)
        prev = w
    return [" ".join(s) for s in out]


def _drop_running_lines(pages: list[_Page]) -> None:
    """Lines in the top or bottom band of a page that repeat at the same height on at least
    half the pages, and page numbers and protective markings there on any page."""

    def band(page: _Page) -> list[_Line]:
        lines = _lines_of(page)
        top = [ln for ln in lines if ln.mid > page.height * (1 - _MARGIN_BAND)]
        bottom = [ln for ln in lines if ln.mid < page.height * _MARGIN_BAND]
        return top + bottom

    seen: dict[str, list[float]] = {}
    for page in pages:
        for key, y in {(_key(ln), round(ln.baseline)) for ln in band(page)}:
            seen.setdefault(key, []).append(y)
    threshold = max(2, round(0.45 * len(pages)))

    def running(line: _Line) -> bool:
        ys = seen.get(_key(line), [])
        if len(ys) >= threshold and Counter(ys).most_common(1)[0][1] >= threshold:
            return True
        return all(_PAGE_NUMBER.match(s) or _MARKING.match(s) for s in _segments(line))

    for page in pages:
        drop = {id(ln) for ln in band(page) if running(ln)}
        page.items = [it for it in page.items if id(it) not in drop]


# ---- lines to elements ------------------------------------------------------------------------


class _Assembler:
    def __init__(self, pages: list[_Page]) -> None:
        self.pages = pages
        lines = [ln for p in pages for ln in _lines_of(p)]
        weights: Counter[float] = Counter()
        for ln in lines:
            weights[round(ln.size * 2) / 2] += len(ln.text)
        self.body = weights.most_common(1)[0][0] if weights else 10.0
        body_lines = [ln for ln in lines if abs(ln.size - self.body) <= 0.5 and not ln.bold]
        self.left = self._mode([ln.x0 for ln in body_lines]) if body_lines else 0.0
        self.right = max((ln.x1 for ln in body_lines), default=0.0)
        # A space's width, measured (a font size is not always in page units: Chromium's are
        # in CSS pixels).
        gaps = sorted(b.x0 - a.x1 for ln in body_lines for a, b in itertools.pairwise(ln.words))
        self.space = gaps[len(gaps) // 2] if gaps else 0.25 * self.body
        pitches: Counter[float] = Counter()
        for p in pages:
            ls = _lines_of(p)
            for a, b in itertools.pairwise(ls):
                d = a.baseline - b.baseline
                if abs(a.size - b.size) <= 0.5 and 0.9 * a.size < d < 2.5 * a.size:
                    pitches[round(d * 2) / 2] += 1
        self.pitch_ratio = pitches.most_common(1)[0][0] / self.body if pitches else 1.3
        self.vocab: Counter[str] = Counter()
        for ln in lines:
            self.vocab.update(m.group(0).lower() for m in _WORD.finditer(ln.text))
        for p in pages:
            for it in p.items:
                if isinstance(it, _Table):
                    for cell in it.cells.values():
                        for ws in cell:
                            text = " ".join(w.text for w in ws)
                            self.vocab.update(m.group(0).lower() for m in _WORD.finditer(text))
        self.blocks: list[_Block] = []

    @staticmethod
    def _mode(values: list[float]) -> float:
        return Counter(round(v) for v in values).most_common(1)[0][0]

    # -- classification --

    def heading_style(self, line: _Line) -> bool:
        return line.size >= self.body * 1.12 or (line.bold and line.size >= self.body - 0.5)

    def marker(self, line: _Line, page: _Page) -> int | None:
        """How many leading words are a list marker (0: a drawn bullet), None: not an item."""
        for _, y0, x1, y1 in page.markers:
            cy = (y0 + y1) / 2
            if (
                line.bottom - 1 <= cy <= line.top + 1
                and x1 <= line.x0 + 0.5
                and line.x0 - x1 < 3 * line.size
            ):
                return 0
        if len(line.words) < 2:
            return None
        first, second = line.words[0], line.words[1]
        indented = first.x0 > self.left + 0.8 * line.size
        spaced = second.x0 - first.x1 >= 0.8 * line.size
        if _BULLET.match(first.text) and (indented or spaced or first.text != "-"):
            return 1
        if _NUMBER.match(first.text) and (indented or spaced):
            return 1
        return None

    # -- joining text --

    def join(self, block: _Block, words: list[_Word], page: int) -> None:
        text = " ".join(w.text for w in words)
        if not block.text:
            block.text = text
            return
        sep = " "
        prev = block.text
        # A hyphen ending a word at the line's end ("inves-", "anti-", "COVID-"); a dash
        # standing alone keeps its space.
        if prev.endswith("-") and len(prev) > 1 and prev[-2].isalnum() and text[:1].isalnum():
            left = re.search(r"([^\W\d_]+)-$", prev)
            right = re.match(r"[^\W\d_]+", text)
            if left and right and self.hyphen_is_typographic(left.group(1), right.group(0)):
                prev = prev[:-1]
            sep = ""
        if page != (block.page_breaks[-1][1] if block.page_breaks else block.page):
            block.page_breaks.append((len(prev) + len(sep), page))
        block.text = prev + sep + text

    def hyphen_is_typographic(self, left: str, right: str) -> bool:
        """'inves-' + 'tigation' is one word broken by the typesetter; 'anti-' + 'social' is a
        compound that keeps its hyphen. The report's own use of either form decides first."""
        joined, compound = (left + right).lower(), f"{left}-{right}".lower()
        if self.vocab[compound] or left.lower() in _COMPOUND_PREFIXES or right[:1].isupper():
            return False
        # Without the word elsewhere in the report the hyphen stays: a hyphen too many loses
        # no character, a compound glued together does.
        forms = {joined, joined + "s", joined.removesuffix("s"), joined.removesuffix("es")}
        return any(self.vocab[f] for f in forms)

    # -- blocks --

    def close_enough(self, prev: _Line, line: _Line) -> bool:
        d = prev.baseline - line.baseline
        return abs(prev.size - line.size) <= 0.5 and 0 < d <= self.pitch_ratio * line.size * 1.25

    def continues_paragraph(self, block: _Block, line: _Line) -> bool:
        prev = block.last
        if abs(prev.size - line.size) > 0.5 or prev.bold != line.bold:
            return False
        first_left = block.lines[0].x0
        other_left = block.lines[1].x0 if len(block.lines) > 1 else first_left
        if not (abs(line.x0 - other_left) <= 1.5 * line.size or line.x0 < first_left):
            return False
        # A sentence ending on a line that had room for the next word: a new paragraph with no
        # space above it.
        return self.wrapped(prev, line) or not block.text.endswith(_TERMINAL)

    def wrapped(self, prev: _Line, line: _Line) -> bool:
        """Whether `prev` broke because the first word of `line` did not fit on it, as a line
        inside a paragraph does; the last line of a paragraph leaves room for it."""
        if prev.text.endswith("-"):
            return True
        word = line.words[0]
        # Boxes are the glyphs' ink, narrower than their advance: a second space's width
        # covers the side bearings.
        return prev.x1 + 2 * self.space + (word.x1 - word.x0) > self.right

    def continues_over_page(self, block: _Block, line: _Line) -> bool:
        if block.kind not in ("paragraph", "list_item") or abs(block.last.size - line.size) > 0.5:
            return False
        if block.kind == "list_item":
            if abs(line.x0 - block.indent) > 0.6 * line.size:
                return False
        elif abs(line.x0 - block.last.x0) > 1.5 * line.size:
            return False
        if not self.wrapped(block.last, line):
            return False
        # A full line that ends a sentence at the foot of a page is ambiguous: the page may
        # break inside the paragraph or after it, and nothing on the page tells. A paragraph
        # end is the likelier (a paragraph's last line is as often full as any line is to end
        # a sentence, and page breaks fall after paragraphs often), and either way no
        # sentence is cut.
        return not block.text.endswith(_TERMINAL) or line.words[0].text[:1].islower()

    def run(self) -> Extracted:
        current: _Block | None = None
        for page in self.pages:
            first_on_page = True
            for item in page.items:
                if isinstance(item, _Table):
                    current = self.table(item, current)
                    first_on_page = False
                    continue
                current = self.line(item, page, current, first_on_page)
                first_on_page = False
        if current is not None:
            self.blocks.append(current)
        return self.finish()

    def table(self, t: _Table, current: _Block | None) -> _Block | None:
        if current is not None:
            self.blocks.append(current)
        rows: list[tuple[tuple[str, ...], bool, int]] = []
        bold_rows: list[bool] = []
        for r in range(len(t.ys) - 1):
            cells = []
            all_bold = True
            for c in range(len(t.spans(r))):
                block = _Block(kind="cell", page=t.page)
                for ws in t.cells.get((r, c), []):
                    self.join(block, ws, t.page)
                    all_bold = all_bold and all(w.bold for w in ws)
                cells.append(block.text)
            if any(cells):
                rows.append((tuple(cells), False, t.page))
                bold_rows.append(all_bold)
        if not rows:
            return None
        if bold_rows[0] and not all(bold_rows):
            rows[0] = (rows[0][0], True, t.page)
        prev = self.blocks[-1] if self.blocks else None
        if prev is not None and prev.kind == "table" and prev.rows[-1][2] < t.page:
            # The same table run onto the next page, its header row repeated there.
            if rows[0][1] and prev.rows[0][:2] == rows[0][:2]:
                rows = rows[1:]
            prev.rows.extend(rows)
            return None
        self.blocks.append(_Block(kind="table", page=t.page, rows=rows))
        return None

    def line(self, line: _Line, page: _Page, current: _Block | None, first_on_page: bool) -> _Block:
        if self.heading_style(line):
            if (
                current is not None
                and current.kind == "heading"
                and current.page == line.page
                and (current.size, current.bold) == (line.size, line.bold)
                and 0 < current.last.baseline - line.baseline <= 1.7 * line.size
            ):
                current.lines.append(line)
                self.join(current, line.words, line.page)
                return current
            return self.start("heading", line, current, line.words)
        skip = self.marker(line, page)
        if skip is not None:
            words = line.words[skip:]
            block = self.start("list_item", line, current, words)
            block.indent = words[0].x0
            return block
        if current is not None:
            if first_on_page and current.last.page < line.page:
                joins = self.continues_over_page(current, line)
            elif current.kind == "list_item":
                joins = self.close_enough(current.last, line) and (
                    abs(line.x0 - current.indent) <= 0.6 * line.size
                )
            elif current.kind == "paragraph":
                joins = self.close_enough(current.last, line) and self.continues_paragraph(
                    current, line
                )
            else:
                joins = False
            if joins:
                current.lines.append(line)
                self.join(current, line.words, line.page)
                return current
        return self.start("paragraph", line, current, line.words)

    def start(self, kind: str, line: _Line, current: _Block | None, words: list[_Word]) -> _Block:
        if current is not None:
            self.blocks.append(current)
        block = _Block(kind=kind, page=line.page, lines=[line], size=line.size, bold=line.bold)
        self.join(block, words, line.page)
        return block

    def finish(self) -> Extracted:
        blocks = []
        for b in self.blocks:
            # A run of bold body-size text longer than a heading is a bold paragraph.
            if (
                b.kind == "heading"
                and b.size < self.body * 1.12
                and (len(b.lines) > 2 or len(b.text.split()) > 25)
            ):
                b.kind = "paragraph"
            blocks.append(b)
        headings = [b for b in blocks if b.kind == "heading"]
        title: str | None = None
        if headings:
            biggest = max(b.size for b in headings)
            first_page = min(b.page for b in blocks)
            lead = next(
                (b for b in headings if b.page == first_page and b.size >= biggest - 0.5), None
            )
            if lead is not None and lead.size >= self.body * 1.3:
                title = lead.text
                blocks.remove(lead)
                headings.remove(lead)
        styles = sorted(
            {(round(b.size * 2) / 2, b.bold) for b in headings}, key=lambda s: (-s[0], -s[1])
        )
        level_of = {s: min(i + 1, 6) for i, s in enumerate(styles)}
        indents = sorted({round(b.indent) for b in blocks if b.kind == "list_item"})
        depth_of = self._indent_levels(indents)
        elements: list[Element] = []
        for b in blocks:
            if b.kind == "table":
                elements.extend(
                    Element(kind="table_row", cells=cells, header=header, page=page)
                    for cells, header, page in b.rows
                )
            elif b.kind == "heading":
                level = level_of[(round(b.size * 2) / 2, b.bold)]
                elements.append(Element(kind="heading", text=b.text, level=level, page=b.page))
            elif b.kind == "list_item":
                elements.append(
                    Element(
                        kind="list_item",
                        text=b.text,
                        level=depth_of[round(b.indent)],
                        page=b.page,
                        page_breaks=tuple(b.page_breaks),
                    )
                )
            else:
                elements.append(
                    Element(
                        kind="paragraph", text=b.text, page=b.page, page_breaks=tuple(b.page_breaks)
                    )
                )
        return Extracted(format="pdf", elements=elements, title=title, pages=len(self.pages))

    def _indent_levels(self, indents: list[int]) -> dict[int, int]:
        """Items whose text starts within about an em of each other are at one depth."""
        out: dict[int, int] = {}
        level, prev = -1, None
        for x in indents:
            if prev is None or x - prev > 0.8 * self.body:
                level += 1
                prev = x
            out[x] = level
        return out
