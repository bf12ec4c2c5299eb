"""Request ids, the JSON access log and /metrics, through the real app."""

from __future__ import annotations

import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app

QUESTION = {"question": "What grade did the force get?"}
OFF_TOPIC = {"question": "Who won the 2015 general election?"}


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when it has not been counted yet)."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/healthz", None, 200),
        ("POST", "/v1/ask", QUESTION, 200),
        ("POST", "/v1/ask", {"question": ""}, 422),
        ("GET", "/v1/sections/nope/q1", None, 404),
        ("GET", "/v1/ask", None, 405),
        (
            "POST",
            "/v1/ask",
            {"question": "x", "history": [{"role": "user", "content": "y" * 70000}]},
            413,
        ),
    ],
)
def test_every_response_has_a_request_id(
    client: TestClient, method: str, path: str, body: object, status: int
) -> None:
    r = client.request(method, path, json=body)
    assert r.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_request_id_from_the_caller_is_kept(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "trace-42.abc:def"})
    assert r.headers["x-request-id"] == "trace-42.abc:def"


@pytest.mark.parametrize("given", ["two words", "x" * 129, "new\\nline", "é"])
def test_request_id_that_is_not_an_id_is_replaced(client: TestClient, given: str) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": given.encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_access_log_fields(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="peelqa.access"):
        client.post("/v1/ask", json=QUESTION, headers={"X-Request-ID": "log-test-1"})
        client.post("/v1/ask", json={"question": ""})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "peelqa.access"]
    ok, bad = lines[-2:]
    assert ok["request_id"] == "log-test-1" and ok["status"] == 200
    assert ok["method"] == "POST" and ok["route"] == "/v1/ask" and ok["caller"] == "ip:testclient"
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] > 0
    assert "question" not in ok and "What grade" not in json.dumps(lines)
    assert bad["status"] == 422 and bad["error"] == "invalid_request"


def test_questions_are_logged_only_when_asked(
    main_settings: Settings, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    settings = main_settings.model_copy(update={"log_questions": True})
    with (
        TestClient(create_app(settings, components=components)) as c,
        caplog.at_level(logging.INFO, logger="peelqa.access"),
    ):
        c.post("/v1/ask", json=QUESTION)
        c.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "What is THRIVE?"}]},
        )
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "peelqa.access"]
    assert [line["question"] for line in lines[-2:]] == [QUESTION["question"], "What is THRIVE?"]


def test_metrics_count_requests_latency_answers_refusals_and_errors(client: TestClient) -> None:
    ask = {"method": "POST", "route": "/v1/ask"}

    def counts() -> dict[str, float]:
        return {
            "ok": metric(client, "peelqa_requests_total", status="200", **ask),
            "latency": metric(client, "peelqa_request_duration_seconds_count", **ask),
            "answers": metric(client, "peelqa_answers_total"),
            "refusals": metric(client, "peelqa_refusals_total"),
            "invalid": metric(client, "peelqa_errors_total", status="422", code="invalid_request"),
            "too_big": metric(client, "peelqa_errors_total", status="413", code="body_too_large"),
        }

    before = counts()
    client.post("/v1/ask", json=QUESTION)
    client.post("/v1/ask", json=OFF_TOPIC)
    client.post("/v1/ask", json={"question": ""})
    client.post("/v1/ask", content=b"{" + b" " * 70000 + b"}")
    after = counts()
    # The 422 and the 413 were refused before any model work: neither answers nor refusals.
    assert {k: after[k] - before[k] for k in before} == {
        "ok": 2,
        "latency": 4,
        "answers": 1,
        "refusals": 1,
        "invalid": 1,
        "too_big": 1,
    }


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"peelqa_requests", "peelqa_request_duration_seconds", "peelqa_refusals"} <= names


def test_a_crash_still_answers_in_the_error_shape_with_an_id(
    main_settings: Settings, components: Components
) -> None:
    app = create_app(main_settings, components=components)

    @app.get("/crash")
    async def crash() -> None:  # a bug stands in for any unexpected error in a handler
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        before = metric(c, "peelqa_errors_total", status="500", code="internal")
        r = c.get("/crash")
        assert r.status_code == 500
        assert r.json() == {"error": {"code": "internal", "message": r.json()["error"]["message"]}}
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
        assert metric(c, "peelqa_errors_total", status="500", code="internal") == before + 1
