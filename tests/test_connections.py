"""Connections from slow, stalled or oversized clients, through a real uvicorn configured as
`peelqa serve` configures it (server/serving.py, server/protocol.py, server/middleware.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import anyio
import pytest
import requests
from fastapi import FastAPI
from pydantic import SecretStr
from services import served_in_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app

pytestmark = pytest.mark.live

QUESTION = b'{"question": "What grade did the force get?"}'


@pytest.fixture(scope="module")
def quick(main_settings: Settings) -> Settings:
    """One-second read timeouts, so that the tests wait seconds, not tens of them."""
    return main_settings.model_copy(
        update={"header_timeout": 1.0, "body_timeout": 1.0, "request_timeout": 30.0}
    )


@pytest.fixture(scope="module")
def server(quick: Settings, components: Components) -> Iterator[tuple[str, int]]:
    app: FastAPI = create_app(quick, components=components)
    with served_in_thread(app, quick) as url:
        yield url, int(url.rsplit(":", 1)[1])


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_all(s: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    return reply


def error_of(reply: bytes) -> dict[str, str]:
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]  # type: ignore[no-any-return]


def test_headers_over_16_kib_get_431_in_the_error_shape(server: tuple[str, int]) -> None:
    _, port = server
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        reply = read_all(s)  # the server closes the connection after its answer
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert error_of(reply)["code"] == "headers_too_large"


def test_many_small_headers_count_together(server: tuple[str, int]) -> None:
    _, port = server
    headers = b"".join(b"X-%d: %s\r\n" % (n, b"v" * 100) for n in range(200))  # 21 KB
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 431 ")


def test_headers_under_the_limit_are_served(server: tuple[str, int]) -> None:
    _, port = server
    with connect(port) as s:
        s.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
            + b"a" * 15_000
            + b"\r\n\r\n"
        )
        assert read_all(s).startswith(b"HTTP/1.1 200 ")


def test_an_endless_header_is_cut_off_early(server: tuple[str, int]) -> None:
    """A 160 MB header stream held the event loop for everyone: each piece was appended to the
    last. Now the connection ends a few hundred KB in, and others are served meanwhile."""
    url, port = server
    sent = 0
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            while sent < 160_000_000:
                s.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
    assert sent < 8_000_000, sent
    assert requests.get(url + "/healthz", timeout=5).status_code == 200


def test_fifty_trickling_connections_get_408_and_are_closed(server: tuple[str, int]) -> None:
    """A byte of header every 0.2 s kept a connection open for good; 50 of them held 50
    connections. Each now gets 408 once its headers are a second late."""
    _, port = server
    conns = [connect(port) for _ in range(50)]
    replies: dict[int, bytes] = {}
    started = time.monotonic()
    try:
        for s in conns:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
        while len(replies) < len(conns) and time.monotonic() - started < 8:
            for n, s in enumerate(conns):
                if n in replies:
                    continue
                with contextlib.suppress(OSError):
                    s.send(b"X")
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                replies[n] = chunk
            time.sleep(0.2)
    finally:
        for s in conns:
            s.close()
    elapsed = time.monotonic() - started
    assert len(replies) == 50, f"{50 - len(replies)} connections still open after {elapsed:.1f} s"
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in replies.values())
    assert elapsed < 5


def test_a_connection_that_sends_nothing_is_closed_without_a_reply(
    server: tuple[str, int],
) -> None:
    _, port = server
    with connect(port) as s:
        started = time.monotonic()
        assert read_all(s) == b""
    assert 0.8 < time.monotonic() - started < 4


def test_a_later_request_on_a_kept_alive_connection_has_its_own_deadline(
    server: tuple[str, int],
) -> None:
    _, port = server
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
        assert read_all(s).startswith(b"HTTP/1.1 408 ")


def test_a_stalled_body_gets_408_not_a_busy_504(server: tuple[str, int]) -> None:
    """Half a body and then nothing: the caller got 504 "the server is busy" once the
    30 s deadline passed. Now it is 408 after the body timeout, and the connection closes."""
    _, port = server
    with connect(port) as s:
        s.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(QUESTION) + QUESTION[:10]
        )
        started = time.monotonic()
        reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:100]
    assert error_of(reply)["code"] == "request_timeout"
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("size", [200_000, 5_000_000])
def test_urllib_reads_the_413_of_a_body_it_sent_whole(server: tuple[str, int], size: int) -> None:
    """urllib sends the whole body before it reads (and asks to close after): a 5 MB body got
    a connection reset instead of the 413."""
    url, _ = server
    body = b'{"question": "' + b"x" * size + b'"}'
    request = urllib.request.Request(
        url + "/v1/ask", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 413
    assert json.loads(e.value.read())["error"]["code"] == "body_too_large"


def test_requests_reads_the_413_of_a_chunked_body(server: tuple[str, int]) -> None:
    url, _ = server

    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}'

    r = requests.post(
        url + "/v1/ask", data=chunks(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_a_client_waiting_for_100_continue_gets_the_413_at_once(
    server: tuple[str, int],
) -> None:
    """It sends no body until told to: nothing is waited for, nothing is drained."""
    _, port = server
    with connect(port) as s:
        started = time.monotonic()
        s.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
        )
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:60]
    assert time.monotonic() - started < 0.5


def test_an_early_401_lets_a_slow_sender_finish(quick: Settings, components: Components) -> None:
    """Refused before its body was read (no key): the rest of the body is read first, so the
    client reads the 401."""
    settings = quick.model_copy(update={"api_keys": SecretStr("a-key-of-sixteen-plus")})
    with served_in_thread(create_app(settings, components=components), settings) as url:
        body = b'{"question": "' + b"x" * 60_000 + b'"}'
        done: list[int] = []

        def post() -> None:
            request = urllib.request.Request(
                url + "/v1/ask", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                urllib.request.urlopen(request, timeout=30)
            except urllib.error.HTTPError as e:
                done.append(e.code)

        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert done == [401] * 8


def _slow_reply(*, length: bool) -> ASGIApp:
    """An app that sends its head, then its body 0.6 s later (an answer still being composed)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain")] + ([(b"content-length", b"2")] * length)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await anyio.sleep(0.6)
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.mark.parametrize("length", [True, False], ids=["whole", "streamed"])
def test_a_reply_of_known_length_is_written_with_its_body(
    quick: Settings, components: Components, length: bool
) -> None:
    """A replica killed between a reply's head and its body leaves nginx a head it has already
    forwarded (tests/test_deployment.py): the connection holds the head until the body comes.
    A streamed reply (no Content-Length) is not held back."""
    app = create_app(quick, components=components)
    app.mount("/slow", _slow_reply(length=length))
    with served_in_thread(app, quick) as url, connect(int(url.rsplit(":", 1)[1])) as s:
        s.sendall(b"GET /slow/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(0.3)
        try:
            early = s.recv(65536)
        except TimeoutError:
            early = b""
        s.settimeout(10)
        reply = early + read_all(s)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b"ok" in reply.split(b"\r\n\r\n", 1)[1]
    if length:
        assert early == b""
    else:
        assert early.startswith(b"HTTP/1.1 200") and b"ok" not in early
