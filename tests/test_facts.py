"""Questions asking for a figure, a date, a grade or an abbreviation's meaning."""

import pytest

from peelqa.answering.facts import counts_of, fact_kind, word_prefix
from peelqa.runtime import Components


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many officers does the force have?", "quantity"),
        ("How often are these inspections done?", "quantity"),
        ("When will HMIC inspect again?", "time"),
        ("What grade did the force get?", "grade"),
        ("How did HMIC rate the force's efficiency?", "grade"),
        ("What does MASH stand for?", "expansion"),
        ("What does the report say about MASH?", None),
        ("Why are investigations delayed?", None),
    ],
)
def test_fact_kinds(question: str, kind: str | None) -> None:
    assert fact_kind(question) == kind


def test_a_count_must_be_of_the_thing_asked_about() -> None:
    subject = [word_prefix("groups")]
    assert counts_of("it has mapped 34 active organised crime groups", subject)
    assert not counts_of("calls waited up to four hours for an officer to arrive", subject)
    assert not counts_of("by the end of 2018 the groups were mapped", subject)


def test_area_grade_from_a_grade_of_every_area(engine) -> None:  # type: ignore[no-untyped-def]
    r = engine.ask(question="what grade did they get for protecting vulnerable people?")
    assert r.answered and r.citations[0].section == "conclusion"
    assert "requires improvement" in r.answer


def test_grade_for_something_never_assessed_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    assert not engine.ask(question="How did HMIC rate the force's efficiency?").answered
    assert not engine.ask(question="What grade did the force get for legitimacy?").answered


def test_per_area_grade_from_a_summary_sentence(westshire: Components) -> None:
    r = westshire.engine.ask(question="What grade was Westshire given for using its resources?")
    assert r.answered and "requires improvement" in r.answer


def test_expansion_only_where_the_report_spells_it_out(engine) -> None:  # type: ignore[no-untyped-def]
    r = engine.ask(question="What does EMSOU stand for?")
    assert r.answered and "East Midlands Special Operations Unit" in r.answer
    assert not engine.ask(question="What does MARAC stand for?").answered


def test_figures_need_the_subject(eastmoor: Components) -> None:
    r = eastmoor.engine.ask(question="How many organised crime groups has Eastmoor mapped?")
    assert r.answered and "34" in r.answer
    assert not eastmoor.engine.ask(
        question="How many firearms officers does Eastmoor have?"
    ).answered
