"""What is read from and written to the database. Synchronous: called from the writer thread
or through `anyio.to_thread`, never on the event loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from peelqa.models import AskResponse, Citation
from peelqa.storage.models import (
    FeedbackOut,
    Rating,
    RefusedQuestion,
    StoredFeedback,
    UsageDay,
    UsageReport,
)
from peelqa.storage.schema import answers, feedback, usage_events


@dataclass(frozen=True)
class AnswerRecord:
    """One reply as the service gave it, waiting to be written."""

    response: AskResponse
    question: str | None  # None unless question text is kept
    created: datetime
    latency_ms: float
    cached: bool


@dataclass(frozen=True)
class Purged:
    questions: int  # answers whose question text was deleted
    answers: int  # answers deleted (no feedback refers to them)


def question_key(question: str) -> str:
    """The question folded for counting repeats: case, spacing and end punctuation aside."""
    return " ".join(question.casefold().split()).rstrip(" ?!.")


def utc(moment: datetime) -> datetime:
    """SQLite gives back times without their zone; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write_answers(self, records: Sequence[AnswerRecord]) -> None:
        """The replies and their usage events, in one transaction."""
        if not records:
            return
        rows, events = [], []
        for r in records:
            a = r.response
            rows.append(
                {
                    "id": a.id,
                    "created": r.created,
                    "answered": a.answered,
                    "mode": a.mode,
                    "answer": a.answer,
                    "citations": [c.model_dump(mode="json") for c in a.citations],
                    "docs": sorted({c.doc for c in a.citations}),
                    "question": r.question,
                    "question_key": question_key(r.question) if r.question else None,
                }
            )
            events.append(
                {
                    "created": r.created,
                    "day": r.created.astimezone(UTC).date(),
                    "answered": a.answered,
                    "cached": r.cached,
                    "mode": a.mode,
                    "latency_ms": r.latency_ms,
                }
            )
        with self.engine.begin() as conn:
            conn.execute(insert(answers), rows)
            conn.execute(insert(usage_events), events)

    def put_feedback(
        self, *, answer_id: str, rating: Rating, comment: str | None, now: datetime
    ) -> FeedbackOut | None:
        """Rate an answer (again: the latest rating replaces the earlier one); None when no
        answer has that id."""
        # Two first ratings of one answer at once: one insert loses to the unique key, and
        # its second attempt updates the row the other made.
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    return _put_feedback(conn, answer_id, rating, comment, now)
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def feedback(
        self, *, limit: int, offset: int = 0, since: datetime | None = None
    ) -> list[StoredFeedback]:
        """Feedback with its answer, most recently rated first."""
        query = _feedback_query().order_by(feedback.c.updated.desc(), feedback.c.id.desc())
        if since is not None:
            query = query.where(feedback.c.updated >= since)
        with self.engine.begin() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [_stored_feedback(r) for r in rows]

    def usage(
        self,
        *,
        days: int,
        now: datetime,
        questions_logged: bool,
        retention_days: int,
        top: int = 20,
    ) -> UsageReport:
        """The figures of the last `days` UTC days, today included."""
        until = now.astimezone(UTC).date()
        since = until - timedelta(days=days - 1)
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        with self.engine.begin() as conn:
            per_day = _per_day(conn, since)
            refused = _refused_questions(conn, start, top)
            ratings: dict[str, int] = dict(
                conn.execute(
                    select(feedback.c.rating, func.count())
                    .where(feedback.c.updated >= start)
                    .group_by(feedback.c.rating)
                ).all()
            )
            rated = conn.execute(
                _feedback_query()
                .where(feedback.c.updated >= start)
                .order_by(
                    case((feedback.c.rating == "down", 0), else_=1),
                    feedback.c.updated.desc(),
                )
                .limit(top * 5)
            ).all()
        days_out = []
        for n in range(days):
            day = since + timedelta(days=n)
            q, a, c, mean = per_day.get(day, (0, 0, 0, None))
            days_out.append(
                UsageDay(
                    day=day, questions=q, answered=a, refused=q - a, cached=c, mean_latency_ms=mean
                )
            )
        total = sum(d.questions for d in days_out)
        answered = sum(d.answered for d in days_out)
        return UsageReport(
            since=since,
            until=until,
            questions=total,
            answered=answered,
            refused=total - answered,
            refused_share=(total - answered) / total if total else None,
            feedback_up=ratings.get("up", 0),
            feedback_down=ratings.get("down", 0),
            days=days_out,
            refused_questions=refused,
            feedback=[_stored_feedback(r) for r in rated],
            questions_logged=questions_logged,
            retention_days=retention_days,
        )

    def purge(self, *, now: datetime, retention_days: int) -> Purged:
        """Delete question text older than the retention period, and the answers of that age
        that no feedback refers to (their usage events stay)."""
        cutoff = now - timedelta(days=retention_days)
        rated = select(feedback.c.answer_id)
        with self.engine.begin() as conn:
            texts = conn.execute(
                update(answers)
                .where(answers.c.created < cutoff, answers.c.question.is_not(None))
                .values(question=None, question_key=None)
            ).rowcount
            gone = conn.execute(
                delete(answers).where(answers.c.created < cutoff, answers.c.id.not_in(rated))
            ).rowcount
        return Purged(questions=texts, answers=gone)


def _put_feedback(
    conn: Any, answer_id: str, rating: Rating, comment: str | None, now: datetime
) -> FeedbackOut | None:
    if conn.execute(select(answers.c.id).where(answers.c.id == answer_id)).first() is None:
        return None
    values = {"rating": rating, "comment": comment, "updated": now}
    done = conn.execute(update(feedback).where(feedback.c.answer_id == answer_id).values(values))
    if done.rowcount == 0:
        conn.execute(insert(feedback).values(answer_id=answer_id, created=now, **values))
    row = conn.execute(select(feedback).where(feedback.c.answer_id == answer_id)).one()
    return _feedback_out(row)


def _per_day(conn: Any, since: date) -> dict[date, tuple[int, int, int, float | None]]:
    rows = conn.execute(
        select(
            usage_events.c.day,
            func.count(),
            func.sum(case((usage_events.c.answered, 1), else_=0)),
            func.sum(case((usage_events.c.cached, 1), else_=0)),
            func.avg(usage_events.c.latency_ms),
        )
        .where(usage_events.c.day >= since)
        .group_by(usage_events.c.day)
    ).all()
    return {
        r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0), float(r[4]) if r[4] is not None else None)
        for r in rows
    }


def _refused_questions(conn: Any, start: datetime, top: int) -> list[RefusedQuestion]:
    rows = conn.execute(
        select(func.min(answers.c.question), func.count(), func.max(answers.c.created))
        .where(
            answers.c.answered.is_(False),
            answers.c.question_key.is_not(None),
            answers.c.created >= start,
        )
        .group_by(answers.c.question_key)
        .order_by(func.count().desc(), func.max(answers.c.created).desc())
        .limit(top)
    ).all()
    return [RefusedQuestion(question=r[0], count=r[1], last_asked=utc(r[2])) for r in rows]


def _feedback_query() -> Any:
    return select(
        feedback.c.answer_id,
        feedback.c.rating,
        feedback.c.comment,
        feedback.c.created,
        feedback.c.updated,
        answers.c.question,
        answers.c.answer,
        answers.c.answered,
        answers.c.mode,
        answers.c.citations,
        answers.c.created.label("asked"),
    ).join(answers, answers.c.id == feedback.c.answer_id)


def _feedback_out(row: Row[Any]) -> FeedbackOut:
    return FeedbackOut(
        answer_id=row.answer_id,
        rating=row.rating,
        comment=row.comment,
        created=utc(row.created),
        updated=utc(row.updated),
    )


def _stored_feedback(row: Row[Any]) -> StoredFeedback:
    return StoredFeedback(
        **_feedback_out(row).model_dump(),
        question=row.question,
        answer=row.answer,
        answered=row.answered,
        mode=row.mode,
        citations=[Citation.model_validate(c) for c in row.citations],
        asked=utc(row.asked),
    )
