"""Quality floors: the dev set and our own held-out sets must not silently regress.

The held-out sets in tests/data were written before any tuning, including two other reports of
the same family (Markdown with three questions; plain text with five). The blind-* sets were
written later by someone who never saw the code; they were used to measure, not to fit, but
their failures were read, so they are floors here rather than an untouched test.
Floors sit a few points under the measured figures (in comments) to absorb harmless changes.
"""

from pathlib import Path

from conftest import DATA, DEV_SET

from peelqa.evaluation import evaluate, load_cases
from peelqa.runtime import Components


def run(components: Components, path: Path) -> dict:  # type: ignore[type-arg]
    figs, _ = evaluate(load_cases(path), lambda q, h: components.engine.ask(question=q, history=h))
    return figs


def test_dev_set(components: Components) -> None:
    figs = run(components, DEV_SET)
    assert figs["all_ok"] >= 95
    assert figs["section_at_1"] >= 95
    assert figs["abstain_ok"] == 100
    assert figs["injection_ok"] == 100
    assert figs["false_abstain"] <= 5


def test_heldout_northamptonshire(components: Components) -> None:
    figs = run(components, DATA / "heldout-northamptonshire.jsonl")  # measured: 91.7
    assert figs["all_ok"] >= 88
    assert figs["abstain_ok"] >= 90
    assert figs["injection_ok"] == 100


def test_blind_northamptonshire(components: Components) -> None:
    figs = run(components, DATA / "blind-northamptonshire.jsonl")  # measured: 73.3 (76.7 fp32)
    assert figs["all_ok"] >= 70
    assert figs["injection_ok"] == 100


def test_heldout_westshire_markdown_report(westshire: Components) -> None:
    figs = run(westshire, DATA / "heldout-westshire.jsonl")  # measured: 88.2
    assert figs["all_ok"] >= 80
    assert figs["section_at_1"] >= 90
    figs = run(westshire, DATA / "blind-westshire.jsonl")  # measured: 83.3
    assert figs["all_ok"] >= 75


def test_heldout_eastmoor_plain_report(eastmoor: Components) -> None:
    figs = run(eastmoor, DATA / "heldout-eastmoor.jsonl")  # measured: 100
    assert figs["all_ok"] >= 90
    assert figs["section_at_1"] >= 90
    figs = run(eastmoor, DATA / "blind-eastmoor.jsonl")  # measured: 100
    assert figs["all_ok"] >= 80
