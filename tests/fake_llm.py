"""A scripted LLM server: real HTTP on loopback that speaks the OpenAI chat API.

Each test gives it a script, one step per expected request: a good answer, invented facts, a
dangling marker, a stall, an error status, a malformed chunk, a dropped connection. It records
every request body so tests can read the prompt that was sent. It is the only fake in these
tests, and it sits outside the product, at the HTTP boundary.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet: tests read what they need
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, "headers": dict(self.headers), **body})
            step = self.server.script.pop(0) if self.server.script else status(500, "no script")
        step(self)

    # -- helpers the steps use -----------------------------------------------------------

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def send_whole(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_event(self, payload: str) -> None:
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server shuts down."""
        self.server.stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: list[Step]
    requests: list[dict[str, Any]]
    lock: threading.Lock
    stopping: threading.Event


def _chunk(content: str | None, *, role: bool = False, finish: str | None = None) -> str:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def reply(text: str, *, piece: int = 7, gap: float = 0.0, done: bool = True) -> Step:
    """Stream `text` in pieces of `piece` characters, `gap` seconds apart, as a model would."""

    def step(h: Handler) -> None:
        h.start_stream()
        h.send_event(_chunk("", role=True))
        for p in pieces_of(text, piece):
            h.send_event(_chunk(p))
            if gap:
                h.wait(gap)
        h.send_event(_chunk(None, finish="stop"))
        if done:
            h.send_event("[DONE]")

    return step


def whole(text: str) -> Step:
    """A server that ignores `stream` and sends the whole completion as JSON."""

    def step(h: Handler) -> None:
        body = json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": "scripted",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
            }
        ).encode()
        h.send_whole(200, "application/json", body)

    return step


def status(code: int, message: str = "error") -> Step:
    def step(h: Handler) -> None:
        body = json.dumps({"error": {"message": message, "code": code}}).encode()
        h.send_whole(code, "application/json", body)

    return step


def stall_before_headers(seconds: float) -> Step:
    """Accepts the request, then says nothing (a server stuck reading a long prompt)."""

    def step(h: Handler) -> None:
        h.wait(seconds)
        h.close_connection = True

    return step


def stall_after(text: str, seconds: float) -> Step:
    """Streams `text`, then falls silent mid-answer."""

    def step(h: Handler) -> None:
        h.start_stream()
        h.send_event(_chunk("", role=True))
        for p in pieces_of(text, 7):
            h.send_event(_chunk(p))
        h.wait(seconds)

    return step


def malformed(text_before: str = "") -> Step:
    """A chunk that is not JSON, after some good ones."""

    def step(h: Handler) -> None:
        h.start_stream()
        for p in pieces_of(text_before, 7):
            h.send_event(_chunk(p))
        h.send_event('{"choices": [{"delta": {"content": "The force')
        h.send_event("[DONE]")

    return step


def garbage() -> Step:
    """200 with an HTML page: not an event stream at all."""

    def step(h: Handler) -> None:
        h.send_whole(200, "text/html", b"<html><body>Welcome to nginx!</body></html>")

    return step


def hang_up(text_before: str = "") -> Step:
    """Closes the connection mid-stream without ending the chunked body."""

    def step(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        data = f"data: {_chunk(text_before)}\n\n".encode()
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(2)

    return step


@dataclass
class FakeLlm:
    server: _Server
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def script(self, *steps: Step) -> None:
        with self.server.lock:
            self.server.script[:] = list(steps)
            self.server.requests.clear()

    @property
    def calls(self) -> int:
        return len(self.server.requests)

    def last_prompt(self) -> str:
        messages = self.server.requests[-1]["messages"]
        return "\n".join(m["content"] for m in messages)


@contextmanager
def fake_llm() -> Iterator[FakeLlm]:
    server = _Server(("127.0.0.1", 0), Handler)
    server.script, server.requests = [], []
    server.lock, server.stopping = threading.Lock(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield FakeLlm(server=server, url=f"http://{host}:{port}/v1")
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0)  # let daemon handler threads see `stopping`
