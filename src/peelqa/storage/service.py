"""The app's storage in service: the database, the writer thread that records every answer,
and the periodic purge of old question text. Built in the lifespan, one per server process.

The database may be down when the server starts, or go down later: answers are served all the
same. Until the schema is migrated the writer retries the migration before each batch (at most
every `RETRY_S`), and counts what it could not write; feedback and the admin routes answer 503
meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
from sqlalchemy import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from peelqa.config import Settings
from peelqa.metrics import Metrics
from peelqa.models import AskResponse
from peelqa.storage.database import database_url, describe, migrate, open_engine
from peelqa.storage.models import FeedbackOut, Rating, StoredFeedback, UsageReport
from peelqa.storage.store import AnswerRecord, Store
from peelqa.storage.writer import Writer

log = logging.getLogger("peelqa.storage")

T = TypeVar("T")
Clock = Callable[[], datetime]

# Seconds between attempts to reach (and migrate) a database that was not there.
RETRY_S = 10.0
# An hour: retention is counted in days, so the purge need not run more often.
PURGE_EVERY_S = 3600.0
# 10,000 records: most of a minute of answers at the most two cores serve, tens of MB at most.
MAX_QUEUE = 10_000
# 500 rows a transaction: a commit's cost is spread, and a batch stays well under a second.
MAX_BATCH = 500
# Seconds feedback waits for this process's own answers still on their way to the database
# (a thumbs-up arrives seconds after its answer; the writer takes milliseconds).
FLUSH_S = 5.0


class StorageUnavailable(Exception):
    """The database cannot be reached or is not migrated yet."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Storage:
    def __init__(
        self,
        *,
        engine: Engine,
        url: URL,
        log_questions: bool,
        retention_days: int,
        metrics: Metrics | None = None,
        clock: Clock = utc_now,
        purge_every: float = PURGE_EVERY_S,
        max_queue: int = MAX_QUEUE,
        retry_s: float = RETRY_S,
    ) -> None:
        self.engine, self.url = engine, url
        self.store = Store(engine)
        self.log_questions, self.retention_days = log_questions, retention_days
        self.metrics, self.clock = metrics, clock
        self.revision: str | None = None
        self._migrating = threading.Lock()
        self._retry_at = 0.0
        self._retry_s = retry_s
        self.writer: Writer[AnswerRecord] = Writer(
            write=self._write,
            periodic=self.purge_now,
            every=purge_every,
            max_queue=max_queue,
            max_batch=MAX_BATCH,
            count=self._count,
        )

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        writer: bool = True,
        **options: Any,
    ) -> Storage:
        """The storage of these settings, migrated when the database is reachable, its writer
        running (unless `writer` is false: reading only). Raises ValueError for an unusable
        `PEELQA_DATABASE_URL`."""
        url = database_url(settings)
        storage = cls(
            engine=open_engine(url),
            url=url,
            log_questions=settings.log_questions,
            retention_days=settings.retention_days,
            metrics=metrics,
            **options,
        )
        storage.ready()
        if writer:
            storage.writer.start()
        return storage

    def describe(self) -> str:
        """Where the database is, as logs may show it (never the password)."""
        return describe(self.url)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()

    def ready(self) -> bool:
        """Whether the schema is current, migrating it first when it has not been yet."""
        if self.revision is not None:
            return True
        with self._migrating:
            if self.revision is not None:
                return True
            if time.monotonic() < self._retry_at:
                return False
            try:
                self.revision = migrate(self.engine)
            except SQLAlchemyError as e:
                self._retry_at = time.monotonic() + self._retry_s
                self._error("migrate")
                log.error(
                    "database %s is not available (%s); answers are served but not recorded, "
                    "retrying every %g s",
                    self.describe(),
                    str(getattr(e, "orig", None) or e.__class__.__name__).strip()[:300],
                    self._retry_s,
                )
                return False
            log.info("database %s at schema %s", self.describe(), self.revision)
            return True

    # -- the answering path: never waits ----------------------------------------------------

    def record(self, response: AskResponse, *, question: str, started: float, cached: bool) -> None:
        """Queue a reply for writing; `started` is its `time.perf_counter()` at the request."""
        self.writer.submit(
            AnswerRecord(
                response=response,
                question=question if self.log_questions else None,
                created=self.clock(),
                latency_ms=(time.perf_counter() - started) * 1000,
                cached=cached,
            )
        )

    # -- feedback and reports: in a worker thread, for the routes -----------------------------

    async def rate(
        self, *, answer_id: str, rating: Rating, comment: str | None
    ) -> FeedbackOut | None:
        """Rate an answer; None when no answer has that id."""

        def work() -> FeedbackOut | None:
            self.writer.flush(FLUSH_S)  # this process's own recent answers first
            return self.store.put_feedback(
                answer_id=answer_id, rating=rating, comment=comment, now=self.clock()
            )

        return await self._in_thread(work, "feedback")

    async def feedback(self, *, limit: int, offset: int) -> list[StoredFeedback]:
        return await self._in_thread(
            lambda: self.store.feedback(limit=limit, offset=offset), "read"
        )

    async def usage(self, *, days: int) -> UsageReport:
        return await self._in_thread(lambda: self.usage_now(days=days), "read")

    def usage_now(self, *, days: int) -> UsageReport:
        return self.store.usage(
            days=days,
            now=self.clock(),
            questions_logged=self.log_questions,
            retention_days=self.retention_days,
        )

    async def _in_thread(self, work: Callable[[], T], operation: str) -> T:
        def guarded() -> T:
            if not self.ready():
                raise StorageUnavailable("the database is not available")
            try:
                return work()
            except SQLAlchemyError as e:
                self._error(operation)
                log.warning("database %s failed: %s", operation, e.__class__.__name__)
                raise StorageUnavailable("the database is not available") from e

        return await anyio.to_thread.run_sync(guarded)

    # -- the writer thread ---------------------------------------------------------------

    def _write(self, records: list[AnswerRecord]) -> None:
        if not self.ready():
            raise StorageUnavailable("the database is not available")
        try:
            self.store.write_answers(records)
        except SQLAlchemyError:
            self._error("write")
            raise

    def purge_now(self) -> None:
        """Delete question text (and unrated answers) older than the retention period."""
        if not self.ready():
            return
        try:
            purged = self.store.purge(now=self.clock(), retention_days=self.retention_days)
        except SQLAlchemyError:
            self._error("purge")
            raise
        if purged.questions or purged.answers:
            log.info(
                "retention (%d days): question text of %d answer(s) deleted, %d unrated "
                "answer(s) deleted",
                self.retention_days,
                purged.questions,
                purged.answers,
            )

    def _count(self, outcome: str, n: int) -> None:
        if self.metrics is not None:
            self.metrics.stored_answers.labels(outcome=outcome).inc(n)

    def _error(self, operation: str) -> None:
        if self.metrics is not None:
            self.metrics.storage_errors.labels(operation=operation).inc()
