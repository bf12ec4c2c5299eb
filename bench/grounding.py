"""How grounding decides, measured: faithful paraphrases must be kept, wrong sentences dropped.

Reads tests/data/grounding.jsonl (each row: a report sentence, a sentence citing it, and whether
that sentence is faithful or deliberately wrong, and how), adds every faithful sentence cited
against each passage of another section (right claim, wrong citation), and prints what the
checker keeps and drops, the similarity of each group, and a sweep of the threshold.

    .venv/bin/python bench/grounding.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.generation.grounding import (
    MIN_SIMILARITY,
    Checker,
    Context,
    claim_of,
    coverage,
    judging_matches,
    polarity_matches,
    unsupported_facts,
)
from peelqa.index.build import build_index
from peelqa.index.store import load_index
from peelqa.models import Citation

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "grounding.jsonl"
DOC = "peel-2015-northamptonshire"


def main() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    embedder = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        build_index(corpus_dir=ROOT / "corpus", index_dir=Path(tmp) / "i", embedder=embedder)
        index = load_index(Path(tmp) / "i")
    context = Context.of(index)
    heading = {s.section: s.heading for d in index.documents for s in d.sections}

    def cite(section: str, quote: str) -> Citation:
        return Citation(doc=DOC, section=section, heading=heading[section], quote=quote, score=1)

    passages = {r["passage"]: (r["section"], r["quote"]) for r in rows}
    cases = [(r["sentence"], *passages[r["passage"]], r["label"], r.get("why", "")) for r in rows]
    for r in rows:
        if r["label"] != "faithful":
            continue
        for section, quote in passages.values():
            if section != r["section"]:
                cases.append((r["sentence"], section, quote, "wrong", "wrong passage"))

    # Every text once, in one batch: the checker then reads vectors from this cache.
    texts = sorted({claim_of(c[0]) for c in cases} | {c[2] for c in cases})
    cache = dict(zip(texts, embedder.encode(texts), strict=True))

    async def encode(batch: list[str]) -> np.ndarray:
        return np.stack([cache[t] if t in cache else embedder.encode([t])[0] for t in batch])

    results: list[Result] = []
    for sentence, section, quote, label, why in cases:
        cited = [cite(section, quote)]
        checker = Checker(passages=cited, context=context, encode=encode)
        claim = claim_of(sentence)
        sim = float(np.dot(cache[claim], cache[quote]))
        facts = unsupported_facts(claim, cited, context)
        polarity = polarity_matches(claim, cited) and not judging_matches(claim, cited)
        cov = coverage(claim, cited, context)
        verdict = asyncio.run(checker.check(sentence + " [1]"))
        kept = verdict.kept and not verdict.repaired
        results.append(
            (label, why, sim, bool(facts), polarity, kept, sentence, verdict.reason, cov)
        )

    report(results)


Result = tuple[str, str, float, bool, bool, bool, str, str, float]


def report(results: list[Result]) -> None:
    """What was kept and dropped, and how the thresholds trade one against the other."""
    faithful = [r for r in results if r[0] == "faithful"]
    wrong = [r for r in results if r[0] == "wrong"]
    print(f"threshold MIN_SIMILARITY = {MIN_SIMILARITY}")
    print(f"faithful kept: {sum(r[5] for r in faithful)}/{len(faithful)}")
    by_why: dict[str, list[bool]] = defaultdict(list)
    for r in wrong:
        by_why[r[1]].append(not r[5])
    print(f"wrong dropped: {sum(not r[5] for r in wrong)}/{len(wrong)}")
    for why, dropped in sorted(by_why.items()):
        print(f"  {why:14s} {sum(dropped)}/{len(dropped)}")
    reasons = Counter(r[7].split(":")[0].split(" (")[0] for r in faithful if not r[5])
    print("faithful dropped because:", dict(reasons))
    for r in faithful:
        if not r[5]:
            print(f"  - faithful dropped ({r[7]}): {r[6]}")
    for r in wrong:
        if r[5]:
            print(f"  - WRONG KEPT ({r[1]}, sim {r[2]:.2f}): {r[6]}")
    sweep(faithful, wrong)


def sweep(faithful: list[Result], wrong: list[Result]) -> None:
    f_sims = sorted(r[2] for r in faithful if not r[3] and r[4])
    w_sims = sorted(r[2] for r in wrong if not r[3] and r[4])
    print(
        f"similarity, faithful with facts and negation right: min {f_sims[0]:.2f} "
        f"p10 {np.percentile(f_sims, 10):.2f} median {np.median(f_sims):.2f}"
    )
    print(
        f"similarity, wrong but facts and negation pass: max {w_sims[-1]:.2f} "
        f"p90 {np.percentile(w_sims, 90):.2f} median {np.median(w_sims):.2f}"
    )
    print("similarity  coverage  faithful_kept  wrong_dropped  (after facts, negation, judging)")
    for c in (0.0, 0.4, 0.5, 0.6, 0.7):
        for t in np.arange(0.35, 0.70, 0.05):
            fk = sum(1 for r in faithful if not r[3] and r[4] and r[2] >= t and r[8] >= c)
            wd = sum(1 for r in wrong if r[3] or not r[4] or r[2] < t or r[8] < c)
            print(
                f"  {t:.2f}        {c:.1f}      {fk:3d}/{len(faithful)}        {wd:3d}/{len(wrong)}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
