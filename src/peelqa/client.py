"""Python client for the peelqa HTTP API, on httpx: `Client` and `AsyncClient`.

    from peelqa.client import Client

    with Client("http://127.0.0.1:8000", api_key=None) as peelqa:
        reply = peelqa.ask("What grade did the force get?")
        print(reply.answer, reply.citations[0].quote)

Results are the API's own pydantic models (`AskResponse`, `Citation`, `SectionOut`).
Connection failures and 503 (index still loading) are retried with exponential back-off;
any other error raises a `PeelqaError` subclass that names the status, the contract's error
code and the request id to quote in a report.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
from pydantic import TypeAdapter

from peelqa.models import AskResponse, Citation, SectionOut, Turn
from peelqa.storage.models import FeedbackOut, Rating

DEFAULT_URL = "http://127.0.0.1:8000"
# 60 s: above the server's default 30 s deadline, so a busy server answers 504 before the
# client gives up on its own.
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
# First back-off in seconds, doubled each retry (0.5, 1, 2): a restarting server is back in
# a few seconds, and a failing one is not hammered.
DEFAULT_BACKOFF = 0.5
# A Retry-After longer than this is not waited for: the caller is better told.
MAX_DELAY = 30.0
USER_AGENT = "peelqa-client/0.1.0"

# Failures where the request never reached the app or the connection broke: safe to repeat,
# since answering is read-only.
_RETRY_ERRORS = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)

HistoryLike = Sequence[Turn | Mapping[str, str]]

_SECTIONS = TypeAdapter(list[SectionOut])
_CITATIONS = TypeAdapter(list[Citation])


class PeelqaError(Exception):
    """Anything that went wrong talking to peelqa."""


class ConnectionFailed(PeelqaError):
    """The server could not be reached, after the retries."""


class HTTPError(PeelqaError):
    """The server answered with an error status."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"{status} {code}: {message}{where}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


class InvalidRequest(HTTPError):
    """400 or 422: a field out of bounds (an empty or too long question, bad history)."""


class Unauthorized(HTTPError):
    """401: no API key, or a wrong one."""


class NotFound(HTTPError):
    """404: no such report or section."""


class BodyTooLarge(HTTPError):
    """413: the request body is over the server's limit (64 KiB)."""


class RateLimited(HTTPError):
    """429: too many requests; `retry_after` says how many seconds to wait."""

    retry_after: float | None = None


class ServerError(HTTPError):
    """5xx: 503 still loading (after the retries), 504 over the deadline, 500 a bug."""


_BY_STATUS: dict[int, type[HTTPError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    413: BodyTooLarge,
    422: InvalidRequest,
    429: RateLimited,
}


def error_of(response: httpx.Response) -> HTTPError:
    """The exception for an error response, from the contract's `{"error": {code, message}}`."""
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):  # not our error shape: a proxy's page, say
        code, message = "http_error", response.text[:200] or response.reason_phrase
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else HTTPError)
    error = cls(status, code, message, response.headers.get("x-request-id"))
    if isinstance(error, RateLimited):
        error.retry_after = _retry_after(response)
    return error


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _ask_body(question: str, history: HistoryLike | None, stream: bool) -> dict[str, Any]:
    turns = [t.model_dump() if isinstance(t, Turn) else dict(t) for t in history or ()]
    return {"question": question, "history": turns, "stream": stream}


class _Policy:
    """When to retry and how long to wait."""

    def __init__(self, *, max_retries: int, backoff: float) -> None:
        self.max_retries, self.backoff = max_retries, backoff

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        wait = self.backoff * 2.0**attempt * (1 + random.random() / 4)  # jitter: spread a crowd
        if response is not None and (after := _retry_after(response)) is not None:
            wait = max(wait, after)
        return min(wait, MAX_DELAY)


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class _Events:
    """Server-sent events from lines: (event, data) pairs."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, Any] | None:
        if line == "":
            if not self.data:
                return None
            found = (self.event, json.loads("\n".join(self.data)))
            self.event, self.data = "message", []
            return found
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None


class _StreamState:
    """What a stream has told so far; shared by the sync and async streams."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self.response: AskResponse | None = None
        self.events = _Events()

    def take(self, line: str) -> str | None:
        """The text of a `delta` event, else None (citations and done are kept)."""
        found = self.events.feed(line)
        if found is None:
            return None
        event, data = found
        if event == "citations":
            self.citations = _CITATIONS.validate_python(data)
        elif event == "delta":
            return str(data["text"])
        elif event == "done":
            self.response = AskResponse.model_validate(data)
        return None


class AnswerStream:
    """An answer arriving: iterate for the text pieces; `citations` come before the first piece
    and `response` (the whole `AskResponse`) is set once the stream has ended."""

    def __init__(self, response: httpx.Response) -> None:
        self._http, self._state = response, _StreamState()

    @property
    def citations(self) -> list[Citation]:
        return self._state.citations

    @property
    def response(self) -> AskResponse | None:
        return self._state.response

    def __iter__(self) -> Iterator[str]:
        for line in self._http.iter_lines():
            if (text := self._state.take(line)) is not None:
                yield text
        self._state.take("")


class AsyncAnswerStream:
    """`AnswerStream` for `AsyncClient`: `async for piece in stream`."""

    def __init__(self, response: httpx.Response) -> None:
        self._http, self._state = response, _StreamState()

    @property
    def citations(self) -> list[Citation]:
        return self._state.citations

    @property
    def response(self) -> AskResponse | None:
        return self._state.response

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._http.aiter_lines():
            if (text := self._state.take(line)) is not None:
                yield text
        self._state.take("")


class Client:
    """Blocking client. `http` lets you pass your own `httpx.Client` (proxies, TLS, tests)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._http.headers.update(_headers(api_key))
        self._policy = _Policy(max_retries=max_retries, backoff=backoff)

    def ask(self, question: str, *, history: HistoryLike | None = None) -> AskResponse:
        """The answer with its citations (`POST /v1/ask`)."""
        r = self._send("POST", "/v1/ask", _ask_body(question, history, False))
        return AskResponse.model_validate(r.json())

    @contextmanager
    def stream(
        self, question: str, *, history: HistoryLike | None = None
    ) -> Iterator[AnswerStream]:
        """The answer as it arrives: `with client.stream(q) as s: for piece in s: ...`."""
        response = self._send("POST", "/v1/ask", _ask_body(question, history, True), stream=True)
        try:
            yield AnswerStream(response)
        finally:
            response.close()

    def sections(self) -> list[SectionOut]:
        """Every section of every report, with its text."""
        return _SECTIONS.validate_python(self._send("GET", "/v1/sections").json())

    def section(self, doc: str, section: str) -> SectionOut:
        """One section; `NotFound` when the report or section does not exist."""
        path = f"/v1/sections/{_segment(doc)}/{_segment(section)}"
        return SectionOut.model_validate(self._send("GET", path).json())

    def feedback(self, answer_id: str, rating: Rating, comment: str | None = None) -> FeedbackOut:
        """Rate an answer by its `id` (`POST /v1/feedback`); `NotFound` for an unknown id. Safe
        to retry: rating an answer again replaces the earlier rating."""
        body = {"answer_id": answer_id, "rating": rating, "comment": comment}
        return FeedbackOut.model_validate(self._send("POST", "/v1/feedback", body).json())

    def _send(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> httpx.Response:
        request = self._http.build_request(method, path, json=body)
        for attempt in range(self._policy.max_retries + 1):
            last = attempt == self._policy.max_retries
            try:
                response = self._http.send(request, stream=stream)
            except _RETRY_ERRORS as e:
                if last:
                    raise ConnectionFailed(f"cannot reach {request.url}: {e}") from e
                time.sleep(self._policy.delay(attempt, None))
                continue
            if response.is_success:
                return response
            response.read()
            response.close()
            if response.status_code != 503 or last:
                raise error_of(response)
            time.sleep(self._policy.delay(attempt, response))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """The same as `Client` for asyncio or trio code: `await client.ask(...)`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._http.headers.update(_headers(api_key))
        self._policy = _Policy(max_retries=max_retries, backoff=backoff)

    async def ask(self, question: str, *, history: HistoryLike | None = None) -> AskResponse:
        r = await self._send("POST", "/v1/ask", _ask_body(question, history, False))
        return AskResponse.model_validate(r.json())

    @asynccontextmanager
    async def stream(
        self, question: str, *, history: HistoryLike | None = None
    ) -> AsyncIterator[AsyncAnswerStream]:
        """`async with client.stream(q) as s: async for piece in s: ...`."""
        body = _ask_body(question, history, stream=True)
        response = await self._send("POST", "/v1/ask", body, stream=True)
        try:
            yield AsyncAnswerStream(response)
        finally:
            await response.aclose()

    async def sections(self) -> list[SectionOut]:
        return _SECTIONS.validate_python((await self._send("GET", "/v1/sections")).json())

    async def section(self, doc: str, section: str) -> SectionOut:
        path = f"/v1/sections/{_segment(doc)}/{_segment(section)}"
        return SectionOut.model_validate((await self._send("GET", path)).json())

    async def feedback(
        self, answer_id: str, rating: Rating, comment: str | None = None
    ) -> FeedbackOut:
        body = {"answer_id": answer_id, "rating": rating, "comment": comment}
        return FeedbackOut.model_validate((await self._send("POST", "/v1/feedback", body)).json())

    async def _send(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> httpx.Response:
        request = self._http.build_request(method, path, json=body)
        for attempt in range(self._policy.max_retries + 1):
            last = attempt == self._policy.max_retries
            try:
                response = await self._http.send(request, stream=stream)
            except _RETRY_ERRORS as e:
                if last:
                    raise ConnectionFailed(f"cannot reach {request.url}: {e}") from e
                await anyio.sleep(self._policy.delay(attempt, None))
                continue
            if response.is_success:
                return response
            await response.aread()
            await response.aclose()
            if response.status_code != 503 or last:
                raise error_of(response)
            await anyio.sleep(self._policy.delay(attempt, response))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _segment(value: str) -> str:
    """One path segment, so that a `/` in an id cannot reach another route."""
    from urllib.parse import quote

    return quote(value, safe="")
