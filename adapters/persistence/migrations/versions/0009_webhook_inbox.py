"""The webhook inbox: verified provider events, deduplicated by webhook id (SPEC §7).

- ``webhook_inbox``: primary key (country_code, provider, webhook_id) — the provider's
  ``webhook-id`` is the same on every redelivery, and the country comes from the signed
  event, so one event is one row however often it is delivered. ``event_type``,
  ``idempotency_key`` (of the call the event settles), ``payload`` (the event as sent),
  ``signed_at`` (its verified ``webhook-timestamp``), ``received_at``, ``attempts`` (how
  often processing was started), ``held_until`` (the hold of the call processing it),
  ``processed_at`` and ``outcome`` (written once).
- A partial index on the unprocessed rows (``processed_at IS NULL``) for crash recovery.
- Row-level security by country like every country-scoped table (``apply_country_rls``;
  a no-op on SQLite).

Revision ID: 0009_webhook_inbox
Revises: 0008_provider_circuits
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0009_webhook_inbox"
down_revision: str | Sequence[str] | None = "0008_provider_circuits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "webhook_inbox"
PENDING = "processed_at IS NULL"


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_inbox_attempts_not_negative")),
        sa.PrimaryKeyConstraint("country_code", "provider", "webhook_id", name=op.f("pk_webhook_inbox")),
    )
    op.create_index(
        "ix_webhook_inbox_country_code_idempotency_key", TABLE, ["country_code", "idempotency_key"]
    )
    op.create_index(
        "ix_webhook_inbox_country_code_received_at_pending",
        TABLE,
        ["country_code", "received_at"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    apply_country_rls(op, TABLE)


def downgrade() -> None:
    remove_country_rls(op, TABLE)
    op.drop_index("ix_webhook_inbox_country_code_received_at_pending", table_name=TABLE)
    op.drop_index("ix_webhook_inbox_country_code_idempotency_key", table_name=TABLE)
    op.drop_table(TABLE)
