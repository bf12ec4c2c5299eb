"""Web pages as elements: the report is the page's main content, not the site around it.

Parsed by Lexbor (selectolax), an HTML5 parser, so a page is read as a browser builds it. The
report is `<main>` (or the `<article>` inside it), else the page's `<article>`, else the block
holding the most paragraph text; navigation, cookie banners, breadcrumbs, related links,
sidebars, site headers and footers, scripts and styles are left out. Text is what a reader sees:
inline markup dropped, whitespace collapsed as CSS collapses it, entities decoded.
"""

from __future__ import annotations

import re
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from peelqa.reports.elements import Element, ElementKind, Extracted, UnreadableReport

_JUNK = (
    "script, style, noscript, template, svg, math, iframe, object, embed, canvas, video, audio, "
    "form, button, select, input, textarea, dialog, [hidden], [aria-hidden=true]"
)
# Site chrome by element or ARIA role, wherever it stands.
_CHROME = (
    "nav, aside, footer, [role=navigation], [role=complementary], [role=contentinfo], "
    "[role=search], [role=banner]"
)
# ... and by the words of its class or id.
_CHROME_WORDS = {
    "cookie", "cookies", "consent", "breadcrumb", "breadcrumbs", "related", "share", "sharing",
    "social", "sidebar", "skip", "nav", "navbar", "navigation", "menu", "footer", "masthead",
    "pagination", "feedback", "print", "subscribe", "newsletter", "toolbar",
}  # fmt: skip
_INLINE = {
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn",
    "em", "font", "i", "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "img", "br", "-text",
}  # fmt: skip
_LISTS = frozenset({"ul", "ol", "menu"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_WS = re.compile(r"[ \t\n\r\f\u00a0]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def read_html(source: Path | bytes | str) -> Extracted:
    """A web page (a file, its bytes, or its text) as the report it carries."""
    if isinstance(source, Path):
        source = source.read_bytes()
    text = _decode(source) if isinstance(source, bytes) else source
    tree = LexborHTMLParser(text)
    body = tree.body
    if body is None:
        raise UnreadableReport("empty", "this web page has no content")
    for node in body.css(_JUNK):
        node.decompose()
    for node in body.css("[style]"):
        if re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", node.attributes["style"] or ""):
            node.decompose()
    root = _main(body)
    _drop_chrome(root)
    title_node = root.css_first("h1") or body.css_first("h1")
    reader = _Reader(title_node)
    reader.block(root)
    reader.flush()
    if not reader.out:
        raise UnreadableReport("empty", "this web page holds no report text")
    return reader.result()


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    m = _CHARSET.search(data[:4096])
    if m:
        try:
            return data.decode(m.group(1).decode("ascii"), "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # The web's default where a page names no charset (WHATWG: windows-1252).
        return data.decode("cp1252", "replace")


def _collapse(text: str) -> str:
    return _WS.sub(" ", text.translate(_INVISIBLE)).strip()


def _is_chrome(node: LexborNode) -> bool:
    words: set[str] = set()
    for attr in ("class", "id"):
        words.update(re.split(r"[\s_-]+", (node.attributes.get(attr) or "").lower()))
    return bool(words & _CHROME_WORDS)


def _drop_chrome(root: LexborNode) -> None:
    """Chrome inside the report's container goes too, unless it holds the report's h1 (an
    article's own <header>)."""
    doomed = list(root.css(_CHROME)) + [
        n for n in root.css("[class], [id]") if _is_chrome(n) and n.mem_id != root.mem_id
    ]
    doomed += [n for n in root.css("header") if n.css_first("h1, h2, h3") is None]
    for node in doomed:
        if node.css_first("h1") is None:
            node.decompose()


def _flat_text(node: LexborNode, skip: frozenset[str] = frozenset()) -> str:
    """All the text under `node`, with a space where one block ends and another begins;
    elements tagged in `skip` are left out."""
    parts: list[str] = []
    stack: list[LexborNode | None] = [node]
    while stack:
        n = stack.pop()
        if n is None:
            parts.append(" ")
            continue
        if n.tag in skip:
            continue
        if n.tag == "-text":
            parts.append(n.text_content or "")
            continue
        if n.tag == "br":
            parts.append(" ")
            continue
        if n.tag not in _INLINE:
            parts.append(" ")
            stack.append(None)
        stack.extend(reversed(list(n.iter(include_text=True))))
    return _collapse("".join(parts))


def _link_density(node: LexborNode, text_len: int) -> float:
    links = sum(len(_flat_text(a)) for a in node.css("a"))
    return min(1.0, links / max(text_len, 1))


def _main(body: LexborNode) -> LexborNode:
    def largest(nodes: list[LexborNode]) -> LexborNode | None:
        return max(nodes, key=lambda n: len(_flat_text(n)), default=None)

    main = largest(list(body.css("main, [role=main]")))
    article = largest(list((main or body).css("article")))
    if main is not None:
        # A <main> can hold the article and its sidebar: the article then is the report.
        if article is not None and len(_flat_text(article)) >= 0.5 * len(_flat_text(main)):
            return article
        return main
    if article is not None:
        return article
    # No landmark: the site's chrome goes first, then the block with the most paragraph text.
    _drop_chrome(body)
    scores: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}
    for p in body.css("p, pre, td, blockquote, li"):
        text = _flat_text(p)
        if len(text) < 25:
            continue
        score = 1 + text.count(",") + min(len(text) // 100, 3)
        parent = p.parent
        for share in (1.0, 0.5):
            if parent is None:
                break
            nodes[parent.mem_id] = parent
            scores[parent.mem_id] = scores.get(parent.mem_id, 0.0) + score * share
            parent = parent.parent
    if not scores:
        return body
    best = max(
        scores,
        key=lambda k: scores[k] * (1 - _link_density(nodes[k], len(_flat_text(nodes[k])))),
    )
    return nodes[best]


class _Reader:
    def __init__(self, title_node: LexborNode | None) -> None:
        self.title_id = title_node.mem_id if title_node is not None else None
        self.title: str | None = None
        self.out: list[tuple[ElementKind, str, int, tuple[str, ...], bool]] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = _collapse("".join(self.buffer))
        self.buffer = []
        if text:
            self.out.append(("paragraph", text, 0, (), False))

    def block(self, node: LexborNode, depth: int = 0) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self.buffer.append(child.text_content or "")
            elif tag == "br":
                self.buffer.append(" ")
            elif tag in _INLINE and child.css_first(",".join(_BLOCKS)) is None:
                self.buffer.append(_flat_text(child))
            elif tag in _HEADINGS:
                self.flush()
                text = _flat_text(child)
                if child.mem_id == self.title_id and self.title is None:
                    self.title = text
                elif text:
                    self.out.append(("heading", text, _HEADINGS[tag], (), False))
            elif tag in _LISTS:
                self.flush()
                self.list(child, depth)
            elif tag == "table":
                self.flush()
                self.table(child)
            elif tag == "hr":
                self.flush()
            elif tag == "-comment":
                continue
            else:
                self.flush()
                self.block(child, depth)
                self.flush()

    def list(self, node: LexborNode, depth: int) -> None:
        for li in node.iter():
            if li.tag in _LISTS:
                # A nested list straight inside a list, outside an <li>.
                self.list(li, depth + 1)
            if li.tag != "li":
                continue
            nested = [n for n in li.iter() if n.tag in _LISTS]
            text = _flat_text(li, skip=_LISTS)
            if text:
                self.out.append(("list_item", text, depth, (), False))
            for n in nested:
                self.list(n, depth + 1)

    def table(self, node: LexborNode) -> None:
        inner = node.css("h1, h2, h3, h4, h5, h6, table")
        if any(n.mem_id != node.mem_id for n in inner):
            # A page laid out with a table: its cells are blocks, not data.
            for cell in node.css("td, th"):
                self.block(cell)
                self.flush()
            return
        caption = node.css_first("caption")
        if caption is not None and _flat_text(caption):
            self.out.append(("paragraph", _flat_text(caption), 0, (), False))
        for tr in node.css("tr"):
            cells = [c for c in tr.iter() if c.tag in ("td", "th")]
            if not cells:
                continue
            texts = tuple(_flat_text(c) for c in cells)
            if not any(texts):
                continue
            in_head = tr.parent is not None and tr.parent.tag == "thead"
            header = in_head or all(c.tag == "th" for c in cells)
            self.out.append(("table_row", "", 0, texts, header))

    def result(self) -> Extracted:
        levels = sorted({lvl for kind, _, lvl, _, _ in self.out if kind == "heading"})
        rank = {lvl: i + 1 for i, lvl in enumerate(levels)}
        elements = [
            Element(
                kind=kind,
                text=text,
                level=rank[level] if kind == "heading" else level,
                cells=cells,
                header=header,
            )
            for kind, text, level, cells, header in self.out
        ]
        return Extracted(format="html", elements=elements, title=self.title)


_BLOCKS = (
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "ul", "ol",
    "li", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "dl", "pre",
)  # fmt: skip
