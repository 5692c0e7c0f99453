"""Initial schema: the tables of SqliteStore's schema version 1, with PostgreSQL types.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    op.execute("INSERT INTO meta (name, value) VALUES ('keys_revision', '0')")
    op.execute(
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            tenant TEXT NOT NULL,
            floor TEXT NOT NULL,
            models TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION,
            hash TEXT NOT NULL UNIQUE
        )
        """
    )
    # body is bytea: the canonical JSON exactly as link() produced it, since the hash covers those bytes.
    op.execute(
        """
        CREATE TABLE audit_records (
            seq BIGINT PRIMARY KEY,
            id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            body BYTEA NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX audit_records_ts ON audit_records (ts)")
    op.execute(
        """
        CREATE TABLE audit_checkpoints (
            seq BIGINT PRIMARY KEY,
            hash TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kid TEXT NOT NULL,
            signature TEXT NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE audit_checkpoints")
    op.execute("DROP TABLE audit_records")
    op.execute("DROP TABLE api_keys")
    op.execute("DROP TABLE meta")
