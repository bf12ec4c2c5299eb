"""`POST /v1/ask`: a question (with its conversation) in, a cited answer out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from peelqa.generation.generator import Event, Reply
from peelqa.models import AskRequest, AskResponse
from peelqa.server.errors import ERRORS
from peelqa.server.service import service_of

router = APIRouter(tags=["ask"])

_ASK_STREAM_EXAMPLE = (
    'event: citations\ndata: [{"doc": "peel-2015-northamptonshire", "section": "conclusion", '
    '"heading": "Conclusion", "quote": "The grading ...", "score": 0.4}]\n\n'
    'event: delta\ndata: {"text": "The"}\n\n'
    'event: delta\ndata: {"text": " grading"}\n\n'
    'event: done\ndata: {"answer": "The grading ... [1]", "answered": true, "citations": [...]}\n\n'
)


@router.post(
    "/v1/ask",
    response_model=AskResponse,
    responses={
        **{k: ERRORS[k] for k in (404, 413, 422, 503)},
        200: {
            "description": "The answer; with `stream: true`, server-sent events "
            "`citations`, `delta` (in order) and `done` (this object).",
            "content": {"text/event-stream": {"example": _ASK_STREAM_EXAMPLE}},
        },
    },
)
async def ask(body: AskRequest, request: Request) -> Any:
    """Answer a question about the reports, with citations.

    `citations[0]` is the main support; the answer marks its support inline as `[1]`,
    `[2]` (1-based positions in `citations`). When the reports do not answer the question,
    `answered` is false and the answer says so. Send earlier turns as `history` so that
    follow-ups ("and what about that?") are understood, and `docs` to answer from some
    reports only.
    """
    reply = await service_of(request).answer(body.question, body.history, body.docs)
    if not body.stream:
        # Already an AskResponse: serialised once, not dumped, re-validated and dumped again
        # by the response_model machinery (which still documents the schema).
        final = await reply.final()
        return Response(final.model_dump_json(), media_type="application/json")
    return StreamingResponse(
        _stream(reply),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(reply: Reply) -> AsyncIterator[str]:
    yield sse("citations", [x.model_dump() for x in reply.head.citations])
    event: Event
    async for event in reply.events:
        if isinstance(event, AskResponse):
            yield sse("done", event.model_dump())
        else:
            yield sse("delta", {"text": event})
