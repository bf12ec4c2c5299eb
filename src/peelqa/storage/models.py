"""The feedback and usage records of the HTTP API, the admin page and `peelqa usage`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from peelqa.models import Citation, reject_unpaired_surrogates

# 64: answer ids are 32 hex digits; room for another scheme, small enough to index.
ANSWER_ID_CHARS = 64

# 2,000 characters: the contract's bound, as for a question; a reason, not an essay.
MAX_COMMENT_CHARS = 2000

Rating = Literal["up", "down"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"answer_id": "3f2a0c1e9b8d4f6a8c7e5d4b3a291807", "rating": "up"},
                {
                    "answer_id": "3f2a0c1e9b8d4f6a8c7e5d4b3a291807",
                    "rating": "down",
                    "comment": "It quoted the 2014 report, not the latest one.",
                },
            ]
        },
    )

    answer_id: str = Field(
        min_length=1,
        max_length=ANSWER_ID_CHARS,
        description="The `id` of the answer, as `POST /v1/ask` returned it.",
    )
    rating: Rating = Field(description="`up` (helpful) or `down` (not).")
    comment: str | None = Field(
        None, description="Why, in the user's words: at most 2,000 characters."
    )

    @field_validator("comment")
    @classmethod
    def _comment(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = reject_unpaired_surrogates(v).strip()
        if len(v) > MAX_COMMENT_CHARS:
            raise ValueError(f"comment is longer than {MAX_COMMENT_CHARS} characters")
        return v or None


_EXAMPLE_FEEDBACK: JsonDict = {
    "answer_id": "3f2a0c1e9b8d4f6a8c7e5d4b3a291807",
    "rating": "down",
    "comment": "It quoted the 2014 report, not the latest one.",
    "created": "2026-12-01T10:15:02Z",
    "updated": "2026-12-01T10:15:40Z",
}
_EXAMPLE_STORED: JsonDict = {
    **_EXAMPLE_FEEDBACK,
    "question": "What grade did the force get?",
    "answer": "Overall, HMIC graded the force as 'requires improvement' ... [1]",
    "answered": True,
    "mode": "extractive",
    "citations": [
        {
            "doc": "peel-2015-northamptonshire",
            "section": "conclusion",
            "heading": "Conclusion",
            "path": ["Conclusion"],
            "title": "PEEL: Police effectiveness 2015 (Vulnerability)",
            "quote": "Overall, HMIC graded ... 'requires improvement' ...",
            "score": 0.83,
            "page": None,
        }
    ],
    "asked": "2026-12-01T10:14:58Z",
}


class FeedbackOut(BaseModel):
    """Feedback as stored: one an answer, the latest rating of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_FEEDBACK]})

    answer_id: str
    rating: Rating
    comment: str | None
    created: datetime = Field(description="When the answer was first rated (UTC).")
    updated: datetime = Field(description="When it was last rated (UTC).")


class StoredFeedback(FeedbackOut):
    """Feedback with what it refers to."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_STORED]})

    question: str | None = Field(
        description="The question, when question text is kept (`PEELQA_LOG_QUESTIONS`) and "
        "not yet past `PEELQA_RETENTION_DAYS`; else null."
    )
    answer: str
    answered: bool
    mode: str
    citations: list[Citation]
    asked: datetime = Field(description="When the answer was given (UTC).")


class UsageDay(BaseModel):
    day: date = Field(description="A UTC day.")
    questions: int
    answered: int
    refused: int
    cached: int = Field(description="Of the questions, answered again from the answer cache.")
    mean_latency_ms: float | None = Field(description="Mean time to the answer; null: none.")


class RefusedQuestion(BaseModel):
    question: str = Field(
        description="One wording of it (repeats differ only in case, spacing or end punctuation)."
    )
    count: int
    last_asked: datetime


class UsageReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2026-11-30",
                    "until": "2026-12-01",
                    "questions": 57,
                    "answered": 49,
                    "refused": 8,
                    "refused_share": 0.14,
                    "feedback_up": 6,
                    "feedback_down": 1,
                    "days": [
                        {
                            "day": "2026-11-30",
                            "questions": 31,
                            "answered": 27,
                            "refused": 4,
                            "cached": 3,
                            "mean_latency_ms": 41.5,
                        },
                        {
                            "day": "2026-12-01",
                            "questions": 26,
                            "answered": 22,
                            "refused": 4,
                            "cached": 1,
                            "mean_latency_ms": 38.2,
                        },
                    ],
                    "refused_questions": [
                        {
                            "question": "How many officers work night shifts?",
                            "count": 3,
                            "last_asked": "2026-12-01T09:02:11Z",
                        }
                    ],
                    "feedback": [_EXAMPLE_STORED],
                    "questions_logged": True,
                    "retention_days": 30,
                }
            ]
        }
    )

    since: date
    until: date
    questions: int
    answered: int
    refused: int
    refused_share: float | None = Field(description="refused / questions; null: no questions.")
    feedback_up: int
    feedback_down: int
    days: list[UsageDay] = Field(description="Every day of the period, oldest first.")
    refused_questions: list[RefusedQuestion] = Field(
        description="The refused questions asked most often: what the reports do not cover. "
        "Empty unless question text is kept (`PEELQA_LOG_QUESTIONS`)."
    )
    feedback: list[StoredFeedback] = Field(
        description="The rated answers of the period, the thumbs-down first, newest first."
    )
    questions_logged: bool = Field(description="Whether question text is being kept.")
    retention_days: int
