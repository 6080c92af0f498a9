"""Circuit breakers per country and provider, shared by every worker (SPEC §7).

- ``provider_circuits``: primary key (country_code, provider); ``state`` CLOSED | OPEN |
  HALF_OPEN; ``consecutive_failures``; ``opened_at`` (when the open period began);
  ``half_open_trial_owner`` / ``half_open_trial_until`` (who holds the one half-open trial
  call, and until when); ``version`` (every change is a compare-and-set on it);
  ``updated_at``.
- Row-level security by country like every country-scoped table
  (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0008_provider_circuits
Revises: 0007_outbox_waiting
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0008_provider_circuits"
down_revision: str | Sequence[str] | None = "0007_outbox_waiting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "provider_circuits"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("half_open_trial_owner", sa.String(length=200), nullable=True),
        sa.Column("half_open_trial_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('CLOSED', 'OPEN', 'HALF_OPEN')", name=op.f("ck_provider_circuits_state_known")
        ),
        sa.CheckConstraint(
            "consecutive_failures >= 0", name=op.f("ck_provider_circuits_failures_not_negative")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_provider_circuits_version_positive")),
        sa.PrimaryKeyConstraint("country_code", "provider", name=op.f("pk_provider_circuits")),
    )
    apply_country_rls(op, TABLE)


def downgrade() -> None:
    remove_country_rls(op, TABLE)
    op.drop_table(TABLE)
