"""The double-entry ledger: transactions, postings, accounts, balance snapshots (SPEC §4).

- ``ledger_transactions``: one row per posted transaction; ``(country_code,
  idempotency_key)`` is unique, the exactly-once guarantee (rows are inserted with
  ``ON CONFLICT DO NOTHING``, never check-then-insert).
- ``ledger_postings``: the legs; the autoincrement ``id`` is the global posting sequence
  that balance snapshots refer to. ``amount_minor > 0``; ``signed_minor`` is the
  debit-positive amount (a CHECK ties it to ``side`` and ``amount_minor``).
- ``ledger_accounts``: one row per (country, account, currency) ever posted to; the lock
  row for escrow checks (``SELECT ... FOR UPDATE`` on PostgreSQL).
- ``ledger_balance_snapshots``: checkpoints; the newest of an account is the row with the
  greatest ``as_of_posting_id``.

``ledger_transactions`` and ``ledger_postings`` are append-only (WORM), guarded exactly
like ``audit_log`` in 0001: BEFORE UPDATE / BEFORE DELETE triggers that RAISE(ABORT) on
SQLite; on PostgreSQL a trigger function raising ``restrict_violation`` (SQLSTATE 23001)
for UPDATE and DELETE (row level) and TRUNCATE (statement level).

On SQLite the ``id`` columns are ``INTEGER PRIMARY KEY`` (the rowid, so they autoincrement);
on PostgreSQL ``BIGSERIAL``.

Revision ID: 0002_ledger
Revises: 0001_audit_log
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ledger"
down_revision: str | Sequence[str] | None = "0001_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORM_TABLES = ("ledger_transactions", "ledger_postings")


def _sqlite_up(table: str) -> list[str]:
    message = f"{table} is append-only (WORM)"
    return [
        f"""
        CREATE TRIGGER {table}_refuse_update BEFORE UPDATE ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{message}: UPDATE refused');
        END
        """,
        f"""
        CREATE TRIGGER {table}_refuse_delete BEFORE DELETE ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{message}: DELETE refused');
        END
        """,
    ]


def _sqlite_down(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_refuse_delete",
        f"DROP TRIGGER IF EXISTS {table}_refuse_update",
    ]


POSTGRES_FUNCTION_UP = """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only (WORM): % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """
POSTGRES_FUNCTION_DOWN = "DROP FUNCTION IF EXISTS ledger_refuse_change()"


def _postgres_up(table: str) -> list[str]:
    return [
        f"""
        CREATE TRIGGER {table}_refuse_update_delete BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
        """,
        f"""
        CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
        """,
    ]


def _postgres_down(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_refuse_truncate ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_refuse_update_delete ON {table}",
    ]


def _statements(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name
    statements: list[str] = []
    if dialect == "sqlite":
        for table in WORM_TABLES:
            statements += _sqlite_up(table) if up else _sqlite_down(table)
        return statements
    if dialect == "postgresql":
        if up:
            statements.append(POSTGRES_FUNCTION_UP)
        for table in WORM_TABLES:
            statements += _postgres_up(table) if up else _postgres_down(table)
        if not up:
            statements.append(POSTGRES_FUNCTION_DOWN)
        return statements
    raise NotImplementedError(f"no WORM guard for {dialect}")


def _id() -> sa.types.TypeEngine[int]:
    """BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key() -> sa.types.TypeEngine[str]:
    """Idempotency keys compare bytewise (``COLLATE "C"`` on PostgreSQL, SQLite's BINARY),
    so a key-prefix range query is exact and served by the unique index."""
    return sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ledger_transactions",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("idempotency_key", _key(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("reverses", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_ledger_transactions_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint(
            "country_code",
            "idempotency_key",
            name=op.f("uq_ledger_transactions_country_code_idempotency_key"),
        ),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("side", sa.String(length=6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("signed_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_ledger_postings_amount_positive")),
        sa.CheckConstraint(
            "(side = 'DEBIT' AND signed_minor = amount_minor)"
            " OR (side = 'CREDIT' AND signed_minor = -amount_minor)",
            name=op.f("ck_ledger_postings_signed_matches_side"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index(
        "ix_ledger_postings_country_code_account_currency_id",
        "ledger_postings",
        ["country_code", "account", "currency", "id"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_postings_country_code_transaction_id",
        "ledger_postings",
        ["country_code", "transaction_id"],
        unique=False,
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("country_code", "account", "currency", name=op.f("pk_ledger_accounts")),
    )
    op.create_table(
        "ledger_balance_snapshots",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("as_of_posting_id", sa.BigInteger(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "as_of_posting_id >= 0", name=op.f("ck_ledger_balance_snapshots_as_of_not_negative")
        ),
        sa.PrimaryKeyConstraint(
            "country_code",
            "account",
            "currency",
            "as_of_posting_id",
            name=op.f("pk_ledger_balance_snapshots"),
        ),
    )
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
    op.drop_table("ledger_balance_snapshots")
    op.drop_table("ledger_accounts")
    op.drop_index("ix_ledger_postings_country_code_transaction_id", table_name="ledger_postings")
    op.drop_index("ix_ledger_postings_country_code_account_currency_id", table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_table("ledger_transactions")
