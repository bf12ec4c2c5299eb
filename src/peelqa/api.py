"""HTTP layer: turns requests into calls of the core and results into response models."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelqa import access, ops
from peelqa.batching import EncoderBusy, encode_async
from peelqa.config import Settings
from peelqa.errors import ApiError, error_doc, error_response
from peelqa.generation import Event, Reply, open_generator
from peelqa.models import AskRequest, AskResponse, Health, SectionOut, Turn
from peelqa.openai_compat import chat_router
from peelqa.runtime import Components, load_components

log = logging.getLogger("peelqa")

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_doc("Unknown document or section"),
    413: error_doc("Body over 64 KiB"),
    422: error_doc("Invalid JSON or a field out of bounds"),
    503: error_doc("Index not loaded yet, or too many questions queued"),
}


_ASK_STREAM_EXAMPLE = (
    'event: citations\ndata: [{"doc": "peel-2015-northamptonshire", "section": "conclusion", '
    '"heading": "Conclusion", "quote": "The grading ...", "score": 0.4}]\n\n'
    'event: delta\ndata: {"text": "The"}\n\n'
    'event: delta\ndata: {"text": " grading"}\n\n'
    'event: done\ndata: {"answer": "The grading ... [1]", "answered": true, "citations": [...]}\n\n'
)


class BodyLimit:
    """Refuse bodies over the limit before they are read into memory or reach any model work.

    Checks Content-Length up front and counts chunked bodies as they arrive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
        # Made only when needed: building a response on every request cost ~2% of the loop.
        message = f"request body is over {self.max_bytes} bytes"
        reply = error_response(413, "body_too_large", message)
        await reply(scope, receive, send)


async def get_components(request: Request) -> Components:  # async: no thread hop
    return components_of(request)


def components_of(request: Request) -> Components:
    components: Components | None = getattr(request.app.state, "components", None)
    if components is None:
        raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
    return components


ComponentsDep = Annotated[Components, Depends(get_components)]


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# peelqa's telemetry is its own /metrics and access log. The OpenTelemetry bridge of recent
# FastAPI releases, on by default, looked up the global OTel providers on every request (~1% of
# a worker's time under load) for a set-up peelqa does not make. Older releases lack it.
_NO_OTEL_BRIDGE: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(settings: Settings, *, components: Components | None = None) -> FastAPI:
    """The app; with `components` it serves those, else it loads the real ones at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if components is None:
            # Loading the model and the index is seconds of CPU: keep it off the event loop.
            app.state.components = await anyio.to_thread.run_sync(load_components, settings)
        else:
            app.state.components = components
        # The LLM server's client, only when one is configured (PEELQA_LLM_URL).
        async with open_generator(settings=settings, index=app.state.components.index) as gen:
            app.state.generator = gen
            yield
        loaded = app.state.components
        app.state.components = app.state.generator = None
        if components is None and loaded is not None:
            closing = getattr(loaded.embedder, "close", None)
            if closing is not None:
                closing()  # stop the encoder worker this app started

    app = FastAPI(
        title="peelqa",
        version="0.1.0",
        summary="Cited answers about police inspection reports.",
        description=(
            "Ask about the reports in the corpus and get short answers built from the "
            "reports' own sentences, each cited to its section with the exact quote. "
            "When the reports do not answer, `answered` is false."
        ),
        lifespan=lifespan,
        **_NO_OTEL_BRIDGE,
    )
    app.state.components = app.state.generator = None
    # Past `max_queue` questions in progress a new one gets 503 at once.
    ask_limiter = anyio.CapacityLimiter(settings.max_queue)

    async def admitted(work: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        if ask_limiter.borrowed_tokens >= ask_limiter.total_tokens:
            raise EncoderBusy(f"{settings.max_queue} questions are already in progress")
        async with ask_limiter:
            return await work(*args)

    @app.exception_handler(EncoderBusy)
    async def _busy(_: Request, exc: EncoderBusy) -> JSONResponse:
        return error_response(503, "busy", f"{exc}; retry shortly", **{"Retry-After": "1"})

    async def answer(c: Components, question: str, history: list[Turn]) -> Reply:
        """The one place answers are made: extractive, then worded by the LLM when one is
        configured and the engine answered (a refusal never reaches the LLM)."""
        # A repeated question is answered here, on the event loop: no thread, no encoder.
        result = c.engine.recall(question=question, history=history)
        if result is not None:
            ops.count_answer(result, cached=True)
        else:
            result = await admitted(_compute, c, question, history)
        generator = app.state.generator
        if generator is None or not result.answered:
            return Reply.extractive(result)

        async def encode(texts: list[str]) -> Any:
            return await admitted(encode_async, c.embedder, texts)

        events = generator.events(
            extractive=result, question=question, history=history, encode=encode
        )
        return Reply(head=result, events=events)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": "2"} if exc.status == 503 else {}
        return error_response(exc.status, exc.code, exc.message, **headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return error_response(422, "invalid_json", "request body is not valid JSON")
        parts = []
        for e in errs[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return error_response(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8)
            return error_response(422, "invalid_json", "request body is not valid UTF-8 JSON")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal", "internal error; it has been logged")

    @app.get(
        "/healthz",
        response_model=Health,
        response_model_exclude_none=True,
        responses={503: _ERRORS[503]},
        tags=["ops"],
    )
    async def healthz(request: Request) -> Any:
        """200 once the index is loaded and questions can be answered; 503 before. With an LLM
        server configured, `llm` tells whether it is answering (`degraded`: answers are
        extractive meanwhile; the service itself is still up)."""
        if getattr(request.app.state, "components", None) is None:
            return error_response(503, "not_ready", "the index is still loading")
        generator = request.app.state.generator
        if generator is None:
            return {"status": "ok"}
        return Health(status="ok", llm=generator.llm.health())

    @app.post(
        "/v1/ask",
        response_model=AskResponse,
        responses={
            **{k: _ERRORS[k] for k in (413, 422, 503)},
            200: {
                "description": "The answer; with `stream: true`, server-sent events "
                "`citations`, `delta` (in order) and `done` (this object).",
                "content": {"text/event-stream": {"example": _ASK_STREAM_EXAMPLE}},
            },
        },
        tags=["ask"],
    )
    async def ask(body: AskRequest, request: Request) -> Any:
        """Answer a question about the reports, with citations.

        `citations[0]` is the main support; the answer marks its support inline as `[1]`,
        `[2]` (1-based positions in `citations`). When the reports do not answer the question,
        `answered` is false and the answer says so. Send earlier turns as `history` so that
        follow-ups ("and what about that?") are understood.
        """
        # Not a dependency: FastAPI solves each one on every request (~5% of a cached answer).
        reply = await answer(components_of(request), body.question, body.history)
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

    @app.get("/v1/sections", response_model=list[SectionOut], tags=["sections"])
    async def sections(c: ComponentsDep) -> list[SectionOut]:
        """Every section of every report, in report order, with its full text."""
        return [
            SectionOut(doc=s.doc, section=s.section, heading=s.heading, text=s.text)
            for d in c.index.documents
            for s in d.sections
        ]

    @app.get(
        "/v1/sections/{doc}/{section}",
        response_model=SectionOut,
        responses={404: _ERRORS[404]},
        tags=["sections"],
    )
    async def section(
        doc: Annotated[str, PathParam(examples=["peel-2015-northamptonshire"])],
        section: Annotated[str, PathParam(examples=["q3"])],
        c: ComponentsDep,
    ) -> SectionOut:
        """One section: `doc` is the report id, `section` its id (`intro`, `q2`, `conclusion`)."""
        if c.index.document(doc) is None:
            raise ApiError(404, "unknown_document", f"no report with id {doc!r}")
        s = c.index.section(doc, section)
        if s is None:
            raise ApiError(404, "unknown_section", f"report {doc!r} has no section {section!r}")
        return SectionOut(doc=s.doc, section=s.section, heading=s.heading, text=s.text)

    # The OpenAI-compatible chat answers through the very same call as /v1/ask.
    app.include_router(
        chat_router(
            answer=answer,
            components=Depends(get_components),
        )
    )
    app.include_router(ops.router)
    access.document_guards(
        app,
        keys_on=bool(access.parse_keys(settings.api_keys.get_secret_value())),
        rate_limit_on=settings.rate_limit > 0,
    )

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return _static("index.html", "text/html; charset=utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> Response:
        return _static("widget.js", "text/javascript; charset=utf-8")

    # Outermost last: RequestContext -> Deadline -> BodyLimit -> CORS -> AccessGuard -> routes.
    app.add_middleware(
        access.AccessGuard,
        api_keys=settings.api_keys.get_secret_value(),
        rate_limit=settings.rate_limit,
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(access.Deadline, seconds=settings.request_timeout)
    app.add_middleware(ops.RequestContext, log_questions=settings.log_questions)
    return app


def app_from_env() -> FastAPI:
    """App factory for `uvicorn --factory` (`serve --workers N`): settings from PEELQA_ variables;
    each worker process loads the model in its own lifespan, after the fork, and writes the
    JSON access log as a single process does."""
    ops.configure_access_log()
    return create_app(Settings())


async def _compute(c: Components, question: str, history: list[Turn]) -> AskResponse:
    """A question not in the cache: its texts wait for a shared encoder batch without holding
    a thread, then the answer is composed here on the event loop (about a millisecond of
    Python, which a thread would only run under the same GIL, after two hand-overs)."""
    texts = c.engine.queries(question=question, history=history)
    vectors = await encode_async(c.embedder, texts)
    known = dict(zip(texts, vectors, strict=True))
    result = c.engine.ask(question=question, history=history, known=known)
    ops.count_answer(result)
    return result


async def _stream(reply: Reply) -> AsyncIterator[str]:
    yield sse("citations", [x.model_dump() for x in reply.head.citations])
    event: Event
    async for event in reply.events:
        if isinstance(event, AskResponse):
            yield sse("done", event.model_dump())
        else:
            yield sse("delta", {"text": event})


def _static(name: str, media_type: str) -> Response:
    path = WEB_DIR / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"{name} is not installed")
    return FileResponse(path, media_type=media_type)
