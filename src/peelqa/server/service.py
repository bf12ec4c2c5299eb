"""The answering pipeline in service: built once in the lifespan, called by every ask route.

One place makes answers for `/v1/ask` and the OpenAI-compatible chat alike: a repeated question
from the answer cache, else admitted (or refused with 503 when too many are in progress),
encoded in the loop's shared batch and answered by the engine; then, when a site's LLM server
is configured and the engine answered, worded by it and checked sentence by sentence. Every
reply is recorded, by its id, for feedback and the usage log (queued for the storage's writer
thread: no database work on the event loop).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request

from peelqa.encoder.base import Vectors
from peelqa.encoder.batching import EncoderBusy, encode_async
from peelqa.generation.generator import Event, Generator, Reply
from peelqa.metrics import Metrics
from peelqa.models import AskResponse, Turn, new_answer_id
from peelqa.runtime import Components
from peelqa.server.errors import ApiError
from peelqa.storage.service import Storage

T = TypeVar("T")


class AnswerService:
    def __init__(
        self,
        *,
        components: Components,
        generator: Generator | None,
        metrics: Metrics,
        max_queue: int,
        storage: Storage | None = None,
    ) -> None:
        self.components = components
        self.storage = storage
        self.generator = generator
        self.metrics = metrics
        self.max_queue = max_queue
        # Past `max_queue` questions in progress a new one gets 503 at once.
        self._limiter = anyio.CapacityLimiter(max_queue)

    async def answer(self, question: str, history: list[Turn]) -> Reply:
        c = self.components
        started = time.perf_counter()
        # A repeated question is answered here, on the event loop: no thread, no encoder.
        result = c.engine.recall(question=question, history=history)
        cached = result is not None
        if result is not None:
            self.metrics.count_answer(result, cached=True)
        else:
            result = await self._admitted(self._compute, question, history)
        # Each reply is an answer of its own for feedback, a repeated one too.
        result = result.model_copy(update={"id": new_answer_id()})
        if self.generator is None or not result.answered:  # a refusal never reaches the LLM
            self._record(result, question, started, cached)
            return Reply.extractive(result)

        async def encode(texts: list[str]) -> Vectors:
            vectors: Vectors = await self._admitted(encode_async, c.embedder, texts)
            return vectors

        events = self.generator.events(
            extractive=result, question=question, history=history, encode=encode
        )
        return Reply(head=result, events=self._recorded(events, result, question, started))

    def _record(self, result: AskResponse, question: str, started: float, cached: bool) -> None:
        if self.storage is not None:
            self.storage.record(result, question=question, started=started, cached=cached)

    async def _recorded(
        self, events: AsyncIterator[Event], head: AskResponse, question: str, started: float
    ) -> AsyncIterator[Event]:
        """The generated answer's events, recording the final answer (or, when the caller
        goes away first, the extractive one it began as) once they end."""
        final = head
        try:
            async for event in events:
                if isinstance(event, AskResponse):
                    final = event
                yield event
        finally:
            self._record(final, question, started, cached=False)

    async def _admitted(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._limiter.borrowed_tokens >= self._limiter.total_tokens:
            raise EncoderBusy(f"{self.max_queue} questions are already in progress")
        async with self._limiter:
            return await work(*args)

    async def _compute(self, question: str, history: list[Turn]) -> AskResponse:
        """A question not in the cache: its texts wait for a shared encoder batch without
        holding a thread, then the answer is composed here on the event loop (about a
        millisecond of Python, which a thread would only run under the same GIL, after two
        hand-overs)."""
        c = self.components
        texts = c.engine.queries(question=question, history=history)
        vectors = await encode_async(c.embedder, texts)
        known = dict(zip(texts, vectors, strict=True))
        result = c.engine.ask(question=question, history=history, known=known)
        self.metrics.count_answer(result)
        return result


def service_of(request: Request) -> AnswerService:
    """The app's service, or 503 while the index is still loading. Called by the routes
    themselves rather than as a FastAPI dependency, which is solved anew on every request."""
    service: AnswerService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
    return service
