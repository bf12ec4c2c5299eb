"""Reading a Markdown report (`.md`) into elements, with markdown-it-py (CommonMark and tables).

Only `#` headings are headings. Lists become one element an item, tables one a row; inline
markup (emphasis, links, code) becomes the text a reader sees. The first line is the title.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from peelqa.reports.elements import Element, Extracted
from peelqa.reports.plain import heading_of

_PARSER = MarkdownIt("commonmark").enable("table")


def read_markdown(raw: str) -> Extracted:
    text = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").lstrip("\n")
    first, _, rest = text.partition("\n")
    title_line = heading_of(first.strip()) if first.lstrip().startswith("#") else None
    title = title_line.text if title_line is not None else first.strip().strip("*_ ")
    return Extracted(format="md", title=title, elements=_elements(_PARSER.parse(rest)))


def _elements(tokens: list[Token]) -> list[Element]:
    walker = _Walker(tokens)
    for i, tok in enumerate(tokens):
        walker.step(i, tok)
    return walker.out


class _Walker:
    """Turns markdown-it's token stream into elements, one token at a time."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.out: list[Element] = []
        self.depth = -1  # list nesting: -1 outside any list
        self.item: list[str] | None = None  # the paragraphs of the list item being read
        self.row: list[str] | None = None
        self.header = False

    def step(self, i: int, tok: Token) -> None:
        kind = tok.type
        if kind == "heading_open":
            text = _inline(self.tokens[i + 1])
            self.out.append(Element(kind="heading", text=text, level=int(tok.tag[1:])))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self._flush_item()
            self.depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.depth -= 1
        elif kind == "list_item_open":
            self.item = []
        elif kind == "list_item_close":
            if self.item:
                text = " ".join(self.item)
                self.out.append(_item_or_question(text, self.depth, self.tokens, i))
            self.item = None
        elif kind == "tr_open":
            self.row, self.header = [], self.tokens[i - 1].type == "thead_open"
        elif kind == "tr_close" and self.row is not None:
            self.out.append(Element(kind="table_row", cells=tuple(self.row), header=self.header))
            self.row = None
        elif kind == "inline":
            self._inline(_inline(tok), self.tokens[i - 1].type)
        elif kind in ("fence", "code_block") and tok.content.strip():
            self.out.append(Element(kind="paragraph", text=tok.content.strip()))

    def _flush_item(self) -> None:
        """An item with a list inside: its own text comes first, as an item of its own."""
        if self.item:
            text = " ".join(self.item)
            self.out.append(Element(kind="list_item", text=text, level=max(0, self.depth)))
            self.item = None

    def _inline(self, text: str, parent: str) -> None:
        if parent in ("th_open", "td_open") and self.row is not None:
            self.row.append(text)
        elif self.item is not None:
            self.item.append(text)
        elif parent == "paragraph_open" and text:
            self.out.append(Element(kind="paragraph", text=text))


def _item_or_question(text: str, depth: int, tokens: list[Token], close: int) -> Element:
    """A list item, or a numbered question written as a one-item list ("1. How effective is
    the force ...?" on a line of its own), which is a heading."""
    opener = _list_opener(tokens, close)
    if opener is not None and opener.type == "ordered_list_open" and depth == 0:
        numbered = f"{opener.attrGet('start') or 1}. {text}"
        only_item = sum(1 for t in _list_tokens(tokens, opener) if t.type == "list_item_open") == 1
        heading = heading_of(numbered)
        if only_item and heading is not None and text.endswith("?"):
            return heading
    return Element(kind="list_item", text=text, level=max(0, depth))


def _list_opener(tokens: list[Token], close: int) -> Token | None:
    depth = 0
    for tok in reversed(tokens[:close]):
        if tok.type in ("bullet_list_close", "ordered_list_close"):
            depth += 1
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            if depth == 0:
                return tok
            depth -= 1
    return None


def _list_tokens(tokens: list[Token], opener: Token) -> list[Token]:
    start = tokens.index(opener)
    depth = 0
    for j in range(start, len(tokens)):
        t = tokens[j].type
        if t in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif t in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0:
                return [x for x in tokens[start : j + 1] if x.level == opener.level + 1]
    return []


def _inline(tok: Token) -> str:
    """An inline token's text as a reader sees it: markup dropped, line breaks as spaces."""
    parts: list[str] = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())
