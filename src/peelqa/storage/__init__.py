"""Durable shared state: the answers given (so that feedback can find them), the feedback
itself and the usage log, in SQLite by default and in PostgreSQL when `PEELQA_DATABASE_URL`
is set, through one SQLAlchemy code path with Alembic migrations.

- `schema`: the tables, as the newest migration leaves them.
- `database`: where the database is, opening it, migrating it at start-up.
- `store`: what is read and written (synchronous; called from threads, never the event loop).
- `writer`: the background thread that writes answers in batches and purges old question text.
- `models`: the feedback and usage records handed out.
"""
