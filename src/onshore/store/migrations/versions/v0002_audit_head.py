"""The chain head as a one-row table: `SELECT ... FOR UPDATE` on it serialises appends across replicas.

Backfilled from the last stored record, so a database that already holds records keeps its chain.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

GENESIS_HASH = "0" * 64  # onshore.prove.chain.GENESIS_HASH, frozen here as a revision must be


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE audit_head (
            singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    op.execute(
        f"""
        INSERT INTO audit_head (singleton, seq, hash)
        SELECT TRUE, COALESCE(last.seq, 0), COALESCE(last.hash, '{GENESIS_HASH}')
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1) AS last ON TRUE
        """  # noqa: S608 - a constant, not input
    )


def downgrade() -> None:
    op.execute("DROP TABLE audit_head")
