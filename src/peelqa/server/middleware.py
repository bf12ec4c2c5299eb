"""ASGI middleware of the API: the body limit and the request deadline."""

from __future__ import annotations

import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelqa.server.access import guarded
from peelqa.server.errors import error_response


class BodyLimit:
    """Refuse bodies over the limit before they are read into memory or reach any model work.

    Checks Content-Length up front and counts chunked bodies as they arrive. Paths in `exempt`
    (uploads, streamed to disk under a limit of their own) are let through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_big(scope, receive, send)
                return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now and tell the app the client left, so it stops reading.
                    refused = True
                    await self._too_big(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after a 413 the app's own reply has nowhere to go
                await send(message)

        await self.app(scope, counted, guarded_send)

    async def _too_big(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Made only when needed, not once per request.
        message = f"request body is over {self.max_bytes} bytes"
        reply = error_response(413, "body_too_large", message)
        await reply(scope, receive, send)


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
