"""Balance snapshots are append-only (WORM), like the postings they sum (D69).

Balances are read from the newest ``ledger_balance_snapshots`` row plus the postings after
it, and since D69 the scheduler writes those rows in production. A changed or deleted row
would change a balance (and an escrow check) without touching the WORM postings, so the
snapshots get the same guard as ``ledger_postings`` (0002): triggers refuse UPDATE and
DELETE for everyone (and TRUNCATE on PostgreSQL, through the same
``ledger_refuse_change()``), and the service's role keeps SELECT and INSERT only. A wrong
checkpoint is corrected the ledger's way: a newer checkpoint supersedes it.

Revision ID: 0017_balance_snapshots_worm
Revises: 0016_audit_locked_tail
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alembic import op

from adapters.persistence.row_level_security import app_role, identifier, is_postgres

revision: str = "0017_balance_snapshots_worm"
down_revision: str | Sequence[str] | None = "0016_audit_locked_tail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE: Final = "ledger_balance_snapshots"
MESSAGE: Final = f"{TABLE} is append-only (WORM)"


def upgrade() -> None:
    if is_postgres(op):
        op.execute(
            f"CREATE TRIGGER {TABLE}_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE}"
            " FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_refuse_truncate BEFORE TRUNCATE ON {TABLE}"
            " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(f"REVOKE UPDATE, DELETE ON {identifier(TABLE)} FROM {identifier(app_role(op))}")
        return
    for command in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TABLE}_refuse_{command.lower()} BEFORE {command} ON {TABLE}"
            f" BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {command} refused'); END"
        )


def downgrade() -> None:
    if is_postgres(op):
        op.execute(f"GRANT UPDATE, DELETE ON {identifier(TABLE)} TO {identifier(app_role(op))}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_update_delete ON {TABLE}")
        return
    for command in ("DELETE", "UPDATE"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_{command.lower()}")
