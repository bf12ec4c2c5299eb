"""peelqa.client against a live uvicorn on loopback, with the real model and index."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from conftest import DOC, ROOT, live_server, loopback_socket, url_of
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peelqa.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthorized,
)
from peelqa.config import Settings
from peelqa.models import AskResponse, SectionOut, Turn
from peelqa.runtime import Components
from peelqa.server.app import create_app

pytestmark = pytest.mark.live

GRADE = "What grade did the force get?"
KEY = "client-test-key-0123456789"


@pytest.fixture(scope="module")
def peelqa(live_url: str) -> Iterator[Client]:
    with Client(live_url) as c:
        yield c


def test_ask_returns_the_api_models(peelqa: Client, client: TestClient) -> None:
    reply = peelqa.ask(GRADE)
    assert isinstance(reply, AskResponse)
    direct = client.post("/v1/ask", json={"question": GRADE}).json()
    assert reply.model_dump(exclude={"id"}) == {k: v for k, v in direct.items() if k != "id"}
    assert reply.answered and reply.citations[0].section == "conclusion"


def test_follow_up_with_history(peelqa: Client) -> None:
    first = peelqa.ask("How does the force assess the vulnerability of callers?")
    history = [
        Turn(role="user", content="How does the force assess the vulnerability of callers?"),
        {"role": "assistant", "content": first.answer},
    ]
    follow = peelqa.ask("and what training was given for that?", history=history)
    alone = peelqa.ask("and what training was given for that?")
    assert follow.answered and follow != alone


def test_stream_gives_citations_first_then_pieces_then_the_response(peelqa: Client) -> None:
    question = "What is the THRIVE approach used for?"
    pieces = []
    with peelqa.stream(question) as s:
        for piece in s:
            assert s.citations, "citations arrive before the first piece"
            pieces.append(piece)
        assert s.response is not None
    assert len(pieces) > 3 and "".join(pieces) == s.response.answer
    again = peelqa.ask(question)
    assert s.response.model_dump(exclude={"id"}) == again.model_dump(exclude={"id"})
    assert s.citations == s.response.citations


def test_sections_and_one_section(peelqa: Client) -> None:
    sections = peelqa.sections()
    assert all(isinstance(s, SectionOut) for s in sections)
    assert [s.section for s in sections] == ["intro", "q1", "q2", "q3", "q4", "conclusion"]
    assert "THRIVE" in peelqa.section(DOC, "q3").text


def test_4xx_raise_clear_exceptions(peelqa: Client) -> None:
    with pytest.raises(NotFound) as nf:
        peelqa.section(DOC, "q9")
    assert nf.value.status == 404 and nf.value.code == "unknown_section"
    assert nf.value.request_id and nf.value.request_id in str(nf.value)
    with pytest.raises(NotFound):
        peelqa.section("../v1/ask", "x")  # the id cannot escape its path segment
    with pytest.raises(InvalidRequest) as bad:
        peelqa.ask("   ")
    assert bad.value.status == 422 and "question is empty" in bad.value.message


def test_keys_and_rate_limits(main_settings: Settings, components: Components) -> None:
    settings = main_settings.model_copy(update={"api_keys": SecretStr(KEY), "rate_limit": 2})
    with live_server(create_app(settings, components=components)) as url:
        with Client(url) as anonymous, pytest.raises(Unauthorized) as e:
            anonymous.sections()
        assert e.value.code == "unauthorized"
        with Client(url, api_key=KEY) as keyed:
            assert len(keyed.sections()) == 6
            keyed.sections()
            with pytest.raises(RateLimited) as limited:
                keyed.sections()  # a 429 is raised, not retried: the caller decides
        assert limited.value.retry_after is not None and limited.value.retry_after >= 1


def test_connection_failure_is_retried_then_raised() -> None:
    sock = loopback_socket()  # bound, never listening: connections are refused
    try:
        began = time.perf_counter()
        with (
            Client(url_of(sock), max_retries=2, backoff=0.05) as peelqa,
            pytest.raises(ConnectionFailed),
        ):
            peelqa.sections()
        assert time.perf_counter() - began >= 0.05 + 0.1  # it backed off twice
    finally:
        sock.close()


def test_retries_until_a_late_server_is_up(main_settings: Settings, components: Components) -> None:
    sock = loopback_socket()
    served = threading.Event()

    def start_late() -> None:
        time.sleep(0.4)
        with live_server(create_app(main_settings, components=components), sock):
            served.wait(30)

    thread = threading.Thread(target=start_late)
    thread.start()
    try:
        with Client(url_of(sock), max_retries=6, backoff=0.1) as peelqa:
            assert peelqa.ask(GRADE).answered
    finally:
        served.set()
        thread.join()


def test_503_while_loading_is_retried(main_settings: Settings, components: Components) -> None:
    app = create_app(main_settings, components=components)
    statuses: list[int] = []
    with live_server(app) as url:
        service = app.state.service
        app.state.service = None  # as if the index were still loading
        restore = threading.Timer(0.5, lambda: setattr(app.state, "service", service))
        restore.start()
        http = httpx.Client(
            base_url=url, event_hooks={"response": [lambda r: statuses.append(r.status_code)]}
        )
        with Client(http=http, backoff=0.1) as peelqa:
            assert peelqa.ask(GRADE).answered
        restore.join()
    # The server asks for 2 s (Retry-After), so one retry is enough.
    assert statuses[0] == 503 and statuses[-1] == 200


def test_async_client(live_url: str) -> None:
    async def main() -> tuple[AskResponse, list[str], AskResponse | None, int]:
        async with AsyncClient(live_url) as peelqa:
            reply = await peelqa.ask(GRADE)
            async with peelqa.stream(GRADE) as s:
                pieces = [piece async for piece in s]
            sections = await peelqa.sections()
            with pytest.raises(NotFound):
                await peelqa.section(DOC, "q9")
            return reply, pieces, s.response, len(sections)

    reply, pieces, streamed, n_sections = anyio.run(main)
    assert reply.answered and "".join(pieces) == reply.answer
    assert streamed.model_dump(exclude={"id"}) == reply.model_dump(exclude={"id"})
    assert n_sections == 6


def readme_example(marker: str, live_url: str) -> str:
    """The README's Python block that contains `marker`, pointed at the live server."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(b for b in blocks if marker in b).replace("http://127.0.0.1:8000", live_url)


def test_readme_client_example_runs(live_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(readme_example("from peelqa.client", live_url), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert f"[1] {DOC} / " in out
    # The follow-up streamed its answer after the first one's citations.
    assert len(out.split(f"[1] {DOC} / ", 1)[1].splitlines()) > 1


def test_readme_openai_example_runs(live_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(readme_example("from openai import", live_url), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "requires improvement" in out and "'section': 'conclusion'" in out
