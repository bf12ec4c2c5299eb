"""HTTP through the app (TestClient runs the lifespan), with the real model and index."""

import json

import pytest
from conftest import DOC, REPORT
from fastapi.testclient import TestClient

from peelqa.config import Settings
from peelqa.server.app import create_app


def error_of(r) -> dict:  # type: ignore[no-untyped-def]
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return body["error"]


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_healthz_is_503_before_the_index_is_loaded(main_settings: Settings) -> None:
    app = create_app(main_settings, components=None)
    with TestClient(app) as c:  # lifespan loads...
        app.state.service = None  # ...then pretend it has not finished
        r = c.get("/healthz")
        assert r.status_code == 503
        assert error_of(r)["code"] == "not_ready"
        r = c.post("/v1/ask", json={"question": "What grade did the force get?"})
        assert r.status_code == 503 and r.headers["retry-after"]


def test_ask_grade_cites_the_conclusion(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "What grade did the force get?"})
    assert r.status_code == 200
    body = r.json()
    assert body["answered"] is True
    assert "requires improvement" in body["answer"].lower()
    first = body["citations"][0]
    assert first["doc"] == DOC and first["section"] == "conclusion"
    assert first["heading"] == "Conclusion"
    assert set(first) == {"doc", "section", "heading", "path", "title", "quote", "score", "page"}
    assert first["path"] == ["Conclusion"] and first["page"] is None  # a text file has no pages
    report = REPORT.read_text()
    for c in body["citations"]:
        assert c["quote"] in report
    assert "[1]" in body["answer"]


def test_ask_off_topic_is_refused(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "Who won the 2015 general election?"})
    body = r.json()
    assert r.status_code == 200 and body["answered"] is False
    assert "does not" in body["answer"]


def test_ask_streams_citations_deltas_and_done(client: TestClient) -> None:
    plain = client.post(
        "/v1/ask", json={"question": "What is the THRIVE approach used for?"}
    ).json()
    with client.stream(
        "POST",
        "/v1/ask",
        json={"question": "What is the THRIVE approach used for?", "stream": True},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    names = [e for e, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    assert "".join(d["text"] for e, d in events if e == "delta") == plain["answer"]
    done = events[-1][1]
    assert done.pop("id") != plain.pop("id")  # each reply names itself, a repeated one too
    assert done == plain
    assert events[0][1] == plain["citations"]


def test_sections_list_and_one(client: TestClient) -> None:
    r = client.get("/v1/sections")
    assert r.status_code == 200
    ids = [(s["doc"], s["section"]) for s in r.json()]
    assert ids == [(DOC, x) for x in ["intro", "q1", "q2", "q3", "q4", "conclusion"]]
    one = client.get(f"/v1/sections/{DOC}/q3").json()
    assert one["heading"].startswith("How effective is the force at protecting")
    assert "THRIVE" in one["text"]


@pytest.mark.parametrize(
    ("path", "code"),
    [(f"/v1/sections/{DOC}/q9", "unknown_section"), ("/v1/sections/nope/q1", "unknown_document")],
)
def test_unknown_section_or_document_is_404(client: TestClient, path: str, code: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert error_of(r)["code"] == code


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    error_of(r)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"question": ""},
        {"question": "   \n\t "},
        {"question": "x" * 2001},
        {"question": 42},
        {"question": None},
        {"question": ["a list"]},
        {"question": "ok?", "history": "not a list"},
        {"question": "ok?", "history": [{"role": "system", "content": "hi"}]},
        {"question": "ok?", "history": [{"role": "user"}]},
        {"question": "ok?", "history": [{"role": "user", "content": "hi"}] * 51},
        {"question": "ok?", "stream": "maybe"},
    ],
)
def test_invalid_fields_are_422(client: TestClient, body: dict) -> None:  # type: ignore[type-arg]
    r = client.post("/v1/ask", json=body)
    assert r.status_code == 422, r.text
    assert error_of(r)["code"] == "invalid_request"


def test_question_at_the_limit_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "  " + "grade " * 333 + "  "})
    assert r.status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2", b"\xff\xfe", b"null", b"[]"])
def test_broken_json_is_422(client: TestClient, raw: bytes) -> None:
    r = client.post("/v1/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error_of(r)


def test_body_over_64_kib_is_413(client: TestClient) -> None:
    big = json.dumps({"question": "grade?", "history": [{"role": "user", "content": "x" * 70000}]})
    r = client.post("/v1/ask", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "body_too_large"


def test_chunked_body_over_64_kib_is_413(client: TestClient) -> None:
    def gen():  # type: ignore[no-untyped-def]
        yield b'{"question": "grade?", "history": [{"role": "user", "content": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}]}'

    r = client.post("/v1/ask", content=gen(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    error_of(r)


def test_wrong_method_is_405_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/ask")
    assert r.status_code == 405
    error_of(r)


def test_state_survives_bad_input(client: TestClient) -> None:
    for body in (b"{bad", b'{"question": ""}'):
        client.post("/v1/ask", content=body, headers={"content-type": "application/json"})
    r = client.post("/v1/ask", json={"question": "Who is Simon Edens?"})
    assert r.status_code == 200 and r.json()["answered"] is True


def test_openapi_describes_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/v1/ask", "/v1/sections", "/v1/sections/{doc}/{section}"} <= set(
        spec["paths"]
    )
