"""The contract's error shape, `{"error": {"code", "message"}}`, and the handlers that give every
failure that shape: bad input is a 4xx the client can read, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from peelqa.encoder.batching import EncoderBusy
from peelqa.models import ErrorBody
from peelqa.storage.service import StorageUnavailable

log = logging.getLogger("peelqa")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers or None
    )


def error_doc(description: str) -> dict[str, Any]:
    """An error response as the OpenAPI page describes it, in the contract's shape."""
    return {"model": ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_doc("Unknown document or section"),
    413: error_doc("Body over 64 KiB"),
    422: error_doc("Invalid JSON or a field out of bounds"),
    503: error_doc("Index not loaded yet, or too many questions queued"),
}


async def _busy(_: Request, exc: Exception) -> JSONResponse:
    return error_response(503, "busy", f"{exc}; retry shortly", **{"Retry-After": "1"})


async def _storage_down(_: Request, exc: Exception) -> JSONResponse:
    return error_response(503, "storage_unavailable", f"{exc}; retry later", **{"Retry-After": "5"})


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": "2"} if exc.status == 503 else {}
    return error_response(exc.status, exc.code, exc.message, **{**headers, **exc.headers})


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return error_response(422, "invalid_json", "request body is not valid JSON")
    parts = []
    for e in errs[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return error_response(422, "invalid_request", "; ".join(parts))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's answer to a body it could not read as JSON
        return error_response(422, "invalid_json", _unreadable_body(exc.__cause__))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed(request) or headers.get("Allow", "")
    return error_response(exc.status_code, code, str(exc.detail), **headers)


def _allowed(request: Request) -> str:
    """Every method the path takes. Starlette's own `Allow` names only the first route that
    matched the path, and a path served by two routes (GET and POST apart) takes both."""
    methods: set[str] = set()
    routes: list[BaseRoute] = getattr(request.app.state, "routes", [])
    for route in routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _unreadable_body(cause: BaseException | None) -> str:
    """What was wrong with a body that JSON could not be read from, said plainly."""
    if isinstance(cause, RecursionError):
        return "request body nests JSON arrays or objects too deeply"
    return "request body is not valid UTF-8 JSON"


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EncoderBusy, _busy)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StorageUnavailable, _storage_down)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
