"""Partner API keys: hashed, one partner and one country each.

- ``api_keys``: primary key ``(country_code, key_id)``; the key id begins with its country,
  so a lookup by key id is a primary-key lookup in that country. Only the key's sha256 is
  stored; ``revoked_at`` set means the key no longer authenticates.

Revision ID: 0005_api_keys
Revises: 0004_orders_disputes
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_api_keys"
down_revision: str | Sequence[str] | None = "0004_orders_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("key_id", sa.String(length=200), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("country_code", "key_id", name=op.f("pk_api_keys")),
    )
    op.create_index("ix_api_keys_country_code_partner_id", "api_keys", ["country_code", "partner_id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_country_code_partner_id", table_name="api_keys")
    op.drop_table("api_keys")
