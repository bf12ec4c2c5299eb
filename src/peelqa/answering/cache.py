"""Answers kept for questions asked again.

The same questions come back: everyone who opens the widget sees the same starter questions,
and tools re-ask a fixed list. An extractive answer depends only on the question, the history
and the index, so one made once is exact for as long as that index serves. Each `Engine` owns
its cache and a new index means a new engine, so an answer never outlives the index it came
from. A hit skips the encoder and retrieval; its cost is the HTTP round trip.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from peelqa.models import AskResponse, Turn


def cache_key(question: str, history: list[Turn], docs: Sequence[str] | None = None) -> bytes:
    """A fixed-size digest, so that 50 turns of history do not stay in memory as a key.

    Whitespace runs count as one space (the engine splits words the same way); case is kept,
    since capitals tell names apart. `docs`, the reports the answer is scoped to, counts too.
    """
    h = hashlib.blake2b(digest_size=16)
    for text in (question, *(f"{t.role}\x00{t.content}" for t in history)):
        h.update(" ".join(text.split()).encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    if docs is not None:
        h.update(b"\x02" + "\x00".join(docs).encode("utf-8", "surrogatepass"))
    return h.digest()


class AnswerCache:
    """A thread-safe least-recently-used map from `cache_key` to the answer; size 0 keeps none."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, AskResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> AskResponse | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: bytes, answer: AskResponse) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = answer
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
