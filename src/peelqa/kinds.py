"""Kinds of answer: what a question asks for, and which kinds a sentence carries.

These are generic rules of English and of the PEEL family (its grade scale), never of one
report: "how many" asks for a count, "£2.4 million" is an amount of money. They feed the
answer model as features (a sentence that carries the kind asked for is more likely the
answer); none of them refuses anything by itself.
"""

from __future__ import annotations

import re
from enum import StrEnum

from peelqa.text import GRADE_PATTERN, JOINING_WORDS, NUMBER_WORD_PATTERN, canonical_grade


class AnswerType(StrEnum):
    GRADE = "grade"
    PERCENTAGE = "percentage"
    COUNT = "count"
    MONEY = "money"
    DATE = "date"
    DURATION = "duration"
    PERSON = "person"
    ORGANISATION = "organisation"
    DEFINITION = "definition"
    REASON = "reason"
    LIST = "list"
    YESNO = "yesno"
    DESCRIPTION = "description"


# The kinds a sentence can be seen to carry, in the order of the sentence flags.
CARRIED = (
    AnswerType.GRADE,
    AnswerType.PERCENTAGE,
    AnswerType.COUNT,
    AnswerType.MONEY,
    AnswerType.DATE,
    AnswerType.DURATION,
    AnswerType.PERSON,
    AnswerType.ORGANISATION,
    AnswerType.DEFINITION,
    AnswerType.REASON,
    AnswerType.LIST,
)

_I = re.IGNORECASE

# -- what a question asks for (first match wins; the order puts the narrower kinds first) -----

_ACRONYM = r"[A-Z][A-Za-z&]?[A-Z&]{1,7}s?"
_QUESTION_KINDS: list[tuple[AnswerType, re.Pattern[str]]] = [
    (
        AnswerType.DEFINITION,
        re.compile(
            rf"\bstands? for\b|\bacronym\b|\babbreviation\b|\bshort for\b|\bmeaning of\b"
            rf"|\b(?i:what (?:does|do)) (?:the )?(?:{_ACRONYM}|[a-z]{{2,6}}) (?i:mean|stand)\b"
            rf"|\b(?i:what(?:'s|’s|s| is| are)) (?:an? |the )?{_ACRONYM}\??$"
            rf"|\b(?i:meaning)\W*$"
            rf"|^\s*{_ACRONYM}\?$",
        ),
    ),
    (AnswerType.REASON, re.compile(r"^\s*(?:and |so |but )?why\b|\bhow come\b", _I)),
    (
        AnswerType.GRADE,
        re.compile(
            r"\bgrade[sd]?\b|\bgrading\b|\brat(?:ed|ing|ings)\b|\bjudge?(?:d|ment|ments)\b"
            r"|\bjudgments?\b|\bverdict\b|\bscored?\b|\bassessed as\b"
            r"|\b(?:did|does|do|how)\b.{0,40}\brate\b"
            r"|\bconclu(?:de|ded|sion)\b.{0,40}\boverall\b|\boverall (?:conclusion|verdict)\b"
            r"|\b(?:do|did|does|doing|done|perform|performed|performing) (?:\w+ )?"
            r"(?:well|badly|good|poorly)\b|\bany good\b|\bhow good\b|\bpass(?:ed)?\b"
            # "how bad is the force at answering calls?", not "how bad is the backlog?".
            r"|\bhow (?:bad|poor)\b.{0,40}\bat\b"
            # "how did they do?", "how'd X get on?": asking for the verdict, in other words.
            r"|\bhow(?: well)?(?:'d|’d| did| does| do| is| are| was| were)\b(?:\W+\w+){0,4}?\W+"
            r"(?:do|doing|get(?:ting)? on|got on|fare[ds]?|faring|perform(?:ed|ing)?)\b"
            r"(?!\W+(?:about|with|to|it|that|this|so)\b)"
            # "What did the force get for efficiency?": what a force gets is its grade.
            r"|\bwhat (?:did|does|do)\b(?:\W+\w+){1,4}?\W+get\b(?!\W+(?:done|to|rid|back|wrong)\b)"
            # "How effective is the force at ...?": the words of the PEEL pillars' questions.
            r"|\bhow (?:effective|efficient|legitimate)(?:ly)?\b"
            r"|\bhow well (?:is|are|was|were|does|do|did|has|have)\b",
            _I,
        ),
    ),
    (
        AnswerType.PERCENTAGE,
        re.compile(r"\bper ?cent|\bpercentage|\bproportion\b|\bwhat share\b|%|\bwhat rate\b", _I),
    ),
    (
        AnswerType.MONEY,
        re.compile(
            r"\bhow much (?:money|funding|did .* cost|does .* cost|was .* budget)"
            r"|\bhow much\b.{0,40}\blosses\b"
            # "How much is the chief constable paid?", "how much did the sale raise?"
            r"|\bhow much\b.{0,60}\b(?:paid|pay|pays|payments?|worth|raised?|charged?|earns?"
            r"|earned|sold for)\b|\bsalar(?:y|ies)\b|\bwages?\b"
            r"|\b(?:budget|budgets|cost|costs|costing|spend|spent|spending|funding|funded"
            r"|savings?|saved|save|reserves?|pounds|£|million|grant|overspend|underspend)\b",
            _I,
        ),
    ),
    (
        AnswerType.DURATION,
        re.compile(
            r"\bhow long\b(?! ago)|\bhow quick(?:ly)?\b|\bhow fast\b|\bhow soon\b"
            r"|\bwait(?:ing)? times?\b|\bwaits?\b"
            r"|\b(?:average|median|mean|typical)\b(?:\W+\w+){0,4}?\W+times?\b"
            r"|\b(?:response|attendance|answering|arrival) times?\b",
            _I,
        ),
    ),
    # How much a figure changed ("by how much did crime fall?"): reports state a change as a
    # percentage ("fell by 11 percent"), whatever was counted.
    (
        AnswerType.PERCENTAGE,
        re.compile(
            r"\bby how much\b|\bhow much\b.{0,60}\b(?:fall|fell|fallen|drop|dropped|rise|rose"
            r"|risen|increase|increased|decrease|decreased|reduce|reduced|cut|grow|grew|grown"
            r"|(?:go|gone|went) (?:up|down))\b",
            _I,
        ),
    ),
    (
        AnswerType.COUNT,
        re.compile(
            r"\bhow many\b|\bnumber of\b|\bhow much\b|\bno\.? of\b"
            r"|\bwhat(?:'s|’s|s| is| was)? the population\b"
            r"|\bvacanc(?:y|ies)\b|\bhow short\b|\bhow (?:big|large)\b",
            _I,
        ),
    ),
    # "Who is the chief constable and when did she take over?": the person first, then since when.
    (
        AnswerType.PERSON,
        re.compile(
            r"\bwho(?:'s|’s| is| was| are| were)\b(?:\W+\w+){1,8}?\W+and (?:when|since)\b", _I
        ),
    ),
    (
        AnswerType.DATE,
        re.compile(
            r"^\s*when\b|\bwhen (?:was|were|did|is|will|does)\b|\bwhat (?:year|date|month)\b"
            r"|\bsince when\b|\bhow long ago\b|\bwhich year\b",
            _I,
        ),
    ),
    (
        AnswerType.ORGANISATION,
        re.compile(
            r"\bwhich (?:organisations?|partners?|agenc(?:y|ies)|units?|teams?|bod(?:y|ies)"
            r"|forces?|charit(?:y|ies)|trusts?|services?)\b"
            r"|\bwho (?:does|do|did|will|is|are) .+ (?:work|partner|share|run|team(?:ed|ing)? up"
            r"|collaborat(?:e|ed|ing)|join(?:ed|ing)? up)s?\b(?:\W+\w+){0,4}?\W+with\b"
            r"|\bwhat (?:unit|team|organisation|agency|body|charity)\b",
            _I,
        ),
    ),
    (
        AnswerType.PERSON,
        re.compile(
            r"^\s*who\b|\bwho(?:'s|’s| is| was| are| were| leads| led| heads| runs| wrote)\b"
            r"|\bname of the\b|\bname\W*$|\bwhose\b"
            r"|\bwho (?:signed|led|chairs|chaired|wrote|leads)\b"
            r"|\bwhich (?:\w+ )?(?:officer|person|inspector|chief|commissioner|constable"
            r"|mayor|superintendent)\b",
            _I,
        ),
    ),
    (AnswerType.REASON, re.compile(r"\bwhy\b|\breasons?\b|\bhow come\b|\bwhat caused\b", _I)),
    # Figures reports give as percentages: an arrest, charge or answer rate (a crime rate is
    # per 1,000 people), victims' satisfaction, the accuracy of crime recording. After the
    # count, date, person and reason rules: "how many victims were satisfied?" asks a count.
    (
        AnswerType.PERCENTAGE,
        re.compile(
            r"(?<!crime )\brate\b(?!\s+(?:per|of (?:crime|offending))\b)"
            r"|\bsatisf(?:action|ied)\b|\bhow accurate(?:ly)?\b",
            _I,
        ),
    ),
    (
        AnswerType.LIST,
        re.compile(
            r"\bareas? for improvement\b|\brecommendations?\b|\bcauses? of concern\b|\blist\b"
            r"|\bwhat are the (?:main|key|four|three|five|areas|things|questions)\b"
            r"|\bwhich areas\b|\bwhat (?:must|should|needs? to) (?:the force|they|it)\b"
            r"|\bwhat (?:does|do|did|should|must) (?:the force|they|it|\w+) (?:need|have) to do\b"
            # "What does HMIC say the force needs to improve?", "what must HP do to improve X?"
            r"|\bwhat\b(?:\W+\w+){0,7}?\W+(?:needs?|must|has|have|had|expects?|expected)"
            r"(?:\W+\w+){0,3}?\W+(?:improve|fix|address|do)\b"
            r"|\bwhat (?:concerns|weaknesses|strengths|priorities|strands|risks|areas)\b"
            r"|\bwhat (?:improvements|changes)\b",
            _I,
        ),
    ),
]
_YESNO = re.compile(
    r"^\s*(?:so |and |but |ok,? )?(?:is|are|was|were|does|do|did|has|have|had|can|could|will"
    r"|would|should|shall|must|isn't|aren't|wasn't|doesn't|didn't|hasn't|haven't)\b",
    _I,
)


_GRADE_WORD = re.compile(rf"\b(?:{GRADE_PATTERN})\b", _I)


def expected_type(question: str) -> AnswerType:
    """What kind of answer a question asks for. A yes/no question naming a grade ("is the
    force outstanding?") asks for the grade."""
    if _YESNO.search(question) and _GRADE_WORD.search(question):
        return AnswerType.GRADE
    for kind, pattern in _QUESTION_KINDS:
        if pattern.search(question):
            return kind
    return AnswerType.YESNO if _YESNO.search(question) else AnswerType.DESCRIPTION


def is_yes_no(question: str) -> bool:
    return bool(_YESNO.search(question))


# -- what a sentence carries ---------------------------------------------------------------

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"january|february|march|april|may|june|july|august|september|october|november|december"
_UNIT = r"seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?"
# Not followed by a ratio's words ("3 times more likely", "three times as many").
_RATIO = r"(?!\s?times\s(?:more|less|as|higher|lower|greater)\b)"
# Number words that count things; "million" and "billion" scale a number already counted.
# A number that counts something: not a year, a percentage, an amount of money, a duration
# or a figure in millions (zero-width checks, so their order does not matter).
_COUNT_FIGURE = (
    rf"(?<![£\d.,])(?<!\bper )\b(?!{_YEAR}\b)\d[\d,]*\b"
    rf"(?![\d.,]*\s?(?:%|per ?cent|percent|{_UNIT})\b)"
    r"(?!\s?(?:million|billion|bn|m)\b)"
    # ... nor a decimal's whole part ("3.1 times"), a ratio ("3 times more likely") or a
    # rate's denominator ("per 1,000 people"): none counts anything.
    rf"(?![.,]\d){_RATIO}"
    # ... nor the day of a date ("31 October 2023").
    rf"(?!\s(?:{_MONTH})\b)"
    # ... nor the police's phone numbers ("999 calls", "999 and 101 calls", "the 101 line").
    r"(?<!,)(?<!(?<![\d.,])(?:999|101)(?=(?:\s(?:and|or)\s(?:999|101))?\s(?:(?:non-)?emergency\s)?"
    r"(?:calls?|callers?|lines?|services?|numbers?|contacts?)\b))"
)
_COUNT_WORDS = "|".join(
    w for w in NUMBER_WORD_PATTERN.split("|") if w not in ("million", "billion")
)
_ORG_NOUNS = (
    r"Police|Constabulary|Council|Trust|Unit|Team|Hub|Service|Services|Partnership|Board"
    r"|Agency|Commission|Commissioner's Office|Office|Authority|Centre|Center|Group|Panel"
    r"|Network|Foundation|Programme|Project|Forum|Scheme|Court|Prison|Probation|NHS|CPS"
    r"|Department|Directorate|College|University|School|Charity|Aid|Network"
)
_ROLES = (
    r"Chief Constable|Deputy Chief Constable|Assistant Chief Constable|Chief Superintendent"
    r"|Superintendent|Chief Inspector|Inspector|Sergeant|Constable|Commissioner|Mayor"
    r"|Deputy Mayor|HM Inspector|Mr|Mrs|Ms|Miss|Dr|Sir|Dame|Lord|Lady|Professor"
)
_CARRIERS: dict[AnswerType, re.Pattern[str]] = {
    AnswerType.GRADE: re.compile(rf"\b(?:{GRADE_PATTERN})\b", _I),
    AnswerType.PERCENTAGE: re.compile(
        r"\d[\d.,]*\s?(?:%|per ?cent\b|percentage points?)|\b(?:half|a third|a quarter"
        r"|two thirds|three quarters)\b",
        _I,
    ),
    AnswerType.MONEY: re.compile(
        r"£\s?\d|\b\d[\d.,]*\s?(?:million|billion|bn|m)\s?(?:pounds)?\b(?=.{0,40}"
        r"(?:budget|cost|sav|spend|fund|reserve|£|pounds))|\bpounds\b",
        _I,
    ),
    AnswerType.COUNT: re.compile(
        rf"{_COUNT_FIGURE}|\b(?:{_COUNT_WORDS})\b(?!\s(?:{_UNIT})\b){_RATIO}",
        _I,
    ),
    AnswerType.DATE: re.compile(
        rf"\b{_YEAR}(?:/\d\d)?\b|\b(?:{_MONTH})\b|\b(?:spring|summer|autumn|winter)\b", _I
    ),
    AnswerType.DURATION: re.compile(
        rf"\b(?:\d[\d.,]*|{NUMBER_WORD_PATTERN}|a|an|several|few)\s?(?:-\s?)?(?:{_UNIT})\b",
        _I,
    ),
    AnswerType.PERSON: re.compile(
        rf"\b(?:{_ROLES})\.?\s+[A-Z][a-z’'-]+"
        rf"|\b[A-Z][a-z]+ (?!(?:{_ORG_NOUNS})\b)[A-Z][a-z’'-]{{2,}}\b(?! (?:{_ORG_NOUNS})\b)"
    ),
    AnswerType.ORGANISATION: re.compile(
        rf"\b(?:[A-Z][\w’'&-]*\s(?:(?:and|of|for|the|&)\s)?)+(?:{_ORG_NOUNS})\b"
        rf"|\(([A-Z][A-Za-z]?[A-Z&]{{1,7}})\)"
    ),
    AnswerType.DEFINITION: re.compile(
        r"\b[A-Z][a-z]+(?:\s(?:[A-Z][a-z]+|and|of|for|the|&))+\s\([A-Z][A-Za-z]?[A-Z&]{1,7}s?\)"
        r"|\b(?:stands for|is short for|means|is an? (?:approach|scheme|programme|model|tool"
        r"|process|system|unit|team|initiative|framework))\b"
    ),
    AnswerType.REASON: re.compile(
        r"\b(?:because|as a result|due to|owing to|caused by|so that|therefore|this means"
        r"|which means|meaning that|reasons?|since)\b",
        _I,
    ),
    AnswerType.LIST: re.compile(r"\b(?:including|such as|for example|the following)\b", _I),
}


# A sentence naming four or more of the grades, or the scale itself, explains the grading
# ("Our grades are outstanding, good, adequate, ..."): it grades nothing.
_SCALE_RE = re.compile(r"\b(?:(?:five|four|5|4)[- ]point|grading) scale\b|\bscale of\b", _I)
SCALE_GRADES = 4


def explains_grades(text: str) -> bool:
    found = {canonical_grade(m.group(0)) for m in _GRADE_WORD.finditer(text)}
    return len(found) >= SCALE_GRADES or bool(_SCALE_RE.search(text))


def carried(text: str, *, list_item: bool = False) -> tuple[bool, ...]:
    """Which kinds of answer a sentence carries, in the order of `CARRIED`."""
    flags = [carries(kind, text) for kind in CARRIED]
    if list_item:
        flags[CARRIED.index(AnswerType.LIST)] = True
    return tuple(flags)


def counts_of(text: str, focus_prefixes: list[str], *, window: int = 6) -> bool:
    """Whether a number in the sentence counts one of the focus words ("34 active organised
    crime groups" counts groups): a focus word within `window` words after the number."""
    tokens = text.lower().split()
    for i, tok in enumerate(tokens):
        if _COUNT_TOKEN.fullmatch(tok.strip("(),;:")) and not _YEAR_TOKEN.fullmatch(tok):
            after = tokens[i + 1 : i + 1 + window]
            if after and after[0].startswith(("%", "per")):
                continue  # a percentage counts nothing
            if any(w.startswith(p) for w in after for p in focus_prefixes):
                return True
    return False


_COUNT_TOKEN = re.compile(rf"\d[\d,]*|{_COUNT_WORDS}")
_YEAR_TOKEN = re.compile(rf"{_YEAR}\W*")


# Bits of a sentence's flags (stored with the index, one small integer a sentence): the kinds
# of `CARRIED` first, then where the sentence stands.
LIST_ITEM_BIT = len(CARRIED)
TABLE_ROW_BIT = len(CARRIED) + 1
FIRST_BIT = len(CARRIED) + 2
GRADES_BIT = len(CARRIED) + 3  # names two or more grades (a summary of grades)
FLAG_BITS = len(CARRIED) + 4


def sentence_flags(text: str, *, block_kind: str, first: bool) -> int:
    """A sentence's flags as bits: the kinds it carries, whether it is a list item or a
    table row, and whether it opens its section."""
    bits = 0
    for i, flag in enumerate(carried(text, list_item=block_kind == "list_item")):
        bits |= int(flag) << i
    bits |= int(block_kind == "list_item") << LIST_ITEM_BIT
    bits |= int(block_kind == "table_row") << TABLE_ROW_BIT
    bits |= int(first) << FIRST_BIT
    grades = {m.group(0).lower() for m in _GRADE_WORD.finditer(text)}
    bits |= int(len(grades) >= 2) << GRADES_BIT
    return bits


# The phrase a direct reply states for each kind of figure, as the sentence writes it.
_REPLY_SPANS: dict[AnswerType, re.Pattern[str]] = {
    AnswerType.PERCENTAGE: re.compile(r"\d[\d.,]*\s?(?:%|per ?cent\b|percentage points?)", _I),
    AnswerType.MONEY: re.compile(r"£\s?\d[\d.,]*(?:\s?(?:million|billion|bn|m|k)\b)?", _I),
    AnswerType.COUNT: re.compile(
        _COUNT_FIGURE,
        _I,
    ),
    AnswerType.DURATION: re.compile(
        rf"\b(?:\d[\d.,]*|{NUMBER_WORD_PATTERN})\s?(?:-\s?)?(?:{_UNIT})\b", _I
    ),
    AnswerType.DATE: re.compile(
        rf"\b(?:(?:early |late |the )?(?:{_MONTH}|spring|summer|autumn|winter)(?: of)? )?"
        rf"{_YEAR}(?:/\d\d)?\b|\b(?:{_MONTH}) {_YEAR}\b",
        _I,
    ),
}


def reply_span(kind: AnswerType, text: str, *, asked: frozenset[str] = frozenset()) -> str | None:
    """The one phrase of the asked kind the sentence states, or None (none, or several).
    `asked`: figures the question itself typed ("999" of "how many 999 calls"), never the
    answer to it."""
    pattern = _REPLY_SPANS.get(kind)
    if pattern is None:
        return None
    found = {m.group(0).strip() for m in pattern.finditer(text)} - asked
    return found.pop() if len(found) == 1 else None


_FIGURE_RE = re.compile(r"\d[\d,.]*\d|\d")
# The kinds of answer a figure carries (a question's own figures are none of them).
FIGURE_KINDS = frozenset(
    [
        AnswerType.COUNT,
        AnswerType.PERCENTAGE,
        AnswerType.MONEY,
        AnswerType.DATE,
        AnswerType.DURATION,
    ]
)


def figures_in(text: str) -> frozenset[str]:
    """The figures a text writes ("999", "2,140", "3.2")."""
    return frozenset(_FIGURE_RE.findall(text))


def without_figures(text: str, figures: frozenset[str]) -> str:
    """The text with these figures blanked out (whole figures only: "999" not of "1,999")."""
    if not figures:
        return text
    alternatives = "|".join(map(re.escape, sorted(figures)))
    return re.sub(rf"(?<![\d.,])(?:{alternatives})(?![\d]|[.,]\d)", " ", text)


def carries(kind: AnswerType, text: str, *, besides: frozenset[str] = frozenset()) -> bool:
    """Whether a sentence carries a figure or phrase of this kind, not counting the figures in
    `besides` (those the question typed: "68.4 percent of 999 calls" counts no calls)."""
    if not _CARRIERS[kind].search(without_figures(text, besides)):
        return False
    return kind != AnswerType.GRADE or not explains_grades(text)


# The words of a phrase an abbreviation spells ("multi-agency" is two); joining words, and an
# article, spell no letter.
_SPELLING_WORD_RE = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
_SPELLING_JOINERS = JOINING_WORDS | {"a", "an"}
# Up to this many letters an abbreviation's words come in its order; longer ones may be listed
# in another ("THRIVE": "threat, risk, harm, investigation, vulnerability and engagement").
_ORDERED_UP_TO = 3


def spells(text: str, short: str) -> bool:
    """Whether a sentence spells out an abbreviation: a run of its words (joining words
    aside) whose initials are the abbreviation's letters. What a definition question asks for
    is the phrase, not another sentence using the short form."""
    letters = short.lower()
    if len(short) > 2 and short.endswith("s") and short[:-1].isupper():
        letters = letters[:-1]  # "DCs"
    n = len(letters)
    if n < 2:
        return False
    initials = [
        w[0].lower() for w in _SPELLING_WORD_RE.findall(text) if w.lower() not in _SPELLING_JOINERS
    ]
    want = sorted(letters)
    for i in range(len(initials) - n + 1):
        run = initials[i : i + n]
        if "".join(run) == letters or (n > _ORDERED_UP_TO and sorted(run) == want):
            return True
    return False


# The roles a question may ask who holds, longest first so that "deputy chief constable" is
# never read as "chief constable"; each with the one name it goes by (`roles_in`). "HM chief
# inspector" stands before "chief inspector", which it is not.
_ROLE_NAMES: list[tuple[str, str]] = [
    (r"deputy chief constables?|dccs?", "deputy chief constable"),
    (r"assistant chief constables?|accs?", "assistant chief constable"),
    (r"(?:temporary |acting )?chief constables?", "chief constable"),
    (r"chief superintendents?", "chief superintendent"),
    (r"(?:detective )?superintendents?", "superintendent"),
    (r"hm chief inspector(?: of constabulary)?", "hm chief inspector"),
    (r"(?:detective )?chief inspectors?|dcis?", "chief inspector"),
    (
        r"(?:hm|his majesty['’]s|her majesty['’]s) inspectors?(?: of constabulary)?|hmis?",
        "hm inspector",
    ),
    (r"deputy police(?:,)? (?:fire )?and crime commissioners?", "deputy commissioner"),
    # One role, whether or not the commissioner also oversees fire and rescue.
    (r"police(?:,)? (?:fire )?and crime commissioners?|pf?ccs?", "commissioner"),
    (r"deputy mayors?", "deputy mayor"),
    (r"chief executives?", "chief executive"),
]
_ROLE_RE = re.compile(
    r"\b(?:" + "|".join(f"({pattern})" for pattern, _ in _ROLE_NAMES) + r")\b", _I
)


def roles_in(text: str) -> frozenset[str]:
    """The roles a text names ("Deputy Chief Constable Joanna Pryde": "deputy chief
    constable"), one name each, whatever the abbreviation or plural."""
    return frozenset(
        _ROLE_NAMES[m.lastindex - 1][1] for m in _ROLE_RE.finditer(text) if m.lastindex
    )
