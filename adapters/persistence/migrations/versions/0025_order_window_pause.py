"""The dispute window pauses while a live incident holds a delivered order (D127).

- ``orders.frozen_at``: when the current live-incident hold began (NULL when the order is
  not FROZEN). A hold already on when this migration runs gets its row's ``updated_at``,
  the last change of a FROZEN order, which is the freeze itself or later: the window then
  pauses for at most the hold's real length, never more.
- ``orders.dispute_window_paused_us``: the time, in microseconds, live incidents held the
  order frozen after its delivery; the dispute window closes that much later.

Revision ID: 0025_order_window_pause
Revises: 0024_worm_refuse_replace
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_order_window_pause"
down_revision: str | Sequence[str] | None = "0024_worm_refuse_replace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN on both engines (a nullable column, a NOT NULL one with a default):
    # SQLite needs no table rebuild, PostgreSQL no table rewrite
    op.add_column("orders", sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "orders", sa.Column("dispute_window_paused_us", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.execute("UPDATE orders SET frozen_at = updated_at WHERE status = 'FROZEN'")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("dispute_window_paused_us")
        batch.drop_column("frozen_at")
