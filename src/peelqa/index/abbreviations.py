"""Abbreviations the reports define: "East Midlands Special Operations Unit (EMSOU)"."""

from __future__ import annotations

import re

from peelqa.reports.model import Document
from peelqa.text import JOINING_WORDS

_ABBREV_RE = re.compile(r"\(([A-Z][A-Za-z]?[A-Z]{1,7})s?\)")


def find_abbreviations(docs: list[Document]) -> dict[str, str]:
    """Terms the reports define in brackets: "East Midlands Special Operations Unit (EMSOU)".

    Walks back from the bracket over the words whose initials spell the short form, skipping
    joining words ("of", "and"); a word in capitals gives all its letters ("HM Inspectorate").
    """
    found: dict[str, str] = {}
    for doc in docs:
        for sec in doc.sections:
            for m in _ABBREV_RE.finditer(sec.text):
                long = _long_form(sec.text[max(0, m.start() - 200) : m.start()], m.group(1))
                if long:
                    found.setdefault(m.group(1), long)
    return found


def _long_form(before: str, short: str) -> str | None:
    tokens = list(re.finditer(r"[A-Za-z][\w’'-]*|&", before))
    need = short.upper()
    start: int | None = None
    for tok in reversed(tokens):
        word = tok.group()
        if word.lower() in JOINING_WORDS and start is not None:
            continue
        letters = word.upper() if word.isupper() and len(word) <= len(need) else word[0].upper()
        if not need.endswith(letters):
            return None
        need = need[: len(need) - len(letters)]
        start = tok.start()
        if not need:
            return before[start:].strip(" ,;:") or None
    return None
