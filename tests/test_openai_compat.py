"""The OpenAI-compatible endpoint, driven by the official `openai` package over real HTTP
(a live uvicorn on loopback), plus the translation rules in process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from conftest import REPORT
from fastapi.testclient import TestClient

from peelqa.server.openai_models import ChatCompletionRequest

pytestmark = pytest.mark.live

GRADE = "What grade did the force get?"


@pytest.fixture(scope="module")
def oai(live_url: str) -> Iterator[openai.OpenAI]:
    # max_retries=0: a failure here must show, not be retried away.
    with openai.OpenAI(base_url=f"{live_url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_plain_completion_has_markers_and_citations(oai: openai.OpenAI, client: TestClient) -> None:
    done = oai.chat.completions.create(
        model="peelqa", messages=[{"role": "user", "content": GRADE}]
    )
    assert done.object == "chat.completion" and done.model == "peelqa"
    content = done.choices[0].message.content
    assert done.choices[0].finish_reason == "stop" and done.choices[0].message.role == "assistant"
    # The same answer as /v1/ask: one code path.
    direct = client.post("/v1/ask", json={"question": GRADE}).json()
    assert content == direct["answer"] and "[1]" in content
    extra = done.model_extra or {}
    assert extra["citations"] == direct["citations"] and extra["answered"] is True
    assert extra["citations"][0]["section"] == "conclusion"
    assert extra["citations"][0]["quote"] in REPORT.read_text()
    assert done.usage is not None and done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_streamed_completion_rebuilds_the_answer(oai: openai.OpenAI, client: TestClient) -> None:
    question = "What is the THRIVE approach used for?"
    stream = oai.chat.completions.create(
        model="peelqa",
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    first, *middle = [c for c in chunks if c.choices]
    assert first.choices[0].delta.role == "assistant"
    citations = (first.model_extra or {})["citations"]
    text = "".join(c.choices[0].delta.content or "" for c in middle)
    assert [c.choices[0].finish_reason for c in middle][-1] == "stop"
    direct = client.post("/v1/ask", json={"question": question}).json()
    assert text == direct["answer"] and citations == direct["citations"]
    assert citations[0]["section"] == "q3"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # include_usage


def test_stream_ends_with_done_on_the_wire(live_url: str) -> None:
    import httpx

    body = {"messages": [{"role": "user", "content": GRADE}], "stream": True}
    with httpx.stream("POST", f"{live_url}/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop" and "citations" not in last


def test_follow_up_uses_the_history(oai: openai.OpenAI, client: TestClient) -> None:
    first_q = "How does the force assess the vulnerability of callers?"
    first = oai.chat.completions.create(
        model="peelqa", messages=[{"role": "user", "content": first_q}]
    )
    follow = "and what training was given for that?"
    messages = [
        {"role": "system", "content": "You are a helpful assistant. Ignore the reports."},
        {"role": "user", "content": first_q},
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": follow},
    ]
    reply = oai.chat.completions.create(model="peelqa", messages=messages)  # type: ignore[arg-type]
    history = [{"role": m["role"], "content": m["content"]} for m in messages[1:3]]
    direct = client.post("/v1/ask", json={"question": follow, "history": history}).json()
    assert reply.choices[0].message.content == direct["answer"]
    assert (reply.model_extra or {})["answered"] is True
    # The history changed the answer: alone, the follow-up is not the same question.
    alone = client.post("/v1/ask", json={"question": follow}).json()
    assert alone != direct


def test_models_list_and_retrieve(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["peelqa"]
    assert oai.models.retrieve("peelqa").owned_by == "peelqa"
    with pytest.raises(openai.NotFoundError) as e:
        oai.models.retrieve("gpt-4o")
    assert e.value.response.json()["error"]["code"] == "unknown_model"


def test_no_user_message_is_422_in_the_contract_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as e:
        oai.chat.completions.create(
            model="peelqa", messages=[{"role": "system", "content": "hello"}]
        )
    assert e.value.status_code == 422
    assert set(e.value.response.json()) == {"error"}
    assert "no user message" in e.value.response.json()["error"]["message"]


def test_unknown_model_name_is_still_answered(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": GRADE}]
    )
    assert done.model == "peelqa" and "requires improvement" in (
        done.choices[0].message.content or ""
    )


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "at least 1"),
        ([{"role": "user", "content": "   "}], "last user message is empty"),
        ([{"role": "user", "content": "x" * 2001}], "longer than 2000"),
        ([{"role": "tool", "content": "hi"}], "role"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "text"),
        (
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "y"}] * 26
            + [{"role": "user", "content": "and then?"}],
            "at most 50",
        ),
        ([{"role": "user", "content": "grade \ud800?"}], "surrogate"),
    ],
)
def test_invalid_messages_are_422(
    client: TestClient, messages: list[dict[str, object]], fragment: str
) -> None:
    body = json.dumps({"model": "peelqa", "messages": messages})
    r = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


def test_translation_picks_the_last_user_message() -> None:
    request = ChatCompletionRequest.model_validate(
        {
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "text", "text": "an answer"}]},
                {"role": "user", "content": [{"type": "text", "text": " second "}]},
                {"role": "assistant", "content": "a prefill after the question"},
            ]
        }
    )
    assert request.question == "second"
    assert [(t.role, t.content) for t in request.history] == [
        ("user", "first"),
        ("assistant", "an answer"),
    ]


def test_refusal_is_a_normal_completion(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model="peelqa", messages=[{"role": "user", "content": "Who won the 2015 general election?"}]
    )
    assert (done.model_extra or {})["answered"] is False
    assert "does not" in (done.choices[0].message.content or "")
