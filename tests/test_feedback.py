"""Feedback and usage through the real app: `POST /v1/feedback` and its errors, feedback that
survives a restart, the admin key, question text only when asked for, the usage page and
`peelqa usage`, a database that is slow or down, and two app instances over one PostgreSQL."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import DOC
from fake_llm import fake_llm, reply
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pg import Postgres
from pydantic import SecretStr

from peelqa import cli
from peelqa.client import AsyncClient, Client, NotFound
from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app
from peelqa.storage.service import Storage

ADMIN = "admin-key-0123456789"
ASKER = "asker-key-0123456789"
GRADE_Q = "What grade did the force get?"
OFF_TOPIC = "What is the price of parking at the station?"


def settings_in(folder: Path, base: Settings, **options: Any) -> Settings:
    """The session's settings with a data folder (and so a SQLite database) of this test's."""
    update: dict[str, Any] = {"index": folder / "data" / "index", "admin_keys": SecretStr(ADMIN)}
    for k, v in options.items():
        update[k] = SecretStr(v) if k in ("api_keys", "admin_keys", "database_url") else v
    return base.model_copy(update=update)


@pytest.fixture
def settings(tmp_path: Path, main_settings: Settings) -> Settings:
    return settings_in(tmp_path, main_settings)


@pytest.fixture
def client(settings: Settings, components: Components) -> Iterator[TestClient]:
    with TestClient(create_app(settings, components=components)) as c:
        yield c


def admin(key: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(c: TestClient, question: str = GRADE_Q) -> dict[str, Any]:
    r = c.post("/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def storage(c: TestClient | FastAPI) -> Storage:
    app = c.app if isinstance(c, TestClient) else c
    s: Storage = app.state.storage  # type: ignore[attr-defined]
    return s


def error(r: Any, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


# -- POST /v1/feedback ----------------------------------------------------------------------


def test_feedback_on_an_answer_is_201_and_kept_with_the_answer(client: TestClient) -> None:
    answer = ask(client)
    r = client.post(
        "/v1/feedback", json={"answer_id": answer["id"], "rating": "up", "comment": " Clear. "}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["answer_id"], body["rating"], body["comment"]) == (answer["id"], "up", "Clear.")
    [item] = client.get("/v1/feedback", headers=admin()).json()
    assert item["answer"] == answer["answer"] and item["answered"] is True
    assert item["citations"] == answer["citations"]
    assert item["question"] is None  # PEELQA_LOG_QUESTIONS is off


def test_unknown_answer_id_is_404(client: TestClient) -> None:
    message = error(
        client.post("/v1/feedback", json={"answer_id": "0" * 32, "rating": "up"}),
        404,
        "unknown_answer",
    )
    assert "0" * 32 in message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"rating": "meh"}, "rating"),
        ({"rating": "UP"}, "rating"),
        ({"rating": None}, "rating"),
        ({"rating": "down", "comment": "x" * 2001}, "2000 characters"),
        ({"rating": "down", "comment": "bad \ud800"}, "surrogate"),
        ({"rating": "down", "comment": 5}, "comment"),
        ({}, "rating"),
    ],
)
def test_bad_feedback_is_422(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    answer = ask(client)
    # Sent as ASCII JSON: a lone surrogate travels as its escape, as a browser would send it.
    raw = json.dumps({"answer_id": answer["id"], **body})
    r = client.post("/v1/feedback", content=raw, headers={"content-type": "application/json"})
    assert fragment in error(r, 422)


@pytest.mark.parametrize("body", [{"rating": "up"}, {"answer_id": "", "rating": "up"}, []])
def test_feedback_without_an_answer_id_is_422(client: TestClient, body: Any) -> None:
    error(client.post("/v1/feedback", json=body), 422)


def test_a_comment_of_2000_characters_is_kept_whole(client: TestClient) -> None:
    answer = ask(client)
    comment = "é" * 2000
    r = client.post(
        "/v1/feedback", json={"answer_id": answer["id"], "rating": "down", "comment": comment}
    )
    assert r.status_code == 201, r.text
    assert client.get("/v1/feedback", headers=admin()).json()[0]["comment"] == comment


def test_every_reply_can_be_rated_a_repeated_and_a_streamed_one_too(client: TestClient) -> None:
    first, again = ask(client), ask(client)
    assert first["id"] != again["id"]
    with client.stream("POST", "/v1/ask", json={"question": GRADE_Q, "stream": True}) as r:
        done = [line for line in r.iter_lines() if line.startswith('data: {"id"')]
    streamed = json.loads(done[-1].removeprefix("data: "))
    for a in (first, again, streamed):
        r = client.post("/v1/feedback", json={"answer_id": a["id"], "rating": "up"})
        assert r.status_code == 201, r.text
    report = client.get("/v1/usage?days=1", headers=admin()).json()
    assert report["questions"] == 3
    assert report["feedback_up"] == 3


def test_feedback_survives_a_restart(settings: Settings, components: Components) -> None:
    with TestClient(create_app(settings, components=components)) as first:
        answer = ask(first)
        r = first.post(
            "/v1/feedback",
            json={"answer_id": answer["id"], "rating": "down", "comment": "wrong year"},
        )
        assert r.status_code == 201
    with TestClient(create_app(settings, components=components)) as second:
        [item] = second.get("/v1/feedback", headers=admin()).json()
        assert (item["answer_id"], item["rating"], item["comment"]) == (
            answer["id"],
            "down",
            "wrong year",
        )
        assert item["citations"] == answer["citations"]
        # And the answer itself is still there to be rated again.
        r = second.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"})
        assert r.status_code == 201 and r.json()["rating"] == "up"
    assert (settings.index.parent / "peelqa.sqlite3").is_file()


# -- the admin key --------------------------------------------------------------------------


def test_admin_routes_are_403_naming_the_setting_without_admin_keys(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    s = settings_in(tmp_path, main_settings, admin_keys="")
    with TestClient(create_app(s, components=components)) as c:
        for path in ("/v1/feedback", "/v1/usage", "/admin/usage"):
            assert "PEELQA_ADMIN_KEYS" in error(c.get(path, headers=admin()), 403, "forbidden")


def test_admin_routes_need_an_admin_key(client: TestClient) -> None:
    for path in ("/v1/feedback", "/v1/usage", "/admin/usage"):
        r = client.get(path)
        error(r, 401, "unauthorized")
        assert "Basic" in r.headers["www-authenticate"]  # a browser asks for the key
        assert "invalid admin key" in error(client.get(path, headers=admin("x" * 20)), 401)
        assert client.get(path, headers=admin()).status_code == 200


def test_an_ask_key_is_403_and_an_admin_key_also_asks(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    s = settings_in(tmp_path, main_settings, api_keys=ASKER)
    with TestClient(create_app(s, components=components)) as c:
        assert "PEELQA_ADMIN_KEYS" in error(c.get("/v1/feedback", headers=admin(ASKER)), 403)
        error(c.get("/v1/feedback"), 401)  # the API key guard speaks first
        answer = c.post("/v1/ask", json={"question": GRADE_Q}, headers=admin(ASKER)).json()
        r = c.post(
            "/v1/feedback", json={"answer_id": answer["id"], "rating": "up"}, headers=admin(ASKER)
        )
        assert r.status_code == 201
        assert c.post("/v1/ask", json={"question": GRADE_Q}, headers=admin()).status_code == 200
        assert len(c.get("/v1/feedback", headers=admin()).json()) == 1


def test_the_usage_page_takes_the_key_from_a_browser_login(client: TestClient) -> None:
    basic = base64.b64encode(f"owner:{ADMIN}".encode()).decode()
    r = client.get("/admin/usage", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    wrong = base64.b64encode(b"owner:not-the-key-at-all").decode()
    error(client.get("/admin/usage", headers={"Authorization": f"Basic {wrong}"}), 401)


# -- question text --------------------------------------------------------------------------


def stored_questions(settings: Settings) -> list[Any]:
    with sqlite3.connect(settings.index.parent / "peelqa.sqlite3") as conn:
        return [r[0] for r in conn.execute("SELECT question FROM answers")]


def test_question_text_is_stored_only_with_log_questions(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    off = settings_in(tmp_path / "off", main_settings)
    with TestClient(create_app(off, components=components)) as c:
        ask(c, OFF_TOPIC)
        assert storage(c).writer.flush(10)
    assert stored_questions(off) == [None]
    on = settings_in(tmp_path / "on", main_settings, log_questions=True)
    with TestClient(create_app(on, components=components)) as c:
        answer = ask(c, OFF_TOPIC)
        c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "down"})
        assert c.get("/v1/feedback", headers=admin()).json()[0]["question"] == OFF_TOPIC
    assert stored_questions(on) == [OFF_TOPIC]


# -- usage insight --------------------------------------------------------------------------


def test_the_usage_page_shows_the_figures_the_chart_and_escaped_text(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    s = settings_in(tmp_path, main_settings, log_questions=True)
    script = "<script>alert(1)</script> what are the opening hours?"
    with TestClient(create_app(s, components=components)) as c:
        ask(c)
        for _ in range(3):
            ask(c, script)
        refused = ask(c, OFF_TOPIC)
        assert refused["answered"] is False
        c.post(
            "/v1/feedback",
            json={"answer_id": refused["id"], "rating": "down", "comment": "<b>no</b>"},
        )
        page = c.get("/admin/usage?days=7", headers=admin())
        report = c.get("/v1/usage?days=7", headers=admin()).json()
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;no&lt;/b&gt;" in html
    assert html.count("<svg") == 1 and html.count("<g><title>") == 7  # a bar a day
    assert "5 question(s), 4 not answered" in html
    assert "http" not in html.split("<body>")[1].replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert report["questions"] == 5 and report["refused"] == 4
    assert report["refused_share"] == pytest.approx(0.8)
    assert report["refused_questions"][0] == {
        "question": script,
        "count": 3,
        "last_asked": report["refused_questions"][0]["last_asked"],
    }
    assert report["feedback"][0]["comment"] == "<b>no</b>"


def test_usage_days_out_of_bounds_is_422(client: TestClient) -> None:
    for days in ("0", "367", "x"):
        error(client.get(f"/v1/usage?days={days}", headers=admin()), 422)


def test_peelqa_usage_prints_the_figures(
    tmp_path: Path,
    main_settings: Settings,
    components: Components,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = settings_in(tmp_path, main_settings, log_questions=True)
    with TestClient(create_app(s, components=components)) as c:
        ask(c)
        ask(c, OFF_TOPIC)
    monkeypatch.setenv("PEELQA_LOG_QUESTIONS", "1")
    assert cli.main(["usage", "--days", "3", "--index", str(s.index), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["questions"], report["refused"], len(report["days"])) == (2, 1, 3)
    assert report["refused_questions"][0]["question"] == OFF_TOPIC
    assert cli.main(["usage", "--index", str(s.index)]) == 0
    text = capsys.readouterr().out
    assert "questions 2 · answered 1 · not answered 1 (50%)" in text
    assert OFF_TOPIC in text and "█" in text and "░" in text
    with pytest.raises(SystemExit) as exit_:
        cli.main(["usage", "--days", "0"])
    assert exit_.value.code == 2


# -- a slow or absent database --------------------------------------------------------------


def test_answers_do_not_wait_for_a_locked_database(client: TestClient, settings: Settings) -> None:
    """Another process holds the write lock for seconds: questions are answered at their usual
    speed, and their records are written once it lets go."""
    ask(client)  # warm
    assert storage(client).writer.flush(10)
    blocker = sqlite3.connect(settings.index.parent / "peelqa.sqlite3", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        t = time.perf_counter()
        ids = [ask(client, f"{GRADE_Q} ({n})")["id"] for n in range(5)]
        took = time.perf_counter() - t
        assert not storage(client).writer.flush(0.5)  # still waiting on the lock
        assert took < 5, f"5 answers took {took:.1f} s with the database locked"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    for answer_id in ids:
        r = client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "up"})
        assert r.status_code == 201, r.text


def test_a_database_that_is_down_costs_no_answer(
    tmp_path: Path, main_settings: Settings, components: Components, postgres: Postgres
) -> None:
    gone = f"postgresql://postgres@127.0.0.1:{postgres.port}/no_such_database"
    s = settings_in(tmp_path, main_settings, database_url=gone)
    with TestClient(create_app(s, components=components)) as c:
        answer = ask(c)
        assert answer["answered"] is True
        r = c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"})
        error(r, 503, "storage_unavailable")
        assert r.headers["retry-after"]
        error(c.get("/v1/feedback", headers=admin()), 503, "storage_unavailable")
        assert storage(c).writer.flush(10)
        metrics = c.get("/metrics").text
    assert 'peelqa_stored_answers_total{outcome="failed"} 1.0' in metrics
    assert 'peelqa_storage_errors_total{operation="migrate"}' in metrics


def test_an_unusable_database_url_stops_the_start(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    s = settings_in(tmp_path, main_settings, database_url="mysql://u@127.0.0.1/x")
    with (
        pytest.raises(ValueError, match="PEELQA_DATABASE_URL"),
        TestClient(create_app(s, components=components)),
    ):
        pass


# -- replicas over one PostgreSQL --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_two_instances_share_feedback_through_one_database(
    kind: str,
    tmp_path: Path,
    main_settings: Settings,
    components: Components,
    request: pytest.FixtureRequest,
) -> None:
    """Two servers (replicas behind a load balancer, or a server's worker processes): feedback
    sent to one on an answer that the other gave, read back through the first."""
    if kind == "postgresql":
        url = request.getfixturevalue("postgres").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'shared' / 'peelqa.sqlite3'}"
    a_settings = settings_in(tmp_path / "a", main_settings, database_url=url, log_questions=True)
    b_settings = settings_in(tmp_path / "b", main_settings, database_url=url, log_questions=True)
    with (
        TestClient(create_app(a_settings, components=components)) as a,
        TestClient(create_app(b_settings, components=components)) as b,
    ):
        answer = ask(a)
        assert storage(a).writer.flush(10)  # instance A's writer has put it in the database
        r = b.post(
            "/v1/feedback", json={"answer_id": answer["id"], "rating": "down", "comment": "old"}
        )
        assert r.status_code == 201, r.text
        [seen] = a.get("/v1/feedback", headers=admin()).json()
        assert (seen["answer_id"], seen["comment"], seen["question"]) == (
            answer["id"],
            "old",
            GRADE_Q,
        )
        assert seen["citations"] == answer["citations"]
        ask(b, OFF_TOPIC)
        assert storage(b).writer.flush(10)
        report = a.get("/v1/usage?days=1", headers=admin()).json()
        assert (report["questions"], report["refused"]) == (2, 1)
    assert not (tmp_path / "a" / "data" / "peelqa.sqlite3").exists()
    assert DOC in {c["doc"] for c in seen["citations"]}


# -- generated answers ----------------------------------------------------------------------


def test_a_generated_answer_is_recorded_as_the_user_read_it(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    """With the site's LLM wording the answer, what feedback refers to is the generated text
    (streamed or not), not the extractive answer it was made from."""
    with fake_llm() as fake:
        s = settings_in(
            tmp_path, main_settings, llm_url=fake.url, llm_model="scripted", llm_timeout=4.0
        )
        with TestClient(create_app(s, components=components)) as c:
            extractive = components.engine.ask(question=GRADE_Q)
            n = next(
                i
                for i, cit in enumerate(extractive.citations, 1)
                if "graded Northamptonshire Police" in cit.quote
            )
            text = (
                "HMIC graded Northamptonshire Police as 'requires improvement' for keeping "
                f"people safe and reducing crime [{n}]. "
            )
            fake.script(reply(text), reply(text))
            plain = ask(c)
            with c.stream("POST", "/v1/ask", json={"question": GRADE_Q, "stream": True}) as r:
                last = [line for line in r.iter_lines() if line.startswith('data: {"id"')][-1]
            streamed = json.loads(last.removeprefix("data: "))
            for answer in (plain, streamed):
                assert answer["mode"] == "generated"
                r = c.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"})
                assert r.status_code == 201, r.text
            stored = {f["answer_id"]: f for f in c.get("/v1/feedback", headers=admin()).json()}
    for answer in (plain, streamed):
        assert stored[answer["id"]]["mode"] == "generated"
        assert stored[answer["id"]]["answer"] == answer["answer"] != extractive.answer


def test_the_python_clients_rate_answers(client: TestClient) -> None:
    peelqa = Client(http=client)  # the TestClient is an httpx.Client over the app
    answer = peelqa.ask(GRADE_Q)
    rated = peelqa.feedback(answer.id, "down", comment="wrong year")
    assert (rated.answer_id, rated.rating, rated.comment) == (answer.id, "down", "wrong year")
    with pytest.raises(NotFound) as unknown:
        peelqa.feedback("0" * 32, "up")
    assert unknown.value.code == "unknown_answer"

    async def rate_again() -> str:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://peelqa") as http:
            return (await AsyncClient(http=http).feedback(answer.id, "up")).rating

    assert anyio.run(rate_again) == "up"
    [item] = client.get("/v1/feedback", headers=admin()).json()
    assert (item["rating"], item["comment"]) == ("up", None)


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("PEELQA_ADMIN_KEYS", "short", "PEELQA_ADMIN_KEYS needs at least 16"),
        ("PEELQA_ADMIN_KEYS", "/no/such/keys-file", "PEELQA_ADMIN_KEYS names no file"),
        ("PEELQA_DATABASE_URL", "mysql://u@h/db", "PEELQA_DATABASE_URL"),
    ],
)
def test_serve_refuses_bad_admin_or_database_settings_at_once(
    variable: str,
    value: str,
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main(["serve", "--index", "/nonexistent/index"]) == 2
    assert fragment in capsys.readouterr().err
