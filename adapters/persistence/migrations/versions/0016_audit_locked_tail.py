"""The audit chain's lock and tail in one call: ``audit_log_locked_tail()`` (D68).

Appending to the audit chain took two statements before the INSERT, each a round trip
inside the one critical section every auditing transaction of every country shares:
``SELECT pg_advisory_xact_lock(<chain key>)`` and ``SELECT ... FROM audit_log_tail()``.
``audit_log_locked_tail()`` does both: it takes the same transaction-level advisory lock
(held until the caller's transaction ends) and then returns the last sequence and hash.
It is ``VOLATILE``, so its second statement reads with a snapshot taken after the lock
was granted and sees the previous holder's committed entry, as the two statements did at
READ COMMITTED. Like ``audit_log_tail()`` (kept: the RLS tests and older callers use it)
it is ``SECURITY DEFINER`` for the service's role only, past the country scope.

On SQLite this migration does nothing (``BEGIN IMMEDIATE`` already serialises appenders).

Revision ID: 0016_audit_locked_tail
Revises: 0015_case_bundle_purges
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alembic import op

from adapters.persistence.row_level_security import create_unscoped_function, drop_unscoped_function

revision: str = "0016_audit_locked_tail"
down_revision: str | Sequence[str] | None = "0015_case_bundle_purges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The chain's lock key (adapters.persistence.audit_log.AUDIT_CHAIN_LOCK_KEY, "SUOSAUDT"),
# written out: a migration must not change when that module does.
AUDIT_CHAIN_LOCK_KEY: Final = 0x5355_4F53_4155_4454
LOCKED_TAIL: Final = {"name": "audit_log_locked_tail", "arguments": ""}


def upgrade() -> None:
    create_unscoped_function(
        op,
        **LOCKED_TAIL,
        returns="TABLE (sequence bigint, entry_hash varchar)",
        body=(
            f"SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK_KEY}::bigint);"
            " SELECT a.sequence, a.entry_hash FROM audit_log AS a ORDER BY a.sequence DESC LIMIT 1"
        ),
        volatility="VOLATILE",
    )


def downgrade() -> None:
    drop_unscoped_function(op, **LOCKED_TAIL)
