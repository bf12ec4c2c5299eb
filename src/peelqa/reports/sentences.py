"""Splitting a section's text into sentences, as offsets into it."""

from __future__ import annotations

import re

from peelqa.reports.model import Sentence

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
    """Sentences of a text of several blocks (separated by a blank line, or list items each on
    a line of its own), as offsets into it; blocks and list items always break."""
    out: list[Sentence] = []
    para_start = 0
    for block, para in enumerate(text.split("\n\n")):
        pieces_start = para_start
        for piece in _LIST_ITEM_RE.split(para):
            offset = text.index(piece, pieces_start) if piece else pieces_start
            out.extend(
                Sentence(start=offset + a, end=offset + b, block=block)
                for a, b in sentence_spans(piece)
            )
            pieces_start = offset + len(piece)
        para_start += len(para) + 2
    return out


def sentence_spans(piece: str) -> list[tuple[int, int]]:
    """The sentences of one block of text, as [start, end) offsets into it."""
    out: list[tuple[int, int]] = []
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
        out.append(_trimmed(piece, start, end))
        start = end
    if piece[start:].strip():
        out.append(_trimmed(piece, start, len(piece)))
    return [(a, b) for a, b in out if b > a]


def _trimmed(piece: str, start: int, end: int) -> tuple[int, int]:
    chunk = piece[start:end]
    lead = len(chunk) - len(chunk.lstrip())
    trail = len(chunk) - len(chunk.rstrip())
    return start + lead, end - trail
