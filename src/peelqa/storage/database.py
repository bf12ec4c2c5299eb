"""Where the database is, opening it, and bringing its schema up to date.

SQLite by default, in the index's parent folder (`<parent of PEELQA_INDEX>/peelqa.sqlite3`);
PostgreSQL when `PEELQA_DATABASE_URL` names one (pg8000), so that several replicas share
one. The rest of the package does not know which: the same SQLAlchemy statements run on both.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError

from peelqa.config import Settings

log = logging.getLogger("peelqa.storage")

SQLITE_FILE = "peelqa.sqlite3"
# Package data, present in an installed wheel as in a checkout.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: replicas starting at once take this lock in turn, so only the first runs
# the pending migrations and the others find the schema current.
_PG_MIGRATION_LOCK = 0x7065656C7161  # "peelqa"
# Seconds: a writer waits this long for another process's write on SQLite, and a connection
# attempt to PostgreSQL gives up after it (the answer is never waiting on either).
_SQLITE_BUSY_S = 30
# pg8000 applies its timeout to connecting and to every read of a reply: long enough for the
# writer's largest batch and the purge, short enough that a dead server is noticed.
_PG_TIMEOUT_S = 30


def database_url(settings: Settings) -> URL:
    """The database of these settings. Raises ValueError for a URL it cannot use."""
    given = settings.database_url.get_secret_value().strip()
    if not given:
        path = (settings.index.parent / SQLITE_FILE).resolve()
        return URL.create("sqlite+pysqlite", database=str(path))
    try:
        url = make_url(given)
    except ArgumentError:
        raise ValueError(
            "PEELQA_DATABASE_URL is not a database URL; expected "
            "postgresql://USER:PASSWORD@HOST:PORT/NAME or sqlite:////path/to/file.sqlite3"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+pg8000")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"PEELQA_DATABASE_URL names {url.get_backend_name()!r}; peelqa stores in "
            "PostgreSQL (postgresql://...) or SQLite (sqlite:///...)"
        )
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("PEELQA_DATABASE_URL: a SQLite database must be a file, not memory")
    return url


def open_engine(url: URL) -> Engine:
    """An engine for the URL; for SQLite it makes the file's folder and sets up transactions."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a read-only data folder: answers are served all the same
            log.error("cannot make the database's folder (%s); set PEELQA_DATABASE_URL", e)
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_S})
        _sqlite_transactions(engine)
        return engine
    return create_engine(
        url,
        # A replica outlives database restarts: a dead pooled connection is replaced, not used.
        pool_pre_ping=True,
        connect_args={"timeout": _PG_TIMEOUT_S},
    )


def _sqlite_transactions(engine: Engine) -> None:
    """Real transactions on SQLite: Python's sqlite3 module opens them late and leaves DDL
    outside them. Every transaction takes the write lock when it begins (BEGIN IMMEDIATE), so
    that one which reads and then writes (feedback, migrations) waits for another process's
    writer instead of failing on a stale snapshot; its readers are the few admin pages."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the module no longer issues BEGIN itself
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer; foreign keys are off in SQLite unless asked.
        _wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _wal(cursor: Any) -> None:
    """Switch to WAL, waiting for other processes doing the same. Changing the journal mode
    needs the database to itself and SQLite does not run its busy handler for it, so several
    replicas opening a new database at once get "database is locked" at once: retried here
    for as long as any other write would wait."""
    deadline = time.monotonic() + _SQLITE_BUSY_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> str:
    """Apply the pending migrations in one transaction; returns the revision now in force.
    Safe to run from several processes at once (they take a lock in turn)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _PG_MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    if before != after:
        log.info("database schema migrated from %s to %s", before or "empty", after)
    assert after is not None
    return after


def describe(url: URL) -> str:
    """The URL as logs may show it: never the password."""
    return url.render_as_string(hide_password=True)
