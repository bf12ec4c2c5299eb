"""OpenAI-compatible chat: `POST /v1/chat/completions` and `GET /v1/models`.

A translation only: the answer comes from the same service call as `POST /v1/ask`, so tools
built on an OpenAI client get the same cited answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from peelqa.generation.generator import Reply
from peelqa.models import AskResponse
from peelqa.server.errors import ApiError, error_doc
from peelqa.server.openai_models import (
    MODEL_ID,
    PEELQA_MODEL,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    Delta,
    Model,
    ModelList,
    completion_id,
    completion_of,
    usage_of,
)
from peelqa.server.service import service_of

router = APIRouter(tags=["openai"])


async def sse_chunks(request: ChatCompletionRequest, reply: Reply) -> AsyncIterator[str]:
    """Role and citations first, then the content as it comes, then `finish_reason: stop` (with
    `mode`) and, when asked for, usage; then `[DONE]`."""
    ident, created = completion_id(), int(time.time())

    def chunk(
        delta: Delta, finish: Literal["stop"] | None = None, **extra: Any
    ) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=ident,
            created=created,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            **extra,
        )

    def sse(c: ChatCompletionChunk) -> str:
        data = c.model_dump(exclude_none=True)
        if c.citations is not None:  # a citation's `page` is null, not absent, off paged formats
            data["citations"] = [x.model_dump() for x in c.citations]
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    head = reply.head
    yield sse(
        chunk(Delta(role="assistant", content=""), citations=head.citations, answered=head.answered)
    )
    result = head
    async for event in reply.events:
        if isinstance(event, AskResponse):
            result = event
        else:
            yield sse(chunk(Delta(content=event)))
    yield sse(chunk(Delta(), finish="stop", mode=result.mode))
    if request.stream_options is not None and request.stream_options.include_usage:
        yield sse(
            ChatCompletionChunk(
                id=ident,
                created=created,
                choices=[],
                citations=None,
                answered=None,
                usage=usage_of(request, result),
            )
        )
    yield "data: [DONE]\n\n"


_STREAM_EXAMPLE = (
    'data: {"id": "chatcmpl-3f2a", "object": "chat.completion.chunk", "created": 1767225600, '
    '"model": "peelqa", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], '
    '"citations": [...], "answered": true}\n\n'
    'data: {"id": "chatcmpl-3f2a", ..., "choices": [{"index": 0, "delta": {"content": "The"}}]}\n\n'
    'data: {"id": "chatcmpl-3f2a", ..., "choices": [{"index": 0, "delta": {}, '
    '"finish_reason": "stop"}]}\n\n'
    "data: [DONE]\n\n"
)


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "A `chat.completion`; with `stream: true`, server-sent "
            "`chat.completion.chunk`s (citations on the first) and `data: [DONE]`.",
            "content": {"text/event-stream": {"example": _STREAM_EXAMPLE}},
        },
        404: error_doc("A report in `docs` is not in service"),
        413: error_doc("Body over 64 KiB"),
        422: error_doc("Invalid JSON, no user message, or a field out of bounds"),
        503: error_doc("Index not loaded yet"),
    },
)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    """OpenAI-compatible chat, so that tools built on an OpenAI client work unchanged.

    The last user message is the question and earlier messages the history; system
    messages are accepted and ignored. The content carries the inline markers `[1]`, `[2]`
    and the response has a top-level `citations` list (and `answered`). Streaming sends
    the citations on the first chunk. `usage` counts are estimates (four characters a
    token). A top-level `docs` list (with the official client,
    `extra_body={"docs": [...]}`) limits the answer to those reports, as on `/v1/ask`.
    """
    reply = await service_of(request).answer(body.question, body.history, body.docs)
    if not body.stream:
        return completion_of(body, await reply.final())
    return StreamingResponse(
        sse_chunks(body, reply),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/v1/models", response_model=ModelList)
async def models() -> ModelList:
    """The one model, `peelqa`, for clients that list models before they chat."""
    return ModelList(data=[PEELQA_MODEL])


@router.get(
    "/v1/models/{model}",
    response_model=Model,
    responses={404: error_doc("No such model")},
)
async def model(model: Annotated[str, Path(examples=[MODEL_ID])]) -> Model:
    """One model by id; only `peelqa` exists."""
    if model != MODEL_ID:
        raise ApiError(404, "unknown_model", f"no model {model!r}; the only one is {MODEL_ID!r}")
    return PEELQA_MODEL
