"""Idempotency keys (Stripe's semantics) and the transactional outbox (SPEC §5, §7).

- ``idempotency_keys``: primary key (country_code, actor_id, operation, key); the
  request's sha256 ``fingerprint``; ``state`` IN_FLIGHT | COMPLETED; the stored
  ``response`` (NULL until completed); ``locked_until``, the in-flight lease after which an
  identical request may take the key over.
- ``outbox_jobs``: jobs written in the same transaction as the change that asks for
  them; ``idempotency_key`` is unique (globally), so enqueuing a step twice is a no-op.
  ``status`` PENDING | RUNNING | DONE | DEAD | DISCARDED; a claim sets a lease
  (``lease_owner``, ``lease_until``) and bumps ``attempts`` and ``fencing_token``;
  ``errors`` is the JSON list of failures ({at, attempt, kind, detail}).
  ``(status, available_at)`` serves the workers' claim (across countries);
  ``(country_code, reference)`` and ``(country_code, status)`` serve requests.

On SQLite ``outbox_jobs.id`` is ``INTEGER PRIMARY KEY`` (the rowid, so it autoincrements);
on PostgreSQL ``BIGSERIAL``.

Revision ID: 0003_idempotency_outbox
Revises: 0002_ledger
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_idempotency_outbox"
down_revision: str | Sequence[str] | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _id() -> sa.types.TypeEngine[int]:
    """BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response", _json(), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('IN_FLIGHT', 'COMPLETED')", name=op.f("ck_idempotency_keys_state_known")
        ),
        sa.PrimaryKeyConstraint(
            "country_code", "actor_id", "operation", "key", name=op.f("pk_idempotency_keys")
        ),
    )
    op.create_table(
        "outbox_jobs",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'RUNNING', 'DONE', 'DEAD', 'DISCARDED')",
            name=op.f("ck_outbox_jobs_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_jobs_attempts_not_negative")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_outbox_jobs_max_attempts_positive")),
        sa.CheckConstraint(
            "fencing_token >= 0", name=op.f("ck_outbox_jobs_fencing_token_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_jobs_idempotency_key")),
    )
    op.create_index(
        "ix_outbox_jobs_status_available_at", "outbox_jobs", ["status", "available_at"], unique=False
    )
    op.create_index(
        "ix_outbox_jobs_country_code_reference", "outbox_jobs", ["country_code", "reference"], unique=False
    )
    op.create_index(
        "ix_outbox_jobs_country_code_status", "outbox_jobs", ["country_code", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_country_code_status", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_country_code_reference", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_status_available_at", table_name="outbox_jobs")
    op.drop_table("outbox_jobs")
    op.drop_table("idempotency_keys")
