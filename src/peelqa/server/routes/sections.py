"""`GET /v1/sections`: the reports' sections, for reading a cited section in full."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from peelqa.models import SectionOut
from peelqa.server.errors import ERRORS, ApiError
from peelqa.server.service import service_of

router = APIRouter(tags=["sections"])


@router.get("/v1/sections", response_model=list[SectionOut])
async def sections(request: Request) -> list[SectionOut]:
    """Every section of every report, in report order, with its full text."""
    serving = service_of(request).serving
    return [
        SectionOut(doc=s.doc, section=s.section, heading=s.heading, text=s.text)
        for d in serving.components.index.documents
        if d.doc not in serving.hidden
        for s in d.sections
    ]


@router.get(
    "/v1/sections/{doc}/{section}",
    response_model=SectionOut,
    responses={404: ERRORS[404]},
)
async def section(
    doc: Annotated[str, PathParam(examples=["peel-2015-northamptonshire"])],
    section: Annotated[str, PathParam(examples=["q3"])],
    request: Request,
) -> SectionOut:
    """One section: `doc` is the report id, `section` its id (`intro`, `q2`, `conclusion`)."""
    serving = service_of(request).serving
    index = serving.components.index
    if index.document(doc) is None or doc in serving.hidden:
        raise ApiError(404, "unknown_document", f"no report with id {doc!r}")
    s = index.section(doc, section)
    if s is None:
        raise ApiError(404, "unknown_section", f"report {doc!r} has no section {section!r}")
    return SectionOut(doc=s.doc, section=s.section, heading=s.heading, text=s.text)
