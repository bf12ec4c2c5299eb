"""Word reports (.docx) as elements, read with python-docx in body order.

Headings come from the paragraph's style (Heading 1-6, or any style with an outline level),
the title from the Title style; list items from list styles (List Bullet, List Number 2, ...)
or Word numbering (numPr) on the paragraph or its style; tables row by row, a row marked to
repeat as the header (or a bold first row) being the header.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from peelqa.reports.elements import Element, ElementKind, Extracted, UnreadableReport

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list(?:\s+(?:bullet|number))?(?:\s+([2-9]))?$", re.IGNORECASE)
_WS = re.compile(r"[ \t\n\r\f\u00a0]+")


def read_docx(path: Path) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise UnreadableReport(
            "corrupt",
            "this Word file is damaged or is not a .docx (Word 2007 or later); open it in Word "
            "and save it again as .docx",
        ) from e
    except Exception as e:  # lxml's XMLSyntaxError and friends from a broken part
        raise UnreadableReport(
            "corrupt", "this Word file is damaged; open it in Word and save it again"
        ) from e
    return _Reader().read(document)


def _text(paragraph: Any) -> str:
    return _WS.sub(" ", paragraph.text).strip()


class _Reader:
    def __init__(self) -> None:
        self.title: str | None = None
        self.items: list[tuple[ElementKind, str, int, tuple[str, ...], bool]] = []

    def read(self, document: Any) -> Extracted:
        self.body(document.element.body, document)
        levels = sorted({lvl for kind, _, lvl, _, _ in self.items if kind == "heading"})
        rank = {lvl: min(i + 1, 6) for i, lvl in enumerate(levels)}
        elements = [
            Element(
                kind=kind,
                text=text,
                level=rank[level] if kind == "heading" else level,
                cells=cells,
                header=header,
            )
            for kind, text, level, cells, header in self.items
        ]
        return Extracted(format="docx", elements=elements, title=self.title)

    def body(self, parent: Any, document: Any) -> None:
        """Paragraphs and tables in body order, including those inside content controls
        (w:sdt), which python-docx's own iteration passes over."""
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        for child in parent.iterchildren():
            if child.tag == f"{_W}p":
                self.paragraph(Paragraph(child, document))
            elif child.tag == f"{_W}tbl":
                self.table(Table(child, document))
            elif child.tag == f"{_W}sdt":
                content = child.find(f"{_W}sdtContent")
                if content is not None:
                    self.body(content, document)

    def paragraph(self, p: Any) -> None:
        text = _text(p)
        if not text:
            return
        style = p.style
        name = style.name if style is not None else ""
        if name.lower() == "title" and self.title is None:
            self.title = text
            return
        level = _heading_level(p, style)
        if level is not None:
            self.items.append(("heading", text, level, (), False))
            return
        depth = _list_depth(p, style)
        if depth is not None:
            self.items.append(("list_item", text, depth, (), False))
            return
        self.items.append(("paragraph", text, 0, (), False))

    def table(self, table: Any) -> None:
        rows: list[tuple[tuple[str, ...], bool, bool]] = []
        for tr in table._tbl.tr_lst:
            cells: list[str] = []
            bold = True
            for tc in tr.tc_lst:
                texts = [
                    _WS.sub(" ", "".join(t.text or "" for t in p.iter(f"{_W}t"))).strip()
                    for p in tc.iter(f"{_W}p")
                ]
                cells.append(" ".join(t for t in texts if t))
                runs = [r for r in tc.iter(f"{_W}r") if r.find(f"{_W}t") is not None]
                bold = bold and bool(runs) and all(_run_bold(r) for r in runs)
            repeat = tr.trPr is not None and tr.trPr.find(f"{_W}tblHeader") is not None
            if any(cells):
                rows.append((tuple(cells), repeat, bold))
        if not rows:
            return
        # Word marks a header row by "repeat as header row"; a bold first row over plain
        # ones reads as one too.
        bold_first = rows[0][2] and not all(r[2] for r in rows)
        for i, (row, repeat, _) in enumerate(rows):
            header = repeat or (i == 0 and bold_first)
            self.items.append(("table_row", "", 0, row, header))


def _styles(style: Any) -> list[Any]:
    out: list[Any] = []
    while style is not None and len(out) < 20:
        out.append(style)
        style = style.base_style
    return out


def _heading_level(p: Any, style: Any) -> int | None:
    for s in _styles(style):
        m = _HEADING_STYLE.match(s.name or "")
        if m:
            return int(m.group(1))
    # A custom heading style is one with an outline level (0 = Heading 1).
    for pPr in [p._p.pPr, *(s.element.pPr for s in _styles(style))]:
        if pPr is None:
            continue
        lvl = pPr.find(f"{_W}outlineLvl")
        if lvl is not None:
            value = int(lvl.get(f"{_W}val", "9"))
            return value + 1 if value < 9 else None
    return None


def _list_depth(p: Any, style: Any) -> int | None:
    pPr = p._p.pPr
    direct = pPr.numPr if pPr is not None else None
    if direct is not None and direct.numId is not None and direct.numId.val != 0:
        return int(direct.ilvl.val) if direct.ilvl is not None else 0
    for s in _styles(style):
        m = _LIST_STYLE.match(s.name or "")
        if m:
            return int(m.group(1)) - 1 if m.group(1) else 0
        spPr = s.element.pPr
        if spPr is not None and spPr.numPr is not None:
            ilvl = spPr.numPr.ilvl
            return int(ilvl.val) if ilvl is not None else 0
    return None


def _run_bold(r: Any) -> bool:
    rPr = r.find(f"{_W}rPr")
    if rPr is None:
        return False
    b = rPr.find(f"{_W}b")
    return b is not None and b.get(f"{_W}val", "true") not in ("0", "false")
