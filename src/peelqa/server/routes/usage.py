"""Usage insight for the reports' owners (admin key): `GET /v1/usage` as JSON and
`GET /admin/usage`, the same figures as a page with a chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from peelqa.server.access import ADMIN_RESPONSES, AdminKey
from peelqa.server.routes.feedback import storage_of
from peelqa.server.usage_page import render_usage
from peelqa.storage.models import UsageReport

router = APIRouter(tags=["usage"])

# A year: the page stays readable, and the daily figures of a year are a small query.
MAX_DAYS = 366
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, examples=[30])]


@router.get("/v1/usage", response_model=UsageReport, responses=ADMIN_RESPONSES)
async def usage(request: Request, _admin: AdminKey, days: Days = 30) -> UsageReport:
    """Questions a day over the last `days` UTC days (today included), how many the reports
    did not answer, the refused questions asked most often (only when question text is kept,
    `PEELQA_LOG_QUESTIONS`) and the rated answers. Needs an admin key."""
    return await storage_of(request).usage(days=days)


@router.get("/admin/usage", response_class=HTMLResponse, include_in_schema=False)
async def usage_page(request: Request, _admin: AdminKey, days: Days = 30) -> HTMLResponse:
    """The usage figures as a page. A browser asks for the admin key itself (any user name,
    the key as password); tools send `Authorization: Bearer KEY`."""
    report = await storage_of(request).usage(days=days)
    return HTMLResponse(
        render_usage(report),
        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
    )


# The page is self-contained: its own style, an inline SVG, no script and nothing fetched.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
