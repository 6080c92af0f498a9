"""A partner API key names its kind; an order names the payment partner of its payment (D88).

- ``api_keys.partner_kind``: ``SELLER_ORG`` (the partner id is a seller id: what every key
  meant until now, so existing keys read ``SELLER_ORG`` through the server default) or
  ``PAYMENT_PARTNER`` (the partner id is a payment partner's).
- ``orders.payment_partner_id``: the payment partner (PSP) that processed the captured
  payment, part of the snapshot; NULL before capture and for every order captured before
  this revision (unknown: no payment partner's key sees them). Indexed as
  ``(country_code, payment_partner_id)``, as ``seller_id`` is, for a payment partner's lists.
- PostgreSQL: ``api_key_by_id`` (the ``SECURITY DEFINER`` lookup of 0006, D22) returns the
  kind too. A function's result type cannot be altered in place, so it is dropped and
  made again, with the same owner, settings and grants.

Both columns are added in place (no table rebuild on SQLite).

Revision ID: 0021_partner_kinds
Revises: 0020_outbox_provider_keys
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.row_level_security import create_unscoped_function, drop_unscoped_function

revision: str = "0021_partner_kinds"
down_revision: str | Sequence[str] | None = "0020_outbox_provider_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_orders_country_code_payment_partner_id"
_API_KEY_BY_ID = {"name": "api_key_by_id", "arguments": "wanted_country text, wanted_key_id text"}
_KEY_COLUMNS = "k.country_code, k.key_id, k.partner_id, k.label, k.key_sha256, k.created_at, k.revoked_at"
_KEY_TYPES = (
    "country_code varchar, key_id varchar, partner_id varchar, label varchar,"
    " key_sha256 varchar, created_at timestamptz, revoked_at timestamptz"
)
_KEY_WHERE = " FROM api_keys AS k WHERE k.country_code = wanted_country AND k.key_id = wanted_key_id"


def _key_lookup(*, with_kind: bool) -> None:
    drop_unscoped_function(op, **_API_KEY_BY_ID)
    create_unscoped_function(
        op,
        **_API_KEY_BY_ID,
        returns=f"TABLE ({_KEY_TYPES}{', partner_kind varchar' if with_kind else ''})",
        body=f"SELECT {_KEY_COLUMNS}{', k.partner_kind' if with_kind else ''}{_KEY_WHERE}",
    )


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("partner_kind", sa.String(length=32), nullable=False, server_default=sa.text("'SELLER_ORG'")),
    )
    op.add_column("orders", sa.Column("payment_partner_id", sa.String(length=200), nullable=True))
    op.create_index(_INDEX, "orders", ["country_code", "payment_partner_id"])
    _key_lookup(with_kind=True)  # PostgreSQL only (a no-op elsewhere)


def downgrade() -> None:
    _key_lookup(with_kind=False)
    op.drop_index(_INDEX, table_name="orders")
    # SQLite (3.35+) drops a column in place when no index or constraint names it.
    op.drop_column("orders", "payment_partner_id")
    op.drop_column("api_keys", "partner_kind")
