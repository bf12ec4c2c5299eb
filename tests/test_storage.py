"""The storage layer on both databases it supports: SQLite (a file in a temporary folder) and a
real PostgreSQL server (tests/pg.py). The same tests run against each: migrations, answers,
feedback, usage figures, the retention purge on a clock the test controls, and a database that
is slow or down."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg import Postgres
from sqlalchemy import URL, Engine, func, inspect, select

from peelqa.config import Settings
from peelqa.metrics import Metrics
from peelqa.models import AskResponse, Citation
from peelqa.storage import database
from peelqa.storage.database import (
    alembic_config,
    current_revision,
    database_url,
    head_revision,
    migrate,
    open_engine,
)
from peelqa.storage.schema import answers, feedback, metadata, usage_events
from peelqa.storage.service import Storage
from peelqa.storage.store import question_key

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


class Clock:
    """Wall-clock time the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> URL:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        settings = Settings(index=tmp_path / "data" / "index")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        settings = Settings(database_url=postgres.create_database())
    return database_url(settings)


def storage_of(url: URL, clock: Clock, *, start: bool = True, **options: object) -> Storage:
    options = {"log_questions": True, "retention_days": 30, **options}
    storage = Storage(
        engine=open_engine(url),
        url=url,
        clock=clock,
        metrics=Metrics(),
        **options,  # type: ignore[arg-type]
    )
    assert storage.ready()
    if start:
        storage.writer.start()
    return storage


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(url: URL, clock: Clock) -> Iterator[Storage]:
    s = storage_of(url, clock)
    yield s
    s.close()


def reply(answered: bool = True, doc: str = "peel-2015-northamptonshire") -> AskResponse:
    citations = (
        [
            Citation(
                doc=doc,
                section="conclusion",
                heading="Conclusion",
                path=["Conclusion"],
                quote="The grading given for each of the above areas was 'requires improvement'.",
                score=0.8,
                page=3,
            )
        ]
        if answered
        else []
    )
    text = "The grading ... was 'requires improvement'. [1]" if answered else "Not covered."
    return AskResponse(answer=text, answered=answered, citations=citations)


def record(storage: Storage, question: str, *, answered: bool = True) -> AskResponse:
    r = reply(answered)
    storage.record(r, question=question, started=time.perf_counter(), cached=False)
    return r


def written(storage: Storage) -> None:
    assert storage.writer.flush(10), "the writer did not finish in time"


def counted(storage: Storage, outcome: str) -> float:
    assert storage.metrics is not None
    value = storage.metrics.registry.get_sample_value(
        "peelqa_stored_answers_total", {"outcome": outcome}
    )
    return value or 0.0


# -- migrations -----------------------------------------------------------------------------


def test_default_database_is_sqlite_beside_the_index(tmp_path: Path) -> None:
    url = database_url(Settings(index=tmp_path / "new" / "data" / "index"))
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "new" / "data" / "peelqa.sqlite3")
    open_engine(url).dispose()
    assert (tmp_path / "new" / "data").is_dir()  # made, so that the file can be


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:p@127.0.0.1/db", "PostgreSQL"),
        ("sqlite://", "must be a file"),
    ],
)
def test_an_unusable_database_url_is_refused_with_what_to_do(given: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        database_url(Settings(database_url=given))


def test_postgres_urls_use_a_permissively_licensed_driver() -> None:
    url = database_url(Settings(database_url="postgresql://u:secret@db.internal:5432/peelqa"))
    assert url.drivername == "postgresql+pg8000"
    assert "secret" not in database.describe(url)


def test_migrations_make_exactly_the_schema_the_code_uses(url: URL) -> None:
    engine = open_engine(url)
    assert current_revision(engine) is None
    assert migrate(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
            head_revision()
        )
    assert migrate(engine) == head_revision()  # nothing pending: a no-op
    assert set(inspect(engine).get_table_names()) >= {"answers", "feedback", "usage_events"}
    engine.dispose()


def test_migrations_go_down_and_up_again(url: URL) -> None:
    engine = open_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert "answers" not in inspect(engine).get_table_names()
    assert migrate(engine) == head_revision()
    engine.dispose()


def test_replicas_starting_at_once_migrate_once(url: URL) -> None:
    """Four processes' worth of engines migrate one empty database at the same moment."""
    engines = [open_engine(url) for _ in range(4)]
    results: list[str | BaseException] = []
    gate = threading.Barrier(len(engines))

    def start(engine: Engine) -> None:
        gate.wait()
        try:
            results.append(migrate(engine))
        except BaseException as e:  # collected: the assertion below names it
            results.append(e)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [head_revision()] * 4
    for e in engines:
        e.dispose()


# -- answers and feedback -------------------------------------------------------------------


def test_answers_are_written_with_their_citations_and_feedback_finds_them(
    storage: Storage,
) -> None:
    r = record(storage, "What grade did the force get?")
    written(storage)
    stored = storage.store.put_feedback(
        answer_id=r.id, rating="up", comment="Clear.", now=T0 + timedelta(minutes=1)
    )
    assert stored is not None and stored.rating == "up" and stored.comment == "Clear."
    [item] = storage.store.feedback(limit=10)
    assert item.answer_id == r.id
    assert item.question == "What grade did the force get?"
    assert item.answer == r.answer and item.answered is True
    assert item.citations == r.citations  # page, path and all, as the user saw them
    assert item.asked == T0 and item.created == T0 + timedelta(minutes=1)
    with storage.engine.connect() as conn:
        row = conn.execute(select(answers).where(answers.c.id == r.id)).one()
        assert row.docs == ["peel-2015-northamptonshire"]
        assert row.question_key == "what grade did the force get"
    assert counted(storage, "written") == 1


def test_rating_an_answer_again_replaces_the_first_rating(storage: Storage) -> None:
    r = record(storage, "q")
    written(storage)
    storage.store.put_feedback(answer_id=r.id, rating="up", comment=None, now=T0)
    later = T0 + timedelta(seconds=30)
    again = storage.store.put_feedback(
        answer_id=r.id, rating="down", comment="Wrong year", now=later
    )
    assert again is not None
    assert (again.rating, again.comment, again.created, again.updated) == (
        "down",
        "Wrong year",
        T0,
        later,
    )
    with storage.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(feedback)).scalar() == 1


def test_feedback_on_an_unknown_answer_is_none(storage: Storage) -> None:
    assert storage.store.put_feedback(answer_id="f" * 32, rating="up", comment=None, now=T0) is None


def test_question_text_is_not_kept_unless_asked_for(url: URL, clock: Clock) -> None:
    storage = storage_of(url, clock, log_questions=False)
    try:
        r = record(storage, "My name is Jo Bloggs: how do I complain?", answered=False)
        written(storage)
        storage.store.put_feedback(answer_id=r.id, rating="down", comment=None, now=T0)
        with storage.engine.connect() as conn:
            row = conn.execute(select(answers.c.question, answers.c.question_key)).one()
        assert tuple(row) == (None, None)
        assert storage.store.feedback(limit=5)[0].question is None
        assert storage.usage_now(days=1).refused_questions == []
    finally:
        storage.close()


def test_concurrent_first_ratings_leave_one_row(storage: Storage) -> None:
    r = record(storage, "q")
    written(storage)
    gate = threading.Barrier(6)
    errors: list[BaseException] = []

    def rate(n: int) -> None:
        gate.wait()
        try:
            storage.store.put_feedback(
                answer_id=r.id, rating="up" if n % 2 else "down", comment=str(n), now=T0
            )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=rate, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(storage.store.feedback(limit=10)) == 1


# -- usage ----------------------------------------------------------------------------------


def test_usage_counts_days_refusals_repeats_and_feedback(storage: Storage, clock: Clock) -> None:
    record(storage, "What grade did the force get?")
    record(storage, "How many PCSOs work nights?", answered=False)
    clock.advance(days=1)
    for q in ("How many PCSOs work nights", "how many  pcsos work NIGHTS?!", "Parking fines?"):
        record(storage, q, answered=False)
    rated = record(storage, "Is THRIVE used?")
    liked = record(storage, "What is THRIVE?")
    written(storage)
    storage.store.put_feedback(answer_id=liked.id, rating="up", comment=None, now=clock())
    storage.store.put_feedback(answer_id=rated.id, rating="down", comment="vague", now=clock())
    clock.advance(days=1)
    report = storage.usage_now(days=3)
    assert [(d.day, d.questions, d.answered, d.refused) for d in report.days] == [
        (T0.date(), 2, 1, 1),
        (T0.date() + timedelta(days=1), 5, 2, 3),
        (T0.date() + timedelta(days=2), 0, 0, 0),  # a quiet day is a zero, not a gap
    ]
    assert (report.questions, report.refused) == (7, 4)
    assert report.refused_share == pytest.approx(4 / 7)
    top = report.refused_questions[0]
    assert (question_key(top.question), top.count) == ("how many pcsos work nights", 3)
    assert [q.count for q in report.refused_questions] == [3, 1]
    assert (report.feedback_up, report.feedback_down) == (1, 1)
    assert [f.rating for f in report.feedback] == ["down", "up"]  # what went wrong first
    assert report.feedback[0].comment == "vague"
    assert all(d.mean_latency_ms is not None for d in report.days[:2])
    # A shorter period leaves the first day out.
    assert storage.usage_now(days=2).questions == 5


# -- retention ------------------------------------------------------------------------------


def test_question_text_is_deleted_after_the_retention_period(
    storage: Storage, clock: Clock
) -> None:
    rated = record(storage, "Who leads the force?")
    record(storage, "A question nobody rated", answered=False)
    written(storage)
    storage.store.put_feedback(answer_id=rated.id, rating="up", comment="good", now=clock())
    clock.advance(days=29, hours=23)
    storage.purge_now()
    assert storage.store.feedback(limit=5)[0].question == "Who leads the force?"
    clock.advance(hours=2)  # now past 30 days
    storage.purge_now()
    with storage.engine.connect() as conn:
        rows = conn.execute(select(answers.c.id, answers.c.question, answers.c.question_key)).all()
        events = conn.execute(select(func.count()).select_from(usage_events)).scalar()
    # The rated answer stays for its feedback, without its question; the unrated one is gone.
    assert [tuple(r) for r in rows] == [(rated.id, None, None)]
    [item] = storage.store.feedback(limit=5)
    assert (item.question, item.comment, item.answer) == (None, "good", rated.answer)
    # The usage figures of those days remain.
    assert events == 2
    assert storage.usage_now(days=31).questions == 2


def test_the_purge_runs_by_itself(url: URL, clock: Clock) -> None:
    storage = storage_of(url, clock, purge_every=0.05)
    try:
        record(storage, "Will this be forgotten?")
        written(storage)
        clock.advance(days=31)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with storage.engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(answers)).scalar() == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the periodic purge did not run")
    finally:
        storage.close()


# -- slow or absent databases ------------------------------------------------------------------


def test_recording_never_waits_for_a_locked_database(tmp_path: Path, clock: Clock) -> None:
    """Another process holds SQLite's write lock: recording stays instant, what does not fit
    the queue is dropped and counted, and the rest is written once the lock goes."""
    url = database_url(Settings(index=tmp_path / "index"))
    storage = storage_of(url, clock, max_queue=50)
    assert url.database is not None
    blocker = sqlite3.connect(url.database, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        t = time.perf_counter()
        for n in range(200):
            record(storage, f"question {n}")
        took = time.perf_counter() - t
        assert took < 0.5, f"200 answers took {took:.2f} s to record with the database locked"
        assert counted(storage, "dropped") >= 100
        blocker.execute("ROLLBACK")
        written(storage)
        kept = counted(storage, "written")
        assert kept + counted(storage, "dropped") == 200
        with storage.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(answers)).scalar() == kept
    finally:
        blocker.close()
        storage.close()


def test_a_database_that_is_down_then_up(postgres: Postgres, clock: Clock) -> None:
    """Started before its database exists: nothing is recorded (counted as failed) and
    nothing raises; once the database is there the next batch migrates it and is written."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = database_url(Settings(database_url=postgres.url(name)))
    storage = Storage(
        engine=open_engine(url), url=url, log_questions=True, retention_days=30, clock=clock,
        metrics=Metrics(), retry_s=0.0,
    )  # fmt: skip
    try:
        assert not storage.ready()
        storage.writer.start()
        record(storage, "lost")
        written(storage)
        assert counted(storage, "failed") == 1
        assert storage.metrics is not None
        assert storage.metrics.registry.get_sample_value(
            "peelqa_storage_errors_total", {"operation": "migrate"}
        )
        postgres.execute(f'CREATE DATABASE "{name}"')
        kept = record(storage, "kept")
        written(storage)
        assert storage.revision == head_revision()
        assert storage.store.put_feedback(answer_id=kept.id, rating="up", comment=None, now=T0)
    finally:
        storage.close()


def test_a_data_folder_that_cannot_be_made_costs_no_answer(tmp_path: Path, clock: Clock) -> None:
    """The index's parent is below a file (root can write anywhere, not under a file): the
    database cannot be opened, and answers are recorded as failed, never raised."""
    (tmp_path / "a-file").write_text("")
    url = database_url(Settings(index=tmp_path / "a-file" / "data" / "index"))
    metrics = Metrics()
    storage = Storage(
        engine=open_engine(url),
        url=url,
        log_questions=False,
        retention_days=30,
        clock=clock,
        metrics=metrics,
    )
    try:
        assert not storage.ready()
        storage.writer.start()
        record(storage, "still answered")
        written(storage)
        assert counted(storage, "failed") == 1
    finally:
        storage.close()
