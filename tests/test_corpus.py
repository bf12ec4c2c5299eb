from pathlib import Path

from conftest import DATA, REPORT

from peelqa.reports.corpus import parse_report, read_corpus
from peelqa.reports.model import slugify
from peelqa.reports.sentences import split_sentences


def test_real_report_sections_and_title() -> None:
    doc = parse_report("r", REPORT.read_text())
    assert doc.title == "HMIC: PEEL Effectiveness Inspection 2015"
    assert [s.section for s in doc.sections] == ["intro", "q1", "q2", "q3", "q4", "conclusion"]
    q2 = doc.section("q2")
    assert q2 is not None and q2.number == 2
    assert q2.heading == "How effective is the force at investigating crime and managing offenders?"
    assert doc.section("conclusion").heading == "Conclusion"  # type: ignore[union-attr]


def test_every_sentence_and_section_is_an_exact_slice_of_the_report() -> None:
    raw = REPORT.read_text()
    doc = parse_report("r", raw)
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
    doc = parse_report("x", raw, format="md")
    assert doc.title == "A report"
    assert [s.section for s in doc.sections] == ["intro", "q1", "next-steps", "next-steps-2", "q2"]
    assert doc.section("next-steps").text == "Do more. Then stop."  # type: ignore[union-attr]
    q1 = doc.section("q1")
    assert q1 is not None
    # List items are units of their own, quoted without their markers.
    assert [q1.sentence_text(i) for i in range(len(q1.sentences))] == [
        "Yes it is.",
        "a list item",
        "another item",
    ]
    assert [b.kind for b in q1.blocks] == ["paragraph", "list_item", "list_item"]
    # A ### under a ## is a section of its own, with the path of headings down to it.
    q2 = doc.section("q2")
    assert q2 is not None and q2.level == 2 and q2.parent == "next-steps-2"
    assert q2.path == ["Next steps", "Is it fast?"]


def test_nested_headings_tables_and_inline_markup() -> None:
    raw = (
        "# PEEL 2023–25: An inspection of Anyshire Police\n\nWe inspected the force.\n\n"
        "## Overall summary\n\n### Our judgments\n\n"
        "| Area of policing | Grade |\n|---|---|\n"
        "| Investigating crime | **Requires improvement** |\n"
        "| Responding to the public | Good |\n\n"
        "## Investigating crime\n\nThe force is *slow* to [allocate](http://x) crimes.\n\n"
        "### Areas for improvement\n\n1. Supervise investigations.\n2. Keep victims informed.\n\n"
        "## Responding to the public\n\n### Areas for improvement\n\n- Answer calls sooner.\n"
        "  - Within ten seconds.\n"
    )
    doc = parse_report("a", raw, format="md")
    ids = [s.section for s in doc.sections]
    assert ids == [
        "intro",
        "overall-summary",
        "our-judgments",
        "investigating-crime",
        "areas-for-improvement",
        "responding-to-the-public",
        "areas-for-improvement-2",
    ]
    judgments = doc.section("our-judgments")
    assert judgments is not None and judgments.path == ["Overall summary", "Our judgments"]
    rows = [judgments.sentence_text(i) for i in range(len(judgments.sentences))]
    assert rows == ["Investigating crime: Requires improvement", "Responding to the public: Good"]
    assert {b.kind for b in judgments.blocks} == {"table_row"}
    inv = doc.section("investigating-crime")
    assert inv is not None and inv.text == "The force is slow to allocate crimes."
    aims = doc.section("areas-for-improvement")
    assert aims is not None and aims.path == ["Investigating crime", "Areas for improvement"]
    assert aims.text.split("\n\n") == ["Supervise investigations.", "Keep victims informed."]
    second = doc.section("areas-for-improvement-2")
    assert second is not None and second.parent == "responding-to-the-public"
    assert second.text.split("\n\n") == ["Answer calls sooner.", "Within ten seconds."]


def test_plain_text_lists_lose_their_markers() -> None:
    raw = "Title\n\nThe force should:\n- answer calls sooner;\n- keep victims informed.\n"
    doc = parse_report("t", raw)
    (intro,) = doc.sections
    assert intro.text.split("\n\n") == [
        "The force should:",
        "answer calls sooner;",
        "keep victims informed.",
    ]


def test_empty_corpus_folder_is_an_error(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(FileNotFoundError):
        read_corpus(tmp_path)
