"""Courier reports keep their order (D137).

- ``orders.courier_assigned_at``: when the order's current courier was given it by a
  reassignment (the marketplace feed's ``order.courier_assigned`` with its own time, or an
  incident's ``URGENT_REPLACEMENT``). A report older than it is stale and changes nothing.
  NULL for orders whose courier was never reassigned, including every order before this
  migration: their next report applies, as before.

Revision ID: 0026_order_courier_assigned_at
Revises: 0025_order_window_pause
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_order_courier_assigned_at"
down_revision: str | Sequence[str] | None = "0025_order_window_pause"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column: a plain ADD COLUMN on both engines, no rewrite
    op.add_column("orders", sa.Column("courier_assigned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("courier_assigned_at")
