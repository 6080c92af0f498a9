"""An API key's ``partner_kind`` is one of the known kinds (D88): a CHECK constraint.

The application only writes ``SELLER_ORG`` or ``PAYMENT_PARTNER``; the database now refuses
anything else too, so a key written by hand (or by a future bug) cannot carry a kind that
``party_scope`` would misread. Every existing row is one of the two (0021's server default).

Revision ID: 0022_partner_kind_check
Revises: 0021_partner_kinds
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022_partner_kind_check"
down_revision: str | Sequence[str] | None = "0021_partner_kinds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "partner_kind_known"
_CONDITION = "partner_kind IN ('SELLER_ORG', 'PAYMENT_PARTNER')"


def upgrade() -> None:
    # SQLite cannot add a CHECK constraint in place: batch mode rebuilds the table there
    # (PostgreSQL gets a plain ALTER TABLE ... ADD CONSTRAINT).
    with op.batch_alter_table("api_keys") as batch:
        batch.create_check_constraint(_NAME, _CONDITION)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f(f"ck_api_keys_{_NAME}"), type_="check")
