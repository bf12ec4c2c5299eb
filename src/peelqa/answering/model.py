"""The answer model: which sentence answers, and whether to answer at all.

Two logistic regressions, fitted by `peelqa train` on the tuning part of the development
corpus (tests/data/devcorpus), with the answering threshold chosen on the validation part:

- the sentence model gives each candidate sentence the probability that it answers the
  question (its features: `features.FEATURES`);
- the question model gives the probability that the reports answer the question at all,
  from what is known of the question and of its best candidates
  (`features.QUESTION_FEATURES`). The engine answers when that clears the threshold.

Before them, the question's vector passes through an **adapter** (`Adapter`): a low-rank map,
fitted on the tuning questions, that moves the encoder's reading of a question towards the
sentences that answer questions like it (the encoder was trained on other text; PEEL reports
answer "how many officers" in "the force has 1,240 officers"). Its cosine with each candidate
is one more group of sentence features.

At run time all of it is a dot product: the weights ship in the package as a versioned JSON
file (`answer_model.json`) with what they were fitted on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peelqa.answering.adapter import Adapter, AdapterMismatch
from peelqa.answering.features import FEATURES, QUESTION_FEATURES

MODEL_FILE = "answer_model.json"
# Bump when the file's layout changes (not when it is refitted).
MODEL_FORMAT = 3

Floats = npt.NDArray[np.float64]


class ModelMismatch(Exception):
    """The shipped weights were fitted on other features than the code computes."""


@dataclass
class Linear:
    """A logistic regression over named features, with the standardisation it was fitted with."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float

    def check(self, expected: list[str], what: str) -> None:
        if self.features != expected:
            missing = sorted(set(expected) - set(self.features))
            extra = sorted(set(self.features) - set(expected))
            raise ModelMismatch(
                f"the {what} model was fitted on other features than this code computes "
                f"(missing {missing}, extra {extra}, or another order); refit it with "
                "`peelqa train`"
            )

    def compiled(self) -> tuple[Floats, float]:
        """Weights and bias with the standardisation folded in: p = sigmoid(x @ w + b)."""
        w = np.asarray(self.weights, dtype=np.float64) / np.asarray(self.scale)
        return w, float(self.bias) - float(np.dot(w, np.asarray(self.mean)))

    @classmethod
    def zero(cls, features: list[str]) -> Linear:
        n = len(features)
        return cls(list(features), [0.0] * n, [1.0] * n, [0.0] * n, 0.0)


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


@dataclass
class AnswerModel:
    sentence: Linear
    question: Linear
    # Answer when the question model's probability reaches this (chosen on validation).
    threshold: float
    # Supporting sentences: at least this sentence probability, and this share of the lead's.
    support_floor: float
    support_ratio: float
    adapter: Adapter = field(default_factory=Adapter.identity)
    format: int = MODEL_FORMAT
    fitted: dict[str, Any] = field(default_factory=dict)  # data, sizes, figures, when

    def __post_init__(self) -> None:
        if isinstance(self.sentence, dict):
            self.sentence = Linear(**self.sentence)
        if isinstance(self.question, dict):
            self.question = Linear(**self.question)
        if isinstance(self.adapter, dict):
            try:
                self.adapter = Adapter(**self.adapter)
            except (AdapterMismatch, TypeError) as e:
                raise ModelMismatch(f"{e}; refit it with `peelqa train`") from e
        self.sentence.check(FEATURES, "sentence")
        self.question.check(QUESTION_FEATURES, "question")
        self._sw, self._sb = self.sentence.compiled()
        self._qw, self._qb = self.question.compiled()

    def sentence_probabilities(self, x: Floats) -> Floats:
        return _sigmoid(x @ self._sw + self._sb)

    def answer_probability(self, features: Floats) -> float:
        z = float(features @ self._qw) + self._qb
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def untrained(cls) -> AnswerModel:
        """A model that knows nothing (every probability one half): what the features are
        collected with before the first fit."""
        return cls(
            sentence=Linear.zero(FEATURES),
            question=Linear.zero(QUESTION_FEATURES),
            threshold=0.5,
            support_floor=0.5,
            support_ratio=1.0,
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
