"""`/v1/documents`: the reports in service, and adding and removing them while serving."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response

from peelqa.models import DocumentAccepted, DocumentOut
from peelqa.server.access import require_admin
from peelqa.server.errors import ERRORS, ApiError, error_doc
from peelqa.server.library import CONTENT_TYPES, Library
from peelqa.server.uploads import receive

router = APIRouter(tags=["documents"])

DocId = Annotated[str, PathParam(examples=["peel-2015-northamptonshire"])]
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_doc("No admin key sent"),
    403: error_doc("Not an admin key, or no admin keys configured (PEELQA_ADMIN_KEYS)"),
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


_FILE_EXAMPLES = {
    CONTENT_TYPES["pdf"]: "%PDF-1.7 ...",
    CONTENT_TYPES["html"]: "<!doctype html><html lang=en> ...",
    CONTENT_TYPES["docx"]: "PK ...",
    CONTENT_TYPES["md"]: "# PEEL 2023–25: An inspection of Kingsmere Police ...",
    CONTENT_TYPES["txt"]: "HMIC: PEEL Effectiveness Inspection 2015 ...",
}


def library_of(request: Request) -> Library:
    library: Library | None = getattr(request.app.state, "library", None)
    if library is None:
        raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
    return library


@router.get("/v1/documents", response_model=list[DocumentOut])
async def documents(request: Request) -> list[DocumentOut]:
    """Every report: in service (`ready`), being indexed (`indexing`, with `progress`) or
    that could not be indexed (`failed`, with `error`)."""
    return library_of(request).documents()


@router.get("/v1/documents/{doc}", response_model=DocumentOut, responses={404: ERRORS[404]})
async def document(doc: DocId, request: Request) -> DocumentOut:
    """One report by id (its file name without extension)."""
    found = library_of(request).document(doc)
    if found is None:
        raise ApiError(404, "unknown_document", f"no report with id {doc!r}")
    return found


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=DocumentAccepted,
    openapi_extra=_UPLOAD_BODY,
    responses={
        201: {"model": DocumentAccepted, "description": "That very file is already in service"},
        **_ADMIN_ERRORS,
        409: error_doc("A report with that id exists (send `?replace=true`)"),
        413: error_doc("File over PEELQA_MAX_UPLOAD_BYTES"),
        415: error_doc("Not a format peelqa reads, judged by the file's content"),
        422: error_doc("Not readable as a report (no text layer, encrypted, damaged), or no file"),
    },
)
async def add_document(
    request: Request,
    replace: Annotated[
        bool, Query(description="Replace the report of the same id.", examples=[True])
    ] = False,
) -> Response:
    """Add a report: the multipart field `file` (PDF, web page, Word .docx, Markdown or text);
    its id is the file's name without extension. The file is read at once (422 with the
    reason when it cannot be: no text layer, encrypted, damaged), then indexed in the
    background: 202 with `status: indexing`, and `GET /v1/documents/{doc}` says when it is
    `ready`. The report it replaces, if any, answers until then. Needs an admin key."""
    require_admin(request)
    library = library_of(request)
    library.check_writable()
    staged = await receive(
        request, corpus_dir=library.corpus, max_bytes=library.settings.max_upload_bytes
    )
    try:
        status, body = await library.add(staged, replace=replace)
    finally:
        staged.discard()
    return JSONResponse(body.model_dump(), status_code=status)


@router.delete(
    "/v1/documents/{doc}",
    status_code=204,
    response_class=Response,
    responses={
        **_ADMIN_ERRORS,
        404: ERRORS[404],
        409: error_doc("The last report in service cannot be removed"),
    },
)
async def remove_document(doc: DocId, request: Request) -> Response:
    """Remove a report: from the moment this answers, no answer cites it. Needs an admin key."""
    require_admin(request)
    await library_of(request).remove(doc)
    return Response(status_code=204)


@router.get(
    "/v1/documents/{doc}/file",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file as it was added, with its content type.",
            "content": {
                ctype: {"schema": {"type": "string", "format": "binary"}, "example": example}
                for ctype, example in _FILE_EXAMPLES.items()
            },
        },
        404: ERRORS[404],
    },
)
async def document_file(doc: DocId, request: Request) -> FileResponse:
    """The report's file as it was added. A web page is sent sandboxed (no scripts, an origin
    of its own), so a page among the reports cannot act as this site."""
    found = library_of(request).file_of(doc)
    if found is None:
        raise ApiError(404, "unknown_document", f"no report with id {doc!r}")
    path, content_type = found
    return FileResponse(
        path,
        media_type=content_type,
        filename=path.name,
        content_disposition_type="inline",
        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
    )
