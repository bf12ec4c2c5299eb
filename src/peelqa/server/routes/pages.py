"""The chat page and the embeddable widget, served from the package's own static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from peelqa.server.errors import ApiError

# Package data: present in a source checkout and in an installed wheel alike.
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> Response:
    return _static("index.html", "text/html; charset=utf-8")


@router.get("/widget.js")
async def widget() -> Response:
    return _static("widget.js", "text/javascript; charset=utf-8")


@router.get("/documents")
async def documents_page() -> Response:
    """The reports page: the reports in the chat; with an admin key, adding and removing."""
    return _static("documents.html", "text/html; charset=utf-8")


@router.get("/documents.css")
async def documents_styles() -> Response:
    return _static("documents.css", "text/css; charset=utf-8")


@router.get("/documents.js")
async def documents_script() -> Response:
    return _static("documents.js", "text/javascript; charset=utf-8")


def _static(name: str, media_type: str) -> Response:
    path = STATIC_DIR / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"{name} is not installed")
    return FileResponse(path, media_type=media_type)
