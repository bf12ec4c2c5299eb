"""The HTTP connection: uvicorn's httptools protocol with the two limits it lacks, on the size of
a request's line and headers and on the time a client takes to send them.

httptools accumulates a header for as long as its bytes keep coming: a client streaming one
endless header line holds memory and CPU (each piece is appended to the last), and one that
sends a byte every few seconds holds its connection for good. Neither reaches the app, so no
middleware can stop them; they are stopped here, before the app is called:

- past `max_head_bytes` of request line and headers: 431, and the connection is closed. What
  the client is still sending is read and dropped for a moment first (up to LINGER_BYTES, until
  it has been quiet for LINGER_S), as nginx's lingering close does: closing on unread data
  resets the connection, and a client that sends its whole request before it reads (a
  browser with oversized cookies, urllib) would see a reset instead of the 431;
- past `head_timeout` seconds from the connection (or from the first byte of a later request
  on it) without the end of the headers: 408, and the connection is closed. A connection that
  sent nothing at all is closed without a reply, as nginx does with idle connections.

The time to send a body is bounded in the app (middleware.BodyLimit), where a 408 is counted
and logged like any other answer.

A reply of known length also leaves in one write, its head with (the first part of) its body:
uvicorn writes the head when the app starts its reply and the body when the app sends it, and
a replica killed between the two (the OOM killer, under load: the event loop's thread waits
for the GIL there while the encoder's thread computes) left nginx a head it had already passed
on. nginx can then no longer send the request to another replica, and the client reads a reply
cut off after its head (one of 1,131 in CI) instead of the other replica's answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
# Dropped after a 431 before the connection is closed: enough for a client's oversized request
# to end, bounded so that a client cannot keep the server reading for long.
LINGER_BYTES = 2 * 1024 * 1024
LINGER_S = 2.0


def _refusal(status: int, code: str, message: str) -> bytes:
    """A whole response in the contract's error shape, written before any app has run."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _HeadWithBody(asyncio.Transport):
    """The connection as one request's cycle writes to it: a reply's head of known length is
    held until the first write of its body (or the close that ends the reply without one)."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        super().__init__()
        self._transport, self._cycle = transport, cycle
        self._head: bytes | None = None
        self._began = False  # the reply's head has been written (or held)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        cycle = self._cycle
        if not self._began and cycle.response_started:
            self._began = True
            # The cycle has just read the head's Content-Length (0 for a reply with no body).
            if cycle.chunked_encoding is False and cycle.expected_content_length > 0:
                self._head = bytes(data)
                return
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Set by `protocol_class` for a server's settings."""

    max_head_bytes = 16 * 1024
    head_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes received while the headers are not all there
        self._head_size = 0  # the request line and headers parsed so far
        self._head_open = True  # waiting for a request's headers to end
        self._head_begun = False  # a byte of that request has arrived
        self._refused = False
        self._lingered = 0  # bytes dropped after a 431
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn's own narrowing
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._linger(len(data))
            return
        super().data_received(data)
        # A head streamed in pieces is counted as it arrives, before httptools has it whole.
        # Counted after parsing: the chunk may also have ended the headers. A chunk that holds
        # the tail of one request and the start of the next is counted whole, which only errs
        # towards refusing sooner.
        if self._head_open and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._too_large()

    # httptools parser callbacks

    # Once refused, what else the same chunk holds (a body, a pipelined request) is dropped.

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._head_open, self._head_begun = True, True
        self._head_bytes = self._head_size = 0
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._head_open = False
        self._stop_head_timer()
        if self._head_size > self.max_head_bytes:  # it arrived in one piece
            self._too_large()
            return
        super().on_headers_complete()
        # The cycle's task has not run yet: nothing has been written through it.
        if self.cycle is not None and self.cycle.transport is self.transport:
            self.cycle.transport = _HeadWithBody(self.transport, self.cycle)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    # the limits

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._head_open:
            return
        if not self._head_begun:
            self.transport.close()  # an idle connection: nothing to answer
            return
        self._refuse(
            408,
            "request_timeout",
            f"the request's headers did not arrive within {self.head_timeout:g} s",
        )

    def _too_large(self) -> None:
        limit = self.max_head_bytes
        message = f"request line and headers are over {limit} bytes"
        self._refuse(431, "headers_too_large", message, linger=True)

    def _refuse(self, status: int, code: str, message: str, *, linger: bool = False) -> None:
        self._refused = True
        self._head_open = False
        self._stop_head_timer()
        # With an earlier request still answering on this connection (pipelining), a reply
        # here would cut into its response: close without one.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_refusal(status, code, message))
            if linger and self.transport.can_write_eof():
                self.transport.write_eof()  # the reply is whole; the client reads it to its end
                self._linger(0)
                return
        self.transport.close()

    def _linger(self, dropped: int) -> None:
        """Drop what arrives after a 431 until the client stops or has sent too much."""
        if self.transport.is_closing():
            return
        self._lingered += dropped
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if self._lingered > LINGER_BYTES:
            self.transport.close()
            return
        self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(*, max_head_bytes: int, head_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol uvicorn instantiates for each connection, with these limits."""
    return type(
        "PeelqaHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
