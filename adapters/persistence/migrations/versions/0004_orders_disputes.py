"""Orders (with their snapshots), versioned refund policies and disputes (SPEC §3, §5).

- ``refund_policies``: one row per (country, version), never edited; at most one version
  takes effect at a given instant in a country (unique ``(country_code, effective_from)``).
- ``orders``: primary key ``(country_code, id)``; ``version`` is the optimistic-concurrency
  counter. The snapshot columns are NULL until payment capture; ``policy_terms`` copies the
  policy in force at capture, so the snapshot never depends on ``refund_policies`` again.
  Money is ``BIGINT`` minor units; a CHECK ties the total to its components.
- ``disputes``: primary key ``(country_code, id)``, a foreign key to its order; the
  evidence pack as canonical JSON with its sha256, decision and withdrawal as JSON. A
  partial unique index (``status NOT IN ('RESOLVED', 'WITHDRAWN')``) lets an order have at
  most one dispute in progress; partial indexes exist on SQLite and PostgreSQL alike.

Every request-serving index starts with ``country_code``.

Revision ID: 0004_orders_disputes
Revises: 0003_idempotency_outbox
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_orders_disputes"
down_revision: str | Sequence[str] | None = "0003_idempotency_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_DISPUTE_PREDICATE = "status NOT IN ('RESOLVED', 'WITHDRAWN')"


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _moment() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refund_policies",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("goodwill_credit_minor", sa.BigInteger(), nullable=False),
        sa.Column("tiers_bp", _json(), nullable=False),
        sa.Column("dispute_window_seconds", sa.BigInteger(), nullable=False),
        sa.Column("evidence_deadline_seconds", sa.BigInteger(), nullable=False),
        sa.Column("lateness_threshold_seconds", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", _moment(), nullable=False),
        sa.PrimaryKeyConstraint("country_code", "version", name=op.f("pk_refund_policies")),
    )
    op.create_index(
        "ix_refund_policies_country_code_effective_from",
        "refund_policies",
        ["country_code", "effective_from"],
        unique=True,
    )

    op.create_table(
        "orders",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("buyer_id", sa.String(length=200), nullable=False),
        sa.Column("seller_id", sa.String(length=200), nullable=False),
        sa.Column("courier_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("frozen_from", sa.String(length=32), nullable=True),
        sa.Column("frozen_by_incident", sa.String(length=200), nullable=True),
        sa.Column("delivered_at", _moment(), nullable=True),
        sa.Column("force_completed", sa.Boolean(), nullable=False),
        sa.Column("force_complete_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _moment(), nullable=False),
        sa.Column("updated_at", _moment(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("items_subtotal_minor", sa.BigInteger(), nullable=True),
        sa.Column("delivery_fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("service_fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("tax_minor", sa.BigInteger(), nullable=True),
        sa.Column("discount_minor", sa.BigInteger(), nullable=True),
        sa.Column("total_charged_minor", sa.BigInteger(), nullable=True),
        sa.Column("commission_bp", sa.Integer(), nullable=True),
        sa.Column("snapshot_courier_id", sa.String(length=200), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("policy_terms", _json(), nullable=True),
        sa.Column("captured_at", _moment(), nullable=True),
        sa.CheckConstraint("version >= 0", name=op.f("ck_orders_version_not_negative")),
        sa.CheckConstraint(
            "total_charged_minor = items_subtotal_minor + delivery_fee_minor + service_fee_minor"
            " + tax_minor - discount_minor",
            name=op.f("ck_orders_snapshot_total"),
        ),
        sa.PrimaryKeyConstraint("country_code", "id", name=op.f("pk_orders")),
    )
    op.create_index(
        "ix_orders_country_code_status_delivered_at", "orders", ["country_code", "status", "delivered_at"]
    )
    op.create_index("ix_orders_country_code_buyer_id", "orders", ["country_code", "buyer_id"])
    op.create_index("ix_orders_country_code_seller_id", "orders", ["country_code", "seller_id"])
    op.create_index("ix_orders_country_code_created_at_id", "orders", ["country_code", "created_at", "id"])

    op.create_table(
        "disputes",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("opened_by_actor_id", sa.String(length=200), nullable=False),
        sa.Column("opened_by_role", sa.String(length=32), nullable=False),
        sa.Column("opened_at", _moment(), nullable=False),
        sa.Column("evidence_deadline", _moment(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("decision", _json(), nullable=True),
        sa.Column("withdrawal", _json(), nullable=True),
        sa.Column("last_execution_error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _moment(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_disputes_version_positive")),
        sa.ForeignKeyConstraint(
            ["country_code", "order_id"],
            ["orders.country_code", "orders.id"],
            name=op.f("fk_disputes_country_code_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("country_code", "id", name=op.f("pk_disputes")),
    )
    op.create_index(
        "ix_disputes_country_code_status_opened_at", "disputes", ["country_code", "status", "opened_at"]
    )
    op.create_index("ix_disputes_country_code_order_id", "disputes", ["country_code", "order_id"])
    op.create_index(
        "ix_disputes_country_code_evidence_deadline", "disputes", ["country_code", "evidence_deadline"]
    )
    op.create_index(
        "uq_disputes_country_code_order_id_open",
        "disputes",
        ["country_code", "order_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_DISPUTE_PREDICATE),
        postgresql_where=sa.text(OPEN_DISPUTE_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("uq_disputes_country_code_order_id_open", table_name="disputes")
    op.drop_index("ix_disputes_country_code_evidence_deadline", table_name="disputes")
    op.drop_index("ix_disputes_country_code_order_id", table_name="disputes")
    op.drop_index("ix_disputes_country_code_status_opened_at", table_name="disputes")
    op.drop_table("disputes")
    op.drop_index("ix_orders_country_code_created_at_id", table_name="orders")
    op.drop_index("ix_orders_country_code_seller_id", table_name="orders")
    op.drop_index("ix_orders_country_code_buyer_id", table_name="orders")
    op.drop_index("ix_orders_country_code_status_delivered_at", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_refund_policies_country_code_effective_from", table_name="refund_policies")
    op.drop_table("refund_policies")
