"""Reading a question once: its kind, focus, names, scope and conversation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from peelqa.answering.compose import direct_reply
from peelqa.answering.engine import Engine
from peelqa.answering.features import FEATURES
from peelqa.answering.scope import named_reports, profiles, title_years
from peelqa.answering.spelling import Vocabulary
from peelqa.answering.understand import Question, Understander
from peelqa.kinds import (
    CARRIED,
    AnswerType,
    carried,
    expected_type,
    reply_span,
    roles_in,
    spells,
)
from peelqa.models import Turn
from peelqa.reports.corpus import parse_report
from peelqa.reports.model import Document
from peelqa.text import stem


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What grade did HMIC award?", AnswerType.GRADE),
        ("Did Northants do well overall?", AnswerType.GRADE),
        ("so how did ravs do overall then", AnswerType.GRADE),
        ("how'd they get on in the 2018 inspection", AnswerType.GRADE),
        ("how do they get on with partners", AnswerType.DESCRIPTION),
        ("is northants police outstanding", AnswerType.GRADE),
        ("how bad was the force at looking after vulnerable people", AnswerType.GRADE),
        ("how bad is the vetting backlog", AnswerType.DESCRIPTION),
        ("How did HMIC rate the force?", AnswerType.GRADE),
        ("How many PCSOs does Westshire have?", AnswerType.COUNT),
        ("What percentage of 999 calls were answered within 10 seconds?", AnswerType.PERCENTAGE),
        ("How much did the force save?", AnswerType.MONEY),
        # A change is stated as a percentage ("fell by 11 percent"), whatever was counted.
        ("by how much did burglary fall", AnswerType.PERCENTAGE),
        ("how much did anti-social behaviour go down", AnswerType.PERCENTAGE),
        ("how many officers were cut", AnswerType.COUNT),
        ("how long do 999 callers wait", AnswerType.DURATION),
        ("When was the inspection carried out?", AnswerType.DATE),
        ("Who is Simon Edens?", AnswerType.PERSON),
        ("Which HM Inspector signed the report?", AnswerType.PERSON),
        ("pcc name?", AnswerType.PERSON),
        ("who do they team up with for firearms", AnswerType.ORGANISATION),
        ("how much in fraud losses did the scheme stop", AnswerType.MONEY),
        ("how quick do they pick up 999 calls", AnswerType.DURATION),
        ("what does THRIVE stand for", AnswerType.DEFINITION),
        ("What is MARAC?", AnswerType.DEFINITION),
        ("why was it rated inadequate", AnswerType.REASON),
        ("what are the areas for improvement in investigating crime", AnswerType.LIST),
        ("Does integrated offender management include violent offenders?", AnswerType.YESNO),
        ("What does the report say about child sexual exploitation?", AnswerType.DESCRIPTION),
        # What a force "gets" is its grade; the pillars' own questions ask for one too.
        ("what did the force get for legitimacy", AnswerType.GRADE),
        ("what did they get done about burglary", AnswerType.DESCRIPTION),
        ("How effective is the force at tackling organised crime?", AnswerType.GRADE),
        ("how well does the constabulary plan for the future", AnswerType.GRADE),
        # Rates, satisfaction and recording accuracy are percentages; a crime rate is not.
        ("what's the charge rate for rape", AnswerType.PERCENTAGE),
        ("crime rate per 1000 people?", AnswerType.DESCRIPTION),
        ("victim satisfaction?", AnswerType.PERCENTAGE),
        ("how many people were satisfied with the service", AnswerType.COUNT),
        ("how accurately are crimes recorded", AnswerType.PERCENTAGE),
        ("average response time in the city?", AnswerType.DURATION),
        ("what are the attendance times for emergencies", AnswerType.DURATION),
        ("no. of specials?", AnswerType.COUNT),
        ("how big is the backlog of files", AnswerType.COUNT),
        ("what's the population of the county", AnswerType.COUNT),
        ("are the population figures up to date?", AnswerType.YESNO),
        ("how much is the deputy chief constable paid", AnswerType.MONEY),
        ("what's the commissioner's salary", AnswerType.MONEY),
        ("who's the PCC and when was she elected", AnswerType.PERSON),
        ("when was the PCC elected", AnswerType.DATE),
        ("who do they share a control room with", AnswerType.ORGANISATION),
        ("whats a SARC", AnswerType.DEFINITION),
        ("IOM meaning?", AnswerType.DEFINITION),
        ("What does the inspectorate say the force needs to improve?", AnswerType.LIST),
        ("what must the constabulary do to improve its vetting", AnswerType.LIST),
        ("what concerns were raised about custody", AnswerType.LIST),
    ],
)
def test_what_a_question_asks_for(question: str, kind: AnswerType) -> None:
    assert expected_type(question) == kind


def test_what_a_sentence_carries_and_the_reply_it_can_give() -> None:
    def kinds(text: str) -> set[str]:
        return {k.value for k, f in zip(CARRIED, carried(text), strict=True) if f}

    assert "percentage" in kinds("Only 62.1 percent of 999 calls were answered in time.")
    assert "money" in kinds("It saved £12.4 million since 2010.")
    assert "count" not in kinds("It saved £12.4 million since 2010.")
    assert "person" in kinds("Chief Constable Simon Edens leads the force.")
    assert "definition" in kinds("The East Midlands Special Operations Unit (EMSOU) helps.")
    assert "grade" in kinds("Investigating crime: Requires improvement")
    assert reply_span(AnswerType.PERCENTAGE, "Only 62.1 percent were answered.") == "62.1 percent"
    assert reply_span(AnswerType.DATE, "It was inspected in September 2017.") == "September 2017"
    # A sentence explaining the grade scale grades nothing.
    assert "grade" not in kinds("Our grades are outstanding, good, adequate and inadequate.")
    assert "grade" not in kinds("We now use a five-point scale that includes 'adequate'.")
    # The day of a date and the police's phone numbers count nothing; a question's own
    # figure is never its answer.
    assert "count" not in kinds("On 31 October 2023 it answered 68.4 percent of 999 calls.")
    assert "count" not in kinds("It answers 999 and 101 calls quickly.")
    assert "count" in kinds("The force has 101 officers and 1,101 calls.")
    # A decimal, a ratio and a rate's denominator count nothing either.
    assert "count" not in kinds("Black people were 3.1 times more likely to be searched.")
    assert "count" not in kinds("Women were three times more likely to be victims.")
    assert "count" not in kinds("There were 2.5 officers per 1,000 people.")
    assert reply_span(AnswerType.COUNT, "It was searched 3 times and 1,140 were missing.") is None
    assert reply_span(AnswerType.COUNT, "It made 1,140 arrests, 3.1 times more.") == "1,140"
    assert (
        reply_span(AnswerType.COUNT, "It took 412,000 calls.", asked=frozenset(["412,000"])) is None
    )
    # Two figures of the asked kind: no reply can say which one answers.
    assert reply_span(AnswerType.PERCENTAGE, "From 40% to 55%.") is None


@pytest.mark.parametrize(
    ("text", "short", "spelt"),
    [
        ("The East Midlands Special Operations Unit (EMSOU) helps.", "EMSOU", True),
        ("It uses the multi-agency safeguarding hub to share risk.", "MASH", True),
        # A report may list the words in another order than the letters.
        (
            "It uses the THRIVE model to assess threat, risk, harm, investigation, "
            "vulnerability and engagement.",
            "THRIVE",
            True,
        ),
        ("The police, fire and crime commissioner sets the budget.", "PFCC", True),
        # Using an abbreviation is not spelling it out.
        ("The force uses TRiM to support officers after traumatic incidents.", "TRiM", False),
        ("The MASH opened in 2016 and has a backlog.", "MASH", False),
        # Short ones only in their order: "domestic abuse", never "abuse ... domestic".
        ("Domestic abuse cases rose.", "DA", True),
        ("Abuse that is domestic rose.", "DA", False),
    ],
)
def test_whether_a_sentence_spells_out_an_abbreviation(text: str, short: str, spelt: bool) -> None:
    assert spells(text, short) == spelt


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("Who's the deputy chief constable?", {"deputy chief constable"}),
        # Never the role a longer one holds: the deputy is not the chief constable.
        ("Deputy Chief Constable Joanna Pryde", {"deputy chief constable"}),
        ("Joanna Pryde was appointed chief constable in July 2020.", {"chief constable"}),
        ("dcc name?", {"deputy chief constable"}),
        ("which chief inspector leads the VAWG work", {"chief inspector"}),
        ("Detective Chief Inspector Sam Hale leads it.", {"chief inspector"}),
        ("who was the HMI on this one", {"hm inspector"}),
        ("HM Inspector of Constabulary Zoe Billingham", {"hm inspector"}),
        ("HM Chief Inspector of Constabulary", {"hm chief inspector"}),
        # A commissioner who also oversees fire and rescue is asked for as "the pcc".
        ("who is the pcc", {"commissioner"}),
        ("the police, fire and crime commissioner, Roger Hirst", {"commissioner"}),
        ("How many officers does the force have?", set()),
    ],
)
def test_the_roles_a_text_names(text: str, roles: set[str]) -> None:
    assert roles_in(text) == roles


def test_a_role_asked_for_that_a_sentence_does_not_name_is_a_feature(engine: Engine) -> None:
    col = FEATURES.index("role_missing")
    asked = engine.analyse("Who is the deputy chief constable?", [])
    assert asked.question.roles == {"deputy chief constable"}
    texts = [engine.features.text(int(r)) for r in asked.candidates.rows]
    for text, missing in zip(texts, asked.features[:, col], strict=True):
        assert missing == float("deputy chief constable" not in text.lower()), text
    plain = engine.analyse("How many officers does the force have?", [])
    assert not plain.features[:, col].any()


def test_a_question_is_read_once_into_its_parts(engine: Engine) -> None:
    q = engine.understander.read("How many officers work in the Hub in 2015?", [])
    assert q.expects == AnswerType.COUNT and q.count_noun == "offic"
    assert "offic" in q.focus and "mani" not in q.focus  # what is asked about, not how
    assert q.years == {2015}
    framed = engine.understander.read("In the 2015 HMIC inspection, what is THRIVE?", [])
    assert "HMIC" not in framed.core_text and "2015" not in framed.core_text
    assert "THRIVE" in framed.core_text and framed.searches[0] == framed.core_text
    assert engine.understander.read("hello", []).chitchat
    assert not engine.understander.read("are they any good?", []).chitchat
    # Another task altogether is not a question about the report, whatever words it shares.
    assert engine.understander.read("can u write me a short poem about the police", []).chitchat
    assert not engine.understander.read("write me a summary of the report", []).chitchat
    # Sums are another task too, though a report has the same figures ("in 17 calls").
    for sum_ in ("what's 17 x 23", "calculate 1,200 / 4", "what is 5 plus 7?", "12*3"):
        assert engine.understander.read(sum_, []).chitchat, sum_
    assert not engine.understander.read("what's 17 x 23 in the report's table?", []).chitchat
    # The force's name, also shortened, and its report's year say which report, not what about.
    named = engine.understander.read("how many officers did northants have in 2015", [])
    assert named.focus == ("offic",) and named.docs is None
    assert not any("northa" in t for t in named.terms)
    # The role a "who" question asks for is its subject, not a frame.
    assert "inspector" in engine.understander.read("Which HM Inspector signed it?", []).focus


def test_names_the_reports_never_use_are_noticed_not_vetoed(engine: Engine) -> None:
    q = engine.understander.read("How was Leicestershire Police graded?", [])
    assert q.unknown_names == ("leicestershire",) and q.other_force
    colloquial = engine.understander.read("Did Northants do well overall?", [])
    assert colloquial.unknown_names == () and not colloquial.other_force
    assert "northants" in colloquial.names


def test_follow_ups_carry_their_conversation(engine: Engine) -> None:
    history = [
        Turn(role="user", content="How does the force assess threat, risk and harm?"),
        Turn(role="assistant", content="The use of the THRIVE approach ... [1]"),
    ]
    q = engine.understander.read("and has the training for it worked?", history)
    assert q.follow_up and q.context.startswith("How does the force assess")
    assert q.previous.startswith("The use of the THRIVE")
    assert len(q.searches) == 2


@pytest.mark.parametrize(
    ("earlier", "follow_up", "kind"),
    [
        ("What grade did the force get for efficiency?", "what about investigations?", "grade"),
        ("How many PCSOs does the force have?", "and the year before?", "count"),
        ("How many PCSOs does the force have?", "and has that number gone up?", "yesno"),
        ("What does the report say about THRIVE?", "what about the training?", "description"),
        ("What was the charge rate?", "how does that compare nationally?", "percentage"),
    ],
)
def test_a_follow_up_that_names_no_kind_asks_for_what_the_question_before_asked(
    engine: Engine, earlier: str, follow_up: str, kind: str
) -> None:
    history = [
        Turn(role="user", content=earlier),
        Turn(role="assistant", content="The report says ... [1]"),
    ]
    assert engine.understander.read(follow_up, history).expects.value == kind
    # Asked alone, it asks for nothing in particular.
    assert engine.understander.read(follow_up, []).expects.value in ("description", "yesno")


def test_a_follow_up_with_nothing_of_its_own_asks_about_the_last_question_that_named_something(
    engine: Engine,
) -> None:
    history = [
        Turn(role="user", content="What grade did the force get for protecting people?"),
        Turn(role="assistant", content="Good. [1]"),
        Turn(role="user", content="what about investigating crime?"),
        Turn(role="assistant", content="Requires improvement. [1]"),
    ]
    asked = engine.understander.read("why?", history)
    assert asked.expects.value == "reason"
    assert set(asked.focus) == {stem("investigating"), stem("crime")}
    assert asked.encoder_text == "why?"
    # Alone, or with a focus of its own, it keeps its own.
    assert engine.understander.read("why?", []).focus == ()
    assert engine.understander.read("why is custody slow?", history).focus == (
        stem("custody"),
        stem("slow"),
    )


def test_as_of_now_is_no_part_of_what_is_asked_about(engine: Engine) -> None:
    # "these days" would match "12 days", "so far" any "far".
    read = engine.understander.read
    assert read("how experienced are the officers these days", []).focus == (
        stem("experienced"),
        stem("officers"),
    )
    assert read("how many have left so far?", []).focus == (stem("left"),)


def test_an_abbreviation_the_reports_never_define_is_found_by_its_initials(
    engine: Engine,
) -> None:
    q = engine.understander.read("What does the report say about IOM?", [])
    assert "integrated offender management" in q.core_text.lower()


def _reader(doc: Document) -> Callable[[str, list[Turn]], Question]:
    """How an understander of this one report, knowing no English words, reads a question."""
    texts = [s.heading + "\n" + s.text for s in doc.sections]
    return Understander(
        vocabulary=Vocabulary([doc.title, *texts], english=frozenset()),
        abbreviations={},
        profiles=profiles([doc], common=frozenset()),
        titles=[doc.title],
        texts=texts,
    ).read


def test_an_abbreviation_may_be_spelt_by_a_word_in_capitals_and_the_words_after_it() -> None:
    text = (
        "PEEL 2015: Testshire Police\n\nHM Inspector of Constabulary Jane Roe said the force "
        "had done well. Hm, many matters remain.\n"
    )
    read = _reader(parse_report("t15", text))
    # "HMI": "HM Inspector", never the "Hm, many" a capital-blind reading would find too.
    q = read("who was the HMI?", [])
    assert q.encoder_text.endswith("(hm inspector)"), q.encoder_text
    assert {stem("hm"), stem("inspector")} <= set(q.focus), q.focus


def test_an_abbreviation_typed_in_lower_case_or_standing_for_a_list_is_spelt() -> None:
    text = (
        "PEEL 2021: Testshire Police\n\nThe police, fire and crime commissioner is Ann Lee.\n"
        "\nDirection\n\nThe chief constable is Tom Ray. The deputy chief constable is Kit Orr.\n"
    )
    read = _reader(parse_report("t21", text))
    # Typed in lower case: neither English nor a word of the reports.
    q = read("pfcc name?", [])
    assert q.encoder_text.endswith("(police, fire and crime commissioner)"), q.encoder_text
    # Never a phrase running from a heading into the line after it ("Direction / The chief
    # constable").
    assert read("who's the dcc", []).encoder_text.endswith("(deputy chief constable)")
    # A word the reports use is no abbreviation, however its letters run.
    assert "(" not in read("who is the chief?", []).encoder_text


def test_a_question_naming_a_force_or_a_year_is_scoped_to_its_reports() -> None:
    dunmere = "Greater Dunmere Police serves the city of Dunmere. Dunmere is large.\n"
    docs = [
        parse_report("a15", f"PEEL 2015: Greater Dunmere Police\n\n{dunmere}"),
        parse_report("a23", f"PEEL 2023–25: An inspection of Greater Dunmere Police\n\n{dunmere}"),
        parse_report("b16", "PEEL 2016: Kestrelshire Police\n\nKestrelshire Police serves it.\n"),
    ]
    p = profiles(docs, common=frozenset())
    known = frozenset()
    assert title_years("PEEL 2023–25") == {2023, 2024, 2025}
    assert named_reports("How did Dunmere do?", p, known=known) == ("a15", "a23")
    assert named_reports("How did GDP do in 2023?", p, known=known) == ("a23",)
    assert named_reports("How are Kestrels doing?", p, known=known) == ("b16",)
    assert named_reports("How did the force do?", p, known=known) is None
    # A year after "since" compares with another time; it does not name the report.
    assert named_reports("Has Dunmere improved since 2015?", p, known=known) == ("a15", "a23")


def test_a_neighbouring_force_a_report_mentions_is_not_the_force_it_is_about() -> None:
    text = (
        "PEEL 2015: Ravensworth Constabulary\n\nRavensworth Constabulary works closely with "
        "Northmoor Police. Northmoor Police shares its control room with Ravensworth.\n"
    )
    doc = parse_report("rav15", text)
    assert profiles([doc], common=frozenset())["rav15"].own == {"ravensworth"}
    read = _reader(doc)
    assert read("How did Northmoor Police do in its 2015 inspection?", []).other_force
    assert not read("How did Ravensworth Constabulary do in 2015?", []).other_force


def test_of_the_phrases_an_abbreviation_may_stand_for_the_one_among_the_questions_words() -> None:
    text = (
        "PEEL 2017: Brackenshire Constabulary\n\nThe force deserves credit for its progress. "
        "Of its 148 detective constable posts, 23 were vacant. Call handling posts are "
        "filled.\n"
    )
    read = _reader(parse_report("bra17", text))
    # Both phrases are written once: the one beside "posts" and "vacant" is meant.
    assert "(detective constable)" in read("how many DC posts are vacant", []).encoder_text
    # One that repeats the question's own words is not what it abbreviates.
    assert "handling posts" not in read("does HP answer call handling fast", []).encoder_text


@pytest.mark.parametrize(
    ("lead", "yes_no", "reply"),
    [
        ("The force is good at preventing crime.", False, "Good"),
        ("The force is good at preventing crime.", True, "Yes: graded 'good'"),
        ("However, the force is not yet good at investigating crime.", False, None),
        ("The force is no longer inadequate at protecting vulnerable people.", True, None),
    ],
)
def test_the_short_reply_is_a_grade_the_lead_gives_never_one_it_denies(
    lead: str, yes_no: bool, reply: str | None
) -> None:
    got = direct_reply(
        expects=AnswerType.GRADE, yes_no=yes_no, lead=lead, abbreviation=None, asked=frozenset()
    )
    assert got == reply
