"""The answer model: the shipped weights match the code's features, and what they compute."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peelqa.answering.features import FEATURES, QUESTION_FEATURES
from peelqa.answering.model import AnswerModel, Linear, ModelMismatch


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


def test_probabilities_are_a_standardised_dot_product() -> None:
    model = AnswerModel.load()
    s: Linear = model.sentence
    x = np.random.default_rng(1).normal(size=(7, len(FEATURES)))
    z = ((x - np.array(s.mean)) / np.array(s.scale)) @ np.array(s.weights) + s.bias
    assert np.allclose(model.sentence_probabilities(x), 1 / (1 + np.exp(-z)))
