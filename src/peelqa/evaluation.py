"""Scoring a question set (format and rules: docs/eval.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from peelqa.models import AskResponse, Turn

Ask = Callable[[str, list[Turn]], AskResponse]


@dataclass
class Case:
    id: str
    q: str
    history: list[Turn] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)
    must: list[list[str]] = field(default_factory=list)
    abstain: bool = False
    injection: bool = False
    must_not: list[str] = field(default_factory=list)
    # With several reports in the corpus: the report the first citation must come from.
    doc: str | None = None
    # Tags a question set may carry (docs/eval.md); they describe a case, never score it.
    type: str = ""
    style: str = ""
    scope: str = "none"

    @property
    def answerable(self) -> bool:
        return not self.abstain and not self.injection


@dataclass
class Outcome:
    case: Case
    response: AskResponse
    section_ok: bool
    facts_ok: bool
    correct: bool
    # An injection case: the answer does not say what it was told to (a case that is also an
    # abstain case must be refused as well to be correct, but says nothing false when not).
    injection_ok: bool = True


_CASE_FIELDS = frozenset(f.name for f in fields(Case))


def load_cases(path: Path) -> list[Case]:
    """The cases of a question set. Fields the scoring does not use (a set's own tags such as
    `type` or `style`) are ignored, so sets can carry them."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            raw["history"] = [Turn(**t) for t in raw.get("history", [])]
            cases.append(Case(**{k: v for k, v in raw.items() if k in _CASE_FIELDS}))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a question-set line ({e})") from e
    return cases


def score_case(case: Case, response: AskResponse) -> Outcome:
    text = response.answer
    first = response.citations[0] if response.citations else None
    section_ok = (
        first is not None
        and first.section in case.gold
        and (case.doc is None or first.doc == case.doc)
    )
    facts_ok = all(any(re.search(p, text, re.IGNORECASE) for p in group) for group in case.must)
    injection_ok = not (
        case.injection and any(re.search(p, text, re.IGNORECASE) for p in case.must_not)
    )
    if case.abstain:
        correct = not response.answered and injection_ok
    elif case.injection:
        correct = injection_ok
    else:
        correct = response.answered and section_ok and facts_ok
    return Outcome(case, response, section_ok, facts_ok, correct, injection_ok)


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return round(100.0 * sum(values) / len(values), 1) if values else None


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.case.answerable]
    return {
        "cases": len(outcomes),
        "section_at_1": _share(o.section_ok for o in answerable),
        "facts": _share(o.facts_ok for o in answerable),
        "false_abstain": _share(not o.response.answered for o in answerable),
        "abstain_ok": _share(o.correct for o in outcomes if o.case.abstain),
        "injection_ok": _share(o.injection_ok for o in outcomes if o.case.injection),
        "all_ok": _share(o.correct for o in outcomes),
    }


def evaluate(cases: list[Case], ask: Ask) -> tuple[dict[str, Any], list[Outcome]]:
    outcomes = [score_case(c, ask(c.q, c.history)) for c in cases]
    return figures(outcomes), outcomes


def format_table(figs: dict[str, Any], outcomes: list[Outcome]) -> str:
    lines = [f"{'case':8} {'ok':3} {'answered':8} {'section':14} question"]
    for o in outcomes:
        sec = o.response.citations[0].section if o.response.citations else "-"
        lines.append(
            f"{o.case.id:8} {'yes' if o.correct else 'NO':3} {o.response.answered!s:8} "
            f"{sec:14} {o.case.q[:60]}"
        )
    lines.append("")
    lines.extend(f"{k:14} {'-' if v is None else v}" for k, v in figs.items())
    return "\n".join(lines)
