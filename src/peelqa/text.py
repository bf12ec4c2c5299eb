"""The text rules every stage shares: words, stems, stopwords, number words, the PEEL grade
scale, negation and the citation marker.

One copy of each: the answering engine, the fact rules, grounding of generated sentences and
the prompt all read text the same way, so a rule changed here changes everywhere at once.
Nothing here is about one report.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD_RE = re.compile(r"[a-z0-9]+")

# General English function words, question words and the filler of chat and text-speak. Nothing
# here is about any one report: it only keeps such words from counting as topical evidence.
# Words a phrase's initials skip ("Police and Crime Commissioner": PCC), wherever a phrase is
# matched to its abbreviation.
JOINING_WORDS = frozenset({"of", "and", "for", "the", "in", "on", "&", "to"})
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because
    been before being below between both but by can cannot could couldn did didn do does
    doesn doing don down during each either else ever few for from further get gets got
    had has hasn have haven having he her here hers herself him himself his how however
    i if in into is isn it its itself just let like ll may me might more most much must
    my myself neither no nor not now of off on once only or other ought our ours
    ourselves out over own per please pls plz re really s same say says said shall she
    should shouldn so some such t than that the their theirs them themselves then there
    these they this those through to too under until up upon us ve very was wasn we were
    weren what whats when where whether which while who whom whose why will with within
    without won would wouldn you your yours yourself yourselves r u ur n wat wot tho thx
    thanks thank hi hello hey ok okay yes yeah tell know explain describe mean means
    give show find anything something thing things kind sort lot lots bit really quite
    very one ones even still wanna gonna lemme im ive id dont doesnt didnt isnt arent
    wasnt werent cant wont many much often back yet already around
    """.split()
)

# PyStemmer's own cache off (size 0): it keeps 10,000 words of any length, a 2,000-letter
# "word" included; `stem` below keeps the words worth keeping.
_stemmer = Stemmer.Stemmer("english", 0)

# Chat shorthand, mapped to the words it stands for before anything else reads the question.
# Digits ("4", "2") are left alone: they are as often numbers as words.
_SHORTHAND = {
    "ppl": "people",
    "gud": "good",
    "abt": "about",
    "r": "are",
    "u": "you",
    "ur": "your",
    "b4": "before",
    "enuf": "enough",
    "wat": "what",
    "hw": "how",
    # Slips of three letters, which spelling leaves alone (it mends words of four or more),
    # and "thy", which is a word, but not one a user means.
    "thy": "they",
    "hav": "have",
    "wil": "will",
    "wot": "what",
    "whos": "who is",
    "thx": "thanks",
    "pls": "please",
    "plz": "please",
    "n": "and",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "govt": "government",
    "yr": "year",
    "hr": "hour",
    "hrs": "hours",
    "mins": "minutes",
    "secs": "seconds",
    "yrs": "years",
    "bein": "being",
    "dunno": "do not know",
    "gonna": "going to",
    "wanna": "want to",
    "shd": "should",
    "wd": "would",
    "cd": "could",
    "btw": "by the way",
    "msg": "message",
}
_SHORTHAND_RE = re.compile(r"\b(" + "|".join(map(re.escape, _SHORTHAND)) + r")\b", re.IGNORECASE)


def expand_shorthand(text: str) -> str:
    """'how gud r they' -> 'how good are they': helps the encoder and the word matching alike."""
    # One typed in capitals is an abbreviation ("HR" of "HR and payroll"), not shorthand.
    return _SHORTHAND_RE.sub(
        lambda m: (
            m.group()
            if len(m.group()) > 1 and m.group().isupper()
            else _SHORTHAND[m.group(1).lower()]
        ),
        text,
    )


def words(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words split ("anti-social" -> anti, social)."""
    return _WORD_RE.findall(text.lower().replace("’", "'").replace("'s ", " "))


# Words longer than this are not remembered by the word caches (stems here, spelling
# corrections in answering/spelling.py): English words stay under it ("internationalisation"
# is 20), and a run of 2,000 letters pasted as a question would otherwise be kept whole, a
# cache's worth of them tens of megabytes. With it a cache of N words holds under N * 24
# characters of keys: 65,536 stems stay within about 14 MB however odd the input.
MAX_CACHED_WORD_CHARS = 24


@lru_cache(maxsize=65536)
def _cached_stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def stem(word: str) -> str:
    if len(word) > MAX_CACHED_WORD_CHARS:
        return str(_stemmer.stemWord(word))
    return _cached_stem(word)


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def terms(text: str) -> list[str]:
    """Stems of the content words: what BM25 and the overlap scores compare."""
    return [stem(w) for w in content_words(text)]


# Counts written as words. A superset serves every reader: each says which it leaves out
# (grounding leaves out "one", which is far more often a pronoun than a count).
NUMBER_WORDS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "thousand": 1_000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
    "dozen": 12,
}
NUMBER_WORD_PATTERN = "|".join(NUMBER_WORDS)

# The PEEL grading scale, from best to worst: four grades until 2019, with "adequate" between
# good and requires improvement since 2021. "needs improvement" is how people say the grade
# below adequate.
GRADES = ("outstanding", "good", "adequate", "requires improvement", "inadequate")
GRADE_PATTERN = (
    r"outstanding|good|adequate|inadequate|(?:requires?|needs?|requiring|needing) improvement"
)
GRADE_RE = re.compile(rf"\b({GRADE_PATTERN})\b", re.IGNORECASE)


def canonical_grade(found: str) -> str:
    """A grade as the scale names it: any "... improvement" is "requires improvement"."""
    found = found.lower()
    return "requires improvement" if found.endswith("improvement") else found


# Words that say no. A prefix form ("ungraded", "unassessed") counts too (`is_negation`).
NEGATIONS = frozenset(
    """
    not no never cannot none nor neither without nothing nobody lack lacks lacking lacked
    fail fails failed failing unable insufficient
    """.split()
)


def is_negation(word: str) -> bool:
    return word in NEGATIONS or (word.startswith("un") and word.endswith("ed") and len(word) > 5)


# A citation marker: `[1]`, and the shapes models write as well (`[1, 2]`, `[1; 3]`).
MARKER_RE = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


def marker_numbers(match: re.Match[str]) -> list[int]:
    """The passage numbers one marker names, in its order."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
