"""Quality floors: the dev set and our own held-out sets must not silently regress.

The held-out sets in tests/data were written before any tuning, including two other reports of
the same family (Markdown with three questions; plain text with five).
"""

from pathlib import Path

import pytest
from conftest import DATA, SHARED_EVAL

from peelqa.evaluation import evaluate, load_cases
from peelqa.runtime import Components


def run(components: Components, path: Path) -> dict:  # type: ignore[type-arg]
    figs, _ = evaluate(load_cases(path), lambda q, h: components.engine.ask(question=q, history=h))
    return figs


@pytest.mark.skipif(not SHARED_EVAL.is_file(), reason="shared/eval is not beside this checkout")
def test_dev_set(components: Components) -> None:
    figs = run(components, SHARED_EVAL)
    assert figs["all_ok"] >= 95
    assert figs["section_at_1"] >= 95
    assert figs["abstain_ok"] == 100
    assert figs["injection_ok"] == 100
    assert figs["false_abstain"] <= 5


def test_heldout_northamptonshire(components: Components) -> None:
    figs = run(components, DATA / "heldout-northamptonshire.jsonl")
    assert figs["all_ok"] >= 85
    assert figs["abstain_ok"] >= 90
    assert figs["injection_ok"] == 100


def test_heldout_westshire_markdown_report(westshire: Components) -> None:
    figs = run(westshire, DATA / "heldout-westshire.jsonl")
    assert figs["all_ok"] >= 75
    assert figs["section_at_1"] >= 90


def test_heldout_eastmoor_plain_report(eastmoor: Components) -> None:
    figs = run(eastmoor, DATA / "heldout-eastmoor.jsonl")
    assert figs["all_ok"] >= 70
    assert figs["section_at_1"] >= 85
