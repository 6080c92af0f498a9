"""An outbox job may call its provider with a fresh key after an L3 replay (D83).

``outbox_jobs.provider_key_revision`` is 0 for every job: the provider is called with the
job's own idempotency key. An L3 replay of a job dead-lettered by a *permanent* refusal
(a decline: a provider remembers it for the key and would answer it again) bumps it, and
the provider is then called with ``<idempotency_key>#r<n>``; ledger postings keep the job's
key, so money still posts at most once. Added in place with a server default (no table
rebuild on SQLite; existing rows read 0).

Revision ID: 0020_outbox_provider_keys
Revises: 0019_order_replacements
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_outbox_provider_keys"
down_revision: str | Sequence[str] | None = "0019_order_replacements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_jobs",
        sa.Column("provider_key_revision", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place when no index or constraint names it.
    op.drop_column("outbox_jobs", "provider_key_revision")
