"""Delivery tracking reports: what the courier app and dispatch reported by webhook (D90).

- ``delivery_tracking``: one row per ``tracking.*`` webhook of a tracking source, primary
  key ``(country_code, source, source_id)`` (the webhook's provider and id: a redelivery is
  the same row), the order, the kind (``PROMISED``, ``POSITIONS``, ``DELIVERED``), when it
  was reported (the verified webhook timestamp) and the facts as JSON; indexed by
  ``(country_code, order_id, reported_at)`` for "an order's track". Write-once: the
  service's role may SELECT and INSERT only.
- Row-level security by country (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0023_delivery_tracking
Revises: 0022_partner_kind_check
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0023_delivery_tracking"
down_revision: str | Sequence[str] | None = "0022_partner_kind_check"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_delivery_tracking_country_code_order_id_reported_at"


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "delivery_tracking",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", _json(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('PROMISED', 'POSITIONS', 'DELIVERED')", name=op.f("ck_delivery_tracking_kind_known")
        ),
        sa.PrimaryKeyConstraint("country_code", "source", "source_id", name=op.f("pk_delivery_tracking")),
    )
    op.create_index(_INDEX, "delivery_tracking", ["country_code", "order_id", "reported_at"])
    apply_country_rls(op, "delivery_tracking", append_only=True)


def downgrade() -> None:
    remove_country_rls(op, "delivery_tracking")
    op.drop_index(_INDEX, table_name="delivery_tracking")
    op.drop_table("delivery_tracking")
