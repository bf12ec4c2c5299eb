"""The word caches (stems in text.py, spelling corrections in answering/spelling.py) are bounded
in bytes, not only in entries: questions of one 2,000-letter "word" each do not pile up."""

from __future__ import annotations

import random
import string
import tracemalloc
from collections.abc import Callable

from conftest import ENGLISH

from peelqa.answering.spelling import MAX_MEMO_CHARS, Vocabulary
from peelqa.config import Settings
from peelqa.runtime import Components, make_engine
from peelqa.text import MAX_CACHED_WORD_CHARS, stem


def long_words(n: int, length: int = 2000, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choices(string.ascii_lowercase, k=length)) for _ in range(n)]


def kept_bytes(work: Callable[[], None]) -> int:
    """Bytes still allocated after `work` (what it left behind in caches)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_four_thousand_long_words_leave_nothing_in_the_stem_cache() -> None:
    """The stem cache kept 4,000 x (2,000 characters and its stem): about 16 MB."""
    seed = random.randrange(1 << 30)  # fresh words: none of them can be cached already

    def work() -> None:
        for word in long_words(4000, seed=seed):
            assert stem(word)

    assert kept_bytes(work) < 1_000_000
    assert stem("inspections") == "inspect"


def test_four_thousand_long_words_leave_nothing_in_the_spelling_memo() -> None:
    vocabulary = Vocabulary(["The force was inspected by the inspectorate."], english=ENGLISH)
    words = long_words(4000)

    def work() -> None:
        for word in words:
            vocabulary.correct(word, compounds=False)

    assert kept_bytes(work) < 1_000_000
    # Short words are still remembered, and the memo holds no more than its budget.
    assert vocabulary.correct("inspectd") == ["inspected"]
    assert ("inspectd", True) in vocabulary._corrected
    many = ["".join(w) for w in zip(*[iter(long_words(1, length=400_000)[0])] * 20, strict=False)]
    for word in many:
        vocabulary.correct(word, compounds=False)
    assert vocabulary._memo_chars <= MAX_MEMO_CHARS
    assert MAX_CACHED_WORD_CHARS < 2000


def test_long_one_word_questions_do_not_grow_the_engine(components: Components) -> None:
    """Through the engine as a question takes it, with the answer cache off: what is left
    after 100 such questions is small and does not grow with them."""
    engine = make_engine(components.index, components.embedder, settings=Settings(answer_cache=0))
    engine.ask(question="What grade did the force get?", history=[])  # warm what is warmed once
    questions = long_words(100, seed=11)

    def work() -> None:
        for q in questions:
            engine.ask(question=q, history=[])

    assert kept_bytes(work) < 2_000_000
