"""Grounding: splitting generated text, markers, and the support check measured on labelled
sentences (tests/data/grounding.jsonl) with the real encoder."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, DOC

from peelqa.encoder.base import Vectors
from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.generation.grounding import Checker, Context, claim_of, markers_of, split_generated
from peelqa.models import Citation
from peelqa.runtime import Components

ROWS = [json.loads(x) for x in (DATA / "grounding.jsonl").read_text().splitlines() if x.strip()]


def test_split_keeps_markers_written_after_the_full_stop() -> None:
    text = "The force was graded. [1] It must improve [2]. Mr. Smith said no.[3]\n- A list item [1]"
    assert split_generated(text) == [
        "The force was graded. [1]",
        "It must improve [2].",
        "Mr. Smith said no.[3]",
        "A list item [1]",
    ]


def test_markers_and_claims() -> None:
    assert markers_of("A [1] and B [2, 3] and [2][4].") == [1, 2, 3, 4]
    assert markers_of("No marker, just (1) and [n].") == []
    assert claim_of("It is strong [1] and fast [2] .") == "It is strong and fast."
    assert claim_of("Offenders are managed [n]. [1]") == "Offenders are managed."


@pytest.fixture(scope="module")
def verdicts(
    components: Components, embedder: SentenceTransformerEmbedder
) -> list[tuple[dict, bool]]:  # type: ignore[type-arg]
    context = Context.of(components.index)
    heading = {s.section: s.heading for d in components.index.documents for s in d.sections}

    async def encode(texts: list[str]) -> Vectors:
        return embedder.encode(texts)

    async def judge() -> list[tuple[dict, bool]]:  # type: ignore[type-arg]
        out = []
        for r in ROWS:
            cited = Citation(
                doc=DOC,
                section=r["section"],
                heading=heading[r["section"]],
                quote=r["quote"],
                score=1.0,
            )
            checker = Checker(passages=[cited], context=context, encode=encode)
            v = await checker.check(r["sentence"] + " [1]")
            out.append((r, v.kept))
        return out

    return asyncio.run(judge())


def test_labelled_quotes_are_the_reports_own() -> None:
    report = (Path(__file__).resolve().parents[1] / "corpus" / f"{DOC}.txt").read_text()
    assert all(r["quote"] in report for r in ROWS)


def test_every_invented_fact_negation_and_injection_is_dropped(verdicts) -> None:  # type: ignore[no-untyped-def]
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for r, kept in verdicts:
        if r["label"] == "wrong":
            by_kind[r["why"]].append(kept)
    for kind in ("grade", "name", "number", "negation", "polarity", "injection"):
        assert by_kind[kind] and not any(by_kind[kind]), kind
    # Flipped judgements and unsupported additions: measured 21/21 dropped (bench/grounding.py).
    soft = by_kind["flip"] + by_kind["unsupported"]
    assert sum(not k for k in soft) >= 0.8 * len(soft)


def test_faithful_paraphrases_are_kept(verdicts) -> None:  # type: ignore[no-untyped-def]
    kept = [k for r, k in verdicts if r["label"] == "faithful"]
    assert np.mean(kept) >= 0.9  # measured 40/42


def test_the_injected_claim_is_dropped_against_every_passage(verdicts) -> None:  # type: ignore[no-untyped-def]
    injected = [k for r, k in verdicts if r.get("why") == "injection"]
    assert len(injected) == len({r["passage"] for r in ROWS}) and not any(injected)
