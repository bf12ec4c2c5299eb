from pathlib import Path

from conftest import DATA, REPORT

from peelqa.reports.corpus import read_corpus
from peelqa.reports.model import slugify
from peelqa.reports.plain import parse_document
from peelqa.reports.sentences import split_sentences


def test_real_report_sections_and_title() -> None:
    doc = parse_document("r", REPORT.read_text())
    assert doc.title == "HMIC: PEEL Effectiveness Inspection 2015"
    assert [s.section for s in doc.sections] == ["intro", "q1", "q2", "q3", "q4", "conclusion"]
    q2 = doc.section("q2")
    assert q2 is not None and q2.number == 2
    assert q2.heading == "How effective is the force at investigating crime and managing offenders?"
    assert doc.section("conclusion").heading == "Conclusion"  # type: ignore[union-attr]


def test_every_sentence_and_section_is_an_exact_slice_of_the_report() -> None:
    raw = REPORT.read_text()
    doc = parse_document("r", raw)
    for sec in doc.sections:
        assert sec.text in raw
        assert sec.heading in raw
        assert sec.sentences
        for i in range(len(sec.sentences)):
            text = sec.sentence_text(i)
            assert text == text.strip() and text in raw


def test_sentences_split_at_full_stops_but_not_abbreviations() -> None:
    text = "Mr. Smith met Dr. J. Jones at 9.30 today. It went well! Did it?\n\nNew paragraph."
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == [
        "Mr. Smith met Dr. J. Jones at 9.30 today.",
        "It went well!",
        "Did it?",
        "New paragraph.",
    ]


def test_slugs_follow_the_contract() -> None:
    assert slugify("Conclusion") == "conclusion"
    assert slugify("Next steps") == "next-steps"
    assert slugify("  Areas for improvement (2016) ") == "areas-for-improvement-2016"


def test_markdown_report_with_three_questions() -> None:
    (doc,) = read_corpus(DATA / "corpus2")
    assert doc.doc == "peel-2016-westshire"
    assert not doc.title.startswith("#")
    ids = [s.section for s in doc.sections]
    assert ids == ["intro", "q1", "q2", "q3", "summary", "next-steps"]
    raw = (DATA / "corpus2" / "peel-2016-westshire.md").read_text()
    for sec in doc.sections:
        for i in range(len(sec.sentences)):
            assert sec.sentence_text(i) in raw


def test_plain_report_with_five_questions_and_other_heading() -> None:
    (doc,) = read_corpus(DATA / "corpus3")
    ids = [s.section for s in doc.sections]
    assert ids == ["intro", "q1", "q2", "q3", "q4", "q5", "overall-judgement"]


def test_markdown_headings_lists_and_duplicates(tmp_path: Path) -> None:
    raw = (
        "# A report\n\nIntro text here.\n\n## 1. Is it good?\n\nYes it is.\n\n"
        "- a list item\n- another item\n\n## Next steps\nDo more. Then stop.\n\n"
        "## Next steps\n\nAgain.\n\n### 2) Is it fast?\n\nQuite fast.\n"
    )
    doc = parse_document("x", raw)
    assert doc.title == "A report"
    assert [s.section for s in doc.sections] == ["intro", "q1", "next-steps", "next-steps-2", "q2"]
    assert doc.section("next-steps").text == "Do more. Then stop."  # type: ignore[union-attr]
    q1 = doc.section("q1")
    assert q1 is not None
    assert [q1.sentence_text(i) for i in range(len(q1.sentences))] == [
        "Yes it is.",
        "- a list item",
        "- another item",
    ]


def test_empty_corpus_folder_is_an_error(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(FileNotFoundError):
        read_corpus(tmp_path)
