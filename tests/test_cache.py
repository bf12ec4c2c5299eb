"""The answer cache: a repeated question gets the answer already made, without the encoder;
anything that could change the answer (history, a new index) misses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import DOC, ENGLISH
from fastapi.testclient import TestClient
from test_ops import metric

from peelqa.answering.cache import AnswerCache, cache_key
from peelqa.answering.engine import Engine
from peelqa.answering.retrieve import Retriever
from peelqa.config import Settings
from peelqa.encoder.base import Vectors
from peelqa.encoder.onnx import OnnxEmbedder
from peelqa.models import AskResponse, Turn
from peelqa.runtime import Components
from peelqa.server.app import create_app

QUESTION = "How does the force identify repeat and vulnerable victims?"


class Counting:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner: OnnxEmbedder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.texts = 0

    def encode(self, texts: list[str]) -> Vectors:
        self.texts += len(texts)
        return self.inner.encode(texts)


@pytest.fixture()
def counting(components: Components) -> Counting:
    assert isinstance(components.embedder, OnnxEmbedder)
    return Counting(components.embedder)


@pytest.fixture()
def cached_client(
    main_settings: Settings, components: Components, counting: Counting
) -> Iterator[TestClient]:
    engine = Engine(
        Retriever(index=components.index, embedder=counting),
        english=ENGLISH,
        cache=AnswerCache(8),
    )
    served = Components(embedder=counting, index=components.index, engine=engine)
    with TestClient(create_app(main_settings, components=served)) as c:
        yield c


def test_repeated_question_is_answered_from_the_cache(
    cached_client: TestClient, counting: Counting
) -> None:
    first = cached_client.post("/v1/ask", json={"question": QUESTION})
    encoded = counting.texts
    hits = metric(cached_client, "peelqa_cached_answers_total")
    answers = metric(cached_client, "peelqa_answers_total")
    # The same question, spaced differently: the same answer, no encoding.
    again = cached_client.post("/v1/ask", json={"question": "  " + QUESTION.replace(" ", "  ")})
    assert first.status_code == again.status_code == 200
    same = {k: v for k, v in again.json().items() if k != "id"}
    assert same == {k: v for k, v in first.json().items() if k != "id"} and same["answered"]
    assert counting.texts == encoded
    assert metric(cached_client, "peelqa_cached_answers_total") == hits + 1
    assert metric(cached_client, "peelqa_answers_total") == answers + 1
    # Each response still has its own request id.
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_history_and_case_make_a_different_question(
    cached_client: TestClient, counting: Counting
) -> None:
    cached_client.post("/v1/ask", json={"question": QUESTION})
    history = [{"role": "user", "content": "What is THRIVE?"}]
    for body in (
        {"question": QUESTION, "history": history},
        {"question": QUESTION.lower()},
    ):
        before = counting.texts
        assert cached_client.post("/v1/ask", json=body).status_code == 200
        assert counting.texts > before, body


def test_cached_answer_streams_like_a_fresh_one(cached_client: TestClient) -> None:
    fresh = cached_client.post("/v1/ask", json={"question": QUESTION}).json()
    with cached_client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as r:
        body = "".join(r.iter_text())
    assert r.status_code == 200 and "event: done" in body
    assert fresh["citations"][0]["doc"] == DOC and fresh["citations"][0]["quote"] in body


def test_lru_keeps_the_most_recent_and_size_zero_keeps_none() -> None:
    answer = AskResponse(answer="a", answered=False, citations=[])
    lru = AnswerCache(2)
    keys = [cache_key(q, []) for q in ("one", "two", "three")]
    lru.put(keys[0], answer)
    lru.put(keys[1], answer)
    assert lru.get(keys[0]) is answer  # now the most recent
    lru.put(keys[2], answer)
    assert lru.get(keys[1]) is None and lru.get(keys[0]) is answer and len(lru) == 2
    off = AnswerCache(0)
    off.put(keys[0], answer)
    assert off.get(keys[0]) is None and len(off) == 0


def test_key_separates_question_from_history() -> None:
    """Text cannot move between the question and the history and collide."""
    a = cache_key("a b", [Turn(role="user", content="c")])
    b = cache_key("a", [Turn(role="user", content="b c")])
    assert a != b
    assert cache_key("a  b", []) == cache_key("a b", [])


def test_chat_completions_share_the_cache(cached_client: TestClient, counting: Counting) -> None:
    """The OpenAI-compatible endpoint answers through the same call, so the same cache."""
    body = {"model": "peelqa", "messages": [{"role": "user", "content": QUESTION}]}
    first = cached_client.post("/v1/chat/completions", json=body)
    encoded = counting.texts
    hits = metric(cached_client, "peelqa_cached_answers_total")
    again = cached_client.post("/v1/chat/completions", json=body)
    assert first.status_code == again.status_code == 200
    content = [r.json()["choices"][0]["message"]["content"] for r in (first, again)]
    assert content[0] == content[1] and counting.texts == encoded
    assert metric(cached_client, "peelqa_cached_answers_total") == hits + 1
