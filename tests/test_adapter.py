"""The question adapter: what it learns, how it is stored, and how the features read it."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest
from scipy.linalg import expm

from peelqa.answering.adapter import Adapter
from peelqa.answering.engine import Engine
from peelqa.answering.features import FEATURES
from peelqa.answering.model import AnswerModel, ModelMismatch
from peelqa.learn.adapter import Example, fit_adapter

DIM = 16


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(
        np.float32
    )
    return out


def _questions(
    rng: np.random.Generator, turn: npt.NDArray[np.float64], n: int, *, answered: bool
) -> list[Example]:
    """Questions whose vector is their answer's turned away by `turn` (as a question's
    wording differs from the sentence that answers it), among nine other sentences; a
    question the sentences do not answer is a turned vector none of them is near."""
    out = []
    for _ in range(n):
        sentences = _unit(rng.normal(size=(10, DIM)))
        answer = sentences[0] if answered else _unit(rng.normal(size=DIM))
        question = _unit(turn @ answer + 0.05 * rng.normal(size=DIM))
        labels = np.zeros(10, dtype=np.bool_)
        labels[0] = answered
        out.append(Example(question, sentences, labels))
    return out


def _first(adapter: Adapter, examples: list[Example]) -> float:
    return float(
        np.mean(
            [e.labels[int(np.argmax(e.sentences @ adapter.apply(e.question)))] for e in examples]
        )
    )


def test_the_adapter_learns_how_questions_are_answered() -> None:
    rng = np.random.default_rng(3)
    skew = rng.normal(size=(DIM, DIM))
    turn = expm(0.25 * (skew - skew.T))  # a rotation: the encoder's cosine finds a third
    tune = _questions(rng, turn, 300, answered=True) + _questions(rng, turn, 100, answered=False)
    held = _questions(rng, turn, 200, answered=True)
    traps = _questions(rng, turn, 200, answered=False)
    adapter = fit_adapter(tune)
    before, after = _first(Adapter.identity(), held), _first(adapter, held)
    assert before < 0.5 and after > before + 0.3, (before, after)

    def margin(e: Example) -> float:
        moved = adapter.apply(e.question)
        return float((e.sentences @ moved).max()) - adapter.bar(moved)

    # Above the bar it learnt for answered questions, below it for the others, mostly.
    assert np.mean([margin(e) > 0 for e in held]) > 0.85
    assert np.mean([margin(e) < 0 for e in traps]) > 0.6


def test_an_adapter_survives_the_model_file() -> None:
    model = AnswerModel.load()
    assert model.adapter.rank > 0 and model.adapter.dim == 384
    again = AnswerModel.from_json(model.to_json())
    v = _unit(np.random.default_rng(0).normal(size=384))
    assert np.array_equal(model.adapter.apply(v), again.adapter.apply(v))
    assert model.adapter.bar(v) == again.adapter.bar(v)
    moved = model.adapter.apply(v)
    assert abs(float(np.linalg.norm(moved)) - 1.0) < 1e-5 and not np.allclose(moved, v)


@pytest.mark.parametrize("damage", ["not base64!", "AAAA"])
def test_damaged_adapter_weights_are_refused_with_what_to_do(damage: str) -> None:
    data = json.loads(AnswerModel.load().to_json())
    data["adapter"]["down"] = damage
    with pytest.raises(ModelMismatch, match="peelqa train"):
        AnswerModel.from_json(json.dumps(data))


def test_with_no_adapter_the_adapted_features_are_the_encoders(engine: Engine) -> None:
    kept = engine.model
    try:
        engine.model = AnswerModel.untrained()
        a = engine.analyse("How well does the force tackle serious and organised crime?", [])
    finally:
        engine.model = kept
    col = {n: i for i, n in enumerate(FEATURES)}
    assert len(a.candidates) > 0
    assert np.allclose(a.features[:, col["adapted"]], a.features[:, col["dense"]], atol=1e-6)
    shipped = engine.analyse("How well does the force tackle serious and organised crime?", [])
    assert not np.allclose(shipped.features[:, col["adapted"]], shipped.features[:, col["dense"]])
