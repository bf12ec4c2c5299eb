"""`GET /v1/sections`: the reports' sections, for reading a cited section in full."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from peelqa.models import BlockOut, SectionOut
from peelqa.reports.model import Document, Section
from peelqa.server.errors import ERRORS, ApiError
from peelqa.server.service import service_of

router = APIRouter(tags=["sections"])


@router.get("/v1/sections", response_model=list[SectionOut])
async def sections(request: Request) -> list[SectionOut]:
    """Every section of every report, in report order, with its full text, the report's title,
    its heading path and its blocks (how the widget shows lists and finds top-level areas).
    Reports being removed are left out."""
    serving = service_of(request).serving
    return [
        section_out(d, s)
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
    d, s = index.document(doc), index.section(doc, section)
    if d is None or s is None:
        raise ApiError(404, "unknown_section", f"report {doc!r} has no section {section!r}")
    return section_out(d, s)


def section_out(d: Document, s: Section) -> SectionOut:
    return SectionOut(
        doc=s.doc,
        section=s.section,
        heading=s.heading,
        text=s.text,
        title=d.title,
        path=s.path,
        level=s.level,
        blocks=[
            BlockOut(kind=b.kind, start=b.start, end=b.end, page=b.page_at(b.start))
            for b in s.blocks
        ],
    )
