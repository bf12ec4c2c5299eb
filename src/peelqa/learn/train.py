"""`peelqa train`: fit the answer model on the tuning part of the development corpus and choose
its thresholds on the validation part; the sealed part is never read here.

A candidate sentence is a positive example when it is in a gold section of its question and
carries one of the facts the question's `must` patterns look for; every candidate of a
question the report does not answer is a negative. The fits are scikit-learn's (a
logistic regression and gradient boosting; build time only); the result is a plain JSON file of
weights (answering/model.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peelqa.answering.adapter import Adapter
from peelqa.answering.engine import Analysis, Engine
from peelqa.answering.features import DIRECTION, FEATURES, FREE, QUESTION_FEATURES
from peelqa.answering.model import AnswerModel, Forest, Linear
from peelqa.evaluation import Case, score_case
from peelqa.learn.adapter import Example, fit_adapter
from peelqa.learn.devset import DevSet, Indexes, Report

# The sentence model's regularisation (scikit-learn's C): weak, the features are few and the
# examples many.
C = 1.0


# The question model: scikit-learn's histogram gradient boosting, this many trees of at most
# this many leaves, each tree's step scaled by this; every feature whose direction is known
# (features.DIRECTION) held to it.
TREES = 200
LEAVES = 15
LEARNING_RATE = 0.05
# Answering's target precision: of the questions answered, at least this share correct.
TARGET_PRECISION = 0.9
# The answering threshold is chosen by all_ok averaged over this much either side of it;
# thresholds within THRESHOLD_TIE points of the best count as equal.
THRESHOLD_WINDOW = 0.05
THRESHOLD_TIE = 0.3
SUPPORT_FLOORS = (0.2, 0.3, 0.4, 0.5, 0.6)
SUPPORT_RATIOS = (0.5, 0.6, 0.7, 0.8, 0.9)
# The bars tried for a sentence beside the lead (model.AnswerModel.support_near); none lower
# than 0.05: a sentence the sentence model gives less is not quoted, whatever it stands beside.
SUPPORT_NEARS = (0.2, 0.15, 0.1, 0.05)
# Cross-fitting: the tuning reports in this many groups of forces.
FOLDS = 4

Floats = npt.NDArray[np.float64]


@dataclass
class Sample:
    """One question of the development corpus, analysed with its report's index."""

    case: Case
    report: Report
    engine: Engine
    analysis: Analysis
    labels: npt.NDArray[np.bool_]


def label(case: Case, analysis: Analysis, engine: Engine) -> npt.NDArray[np.bool_]:
    if case.abstain or not case.gold:
        return np.zeros(len(analysis.candidates), dtype=np.bool_)
    refs = engine.index.sentence_refs
    out = np.zeros(len(analysis.candidates), dtype=np.bool_)
    for j, row in enumerate(analysis.candidates.rows.tolist()):
        doc, section, _ = refs[row]
        if section not in case.gold or (case.doc is not None and doc != case.doc):
            continue
        text = engine.features.text(row)
        out[j] = not case.must or any(
            re.search(p, text, re.IGNORECASE) for group in case.must for p in group
        )
    return out


def collect(reports: list[Report], indexes: Indexes) -> list[Sample]:
    """Every question of these reports, each analysed with its report's index alone."""
    samples = []
    for r in reports:
        engine = indexes.engine([r])
        engine.model = AnswerModel.untrained()
        samples += collect_with(engine, r)
    return samples


def collect_with(engine: Engine, report: Report) -> list[Sample]:
    """A report's questions analysed by an engine (its model's probabilities are kept)."""
    out = []
    for case in report.cases:
        a = engine.analyse(case.q, case.history)
        out.append(Sample(case, report, engine, a, label(case, a, engine)))
    return out


def _kept(names: list[str], drop: frozenset[str]) -> npt.NDArray[np.bool_]:
    """Which features are not in `drop` (the ablation holds those at zero)."""
    return np.array([f not in drop for f in names])


def _linear(x: Floats, y: npt.NDArray[np.bool_], names: list[str], drop: frozenset[str]) -> Linear:
    """A logistic regression fitted on standardised features; those in `drop` held at zero."""
    from sklearn.linear_model import LogisticRegression

    keep = _kept(names, drop)
    x = np.where(keep, x, 0.0)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    if y.all() or not y.any():  # one class only: nothing to learn
        return Linear.zero(names)
    lr = LogisticRegression(C=C, max_iter=5000)
    lr.fit((x - mean) / scale, y)
    weights = np.where(keep, lr.coef_[0], 0.0)
    return Linear(names, mean.tolist(), scale.tolist(), weights.tolist(), float(lr.intercept_[0]))


def _forest(x: Floats, y: npt.NDArray[np.bool_], names: list[str], drop: frozenset[str]) -> Forest:
    """Gradient-boosted trees; the features in `drop` held at zero (no tree splits on them)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.where(_kept(names, drop), x, 0.0)
    if y.all() or not y.any():
        return Forest.zero(names)
    boost = HistGradientBoostingClassifier(
        learning_rate=LEARNING_RATE,
        max_iter=TREES,
        max_leaf_nodes=LEAVES,
        monotonic_cst=[DIRECTION.get(f, FREE) for f in names],
        early_stopping=False,
        random_state=0,
    )
    boost.fit(x, y)
    # scikit-learn keeps its fitted trees in private attributes (one predictor per tree for
    # two classes): the copy is checked against its own probabilities, so a scikit-learn
    # that keeps them otherwise fails here, at build time, and not in the product.
    trees = [
        {
            "feature": t.nodes["feature_idx"],
            "threshold": t.nodes["num_threshold"],
            "left": t.nodes["left"],
            "right": t.nodes["right"],
            "value": t.nodes["value"],
            "is_leaf": t.nodes["is_leaf"],
            "depth": t.nodes["depth"],
        }
        for (t,) in boost._predictors
    ]
    base = float(np.ravel(boost._baseline_prediction)[0])
    forest = Forest.of(names, x.mean(axis=0), base, trees)
    if not np.allclose(forest.probabilities(x), boost.predict_proba(x)[:, 1], atol=1e-9):
        raise RuntimeError("the question model's trees were not copied faithfully")
    return forest


def fit_sentences(samples: list[Sample], drop: frozenset[str] = frozenset()) -> Linear:
    """The sentence model, on the candidates of the questions the reports answer: it ranks.
    (Networks ranked validation's labelled sentence first more often, 79.1% against 77.3,
    but made no more answers right, 305 against 307: the facts asked are often in the
    sentences that support the lead; all_ok 75.1 against 76.5, both with networks for the
    question model.)"""
    answerable = [s for s in samples if s.labels.any()]
    x = np.vstack([s.analysis.features for s in answerable])
    y = np.concatenate([s.labels for s in answerable])
    return _linear(x, y, FEATURES, drop)


def fit_questions(results: list[Outcome], drop: frozenset[str] = frozenset()) -> Forest:
    """The question model: whether the report answers the question at all. (Fitted on
    whether the best sentence's answer was right, it learnt the ranking's mistakes as well
    and refused answers it had right: fewer right answers on validation.) Trees, not a
    logistic regression: on the same features and folds, validation all_ok 76.3 against 73.9,
    the area under the ROC curve 0.944 against 0.928."""
    x = np.vstack([o.sample.analysis.question_features for o in results])
    y = np.array([not o.sample.case.abstain and bool(o.sample.case.gold) for o in results])
    return _forest(x, y, QUESTION_FEATURES, drop)


def rescore(samples: list[Sample], model: AnswerModel) -> None:
    for s in samples:
        engine = s.engine
        kept, engine.model = engine.model, model
        try:
            engine.score(s.analysis)
        finally:
            engine.model = kept


@dataclass
class Outcome:
    """A question answered as if the threshold were zero: the probability of a right answer,
    whether that answer is right, and whether a refusal would be."""

    sample: Sample
    best: float
    right_if_answered: bool
    right_if_refused: bool


def outcomes(samples: list[Sample], model: AnswerModel) -> list[Outcome]:
    rescore(samples, model)
    always = replace(model, threshold=-1.0)
    never = replace(model, threshold=2.0)
    out = []
    for s in samples:
        engine = s.engine
        kept = engine.model
        try:
            engine.model = always
            answered = engine.answer(s.analysis)
            engine.model = never
            refused = engine.answer(s.analysis)
        finally:
            engine.model = kept
        out.append(
            Outcome(
                sample=s,
                best=s.analysis.answer_probability,
                right_if_answered=score_case(s.case, answered).correct,
                right_if_refused=score_case(s.case, refused).correct,
            )
        )
    return out


def all_ok(results: list[Outcome], threshold: float) -> float:
    right = [o.right_if_answered if o.best >= threshold else o.right_if_refused for o in results]
    return 100.0 * sum(right) / max(1, len(right))


def precision(results: list[Outcome], threshold: float) -> float:
    answered = [o for o in results if o.best >= threshold]
    return sum(o.right_if_answered for o in answered) / max(1, len(answered))


def choose_threshold(results: list[Outcome]) -> float:
    """The lowest threshold whose all_ok, averaged over its neighbourhood (THRESHOLD_WINDOW
    either side), is within THRESHOLD_TIE of the best. all_ok over the validation questions
    is flat and jagged near its top: the single best point moved by a tenth between two refits
    of the same features, and with it a tenth of the answers. Where the figures cannot tell
    thresholds apart, refusing a question the report answers is as bad as a wrong answer, and
    the lower one answers more. A threshold for the target precision alone is reported beside
    it: with the models as they are it would refuse most answerable questions."""
    grid = sorted({round(o.best, 4) for o in results} | {0.5})
    at = {t: all_ok(results, t) for t in grid}

    def smoothed(t: float) -> float:
        near = [v for u, v in at.items() if abs(u - t) <= THRESHOLD_WINDOW]
        return sum(near) / len(near)

    scores = {t: smoothed(t) for t in grid}
    best = max(scores.values())
    return min(t for t, v in scores.items() if v >= best - THRESHOLD_TIE)


def precise_threshold(results: list[Outcome]) -> float | None:
    """The lowest threshold whose answers reach the target precision, if any does."""
    grid = sorted({round(o.best, 4) for o in results})
    return next((t for t in grid if precision(results, t) >= TARGET_PRECISION), None)


def _splits(samples: list[Sample], k: int) -> list[tuple[list[Sample], list[Sample]]]:
    """The tuning questions in `k` folds, every report of one force in the same fold: each
    fold held out, with the rest."""
    forces = sorted({s.report.doc.split("-", 2)[2] for s in samples})
    folds = [
        [s for s in samples if forces.index(s.report.doc.split("-", 2)[2]) % k == i]
        for i in range(k)
    ]
    # The rest fold by fold: the adapter's fit sees its questions in this order.
    return [
        (held, [s for j, other in enumerate(folds) if j != i for s in other])
        for i, held in enumerate(folds)
    ]


@dataclass
class Fold:
    """Tuning questions held out, and the sentence model fitted without them."""

    held: list[Sample]
    sentence: Linear


def fold_sentences(samples: list[Sample], drop: frozenset[str], k: int = FOLDS) -> list[Fold]:
    """A sentence model for each fold, fitted without that fold's forces' reports."""
    return [Fold(held, fit_sentences(rest, drop)) for held, rest in _splits(samples, k)]


def out_of_fold(folds: list[Fold], base: AnswerModel) -> list[Outcome]:
    """Each tuning question scored by a sentence model fitted without its force's reports, so
    that the question model learns from rankings as good as unseen reports get."""
    return [o for f in folds for o in outcomes(f.held, replace(base, sentence=f.sentence))]


def _most_right(folds: list[Fold], trials: Iterable[AnswerModel]) -> AnswerModel:
    """Of these models, the one whose answers are right most often, out of fold (the first
    of equals)."""
    best: tuple[float, AnswerModel] | None = None
    for trial in trials:
        right = out_of_fold(folds, trial)
        score = sum(o.right_if_answered for o in right if not o.sample.case.abstain)
        if best is None or score > best[0]:
            best = (score, trial)
    assert best is not None
    return best[1]


def choose_support(folds: list[Fold], base: AnswerModel) -> AnswerModel:
    """The support floor and ratio that make the most answers right, out of fold."""
    return _most_right(
        folds,
        (
            replace(base, support_floor=floor, support_ratio=ratio)
            for floor in SUPPORT_FLOORS
            for ratio in SUPPORT_RATIOS
        ),
    )


def choose_near(folds: list[Fold], base: AnswerModel) -> AnswerModel:
    """The bar for the sentences beside the lead that makes the most answers right, out of
    fold (the higher of equals). Every lower bar makes more answers right, only by quoting
    more: the lowest bar tried (SUPPORT_NEARS) is where that is stopped."""
    return _most_right(folds, (replace(base, support_near=near) for near in SUPPORT_NEARS))


def _examples(samples: list[Sample]) -> list[Example]:
    """The questions the adapter learns from: those the reports answer, with a labelled
    candidate, and those they do not answer (a question whose answer the candidates miss
    teaches nothing)."""
    out = []
    for s in samples:
        c = s.analysis.candidates
        answerable = not s.case.abstain and bool(s.case.gold)
        if len(c) and (s.labels.any() or not answerable):
            out.append(Example(c.qvec, c.vectors, s.labels))
    return out


def _adapt(samples: list[Sample], adapter: Adapter) -> None:
    for s in samples:
        s.engine.features.adapt(s.analysis.candidates, adapter, s.analysis.features)


def fit_adapters(tune: list[Sample], validation: list[Sample]) -> Adapter:
    """The adapter on every tuning question, its features on validation; each tuning
    question's own adapted features come from an adapter fitted without its force's reports
    (on its own questions the adapter ranks the labelled sentence first almost always, and the
    sentence model would learn to trust it that much)."""
    for held, rest in _splits(tune, FOLDS):
        _adapt(held, fit_adapter(_examples(rest)))
    adapter = fit_adapter(_examples(tune))
    _adapt(validation, adapter)
    return adapter


def fit_all(
    tune: list[Sample], validation: list[Sample], drop: frozenset[str] = frozenset()
) -> AnswerModel:
    """The adapter and both models on the tuning questions, the threshold on the validation
    ones."""
    adapter = fit_adapters(tune, validation)
    folds = fold_sentences(tune, drop)
    base = choose_support(folds, replace(AnswerModel.untrained(), adapter=adapter))
    base = choose_near(folds, base)
    model = replace(base, question=fit_questions(out_of_fold(folds, base), drop))
    model = replace(model, sentence=fit_sentences(tune, drop))
    return replace(model, threshold=choose_threshold(outcomes(validation, model)))


def train(data: Path, cache: Path, *, drop: frozenset[str] = frozenset()) -> AnswerModel:
    devset = DevSet.load(data)
    indexes = Indexes(cache)
    tune = collect(devset.split("tune"), indexes)
    validation = collect(devset.split("validation"), indexes)
    model = fit_all(tune, validation, drop)
    model.fitted = _provenance(data, tune, validation, model)
    return model


def _provenance(
    data: Path, tune: list[Sample], validation: list[Sample], model: AnswerModel
) -> dict[str, Any]:
    t, v = outcomes(tune, model), outcomes(validation, model)
    return {
        "data": data.name,
        "tune_questions": len(tune),
        "validation_questions": len(validation),
        "candidates": int(sum(len(s.labels) for s in tune)),
        "positives": int(sum(int(s.labels.sum()) for s in tune)),
        "tune_all_ok": round(all_ok(t, model.threshold), 1),
        "validation_all_ok": round(all_ok(v, model.threshold), 1),
        "validation_precision": round(precision(v, model.threshold), 3),
        "target_precision": TARGET_PRECISION,
        "threshold_for_target_precision": precise_threshold(v),
        "when": time.strftime("%Y-%m-%d"),
    }
