"""Retrieval over the real index: the sentences that answer are among the candidates."""

import numpy as np
import pytest
from conftest import ENGLISH

from peelqa.answering.spelling import Vocabulary
from peelqa.runtime import Components
from peelqa.text import expand_shorthand


def candidate_sections(components: Components, question: str) -> list[str]:
    engine = components.engine
    q = engine.understander.read(question, [])
    c = engine.retriever.candidates(q)
    refs = engine.index.sentence_refs
    # In the order of their similarity to the question, best first.
    order = sorted(range(len(c)), key=lambda j: -c.dense[j])
    return [refs[int(c.rows[j])][1] for j in order]


@pytest.mark.parametrize(
    ("query", "section"),
    [
        ("Why are crimes waiting so long before anyone investigates them?", "q2"),
        ("Is joint problem-solving with partners working at middle management level?", "q1"),
        ("call handlers empathy for victims", "q3"),
        ("What specialist capacity does the force have for organised crime?", "q4"),
        ("What was the overall grade?", "conclusion"),
    ],
)
def test_a_question_finds_its_section(components: Components, query: str, section: str) -> None:
    sections = candidate_sections(components, query)
    assert section in sections[:3], sections[:5]


def test_either_form_of_an_abbreviation_finds_the_other(components: Components) -> None:
    r = components.engine.retriever
    emsou = r.chunk_terms  # the corpus side carries both forms of a defined abbreviation
    assert any("emsou" in t and "midland" in t for t in emsou)
    assert candidate_sections(components, "What does EMSOU do?")[0] == "q4"
    assert candidate_sections(components, "the East Midlands Special Operations Unit")[0] == "q4"


def test_misspelt_words_are_mended_towards_the_report(components: Components) -> None:
    vocab = components.engine.understander.vocabulary
    assert vocab.mend("behavour antisocial") == "behaviour anti social"
    assert vocab.correct("detectives") == ["detectives"]  # a real word is never "corrected"
    assert expand_shorthand("how gud r they") == "how good are they"
    assert expand_shorthand("hw long do 999 callers wait") == "how long do 999 callers wait"
    assert expand_shorthand("how many pcsos did thy hav") == "how many pcsos did they have"
    assert expand_shorthand("999 calls answered in 10 secs") == "999 calls answered in 10 seconds"
    assert expand_shorthand("who provides HR, 4 hrs a day") == "who provides HR, 4 hours a day"
    sections = candidate_sections(components, "how gud r they at stoping antisocial behavour")
    assert sections[0] == "q1"


def test_vocabulary_edit_distance_budget() -> None:
    v = Vocabulary(["investigation offenders"], english=ENGLISH)
    assert v.correct("investigaton") == ["investigation"]
    assert v.correct("offendrs") == ["offenders"]
    assert v.correct("xylophone") == ["xylophone"]


def test_a_word_typed_in_capitals_is_an_abbreviation_never_a_misspelling() -> None:
    v = Vocabulary(["the same people"], english=frozenset())
    assert v.mend("were bame people searched") == "were same people searched"
    assert v.mend("were BAME people searched") == "were bame people searched"
    assert v.mend_in_place("were BAME people searched") == "were BAME people searched"
    # A question shouted in capitals is mended as any other.
    assert v.mend("WERE BAME PEOPLE SEARCHED") == "were same people searched"


def test_an_agent_noun_finds_its_verb(components: Components) -> None:
    """The report says "calls" and "call-handlers", never "callers": the question's focus is
    known to the reports, the sentence ranked first is q3's about call-handlers, and it is the
    answer."""
    engine = components.engine
    r = engine.retriever
    assert "call" in r.family("caller") and r.is_known_term("caller")
    assert not r.is_known_term("zeppelin")
    a = engine.analyse("How are vulnerable callers assessed?", [])
    best = int(a.candidates.rows[int(np.argmax(a.probabilities))])
    _, section, _ = engine.index.sentence_refs[best]
    assert section == "q3" and "call-handlers" in engine.features.text(best)
    reply = engine.ask(question="How are vulnerable callers assessed?")
    assert reply.answered and reply.citations[0].section == "q3", reply.answer
