"""The site's LLM server over HTTP: OpenAI-compatible chat completions, streamed, bounded in time,
and not called while a circuit breaker says it is failing.

Anything OpenAI-compatible works (llama.cpp's server, Ollama, vLLM). Every way it can go wrong
(refused connection, a slow first token, a stall mid-stream, an error status, a chunk that is
not JSON) ends as one `LlmError` with a short `kind`, so the caller can answer extractively.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx

from peelqa.models import LlmHealth

# A server on loopback or the LAN accepts a connection in milliseconds: two seconds without one
# means it is down or unreachable, and waiting longer only delays the extractive answer.
CONNECT_TIMEOUT = 2.0
# The longest silence allowed between two pieces of the stream (the first token included, which
# waits for the whole prompt to be read: ~1-3 s for a small model on two cores).
READ_TIMEOUT = 10.0
# Three failures in a row is a failing server, not a passing hiccup; thirty seconds is long
# enough for a restart, short enough that fluent answers come back soon after.
FAILURES_TO_OPEN = 3
COOLDOWN_SECONDS = 30.0
# A complete answer of three or four cited sentences is ~150 tokens; 400 leaves room for a
# longer one and caps a model that rambles.
MAX_TOKENS = 400
# Low but not zero: wording may vary a little, facts should not.
TEMPERATURE = 0.2

ErrorKind = Literal["connect", "timeout", "status", "malformed", "error", "breaker_open"]


class LlmError(Exception):
    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class CircuitBreaker:
    """Closed: calls go through. After `failures_to_open` failures in a row: open, no calls for
    `cooldown` seconds. Then half-open: one trial call; its success closes, its failure reopens.
    """

    def __init__(
        self,
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        cooldown: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open, self.cooldown, self.clock = failures_to_open, cooldown, clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.last_error: str | None = None

    @property
    def state(self) -> Literal["closed", "open", "half-open"]:
        if self.opened_at is None:
            return "closed"
        return "open" if self.clock() - self.opened_at < self.cooldown else "half-open"

    def retry_in(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_running:
            self.trial_running = True  # one trial at a time; the others stay extractive
            return True
        return False

    def succeeded(self) -> None:
        self.consecutive_failures, self.opened_at, self.trial_running = 0, None, False
        self.last_error = None

    def failed(self, reason: str) -> None:
        self.consecutive_failures += 1
        self.last_error = reason
        if self.trial_running or self.consecutive_failures >= self.failures_to_open:
            self.opened_at = self.clock()
        self.trial_running = False


@dataclass
class LlmClient:
    """Chat completions from one OpenAI-compatible server, through the app's one httpx client."""

    http: httpx.AsyncClient
    model: str
    breaker: CircuitBreaker

    def health(self) -> LlmHealth:
        b = self.breaker
        degraded = b.state != "closed" or b.consecutive_failures > 0
        return LlmHealth(
            state="degraded" if degraded else "ok",
            model=self.model,
            breaker=b.state,
            consecutive_failures=b.consecutive_failures,
            retry_in=round(b.retry_in(), 1),
            last_error=b.last_error,
        )

    async def stream(
        self, *, messages: list[dict[str, str]], deadline: float
    ) -> AsyncGenerator[str, None]:
        """The answer's text as it arrives. `deadline` is a `time.monotonic()` instant: every
        wait is cut to what is left of it. Raises `LlmError`; the breaker hears of every outcome.
        """
        if not self.breaker.allow():
            raise LlmError("breaker_open", f"retry in {self.breaker.retry_in():.0f} s")
        finished = False
        try:
            async for piece in self._stream(messages, deadline):
                yield piece
            finished = True
        except LlmError as e:
            self.breaker.failed(str(e))
            finished = True
            raise
        finally:
            if not finished:
                # The caller stopped reading (its client left, or it was cancelled): no
                # verdict on the server, but a trial call must not stay "running" for ever.
                self.breaker.trial_running = False
        self.breaker.succeeded()

    async def _stream(self, messages: list[dict[str, str]], deadline: float) -> AsyncIterator[str]:
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": MAX_TOKENS,
            "temperature": TEMPERATURE,
        }
        request = self.http.build_request("POST", "chat/completions", json=body)
        with _limit(deadline):
            try:
                response = await self.http.send(request, stream=True)
            except httpx.TimeoutException as e:
                raise LlmError("timeout", type(e).__name__) from None
            except httpx.HTTPError as e:
                raise LlmError("connect", f"{type(e).__name__}: {e}") from None
        try:
            if response.status_code != 200:
                with _limit(deadline):
                    text = (await _read_some(response)).decode("utf-8", "replace")
                raise LlmError("status", f"HTTP {response.status_code}: {text[:200]}")
            if response.headers.get("content-type", "").startswith("application/json"):
                # A server that ignores `stream` sends the whole completion at once.
                with _limit(deadline):
                    whole = await _read_some(response)
                yield _message_content(_json(whole.decode("utf-8", "replace")))
                return
            lines = response.aiter_lines()
            events = 0
            while True:
                with _limit(deadline):
                    try:
                        line = await anext(lines)
                    except StopAsyncIteration:
                        if not events:
                            raise LlmError("malformed", "no server-sent events") from None
                        return  # ended without [DONE]: what came is the answer
                    except httpx.TimeoutException as e:
                        raise LlmError("timeout", type(e).__name__) from None
                    except httpx.HTTPError as e:
                        raise LlmError("connect", f"{type(e).__name__}: {e}") from None
                piece = parse_sse_line(line)
                events += piece is not None
                if piece is _DONE:
                    return
                if isinstance(piece, str) and piece:
                    yield piece
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()


_DONE = object()


def parse_sse_line(line: str) -> str | object | None:
    """One line of an OpenAI-style event stream: the text it adds (maybe empty), `_DONE` at the
    end, None for lines that carry nothing (comments, blank lines, other fields)."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return _DONE
    chunk = _json(payload)
    if "error" in chunk:
        raise LlmError("error", str(chunk["error"])[:200])
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise LlmError("malformed", "a chunk without choices")
    if not choices:
        return ""  # a usage-only chunk
    first = choices[0]
    delta = first.get("delta") if isinstance(first, dict) else None
    if not isinstance(delta, dict):
        raise LlmError("malformed", "a choice without a delta")
    content = delta.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise LlmError("malformed", "delta content is not text")
    return content


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise LlmError("malformed", f"not JSON: {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise LlmError("malformed", "not a JSON object")
    return value


def _message_content(completion: dict[str, Any]) -> str:
    if "error" in completion:
        raise LlmError("error", str(completion["error"])[:200])
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmError("malformed", "a completion without choices[0].message") from None
    if not isinstance(content, str):
        raise LlmError("malformed", "message content is not text")
    return content


# An error body or a whole completion is a few KiB; a server sending more is not one to trust.
_MAX_BODY = 256 * 1024


async def _read_some(response: httpx.Response) -> bytes:
    got = b""
    try:
        async for part in response.aiter_bytes():
            got += part
            if len(got) > _MAX_BODY:
                raise LlmError("malformed", "body too large")
    except httpx.TimeoutException as e:
        raise LlmError("timeout", type(e).__name__) from None
    except httpx.HTTPError as e:
        raise LlmError("connect", f"{type(e).__name__}: {e}") from None
    return got


class _limit:
    """`anyio.fail_after` for what is left of `deadline`, raising `LlmError('timeout')`."""

    def __init__(self, deadline: float) -> None:
        self.scope = anyio.fail_after(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> None:
        self.scope.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        try:
            return self.scope.__exit__(*exc)
        except TimeoutError:
            raise LlmError("timeout", "past the answer's deadline") from None


def open_http_client(*, base_url: str, api_key: str, deadline: float) -> httpx.AsyncClient:
    """The app's one client for the LLM server, opened in the lifespan."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(
        connect=min(CONNECT_TIMEOUT, deadline),
        read=min(READ_TIMEOUT, deadline),
        write=min(READ_TIMEOUT, deadline),
        pool=min(CONNECT_TIMEOUT, deadline),
    )
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=timeout,
        # Never through a proxy from the environment: the LLM server is the site's own.
        trust_env=False,
    )
