"""Retrieval over the real index: hybrid ranking, abbreviations, spelling, routing by name."""

import shutil
from pathlib import Path

import pytest
from conftest import DATA, ENGLISH, REPORT

from peelqa.answering.retrieve import Retriever, distinctive_names
from peelqa.answering.spelling import Vocabulary
from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.index.build import build_index
from peelqa.index.store import load_index
from peelqa.runtime import Components
from peelqa.text import expand_shorthand


@pytest.fixture(scope="module")
def combined(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Retriever:
    corpus = tmp_path_factory.mktemp("combined")
    for src in (REPORT, *DATA.glob("corpus2/*.md"), *DATA.glob("corpus3/*.txt")):
        shutil.copy(src, corpus / Path(src).name)
    index_dir = tmp_path_factory.mktemp("combined-index") / "index"
    build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    return Retriever(index=load_index(index_dir), embedder=embedder, english=ENGLISH)


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
    hits = components.engine.retriever.search(query).hits
    assert hits[0].section == section, [(h.section, h.text[:60]) for h in hits[:3]]


def test_sentence_scores_are_the_sum_of_their_parts_and_limit_keeps_the_best(
    components: Components,
) -> None:
    """score_sentences scores in arrays and makes Hits for the best `limit` only: the same
    ranking as scoring all and cutting, equal scores in the order given."""
    from peelqa.answering.retrieve import W_CHUNK, W_LEXICAL, W_SENTENCE

    r = components.engine.retriever
    retrieval = r.search("How does the force identify vulnerable people?")
    refs = r.document_sentences(retrieval.hits[0].doc)
    full = r.score_sentences(retrieval, refs)
    assert len(full) == len(refs)
    assert [h.score for h in full] == sorted((h.score for h in full), reverse=True)
    for h in full:
        want = W_SENTENCE * h.dense + W_CHUNK * h.chunk_dense + W_LEXICAL * h.lexical
        assert abs(h.score - want) < 1e-9
        assert h.text == r.sentence_text((h.doc, h.section, h.sentence))
    assert r.score_sentences(retrieval, refs, limit=5) == full[:5]
    assert r.score_sentences(retrieval, []) == []
    # A sentence given twice scores the same twice, and keeps its place among equals.
    twice = r.score_sentences(retrieval, [refs[3], refs[3]], limit=1)
    assert len(twice) == 1 and (twice[0].section, twice[0].sentence) == refs[3][1:]
    # The search's hits are that same scoring of its candidates.
    assert retrieval.hits == sorted(retrieval.hits, key=lambda h: -h.score)
    best = retrieval.hits[0]
    (again,) = r.score_sentences(retrieval, [(best.doc, best.section, best.sentence)])
    assert again == best


def test_either_form_of_an_abbreviation_finds_the_other(components: Components) -> None:
    r = components.engine.retriever
    short = r.search("What does EMSOU do?").hits[0]
    long = r.search("the East Midlands Special Operations Unit").hits[0]
    assert short.section == long.section == "q4"
    assert short.lexical > 0.5 and long.lexical > 0.5


def test_misspelt_words_are_mended_towards_the_report(components: Components) -> None:
    vocab = components.engine.retriever.vocabulary
    assert vocab.mend("behavour antisocial") == "behaviour anti social"
    assert vocab.correct("detectives") == ["detectives"]  # a real word is never "corrected"
    assert expand_shorthand("how gud r they") == "how good are they"
    hits = components.engine.retriever.search("how gud r they at stoping antisocial behavour").hits
    assert hits[0].section == "q1"


def test_vocabulary_edit_distance_budget() -> None:
    v = Vocabulary(["investigation offenders"], english=ENGLISH)
    assert v.correct("investigaton") == ["investigation"]
    assert v.correct("offendrs") == ["offenders"]
    assert v.correct("xylophone") == ["xylophone"]


def test_a_question_naming_a_force_is_answered_from_its_report(combined: Retriever) -> None:
    names = distinctive_names(combined.index.documents)
    assert "westshire" in names["peel-2016-westshire"]
    assert "northamptonshire" in names["peel-2015-northamptonshire"]
    assert combined.named_document("How was Eastmoor graded?") == "peel-2017-eastmoor"
    assert combined.named_document("How was the force graded?") is None
    for query, doc in [
        ("What grade did Westshire get overall?", "peel-2016-westshire"),
        ("What grade did Northamptonshire Police get overall?", "peel-2015-northamptonshire"),
        ("How does Eastmoor deal with domestic abuse calls?", "peel-2017-eastmoor"),
    ]:
        hits = combined.search(query).hits
        assert {h.doc for h in hits} == {doc}, query
