"""Outbox jobs may wait for a provider's asynchronous confirmation (status WAITING).

Revision ID: 0007_outbox_waiting
Revises: 0006_row_level_security
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_outbox_waiting"
down_revision: str | Sequence[str] | None = "0006_row_level_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_outbox_jobs_status_known"
_BEFORE = "status IN ('PENDING', 'RUNNING', 'DONE', 'DEAD', 'DISCARDED')"
_AFTER = "status IN ('PENDING', 'RUNNING', 'WAITING', 'DONE', 'DEAD', 'DISCARDED')"


def _replace(condition: str) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table.
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint("status_known", condition)


def upgrade() -> None:
    _replace(_AFTER)


def downgrade() -> None:
    op.execute("UPDATE outbox_jobs SET status = 'RUNNING' WHERE status = 'WAITING'")
    _replace(_BEFORE)
