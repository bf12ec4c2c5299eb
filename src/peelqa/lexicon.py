"""Words, stems and spelling: the lexical side of retrieval."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from rapidfuzz.distance import OSA

_WORD_RE = re.compile(r"[a-z0-9]+")

# General English function words, question words and the filler of chat and text-speak. Nothing
# here is about any one report: it only keeps such words from counting as topical evidence.
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

_stemmer = Stemmer.Stemmer("english")

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
    return _SHORTHAND_RE.sub(lambda m: _SHORTHAND[m.group(1).lower()], text)


def words(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words split ("anti-social" -> anti, social)."""
    return _WORD_RE.findall(text.lower().replace("’", "'").replace("'s ", " "))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def terms(text: str) -> list[str]:
    """Stems of the content words: what BM25 and the overlap scores compare."""
    return [stem(w) for w in content_words(text)]


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the packaged encoder's WordPiece vocabulary: a 30,000-word list of real
    English, so that a real word the reports happen not to use is never "corrected"."""
    from peelqa.embed import packaged_model_dir

    path = packaged_model_dir() / "vocab.txt"
    if not path.is_file():
        return frozenset()
    return frozenset(
        w for w in path.read_text(encoding="utf-8").split() if w.isalpha() and w.islower()
    )


# Distinct words whose corrections are remembered; bounded so odd input cannot grow memory.
MAX_MEMO_WORDS = 50_000


class Vocabulary:
    """The corpus's own words, to mend a user's spelling towards words the reports use."""

    def __init__(self, texts: Iterable[str]) -> None:
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(words(t))
        self.counts = counts
        self._corrected: dict[tuple[str, bool], list[str]] = {}
        self._by_len: dict[int, list[str]] = {}
        for w in counts:
            self._by_len.setdefault(len(w), []).append(w)

    def __contains__(self, word: str) -> bool:
        return word in self.counts

    def correct(self, word: str, *, compounds: bool = True) -> list[str]:
        """The word itself if known; else the nearest known spelling, or a split compound.

        Memoised per corpus: one question corrects its words three times (for the encoder,
        for BM25, for the fact rules), and the edit-distance scan is the costly part.
        """
        key = (word, compounds)
        found = self._corrected.get(key)
        if found is None:
            found = self._correct(word, compounds=compounds)
            if len(self._corrected) < MAX_MEMO_WORDS:
                self._corrected[key] = found
        return found

    def _correct(self, word: str, *, compounds: bool) -> list[str]:
        if word in self.counts or word in STOPWORDS or word.isdigit() or len(word) < 4:
            return [word]
        if word in english_words():
            return [word]
        if compounds:
            for i in range(3, len(word) - 2):  # "antisocial" -> "anti", "social"
                a, b = word[:i], word[i:]
                if a in self.counts and b in self.counts:
                    return [a, b]
        budget = 1 if len(word) < 7 else 2
        best: tuple[int, int, str] | None = None
        for n in range(len(word) - budget, len(word) + budget + 1):
            for cand in self._by_len.get(n, ()):
                d = _edit_distance(word, cand, budget)
                if d <= budget and (best is None or (d, -self.counts[cand]) < best[:2]):
                    best = (d, -self.counts[cand], cand)
        return [best[2]] if best is not None else [word]

    def mend(self, text: str) -> str:
        """The text's words with unknown spellings replaced by the corpus's nearest words."""
        return " ".join(x for w in words(text) for x in self.correct(w))

    def mend_in_place(self, text: str) -> str:
        """The text as typed, but with misspelt words corrected: what the encoder should read."""

        def fix(m: re.Match[str]) -> str:
            word = m.group()
            low = word.lower()
            if low in self.counts or low in STOPWORDS or len(low) < 4:
                return word
            return " ".join(self.correct(low))

        return re.sub(r"[A-Za-z]+", fix, text)


def _edit_distance(a: str, b: str, budget: int) -> int:
    """Optimal-string-alignment distance, capped at budget + 1 (anything past the budget).

    rapidfuzz's C++ OSA: the pure-Python table took ~80% of a question's retrieval time.
    """
    return min(int(OSA.distance(a, b, score_cutoff=budget)), budget + 1)
