"""Citation checks run on every reply before it is sent: quotes exact, markers resolvable."""

from __future__ import annotations

import re

from peelqa.index.store import Index
from peelqa.models import AskResponse, Citation
from peelqa.text import MARKER_RE, marker_numbers


def quote_is_exact(citation: Citation, index: Index) -> bool:
    sec = index.section(citation.doc, citation.section)
    return (
        sec is not None
        and sec.heading == citation.heading
        and bool(citation.quote)
        and (citation.quote in sec.text or citation.quote in sec.heading)
    )


def problems(response: AskResponse, index: Index) -> list[str]:
    """Everything wrong with a reply's citations; empty when it may be sent."""
    found = [
        f"citation {i} is not quoted exactly from {c.doc}/{c.section}"
        for i, c in enumerate(response.citations, 1)
        if not quote_is_exact(c, index)
    ]
    for m in MARKER_RE.finditer(response.answer):
        for n in marker_numbers(m):
            if not 1 <= n <= len(response.citations):
                found.append(f"marker [{n}] points at no citation")
    if response.answered and not response.citations:
        found.append("an answer with no citation")
    return found


def verified(response: AskResponse, index: Index) -> AskResponse | None:
    """The reply if it passes; else a repaired one without the failing parts; else None."""
    if not problems(response, index):
        return response
    keep = [i for i, c in enumerate(response.citations, 1) if quote_is_exact(c, index)]
    renumber = {old: new for new, old in enumerate(keep, 1)}
    # Drop each marked piece whose marker no longer resolves, and renumber the rest.
    pieces = re.split(r"(?<=\])\s+", response.answer)
    kept_text: list[str] = []
    for piece in pieces:
        marks = [n for m in MARKER_RE.finditer(piece) for n in marker_numbers(m)]
        if marks and all(n in renumber for n in marks):
            kept_text.append(MARKER_RE.sub(lambda m: _renumbered(m, renumber), piece))
    if not kept_text:
        return None
    repaired = AskResponse(
        answer=" ".join(kept_text),
        answered=response.answered,
        citations=[response.citations[i - 1] for i in keep],
    )
    return repaired if not problems(repaired, index) else None


def _renumbered(marker: re.Match[str], renumber: dict[int, int]) -> str:
    return "".join(f"[{renumber[n]}]" for n in marker_numbers(marker))
