"""Operating the server: request ids, the JSON access log, and counting every request."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelqa.metrics import Metrics
from peelqa.server.access import CALLER_STATE
from peelqa.server.errors import error_response

access_log = logging.getLogger("peelqa.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own id is kept when it looks like an id (UUIDs, trace ids); anything else could
# forge log lines or bloat them, so it is replaced.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Error bodies are small JSON; reading more than this of one is never needed for its code.
_ERROR_BODY_CAP = 4096
# Enough for any valid question and its history; the body limit refuses more anyway.
_QUESTION_BODY_CAP = 64 * 1024
_LOGGED_QUESTION_CHARS = 2000


def configure_access_log(stream: TextIO = sys.stderr) -> None:
    """One JSON object a line on `stream`, apart from the human-readable server log."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _REQUEST_ID_RE.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def _route(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route's template (`/v1/sections/{doc}/{section}`): bounded label values."""
    route = scope.get("route")
    if route is None:  # refused before routing (401, 413, 429): find what it would have hit
        for candidate in routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
    return str(getattr(route, "path", None) or "(unmatched)")


def _question(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    text = data.get("question")
    if text is None and isinstance(data.get("messages"), list):
        users = [m for m in data["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        text = users[-1].get("content") if users else None
    return text[:_LOGGED_QUESTION_CHARS] if isinstance(text, str) else None


def _error_code(body: bytes) -> str:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return code if isinstance(code, str) else "unknown"


class RequestContext:
    """Outermost middleware: gives each request an id, logs it once, and counts it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        log_questions: bool,
        metrics: Metrics,
        routes: Sequence[BaseRoute],
    ) -> None:
        """`routes`: the app's routes, to name the route of a request refused before routing."""
        self.app, self.log_questions, self.metrics = app, log_questions, metrics
        self.routes = routes
        # The counter's and the histogram's children by label values, looked up once:
        # `labels()` validates and locks on every call. Routes are templates and statuses few,
        # so these stay small.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        began = time.perf_counter()
        status, started = 500, False
        ended: float | None = None  # when the last byte went out; the app may run on (a 504)
        error_body = bytearray()
        body = bytearray() if self.log_questions and scope["method"] == "POST" else None

        async def tee(message: Message) -> None:
            nonlocal status, started, ended
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body":
                if status >= 400:
                    error_body.extend(message.get("body", b"")[: _ERROR_BODY_CAP - len(error_body)])
                if not message.get("more_body", False):
                    ended = time.perf_counter()
            await send(message)

        async def recorded() -> Message:
            message = await receive()
            if body is not None and message["type"] == "http.request":
                body.extend(message.get("body", b"")[: _QUESTION_BODY_CAP - len(body)])
            return message

        try:
            await self.app(scope, recorded, tee)
        except Exception:
            if not started:  # answer in the contract's shape, with the id to quote in a report
                reply = error_response(500, "internal", "internal error; it has been logged")
                await reply(scope, receive, tee)
            raise
        finally:
            seconds = (ended or time.perf_counter()) - began
            self._record(scope, request_id, status, seconds, error_body, body)

    def _record(
        self,
        scope: Scope,
        request_id: str,
        status: int,
        seconds: float,
        error_body: bytearray,
        body: bytearray | None,
    ) -> None:
        route = _route(scope, self.routes)
        method = scope["method"]
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self.metrics.requests.labels(method=method, route=route, status=str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[(method, route)] = self.metrics.latency.labels(method, route)
        timer.observe(seconds)
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "method": method,
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "caller": scope.get("state", {}).get(CALLER_STATE) or _address(scope),
        }
        if status >= 400:
            entry["error"] = _error_code(bytes(error_body))
            self.metrics.errors.labels(status=str(status), code=entry["error"]).inc()
        if body is not None and (question := _question(bytes(body))) is not None:
            entry["question"] = question
        if access_log.isEnabledFor(logging.INFO):
            # A record made here rather than by `info`, which looks up the caller's source
            # line by walking the stack on every request; the line is the same.
            line = json.dumps(entry, ensure_ascii=False)
            access_log.handle(
                access_log.makeRecord(access_log.name, logging.INFO, "", 0, line, (), None)
            )


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"
