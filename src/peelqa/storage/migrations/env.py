"""Alembic's environment for peelqa: always given an open connection by
`peelqa.storage.database.migrate`, never a URL from an alembic.ini (there is none)."""

from __future__ import annotations

from alembic import context

from peelqa.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it; batch mode lets one migration serve both databases.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
