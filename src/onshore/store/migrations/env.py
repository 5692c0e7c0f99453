"""Alembic environment for onshore.store.postgres: run by `upgrade()`, never configured from an ini file.

Online mode connects with psycopg 3 using the libpq DSN the gateway uses (URI or key=value, including
`options=-csearch_path=...`), and runs every pending revision in ONE transaction (PostgreSQL has
transactional DDL) under an advisory lock, so replicas upgrading at the same time apply each revision
once and a failed upgrade leaves the schema as it was. Offline mode (`--sql`) prints the SQL for a DBA.
"""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool, text

# Any constant works; it only has to differ from the locks of other applications sharing the database.
MIGRATION_LOCK = 0x6F6E73686F7265  # "onshore"


def run_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online(dsn: str) -> None:
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transactional_ddl=True, transaction_per_migration=False)
            with context.begin_transaction():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online(str(context.config.attributes["dsn"]))
