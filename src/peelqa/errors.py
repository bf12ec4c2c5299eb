"""The contract's error shape, `{"error": {"code", "message"}}`, shared by routes and middleware."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from peelqa.models import ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers or None
    )


def error_doc(description: str) -> dict[str, Any]:
    """An error response as the OpenAPI page describes it, in the contract's shape."""
    return {"model": ErrorBody, "description": description}
