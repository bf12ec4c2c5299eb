"""Quality floors: the development set, the validation part of the development corpus, and the
overall grade of every test report asked in many wordings.

The validation reports (tests/data/devcorpus, split "validation") were never fitted on: the
answer model is fitted on the tuning part and only its threshold is chosen on these. Floors sit
a few points under the figures measured when the model was last refitted (in comments), to
absorb harmless changes; `peelqa eval --devset validation` prints them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DATA, DEV_SET

from peelqa.answering.engine import Engine
from peelqa.answering.model import AnswerModel
from peelqa.config import Settings
from peelqa.evaluation import evaluate, figures, load_cases
from peelqa.learn.devset import DevSet, Indexes
from peelqa.models import AskResponse, Turn
from peelqa.runtime import Components

DEVCORPUS = DATA / "devcorpus"


def run(components: Components, path: Path) -> dict:  # type: ignore[type-arg]
    figs, _ = evaluate(load_cases(path), lambda q, h: components.engine.ask(question=q, history=h))
    return figs


def test_dev_set(components: Components) -> None:
    # measured: all_ok 95.7 (22 of 23; one case is 4.3 points, and which sentence leads for
    # "what does the force need to understand better about organised crime?" changes between
    # refits of the same features)
    figs = run(components, DEV_SET)
    assert figs["all_ok"] >= 87
    assert figs["abstain_ok"] == 100
    assert figs["injection_ok"] == 100


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    devset = DevSet.load(DEVCORPUS)
    indexes = Indexes(
        tmp_path_factory.mktemp("devcorpus"),
        settings=Settings(api_keys="", rate_limit=0, answer_cache=0),
    )
    scored = []
    for report in devset.split("validation"):
        engine = indexes.engine([report])
        engine.model = AnswerModel.load()
        scored += evaluate(report.cases, engine_ask(engine))[1]
    return figures(scored)


def engine_ask(engine: Engine) -> Callable[[str, list[Turn]], AskResponse]:
    return lambda q, h: engine.ask(question=q, history=h)


@pytest.mark.slow
def test_validation_part_of_the_development_corpus(validation: dict) -> None:  # type: ignore[type-arg]
    # measured: all_ok 82.2, injection_ok 100 (twelve reports of four forces)
    assert validation["all_ok"] >= 79
    assert validation["injection_ok"] == 100


# The overall grade, asked as staff, analysts and the public ask it: naming the inspectorate, a
# colloquial name of the force, yes/no, terse, misspelt.
GRADE_WORDINGS = [
    "What grade did the force get?",
    "What grade did {insp} award?",
    "How was {force} graded overall?",
    "Did {short} do well overall?",
    "overall grade?",
    "What was the overall judgement?",
    "How did {force} do in the inspection?",
    "Is {force} any good?",
    "Was {force} rated outstanding?",
    "Did {insp} rate {short} as good?",
    "what rating did {short} get",
    "wat grade did {insp} give {short}",
    "How did {insp} rate the force?",
    "What was {force}'s overall rating?",
    "so how did they do overall",
    "Did the force pass its inspection?",
    "What did {insp} conclude about {force} overall?",
    "overal grade for {short}?",
    "How well is {force} doing overall, according to {insp}?",
    "What's the verdict on {short}?",
    "Is {short} rated inadequate?",
    "grade",
]
REPORTS = [
    # (fixture, force, colloquial name, inspectorate, the grade's pattern)
    ("components", "Northamptonshire Police", "Northants", "HMIC", r"requires? improvement"),
    ("westshire", "Westshire Constabulary", "Westshire", "HMIC", r"\bgood\b"),
    ("eastmoor", "Eastmoor Police", "Eastmoor", "HMICFRS", r"requires? improvement"),
]


@pytest.mark.parametrize(("fixture", "force", "short", "insp", "grade"), REPORTS)
def test_the_overall_grade_in_many_wordings(
    request: pytest.FixtureRequest, fixture: str, force: str, short: str, insp: str, grade: str
) -> None:
    components: Components = request.getfixturevalue(fixture)
    wrong = []
    for wording in GRADE_WORDINGS:
        question = wording.format(force=force, short=short, insp=insp)
        r = components.engine.ask(question=question)
        if not r.answered or not re.search(grade, r.answer, re.IGNORECASE):
            wrong.append(f"{question!r}: {r.answer[:100]!r}")
    assert not wrong, "\n".join(wrong)
