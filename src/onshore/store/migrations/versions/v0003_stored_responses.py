"""Stored Responses turns (previous_response_id): sealed by the gateway, so only ids, owners and times
are in the clear. Expiry is indexed for the purge.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE stored_responses (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            owner TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            sealed BYTEA NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX stored_responses_expiry ON stored_responses (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE stored_responses")
