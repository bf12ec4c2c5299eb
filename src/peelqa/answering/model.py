"""The answer model: which sentence answers, and whether to answer at all.

Two models, fitted by `peelqa train` on the tuning part of the development corpus
(tests/data/devcorpus), with the answering threshold chosen on the validation part:

- the sentence model, a logistic regression (`Linear`), gives each candidate sentence the
  probability that it answers the question (its features: `features.FEATURES`);
- the question model, gradient-boosted trees (`Forest`), gives the probability that the
  reports answer the question at all, from what is known of the question and of its best
  candidates (`features.QUESTION_FEATURES`). The engine answers when that clears the
  threshold.

Before them, the question's vector passes through an **adapter** (`Adapter`): a low-rank map,
fitted on the tuning questions, that moves the encoder's reading of a question towards the
sentences that answer questions like it (the encoder was trained on other text; PEEL reports
answer "how many officers" in "the force has 1,240 officers"). Its cosine with each candidate
is one more group of sentence features.

At run time all of it is a few array operations: the weights ship in the package as a versioned JSON
file (`answer_model.json`) with what they were fitted on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peelqa.answering.adapter import Adapter
from peelqa.answering.features import FEATURES, QUESTION_FEATURES
from peelqa.answering.weights import WeightsMismatch, pack, unpack

MODEL_FILE = "answer_model.json"
# Bump when the file's layout changes (not when it is refitted).
MODEL_FORMAT = 5

Floats = npt.NDArray[np.float64]


class ModelMismatch(Exception):
    """The shipped weights were fitted on other features than the code computes."""


def _check(features: list[str], expected: list[str], what: str) -> None:
    if features != expected:
        missing = sorted(set(expected) - set(features))
        extra = sorted(set(features) - set(expected))
        raise ModelMismatch(
            f"the {what} model was fitted on other features than this code computes "
            f"(missing {missing}, extra {extra}, or another order); refit it with "
            "`peelqa train`"
        )


@dataclass
class Linear:
    """A logistic regression over named features, with the standardisation it was fitted with."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float

    def check(self, expected: list[str], what: str) -> None:
        _check(self.features, expected, what)

    def compiled(self) -> tuple[Floats, float]:
        """Weights and bias with the standardisation folded in: p = sigmoid(x @ w + b)."""
        w = np.asarray(self.weights, dtype=np.float64) / np.asarray(self.scale)
        return w, float(self.bias) - float(np.dot(w, np.asarray(self.mean)))

    @classmethod
    def zero(cls, features: list[str]) -> Linear:
        n = len(features)
        return cls(list(features), [0.0] * n, [1.0] * n, [0.0] * n, 0.0)


@dataclass
class Forest:
    """Gradient-boosted trees over named features: the probability is the sigmoid of `base`
    plus one leaf's value from each tree. Which question the reports answer is not a sum of
    its signs (a best sentence that carries the asked kind but covers little of the focus
    means one thing in a yes/no question and another in a "how many"), and trees, unlike a
    network, do not run away on a report unlike the ones they learnt from: past the last
    split a tree's value stays where it was.

    Each tree's nodes are flat arrays, padded to the largest tree: the feature a node splits
    on, its threshold (float64, as fitted: a row goes left when its value is at most that),
    its children, and a leaf's value. A leaf is its own child, so every row walks `depth`
    steps. `mean` is the features' mean on the data fitted (for --explain's pulls)."""

    features: list[str]
    mean: list[float]
    base: float
    trees: int
    nodes: int
    depth: int
    feature: str  # trees x nodes, int32
    threshold: str  # trees x nodes, float64
    left: str  # trees x nodes, int32
    right: str  # trees x nodes, int32
    value: str  # trees x nodes, float64

    def __post_init__(self) -> None:
        shape = (self.trees, self.nodes)
        feature = unpack(self.feature, shape, "forest", "<i4").astype(np.intp)
        left = unpack(self.left, shape, "forest", "<i4").astype(np.intp)
        right = unpack(self.right, shape, "forest", "<i4").astype(np.intp)
        children = np.stack([right, left], axis=-1)
        if children.size and (children.min() < 0 or children.max() >= self.nodes):
            raise WeightsMismatch("the forest's nodes point outside their trees")
        if feature.size and not (feature.min() >= 0 and feature.max() < len(self.features)):
            raise WeightsMismatch("the forest's nodes split on features it does not have")
        self._mean = np.asarray(self.mean, dtype=np.float64)
        # All trees' nodes in one flat array, children as flat indices: a step of the walk
        # is then a few whole-array operations, whatever the number of trees.
        self._feature = feature.ravel()
        self._threshold = unpack(self.threshold, shape, "forest", "<f8").ravel()
        self._value = unpack(self.value, shape, "forest", "<f8").ravel()
        offset = np.arange(self.trees) * self.nodes
        self._children = (children + offset[:, None, None]).reshape(-1)
        self._roots = offset

    def check(self, expected: list[str], what: str) -> None:
        _check(self.features, expected, what)

    @classmethod
    def of(
        cls,
        features: list[str],
        mean: Floats,
        base: float,
        trees: list[dict[str, npt.NDArray[Any]]],
    ) -> Forest:
        """From each tree's node arrays (feature, threshold, left, right, value, is_leaf)."""
        nodes = max((len(t["feature"]) for t in trees), default=1)
        shape = (len(trees), nodes)
        feature = np.zeros(shape, dtype=np.int32)
        threshold = np.zeros(shape)
        value = np.zeros(shape)
        own = np.tile(np.arange(nodes, dtype=np.int32), (len(trees), 1))
        left, right = own.copy(), own.copy()
        depth = 0
        for i, t in enumerate(trees):
            n, leaf = len(t["feature"]), t["is_leaf"].astype(bool)
            feature[i, :n] = np.where(leaf, 0, t["feature"])
            threshold[i, :n] = np.where(leaf, 0.0, t["threshold"])
            left[i, :n] = np.where(leaf, np.arange(n), t["left"])
            right[i, :n] = np.where(leaf, np.arange(n), t["right"])
            value[i, :n] = np.where(leaf, t["value"], 0.0)
            depth = max(depth, int(t["depth"].max()))
        return cls(
            features=list(features),
            mean=mean.tolist(),
            base=base,
            trees=len(trees),
            nodes=nodes,
            depth=depth,
            feature=pack(feature, "<i4"),
            threshold=pack(threshold, "<f8"),
            left=pack(left, "<i4"),
            right=pack(right, "<i4"),
            value=pack(value, "<f8"),
        )

    @classmethod
    def zero(cls, features: list[str]) -> Forest:
        """No trees: every probability one half."""
        return cls.of(features, np.zeros(len(features)), 0.0, [])

    def probabilities(self, x: Floats) -> Floats:
        """One probability per row of `x`."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.empty(len(x))
        for i, row in enumerate(x):
            # Every node's test at once, then `depth` steps down: children[2 * node + went
            # left] is the next node (a leaf is its own child).
            left = (row[self._feature] <= self._threshold).astype(np.intp)
            node = self._roots
            for _ in range(self.depth):
                node = self._children[2 * node + left[node]]
            out[i] = self.base + float(self._value[node].sum())
        return _sigmoid(out)

    def pulls(self, x: Floats) -> list[tuple[str, float]]:
        """How far each feature moves the probability from where it would be at the feature's
        mean (for --explain): trees are not a sum of features, so this is what can be said."""
        at = self.probabilities(x)[0]
        rows = np.tile(np.asarray(x, dtype=np.float64), (len(self.features), 1))
        np.fill_diagonal(rows, self._mean)
        moved = at - self.probabilities(rows)
        return sorted(zip(self.features, moved.tolist(), strict=True), key=lambda t: -abs(t[1]))


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


@dataclass
class AnswerModel:
    sentence: Linear
    question: Forest
    # Answer when the question model's probability reaches this (chosen on validation).
    threshold: float
    # Supporting sentences: at least this sentence probability, and this share of the lead's;
    # or, for the sentence just before or after the lead in its section, at least this.
    support_floor: float
    support_ratio: float
    support_near: float
    adapter: Adapter = field(default_factory=Adapter.identity)
    format: int = MODEL_FORMAT
    fitted: dict[str, Any] = field(default_factory=dict)  # data, sizes, figures, when

    def __post_init__(self) -> None:
        try:
            if isinstance(self.sentence, dict):
                self.sentence = Linear(**self.sentence)
            if isinstance(self.question, dict):
                self.question = Forest(**self.question)
            if isinstance(self.adapter, dict):
                self.adapter = Adapter(**self.adapter)
        except (WeightsMismatch, TypeError) as e:
            raise ModelMismatch(f"{e}; refit it with `peelqa train`") from e
        self.sentence.check(FEATURES, "sentence")
        self.question.check(QUESTION_FEATURES, "question")
        self._sw, self._sb = self.sentence.compiled()

    def sentence_probabilities(self, x: Floats) -> Floats:
        return _sigmoid(x @ self._sw + self._sb)

    def answer_probability(self, features: Floats) -> float:
        return float(self.question.probabilities(features)[0])

    @classmethod
    def untrained(cls) -> AnswerModel:
        """A model that knows nothing (every probability one half): what the features are
        collected with before the first fit."""
        return cls(
            sentence=Linear.zero(FEATURES),
            question=Forest.zero(QUESTION_FEATURES),
            threshold=0.5,
            support_floor=0.5,
            support_ratio=1.0,
            support_near=1.0,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AnswerModel:
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT:
            raise ModelMismatch(
                f"answer model format {data.get('format')} is not {MODEL_FORMAT}; refit it "
                "with `peelqa train`"
            )
        return cls(**data)

    @classmethod
    def load(cls, path: Path | None = None) -> AnswerModel:
        """The model at `path`, or the one shipped in the package."""
        if path is not None:
            return cls.from_json(path.read_text(encoding="utf-8"))
        shipped = resources.files("peelqa.answering").joinpath(MODEL_FILE)
        return cls.from_json(shipped.read_text(encoding="utf-8"))
