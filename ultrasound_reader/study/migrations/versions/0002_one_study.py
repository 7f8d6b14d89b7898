"""One study per database, enforced by the database (a unique index on a constant).

Two ``study create`` runs on the same new database both see "no study yet" before
their minutes of analysis; the second insert now fails (IntegrityError) and is
reported as "already holds study ...", instead of leaving two studies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEX = "uq_study_singleton"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(f"CREATE UNIQUE INDEX {INDEX} ON study ((1))")
    elif dialect == "postgresql":
        op.execute(f"CREATE UNIQUE INDEX {INDEX} ON study ((true))")
    else:
        raise RuntimeError(f"study databases are SQLite or PostgreSQL, not {dialect}")


def downgrade() -> None:
    raise RuntimeError("a study database is never downgraded (its answers are append-only)")
