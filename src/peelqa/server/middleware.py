"""ASGI middleware of the API: the request body's limits and the request deadline."""

from __future__ import annotations

import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelqa.server.access import guarded
from peelqa.server.errors import error_response

# 8 MiB: a client that sends its whole body before it reads (urllib, requests) is still
# sending when it is refused; what it sends is read and dropped, up to this, so that it reads
# the refusal instead of a connection reset. Past it the connection is closed.
DRAIN_BYTES = 8 * 1024 * 1024
_DISCONNECT: Message = {"type": "http.disconnect"}


def _body_headers(scope: Scope) -> tuple[int | None, bool, bool]:
    """(Content-Length or None, whether a body follows, whether it waits for 100 Continue)."""
    length, chunked, expects = None, False, False
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect" and value.lower() == b"100-continue":
            expects = True
    return length, chunked or bool(length), expects


class BodyLimit:
    """The request body, bounded in size and in time, before it reaches any model work.

    - Over `max_bytes` (Content-Length up front, or counted as a chunked body arrives): 413.
    - Not all there `timeout` seconds after the app first asks for it: 408, and the connection
      is closed; a stalled client does not wait for the request deadline's misleading 504.
    - Answered before the body was read (a 413, 401 or 429): the rest of the body is read and
      dropped first (up to DRAIN_BYTES), so that a client that sends before it reads gets the
      answer. Not when the client waits for `100 Continue`: it sends no body then.

    Paths in `exempt` (uploads, streamed to disk under a size limit of their own and long over
    a slow link) are let through.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout: float = 10.0,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app, self.max_bytes, self.timeout, self.exempt = app, max_bytes, timeout, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        length, has_body, expects = _body_headers(scope)
        if not has_body:
            await self.app(scope, receive, send)
            return
        body = _Body(self, scope, receive, send, expects=expects)
        if length is not None and length > self.max_bytes:
            await body.too_big()
            return
        await self.app(scope, body.receive, body.send)


class _Body:
    """One request's body: what the app reads of it, and what has been answered."""

    def __init__(
        self, limit: BodyLimit, scope: Scope, receive: Receive, send: Send, *, expects: bool
    ) -> None:
        self.limit, self.scope, self.raw_receive, self.raw_send = limit, scope, receive, send
        self.expects = expects
        self.seen, self.deadline = 0, math.inf
        self.done = self.refused = self.started = False

    async def receive(self) -> Message:
        """What the app reads: the body, or a disconnect once the request is refused."""
        if self.refused or self.done:
            return _DISCONNECT if self.refused else await self.raw_receive()
        message = await self._next()
        if message is None:
            timeout = self.limit.timeout
            await self._refuse(
                408, "request_timeout", f"the request body did not arrive within {timeout:g} s"
            )
            return _DISCONNECT
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit.max_bytes:
                # Answer 413 now and tell the app the client left, so it stops reading.
                await self.too_big()
                return _DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.refused:  # after a 413 or 408 the app's own reply has nowhere to go
            return
        if message["type"] == "http.response.start":
            self.started = True
        elif not message.get("more_body", False) and not self.done:
            await self._drain()  # answered before the body was read
        await self.raw_send(message)

    async def too_big(self) -> None:
        message = f"request body is over {self.limit.max_bytes} bytes"
        await self._refuse(413, "body_too_large", message)

    async def _next(self) -> Message | None:
        """The next body message, or None past the body's deadline."""
        now = anyio.current_time()
        if self.deadline == math.inf:
            self.deadline = now + self.limit.timeout
        message = None
        with anyio.move_on_after(self.deadline - now):
            message = await self.raw_receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                self.done = True
        return message

    async def _drain(self) -> None:
        """Read and drop the rest of the body, up to DRAIN_BYTES and the body's deadline."""
        if self.expects:
            return
        dropped = 0
        while not self.done and dropped <= DRAIN_BYTES:
            message = await self._next()
            if message is None:
                return
            dropped += len(message.get("body", b""))

    async def _refuse(self, status: int, code: str, message: str) -> None:
        self.refused = True
        if self.started:  # the app's reply has begun: it cannot become a refusal now
            return
        if status != 408:
            await self._drain()
        # Closed unless the whole body was read: what is left of it cannot be told apart from
        # a next request.
        headers = {} if self.done else {"Connection": "close"}
        reply = error_response(status, code, message, **headers)
        await reply(self.scope, self.raw_receive, self.raw_send)


class Deadline:
    """Answer 504 when a request to /v1 has not started its response within `seconds`.

    /v1 only, as the OpenAPI schema documents the 504: /healthz, /metrics and the page do no
    model work, and a health probe must not fail because the deadline is short. Paths in
    `exempt` (an upload over a slow link) are not timed.

    The request is cancelled where it waits: a question still queued for the encoder leaves
    the queue (the encoder skips it), and the caller gets its 504 at once. Once the response
    has started (a stream), the deadline no longer applies: the answer is ready and only has
    to be sent.
    """

    def __init__(
        self, app: ASGIApp, *, seconds: float, exempt: frozenset[str] = frozenset()
    ) -> None:
        self.app, self.seconds, self.exempt = app, seconds, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]) or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        started = False
        # A cancel scope in the request's own task, not a task per request: the deadline is
        # checked on every request, and a task group per request is a measurable share of the
        # event loop's time.
        with anyio.CancelScope(deadline=anyio.current_time() + self.seconds) as limit:

            async def guarded_send(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    if anyio.current_time() >= limit.deadline:
                        # Passed while the loop ran an encoder batch, with no await since for
                        # the cancellation to land on: cancel here, so a late answer is a 504
                        # like any other.
                        limit.cancel()
                        await anyio.lowlevel.checkpoint()
                    started = True
                    limit.deadline = math.inf
                await send(message)

            await self.app(scope, receive, guarded_send)
        if limit.cancelled_caught and not started:
            reply = error_response(
                504,
                "deadline_exceeded",
                f"no answer within {self.seconds:g} s; the server is busy, retry later",
            )
            await reply(scope, receive, send)
