"""Idempotency keys expire: an index for the expiry's scan, oldest first (D71).

The scheduler deletes the keys older than ``SUPPORTOS_IDEMPOTENCY_KEY_RETENTION_HOURS``
that are no longer running, oldest first, a batch at a time: ``created_at`` is indexed so
that each batch reads the oldest rows instead of the whole table.

Revision ID: 0018_idempotency_key_expiry
Revises: 0017_balance_snapshots_worm
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018_idempotency_key_expiry"
down_revision: str | Sequence[str] | None = "0017_balance_snapshots_worm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
