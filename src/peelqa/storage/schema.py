"""The tables as the newest migration leaves them (a test compares the two).

Times are UTC. A question's text is kept only when `PEELQA_LOG_QUESTIONS` is on, and only for
`PEELQA_RETENTION_DAYS`; everything else here (answer text, citations, counts) is the reports'
own content or figures, not personal data.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from peelqa.storage.models import ANSWER_ID_CHARS

# Constraint names fixed by convention, so that a later migration can name what it alters on
# both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Every reply given, by its id: what feedback refers to.
answers = Table(
    "answers",
    metadata,
    Column("id", String(ANSWER_ID_CHARS), primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("answered", Boolean, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    # The reports the answer cites, for counting by report without reading the citations.
    Column("docs", JSON, nullable=False),
    # Only with PEELQA_LOG_QUESTIONS; set to null past the retention period.
    Column("question", Text, nullable=True),
    # The question folded for counting repeats (case, spacing, end punctuation); purged with it.
    Column("question_key", Text, nullable=True),
    Index("ix_answers_created", "created"),
)

# One person's verdict on one answer: a second rating of the same answer replaces the first.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "answer_id",
        String(ANSWER_ID_CHARS),
        ForeignKey("answers.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("rating", String(4), nullable=False),
    Column("comment", Text, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    CheckConstraint("rating IN ('up', 'down')", name="rating"),
)

# One row an answer, without any text: the usage figures, kept after the answers are purged.
usage_events = Table(
    "usage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("answered", Boolean, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Index("ix_usage_events_day", "day"),
)
