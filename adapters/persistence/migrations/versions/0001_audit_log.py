"""The append-only (WORM) audit log, one hash chain for the whole system.

UPDATE and DELETE are refused by the database itself, for every role including the
table's owner (only an owner who first disables the triggers can change a row, and the
hash chain then shows it): BEFORE UPDATE / BEFORE DELETE triggers that RAISE(ABORT) on
SQLite; on PostgreSQL a trigger function raising ``restrict_violation`` (SQLSTATE 23001)
for UPDATE and DELETE (row level) and TRUNCATE (statement level).

Revision ID: 0001_audit_log
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_audit_log"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_log is append-only (WORM)"

SQLITE_UP = [
    f"""
    CREATE TRIGGER audit_log_refuse_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused');
    END
    """,
    f"""
    CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused');
    END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_refuse_delete",
    "DROP TRIGGER IF EXISTS audit_log_refuse_update",
]

POSTGRES_UP = [
    f"""
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_refuse_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_refuse_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_refuse_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_refuse_update_delete ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_refuse_change()",
]


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _statements(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    if dialect == "postgresql":
        return POSTGRES_UP if up else POSTGRES_DOWN
    raise NotImplementedError(f"no WORM guard for {dialect}")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("before_state", _json(), nullable=True),
        sa.Column("after_state", _json(), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_audit_log_sequence_positive")),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_audit_log_entry_hash")),
        sa.UniqueConstraint("previous_hash", name=op.f("uq_audit_log_previous_hash")),
    )
    op.create_index(
        "ix_audit_log_country_code_occurred_at", "audit_log", ["country_code", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_audit_log_country_code_target_type_target_id",
        "audit_log",
        ["country_code", "target_type", "target_id"],
        unique=False,
    )
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
    op.drop_index("ix_audit_log_country_code_target_type_target_id", table_name="audit_log")
    op.drop_index("ix_audit_log_country_code_occurred_at", table_name="audit_log")
    op.drop_table("audit_log")
