"""A replacement order names the order it replaces (SPEC §5 ``REPLACEMENT``).

``orders.replaces_order_id`` is NULL for every order placed by a buyer; a replacement,
created by the ``REPLACEMENT`` outcome's saga step, names its original. The unique index
``(country_code, replaces_order_id)`` keeps one replacement per order (NULLs are distinct on
SQLite and PostgreSQL) and finds the replacement of an order. The column is added in place
(no table rebuild on SQLite, whose ``orders`` is referenced by other tables); no foreign
key, as SQLite cannot add one without rebuilding the table: only the saga writes the link,
from an order it has just loaded in the same transaction.

Revision ID: 0019_order_replacements
Revises: 0018_idempotency_key_expiry
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_order_replacements"
down_revision: str | Sequence[str] | None = "0018_idempotency_key_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_orders_country_code_replaces_order_id"


def upgrade() -> None:
    op.add_column("orders", sa.Column("replaces_order_id", sa.String(length=200), nullable=True))
    op.create_index(_INDEX, "orders", ["country_code", "replaces_order_id"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="orders")
    # SQLite (3.35+) drops a column in place when no index or constraint names it.
    op.drop_column("orders", "replaces_order_id")
