"""Spelling: mending a user's words towards the words the reports use."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import OSA

from peelqa.text import MAX_CACHED_WORD_CHARS, STOPWORDS, words


@lru_cache(maxsize=4)
def english_words(path: Path) -> frozenset[str]:
    """Whole words of an encoder's WordPiece vocabulary (`vocab.txt` of the model in use): a
    30,000-word list of real English, so that a real word the reports happen not to use is
    never "corrected". Empty when the model has no such file."""
    if not path.is_file():
        return frozenset()
    return frozenset(
        w for w in path.read_text(encoding="utf-8").split() if w.isalpha() and w.islower()
    )


# Distinct words whose corrections are remembered, and the characters of words and corrections
# they may hold in all (about 2 MB as Python strings): bounded in entries and in size, so odd
# input cannot grow memory. Words past MAX_CACHED_WORD_CHARS are never remembered.
MAX_MEMO_WORDS = 50_000
MAX_MEMO_CHARS = 1_000_000


class Vocabulary:
    """The corpus's own words, to mend a user's spelling towards words the reports use."""

    def __init__(self, texts: Iterable[str], *, english: frozenset[str]) -> None:
        self.english = english
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(words(t))
        self.counts = counts
        self._corrected: dict[tuple[str, bool], list[str]] = {}
        self._memo_chars = 0
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
            chars = len(word) + sum(map(len, found))
            if (
                len(word) <= MAX_CACHED_WORD_CHARS
                and len(self._corrected) < MAX_MEMO_WORDS
                and self._memo_chars + chars <= MAX_MEMO_CHARS
            ):
                self._corrected[key] = found
                self._memo_chars += chars
        return found

    def _correct(self, word: str, *, compounds: bool) -> list[str]:
        if word in self.counts or word in STOPWORDS or word.isdigit() or len(word) < 4:
            return [word]
        if word in self.english:
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
        kept = _capitals(text)
        return " ".join(x for w in words(text) for x in ([w] if w in kept else self.correct(w)))

    def mend_in_place(self, text: str) -> str:
        """The text as typed, but with misspelt words corrected: what the encoder should read."""

        kept = _capitals(text)

        def fix(m: re.Match[str]) -> str:
            word = m.group()
            low = word.lower()
            if low in self.counts or low in STOPWORDS or len(low) < 4 or low in kept:
                return word
            return " ".join(self.correct(low))

        return re.sub(r"[A-Za-z]+", fix, text)


_CAPITALS_RE = re.compile(r"\b[A-Z]{2,}\b")


def _capitals(text: str) -> frozenset[str]:
    """The words typed in capitals (lower-cased), unless the whole text is: an abbreviation
    ("BAME"), never a misspelling of a word the reports use ("same")."""
    if text.isupper():
        return frozenset()
    return frozenset(w.lower() for w in _CAPITALS_RE.findall(text))


def _edit_distance(a: str, b: str, budget: int) -> int:
    """Optimal-string-alignment distance, capped at budget + 1 (anything past the budget).

    rapidfuzz's C++ OSA: the pure-Python table took ~80% of a question's retrieval time.
    """
    return min(int(OSA.distance(a, b, score_cutoff=budget)), budget + 1)
