"""What the bench reads and where it writes: the repository's folders, the dev questions and
the peelqa command line it drives (as a user would)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# Git-ignored: results, plots, the summary, and the synthetic corpora and indexes kept between
# runs.
OUT = BENCH / "out"
CORPUS = ROOT / "corpus"
REAL = CORPUS / "peel-2015-northamptonshire.txt"
DEV = ROOT / "tests" / "data" / "eval" / "dev.jsonl"
PEELQA = [sys.executable, "-m", "peelqa.cli"]
# The packaged model, the one every index of the bench is built with.
MODEL_ID = "all-MiniLM-L6-v2"


def dev_questions() -> list[str]:
    """The dev set's questions alone (no history): what the HTTP load sends."""
    return [json.loads(line)["q"] for line in DEV.read_text().splitlines() if line.strip()]
