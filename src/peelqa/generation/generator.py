"""Generated answers: the engine's passages worded by the site's LLM server, every sentence
checked against the passage it cites before it is shown, and the extractive answer whenever
that fails.

The engine decides first. When it refuses (`answered: false`) the LLM is never asked: it must
not answer what retrieval says the report does not cover. When it answers, its citations (exact
report sentences, already verified) are the numbered passages of the prompt and the citations
of the generated answer, so a stream can announce them before the first word and they stay
right whether the words end up generated or extractive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass

import anyio

from peelqa.answering.verification import verified
from peelqa.config import Settings
from peelqa.generation import prompt
from peelqa.generation.grounding import Checker, Context, Encode, split_generated
from peelqa.generation.llm import CircuitBreaker, LlmClient, LlmError, open_http_client
from peelqa.index.store import Index
from peelqa.metrics import Metrics
from peelqa.models import AskResponse, Citation, Turn

log = logging.getLogger("peelqa.generation")

# A piece of answer text for the reader, or (last) the whole response.
Event = str | AskResponse


def text_pieces(text: str, *, first: bool) -> Iterator[str]:
    """Text in the pieces a reader sees arrive: word by word, markers kept whole."""
    for i, w in enumerate(text.split(" ")):
        yield w if first and i == 0 else " " + w


class _SentenceBuffer:
    """Collects streamed text and hands out each sentence once the next one has begun (a
    marker after the full stop still belongs to it)."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, piece: str) -> list[str]:
        self.text += piece
        sentences = split_generated(self.text)
        if len(sentences) < 2:
            return []
        last = sentences[-1]
        cut = self.text.rfind(last)
        if cut < 0:  # the splitter tidied the last one: wait for the end
            return []
        self.text = self.text[cut:]
        return sentences[:-1]

    def rest(self) -> list[str]:
        sentences, self.text = split_generated(self.text), ""
        return sentences


@dataclass
class Generator:
    """One per app: the LLM client, what grounding needs to know of the reports, and the time
    one answer may take."""

    llm: LlmClient
    index: Index
    context: Context
    timeout: float
    metrics: Metrics

    @classmethod
    def of(cls, *, llm: LlmClient, index: Index, timeout: float, metrics: Metrics) -> Generator:
        return cls(
            llm=llm, index=index, context=Context.of(index), timeout=timeout, metrics=metrics
        )

    async def events(
        self, *, extractive: AskResponse, question: str, history: list[Turn], encode: Encode
    ) -> AsyncIterator[Event]:
        """Verified sentences as they are ready, then the response. Text already sent is never
        taken back: a sentence is only sent once it has passed."""
        if not extractive.answered or not extractive.citations:
            async for event in extractive_events(extractive):
                yield event
            return
        passages = extractive.citations
        kept: list[str] = []
        outcome = "generated"
        try:
            async for text in self._verified_sentences(passages, question, history, encode):
                for p in text_pieces(text, first=not kept):
                    yield p
                kept.append(text)
        except LlmError as e:
            outcome = e.kind
            log.warning("LLM answer failed (%s); %s", e, "partial" if kept else "extractive")
        async for event in self._finish(extractive, kept, outcome):
            yield event

    async def _verified_sentences(
        self, passages: list[Citation], question: str, history: list[Turn], encode: Encode
    ) -> AsyncIterator[str]:
        """The model's sentences that pass their check, as shown, in order."""
        deadline = time.monotonic() + self.timeout
        checker = Checker(passages=passages, context=self.context, encode=encode)
        buffer = _SentenceBuffer()
        messages = prompt.messages(passages=passages, question=question, history=history)
        async with aclosing(self.llm.stream(messages=messages, deadline=deadline)) as stream:
            async for piece in stream:
                for sentence in buffer.feed(piece):
                    if text := await self._judge(checker, sentence, deadline):
                        yield text
        for sentence in buffer.rest():
            if text := await self._judge(checker, sentence, deadline):
                yield text

    async def _finish(
        self, extractive: AskResponse, kept: list[str], outcome: str
    ) -> AsyncIterator[Event]:
        """The final response: the generated one when its sentences verify, else extractive."""
        final = None
        if kept:
            final = verified(
                AskResponse(answer=" ".join(kept), answered=True, citations=extractive.citations),
                self.index,
            )
        if final is not None:
            self.metrics.llm_answers.labels(outcome="generated").inc()
            yield final.model_copy(update={"mode": "generated", "id": extractive.id})
            return
        self.metrics.llm_answers.labels(
            outcome=outcome if outcome != "generated" else "no_supported_sentence"
        ).inc()
        if kept:  # cannot happen (kept sentences cite verified passages); never unverified
            log.error("generated answer failed verification after streaming: %r", kept)
            yield extractive.model_copy(update={"mode": "extractive"})
            return
        async for event in extractive_events(extractive):
            yield event

    async def _judge(self, checker: Checker, sentence: str, deadline: float) -> str:
        """The sentence as shown when it passes, else ''."""
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
            verdict = await checker.check(sentence)
        if scope.cancelled_caught:
            raise LlmError("timeout", "past the answer's deadline while checking")
        label = "dropped" if not verdict.kept else "repaired" if verdict.repaired else "kept"
        self.metrics.generated_sentences.labels(verdict=label).inc()
        if label != "kept":
            log.info("generated sentence %s (%s): %r", label, verdict.reason, sentence)
        return verdict.text


async def extractive_events(result: AskResponse) -> AsyncIterator[Event]:
    for p in text_pieces(result.answer, first=True):
        yield p
    yield result.model_copy(update={"mode": "extractive"})


@dataclass
class Reply:
    """An answer on its way: `head` already holds what is known before the words (citations
    and `answered`, the same for the final answer), `events` the words and then the response."""

    head: AskResponse
    events: AsyncIterator[Event]
    # The final answer when it is known already (extractive): no need to run the events.
    ready: AskResponse | None = None

    @classmethod
    def extractive(cls, result: AskResponse) -> Reply:
        return cls(head=result, events=extractive_events(result), ready=result)

    async def final(self) -> AskResponse:
        if self.ready is not None:
            return self.ready
        last = self.head
        async for event in self.events:
            if isinstance(event, AskResponse):
                last = event
        return last


@asynccontextmanager
async def open_generator(
    *, settings: Settings, index: Index, metrics: Metrics
) -> AsyncIterator[Generator | None]:
    """The app's generator with its one httpx client, for the app's lifetime; None (and no
    client at all) when no LLM server is configured."""
    if not settings.llm_url:
        yield None
        return
    http = open_http_client(
        base_url=settings.llm_url,
        api_key=settings.llm_api_key.get_secret_value(),
        deadline=settings.llm_timeout,
    )
    try:
        llm = LlmClient(http=http, model=settings.llm_model, breaker=CircuitBreaker())
        yield Generator.of(llm=llm, index=index, timeout=settings.llm_timeout, metrics=metrics)
    finally:
        await http.aclose()
