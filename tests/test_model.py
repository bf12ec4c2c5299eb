"""The answer model: the shipped weights match the code's features, and what they compute."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peelqa.answering.features import FEATURES, QUESTION_FEATURES
from peelqa.answering.model import AnswerModel, Forest, Linear, ModelMismatch
from peelqa.answering.weights import pack


def test_the_shipped_model_was_fitted_on_the_features_the_code_computes() -> None:
    model = AnswerModel.load()
    assert model.sentence.features == FEATURES
    assert model.question.features == QUESTION_FEATURES
    assert 0 < model.threshold < 1
    assert model.fitted["tune_questions"] > 500 and model.fitted["validation_questions"] > 200


def test_a_model_fitted_on_other_features_is_refused_with_what_to_do() -> None:
    data = json.loads(AnswerModel.load().to_json())
    data["sentence"]["features"] = data["sentence"]["features"][:-1]
    with pytest.raises(ModelMismatch, match="peelqa train"):
        AnswerModel.from_json(json.dumps(data))


def test_sentence_probabilities_are_a_standardised_dot_product() -> None:
    model = AnswerModel.load()
    s: Linear = model.sentence
    x = np.random.default_rng(1).normal(size=(7, len(FEATURES)))
    z = ((x - np.array(s.mean)) / np.array(s.scale)) @ np.array(s.weights) + s.bias
    assert np.allclose(model.sentence_probabilities(x), 1 / (1 + np.exp(-z)))


def test_the_answer_probability_is_the_question_models() -> None:
    model = AnswerModel.load()
    q = np.random.default_rng(2).normal(size=len(QUESTION_FEATURES))
    assert model.answer_probability(q) == pytest.approx(model.question.probabilities(q)[0])


def _tree(feature: int, threshold: float, low: float, high: float) -> dict[str, np.ndarray]:
    """One split: rows with x[feature] <= threshold get `low`, the others `high`."""
    return {
        "feature": np.array([feature, 0, 0]),
        "threshold": np.array([threshold, 0.0, 0.0]),
        "left": np.array([1, 0, 0]),
        "right": np.array([2, 0, 0]),
        "value": np.array([0.0, low, high]),
        "is_leaf": np.array([0, 1, 1]),
        "depth": np.array([0, 1, 1]),
    }


def test_the_question_model_adds_one_leaf_of_each_tree() -> None:
    # a second level under the right child: x[2] <= 1.0 -> 0.7, else -0.4
    deeper = {
        "feature": np.array([1, 0, 2, 0, 0]),
        "threshold": np.array([-0.5, 0.0, 1.0, 0.0, 0.0]),
        "left": np.array([1, 0, 3, 0, 0]),
        "right": np.array([2, 0, 4, 0, 0]),
        "value": np.array([0.0, 0.3, 0.0, 0.7, -0.4]),
        "is_leaf": np.array([0, 1, 0, 1, 1]),
        "depth": np.array([0, 1, 1, 2, 2]),
    }
    forest = Forest.of(
        ["a", "b", "c"], np.array([0.0, 0.0, 0.0]), 0.1, [_tree(0, 0.0, -1.0, 1.0), deeper]
    )
    x = np.array([[-1.0, -1.0, 0.0], [1.0, 0.0, 0.5], [1.0, 0.0, 2.0], [0.0, -0.5, 9.0]])
    raw = 0.1 + np.array([-1.0 + 0.3, 1.0 + 0.7, 1.0 - 0.4, -1.0 + 0.3])
    assert np.allclose(forest.probabilities(x), 1 / (1 + np.exp(-raw)))
    # --explain's pulls: the probability less the probability with that feature at its mean
    pulls = dict(forest.pulls(x[2]))
    at_mean = x[2:3].copy()
    at_mean[0, 2] = 0.0
    assert pulls["c"] == pytest.approx(
        forest.probabilities(x[2:3])[0] - forest.probabilities(at_mean)[0]
    )
    assert np.allclose(Forest.zero(["a"]).probabilities(np.zeros((3, 1))), 0.5)


def test_the_shipped_question_model_keeps_the_directions_reason_gives() -> None:
    """A better best sentence never lowers the answer probability; a word the reports never
    use never raises it."""
    model = AnswerModel.load()
    rng = np.random.default_rng(3)
    x = np.tile(np.array(model.question.mean), (50, 1)) + rng.normal(
        scale=0.3, size=(50, len(QUESTION_FEATURES))
    )
    for name, sign in (
        ("top_p", 1),
        ("max_adapted", 1),
        ("unseen_focus", -1),
        ("unknown_names", -1),
    ):
        col = QUESTION_FEATURES.index(name)
        more = x.copy()
        more[:, col] += 0.5
        diff = model.question.probabilities(more) - model.question.probabilities(x)
        assert (sign * diff >= -1e-12).all(), name


def test_damaged_question_weights_are_refused_with_what_to_do() -> None:
    data = json.loads(AnswerModel.load().to_json())
    shape = (data["question"]["trees"], data["question"]["nodes"])
    for field, damaged in (
        ("feature", data["question"]["feature"][:-16]),
        ("threshold", "not base64!"),
        ("left", pack(np.full(shape, 10**6), "<i4")),
        ("feature", pack(np.full(shape, -1), "<i4")),
    ):
        broken = json.loads(json.dumps(data))
        broken["question"][field] = damaged
        with pytest.raises(ModelMismatch, match="peelqa train"):
            AnswerModel.from_json(json.dumps(broken))
