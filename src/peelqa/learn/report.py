"""Measuring the answer model: figures per split, per shape of report and with every report
of a split in one corpus; what each feature group adds; the plots of `peelqa eval --plot`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peelqa.answering.features import GROUPS
from peelqa.answering.model import AnswerModel
from peelqa.evaluation import Outcome as Scored
from peelqa.evaluation import evaluate, figures
from peelqa.learn import train as T
from peelqa.learn.devset import DevSet, Indexes, Report, scoped


@dataclass
class SplitFigures:
    split: str
    overall: dict[str, Any]
    by_shape: dict[str, dict[str, Any]]
    by_report: dict[str, dict[str, Any]]
    one_corpus: dict[str, Any]


def score_split(devset: DevSet, split: str, indexes: Indexes, model: AnswerModel) -> SplitFigures:
    """A split's question sets, each asked with its report alone, then the questions that
    name their report asked with every report of the split in one corpus."""
    reports = devset.split(split)
    every: list[Scored] = []
    shapes: dict[str, list[Scored]] = defaultdict(list)
    per_report: dict[str, dict[str, Any]] = {}
    for r in reports:
        scored = _ask(indexes, [r], r.cases, model)
        every += scored
        shapes[r.shape] += scored
        per_report[r.doc] = figures(scored)
    together = _ask(indexes, reports, scoped(reports), model)
    return SplitFigures(
        split=split,
        overall=figures(every),
        by_shape={shape: figures(o) for shape, o in sorted(shapes.items())},
        by_report=per_report,
        one_corpus=figures(together),
    )


def _ask(
    indexes: Indexes, reports: list[Report], cases: list[Any], model: AnswerModel
) -> list[Scored]:
    engine = indexes.engine(reports)
    engine.model = model
    _, scored = evaluate(cases, lambda q, h: engine.ask(question=q, history=h))
    return scored


def format_split(f: SplitFigures) -> str:
    keys = (
        "cases",
        "all_ok",
        "section_at_1",
        "facts",
        "false_abstain",
        "abstain_ok",
        "injection_ok",
    )
    rows = [f"{f.split}", "  " + " ".join(f"{k:>13}" for k in ("", *keys))]

    def line(name: str, figs: dict[str, Any]) -> str:
        cells = ["-" if figs.get(k) is None else str(figs[k]) for k in keys]
        return "  " + f"{name[:13]:>13} " + " ".join(f"{c:>13}" for c in cells)

    rows.append(line("all", f.overall))
    rows += [line(shape, figs) for shape, figs in f.by_shape.items()]
    rows.append(line("one corpus", f.one_corpus))
    return "\n".join(rows)


def ablation(data: Path, cache: Path) -> dict[str, dict[str, float]]:
    """all_ok on tune and validation with the full feature set and with each group removed
    (refitted without it)."""
    devset = DevSet.load(data)
    indexes = Indexes(cache)
    tune = T.collect(devset.split("tune"), indexes)
    validation = T.collect(devset.split("validation"), indexes)
    out: dict[str, dict[str, float]] = {}
    for name, drop in [("full", frozenset[str]()), *((g, frozenset(f)) for g, f in GROUPS.items())]:
        model = T.fit_all(tune, validation, drop)
        out[name] = {
            "tune": round(T.all_ok(T.outcomes(tune, model), model.threshold), 1),
            "validation": round(T.all_ok(T.outcomes(validation, model), model.threshold), 1),
        }
    return out


def plot(results: list[T.Outcome], out_dir: Path) -> list[Path]:
    """A reliability diagram of the answer probability and the precision and recall of
    answering as the threshold moves; PNG files in `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    bins = 10
    sums = [[0.0, 0.0, 0] for _ in range(bins)]
    for o in results:
        b = min(bins - 1, int(o.best * bins))
        sums[b][0] += o.best
        sums[b][1] += float(o.right_if_answered)
        sums[b][2] += 1
    fig, ax = plt.subplots(figsize=(5, 5))
    xs = [s[0] / s[2] for s in sums if s[2]]
    ys = [s[1] / s[2] for s in sums if s[2]]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot(xs, ys, "o-", label="answer model")
    ax.set_xlabel("predicted probability of a right answer")
    ax.set_ylabel("share of answers right")
    ax.set_title("Reliability")
    ax.legend()
    reliability = out_dir / "reliability.png"
    fig.savefig(reliability, dpi=110, bbox_inches="tight")
    plt.close(fig)

    answerable = sum(1 for o in results if not o.sample.case.abstain) or 1
    grid = sorted({round(o.best, 3) for o in results})
    points = []
    for t in grid:
        answered = [o for o in results if o.best >= t]
        right = sum(o.right_if_answered for o in answered)
        points.append((right / answerable, right / max(1, len(answered)), t))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([p[0] for p in points], [p[1] for p in points], "-")
    ax.set_xlabel("recall: answerable questions answered right")
    ax.set_ylabel("precision: answers that are right")
    ax.set_title("Answering as the threshold moves")
    curve = out_dir / "precision_recall.png"
    fig.savefig(curve, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [reliability, curve]
