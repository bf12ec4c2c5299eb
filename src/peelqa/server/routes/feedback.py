"""`POST /v1/feedback`: a thumbs up or down (and a reason) on an answer; `GET /v1/feedback`:
what was said, with the question, answer and citations it was said of (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from peelqa.server.access import ADMIN_RESPONSES, AdminKey
from peelqa.server.errors import ERRORS, ApiError, error_doc
from peelqa.storage.models import FeedbackOut, FeedbackRequest, StoredFeedback
from peelqa.storage.service import Storage

router = APIRouter(tags=["feedback"])

_UNAVAILABLE = error_doc("The database is not available (or still starting); retry later")


def storage_of(request: Request) -> Storage:
    """The app's storage, or 503 while the app is starting."""
    storage: Storage | None = getattr(request.app.state, "storage", None)
    if storage is None:
        raise ApiError(503, "not_ready", "the server is still starting; retry shortly")
    return storage


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackOut,
    responses={
        404: error_doc("No answer with that id"),
        413: ERRORS[413],
        422: error_doc(
            "A rating other than up or down, a comment over 2,000 characters, or invalid JSON"
        ),
        503: _UNAVAILABLE,
    },
)
async def rate(body: FeedbackRequest, request: Request) -> FeedbackOut:
    """Rate an answer: `answer_id` is the `id` that `POST /v1/ask` returned, `rating` is `up`
    or `down`, `comment` an optional reason (at most 2,000 characters). Stored durably. Rating
    the same answer again replaces the earlier rating and comment (one verdict an answer)."""
    stored = await storage_of(request).rate(
        answer_id=body.answer_id, rating=body.rating, comment=body.comment
    )
    if stored is None:
        raise ApiError(404, "unknown_answer", f"no answer with id {body.answer_id!r}")
    return stored


@router.get(
    "/v1/feedback",
    response_model=list[StoredFeedback],
    responses={**ADMIN_RESPONSES, 503: _UNAVAILABLE},
)
async def feedback(
    request: Request,
    _admin: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000, examples=[100])] = 100,
    offset: Annotated[int, Query(ge=0, examples=[0])] = 0,
) -> list[StoredFeedback]:
    """The stored feedback, most recently rated first, each with the answer it rates: its
    text, citations and (when question text is kept, `PEELQA_LOG_QUESTIONS`, and not yet past
    `PEELQA_RETENTION_DAYS`) the question. Needs an admin key (`PEELQA_ADMIN_KEYS`)."""
    return await storage_of(request).feedback(limit=limit, offset=offset)
