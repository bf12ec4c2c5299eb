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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Serving:
    """What answers come from, swapped as one reference when a new index generation is loaded:
    a request reads it once and keeps to it, so it never mixes two generations."""

    components: Components
    generator: Generator | None
    # Reports removed that the index in service still holds: no answer may cite them.
    hidden: frozenset[str] = frozenset()


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
        self.serving = Serving(components, generator)
        self.storage = storage
        self.metrics = metrics
        self.max_queue = max_queue
        # Past `max_queue` questions in progress a new one gets 503 at once.
        self._limiter = anyio.CapacityLimiter(max_queue)

    @property
    def components(self) -> Components:
        return self.serving.components

    @property
    def generator(self) -> Generator | None:
        return self.serving.generator

    def swap(self, components: Components, *, hidden: frozenset[str] = frozenset()) -> None:
        """Serve `components` from now on; requests under way finish with what they began."""
        gen = self.serving.generator
        if gen is not None and components.index is not self.serving.components.index:
            gen = Generator.of(
                llm=gen.llm, index=components.index, timeout=gen.timeout, metrics=gen.metrics
            )
        self.serving = Serving(components, gen, hidden)

    def hide(self, hidden: frozenset[str]) -> None:
        """Leave these reports out of every answer from now on (they are being removed)."""
        s = self.serving
        self.serving = Serving(s.components, s.generator, hidden)

    def scope(
        self, docs: Sequence[str] | None, serving: Serving | None = None
    ) -> tuple[str, ...] | None:
        """The reports an answer may come from: `docs` when given (404 for one not in
        service), else every report but the hidden ones; None: all of them."""
        s = serving or self.serving
        index = s.components.index
        if docs is not None:
            unknown = [d for d in docs if d in s.hidden or index.document(d) is None]
            if unknown:
                raise ApiError(
                    404, "unknown_document", f"no report with id {unknown[0]!r} is in service"
                )
            return tuple(dict.fromkeys(docs))
        if s.hidden:
            return tuple(dict.fromkeys(d.doc for d in index.documents if d.doc not in s.hidden))
        return None

    async def answer(
        self, question: str, history: list[Turn], docs: Sequence[str] | None = None
    ) -> Reply:
        s = self.serving
        c = s.components
        scope = self.scope(docs, s)
        # A repeated question is answered here, on the event loop: no thread, no encoder.
        started = time.perf_counter()
        result = c.engine.recall(question=question, history=history, docs=scope)
        cached = result is not None
        if result is not None:
            self.metrics.count_answer(result, cached=True)
        else:
            result = await self._admitted(self._compute, c, question, history, scope)
        # Each reply is an answer of its own for feedback, a repeated one too.
        result = result.model_copy(update={"id": new_answer_id()})
        if s.generator is None or not result.answered:  # a refusal never reaches the LLM
            self._record(result, question, started, cached)
            return Reply.extractive(result)

        async def encode(texts: list[str]) -> Vectors:
            vectors: Vectors = await self._admitted(encode_async, c.embedder, texts)
            return vectors

        events = s.generator.events(
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

    async def _compute(
        self,
        c: Components,
        question: str,
        history: list[Turn],
        docs: tuple[str, ...] | None,
    ) -> AskResponse:
        """A question not in the cache: its texts wait for a shared encoder batch without
        holding a thread, then the answer is composed here on the event loop (about a
        millisecond of Python, which a thread would only run under the same GIL, after two
        hand-overs)."""
        texts = c.engine.queries(question=question, history=history)
        vectors = await encode_async(c.embedder, texts)
        known = dict(zip(texts, vectors, strict=True))
        result = c.engine.ask(question=question, history=history, known=known, docs=docs)
        self.metrics.count_answer(result)
        return result


def service_of(request: Request) -> AnswerService:
    """The app's service, or 503 while the index is still loading. Called by the routes
    themselves rather than as a FastAPI dependency, which is solved anew on every request."""
    service: AnswerService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
    return service
