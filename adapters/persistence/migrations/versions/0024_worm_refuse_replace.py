"""The append-only (WORM) tables refuse REPLACE on SQLite too: BEFORE INSERT guards.

On SQLite the WORM tables were guarded by BEFORE UPDATE / BEFORE DELETE triggers only
(0001, 0002, 0010, 0011, 0017). ``INSERT OR REPLACE`` / ``REPLACE INTO`` on a key that is
already stored deletes the stored row and inserts the new one, and SQLite fires no DELETE
trigger for rows removed by REPLACE conflict resolution unless ``PRAGMA
recursive_triggers`` is on (a per-connection setting, not something the database
enforces). So an entry could be rewritten (or, through a unique key, removed) past the
guards, e.g. an audit entry rewritten with recomputed hashes and the tail dropped.

This migration adds one BEFORE INSERT trigger per WORM table, ``<table>_refuse_replace``,
that looks for a stored row with any of the new row's keys (primary key, every unique
key, and the rowid, which ``REPLACE INTO t (rowid, ...)`` can also collide on; a new
row's ``NEW.rowid`` is -1 until SQLite assigns it, so a normal insert matches nothing):

- ``audit_log``, ``ledger_postings``, ``case_timeline``: the application inserts them
  with a plain INSERT, so a key that is already stored is refused with
  ``RAISE(ABORT, '<table> is append-only (WORM): REPLACE refused')``: an IntegrityError,
  as the UNIQUE violation of a plain INSERT already was (only the message differs).
- ``ledger_transactions`` (its ``id``), ``messages`` and ``ledger_balance_snapshots``
  (their rowid): keys the application never supplies; ABORT as above.
- ``ledger_transactions`` ``(country_code, idempotency_key)``, every key of ``messages``
  and the key of ``ledger_balance_snapshots``: the application inserts these with
  ``ON CONFLICT DO NOTHING`` and relies on "nothing inserted, no error" (exactly-once
  posting answers ``AlreadyPosted``; a lost message append becomes a
  ``ConcurrencyConflict``; a checkpoint taken twice is kept once). A BEFORE trigger runs
  before SQLite resolves the conflict and cannot tell DO NOTHING from REPLACE, so ABORT
  here would turn every idempotent retry into an error. These keys get
  ``RAISE(IGNORE)``: the new row is skipped, which is precisely what DO NOTHING does
  (no row, nothing RETURNING, no error), and a REPLACE on them is skipped the same way:
  refused silently, the stored row unchanged. The price: a *plain* INSERT of an already
  stored key of these three tables is now skipped instead of failing with a UNIQUE
  violation; nothing inserts them that way (every insert path is ON CONFLICT DO NOTHING).

On PostgreSQL this migration does nothing. There is no REPLACE; the nearest thing,
``INSERT ... ON CONFLICT DO UPDATE``, fires the row-level BEFORE UPDATE triggers on the
conflicting row before changing it, and those (0001, 0002, 0010, 0011, 0017) raise
``restrict_violation``; ``ON CONFLICT DO NOTHING`` changes nothing. The service's role
has no UPDATE on these tables either.

Revision ID: 0024_worm_refuse_replace
Revises: 0023_delivery_tracking
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from alembic import op

revision: str = "0024_worm_refuse_replace"
down_revision: str | Sequence[str] | None = "0023_delivery_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROWID: Final = ("rowid",)


class Guard(NamedTuple):
    """A WORM table's keys: those refused with ABORT, and those skipped with IGNORE (the
    keys the application inserts with ``ON CONFLICT DO NOTHING``). (A NamedTuple, not a
    dataclass: Alembic loads this file outside ``sys.modules``.)"""

    table: str
    abort: tuple[tuple[str, ...], ...]
    ignore: tuple[tuple[str, ...], ...] = ()


# Keys as the migrations that made the tables declare them (and the rowid where it is
# not already the primary key: ``INTEGER PRIMARY KEY`` ``id`` columns are the rowid).
GUARDS: Final = (
    Guard("audit_log", abort=(ROWID, ("sequence",), ("entry_hash",), ("previous_hash",))),
    Guard(
        "ledger_transactions",
        abort=(("id",),),
        ignore=(("country_code", "idempotency_key"),),
    ),
    Guard("ledger_postings", abort=(("id",),)),
    Guard(
        "messages",
        abort=(ROWID,),
        ignore=(
            ("country_code", "conversation_id", "sequence"),
            ("country_code", "conversation_id", "client_message_id"),
            ("country_code", "message_id"),
        ),
    ),
    Guard("case_timeline", abort=(ROWID, ("country_code", "case_id", "sequence"))),
    Guard(
        "ledger_balance_snapshots",
        abort=(ROWID,),
        ignore=(("country_code", "account", "currency", "as_of_posting_id"),),
    ),
)


def _stored(table: str, keys: tuple[tuple[str, ...], ...]) -> str:
    """``EXISTS`` per key (each served by its own index), OR-ed. Names are this file's constants."""
    matches = (" AND ".join(f"{column} = NEW.{column}" for column in key) for key in keys)
    return " OR ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {match})" for match in matches)  # noqa: S608


def create_trigger(guard: Guard) -> str:
    message = f"{guard.table} is append-only (WORM): REPLACE refused"
    body = [f"SELECT RAISE(ABORT, '{message}') WHERE {_stored(guard.table, guard.abort)};"]
    if guard.ignore:
        body.append(f"SELECT RAISE(IGNORE) WHERE {_stored(guard.table, guard.ignore)};")
    return (
        f"CREATE TRIGGER {guard.table}_refuse_replace BEFORE INSERT ON {guard.table}\n"
        "BEGIN\n    " + "\n    ".join(body) + "\nEND"
    )


def _sqlite(op_name: str) -> bool:
    """``True`` on SQLite; ``False`` on PostgreSQL, whose BEFORE UPDATE triggers already meet
    ``INSERT ... ON CONFLICT DO UPDATE`` (and which has no REPLACE)."""
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        return True
    if dialect == "postgresql":
        return False
    raise NotImplementedError(f"no WORM guard for {dialect} ({op_name})")


def upgrade() -> None:
    if _sqlite("upgrade"):
        for guard in GUARDS:
            op.execute(create_trigger(guard))


def downgrade() -> None:
    if not _sqlite("downgrade"):
        return
    for guard in reversed(GUARDS):
        op.execute(f"DROP TRIGGER IF EXISTS {guard.table}_refuse_replace")
