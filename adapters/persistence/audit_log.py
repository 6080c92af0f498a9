"""The audit log on SQLAlchemy: appending links to the chain, streaming it back.

Appending is safe under concurrency. The new entry's previous hash is the current last
entry's hash and its sequence is last + 1 (not a database sequence, so a rolled-back
transaction leaves no gap); both are read and written in the appender's transaction
while no other appender can run:

- PostgreSQL: ``pg_advisory_xact_lock(AUDIT_CHAIN_LOCK_KEY)`` before reading the tail. It
  is held until commit or rollback, and the tail is read after the lock is granted, so it
  sees the previous holder's committed entry. Both happen in one round trip:
  ``audit_log_locked_tail()`` (migration ``0016``, D68) takes the lock and then reads the
  tail with a fresh snapshot (a ``VOLATILE`` function). The lock serialises every
  auditing transaction from the append to its end, so use cases ``stage`` their entries
  and the unit of work writes them in ``commit()`` (``flush``), just before the COMMIT:
  the lock is held for one INSERT of every staged entry and the commit, never while the
  use case's other statements run (D50).
- SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (see ``database.py``), so the
  transaction already holds SQLite's single write lock when it reads the tail.

Either way, the primary key on ``sequence`` and the unique ``previous_hash`` and
``entry_hash`` make a forked chain impossible even if the lock were bypassed.

The chain is one for every country, but on PostgreSQL row-level security shows a
transaction only the entries of its own countries (D22). The appender therefore reads the
tail through ``audit_log_tail()``, a ``SECURITY DEFINER`` function (migration
``0006_row_level_security``) that returns only the last sequence and hash whatever the
scope; the insert itself is allowed for any country once a scope is bound. The
``SqlAlchemyAuditReader`` (``audit-verify``) reads the whole chain: it binds every country.

Reading is defensive: rows are read without SQLAlchemy's JSON and datetime processing and
mapped by hand, so a row tampered into something that is not an entry becomes an
``UnreadableAuditEntry`` for the verifier instead of an exception.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import Executable, Row, Select, Text, and_, bindparam, insert, or_, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from adapters.persistence.prepared import PreparedRead
from adapters.persistence.tables import audit_log
from application.security.scope import ALL, scoped_to
from domain.audit import GENESIS_HASH, AuditDraft, AuditEntry, UnreadableAuditEntry, seal
from domain.shared import CountryCode, InvariantViolation
from domain.shared.ids import ActorId

AUDIT_CHAIN_LOCK_KEY: Final = 0x5355_4F53_4155_4454  # "SUOSAUDT": one chain, one lock (0016 locks it)
DEFAULT_BATCH_SIZE: Final = 1000
_INSERT: Final = insert(audit_log)

_STRING_COLUMNS: Final = (
    "actor_id",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "previous_hash",
    "entry_hash",
)


class SqlAlchemyAuditLog:
    """``AuditLog`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._staged: list[AuditDraft] = []

    async def append(self, draft: AuditDraft) -> AuditEntry:
        """Write ``draft`` now (after anything staged before it) and return its sealed entry."""
        self._staged.append(draft)
        return (await self.flush())[-1]

    def stage(self, draft: AuditDraft) -> None:
        """Keep ``draft`` for ``flush``, which the unit of work's ``commit()`` calls."""
        self._staged.append(draft)

    def discard(self) -> None:
        """Forget staged drafts (the unit of work rolls back)."""
        self._staged.clear()

    async def flush(self) -> list[AuditEntry]:
        """Seal every staged draft as the next links of the chain and insert them at once."""
        if not self._staged:
            return []
        drafts, self._staged = self._staged, []
        connection = await self._session.connection()
        # on PostgreSQL the chain's lock is taken by the same call, before the tail is read
        tail = (await connection.execute(_tail_query(connection.dialect.name))).first()
        sequence, previous = (0, GENESIS_HASH) if tail is None else (int(tail.sequence), str(tail.entry_hash))
        entries = []
        for draft in drafts:
            sequence += 1
            entry = seal(draft, sequence=sequence, previous_hash=previous)
            previous = entry.entry_hash
            entries.append(entry)
        rows = [entry_to_row(entry) for entry in entries]
        # one prepared INSERT, built and compiled once; several rows go in one executemany
        # (the driver sends them in one round trip)
        await connection.execute(_INSERT, rows)
        return entries

    async def entries(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[AuditEntry | UnreadableAuditEntry]:
        """The chain in sequence order, as this transaction sees it (staged drafts written first)."""
        await self.flush()
        after: Any = 0
        while True:
            rows = (await self._session.execute(_batch_query(after, batch_size))).all()
            for row in rows:
                yield row_to_entry(row)
            if len(rows) < batch_size:
                return
            after = rows[-1].sequence

    async def for_targets(self, country: CountryCode, targets: Sequence[tuple[str, str]]) -> list[AuditEntry]:
        """Entries about any of ``targets`` in this country, by sequence; staged drafts are
        not flushed for it (no chain lock taken), unreadable rows are left out."""
        if not targets:
            return []
        distinct = sorted(set(targets))
        parameters: dict[str, Any] = {}
        for n, (kind, ident) in enumerate(distinct):
            parameters.update({f"w_country_{n}": country.value, f"w_type_{n}": kind, f"w_id_{n}": ident})
        connection = await self._session.connection()
        rows = await _about_targets(len(distinct)).rows(connection, parameters)
        return [entry for entry in map(row_to_entry, rows) if isinstance(entry, AuditEntry)]


@lru_cache(maxsize=32)
def _about_targets(count: int) -> PreparedRead:
    """The entries about ``count`` targets, built once per count (D150). The country is in
    every branch of the OR: each is one lookup in the (country, target) index, which SQLite
    does not find with the country outside the OR (D148)."""
    a = audit_log.c
    about = or_(
        *(
            and_(
                a.country_code == bindparam(f"w_country_{n}"),
                a.target_type == bindparam(f"w_type_{n}"),
                a.target_id == bindparam(f"w_id_{n}"),
            )
            for n in range(count)
        )
    )
    return PreparedRead(_raw_select().where(about).order_by(a.sequence))


class SqlAlchemyAuditReader:
    """``AuditReader`` port outside any unit of work: each batch is its own short read."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def entries(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[AuditEntry | UnreadableAuditEntry]:
        after: Any = 0
        while True:
            with scoped_to(ALL):  # the whole chain, whoever asks (the verifier is the system)
                async with self._engine.connect() as connection:
                    rows = await _fetch(connection, after, batch_size)
            for row in rows:
                yield row_to_entry(row)
            if len(rows) < batch_size:
                return
            after = rows[-1].sequence


_LOCKED_TAIL: Final = text("SELECT sequence, entry_hash FROM audit_log_locked_tail()")
_TAIL: Final = (
    select(audit_log.c.sequence, audit_log.c.entry_hash).order_by(audit_log.c.sequence.desc()).limit(1)
)


def _tail_query(dialect: str) -> Executable:
    """The chain's last (sequence, entry_hash): on PostgreSQL past the country scope, once
    the chain's lock (``AUDIT_CHAIN_LOCK_KEY``, inside the function) is held."""
    return _LOCKED_TAIL if dialect == "postgresql" else _TAIL


async def _fetch(connection: AsyncConnection, after: Any, batch_size: int) -> list[Row[Any]]:
    return list((await connection.execute(_batch_query(after, batch_size))).all())


def _batch_query(after: Any, batch_size: int) -> Select[Any]:
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    return _raw_select().where(audit_log.c.sequence > after).order_by(audit_log.c.sequence).limit(batch_size)


def _raw_select() -> Select[Any]:
    """Every column, the JSON and datetime ones as raw text (``row_to_entry`` maps them)."""
    raw = [
        type_coerce(column, Text()).label(column.name)
        if column.name in {"before_state", "after_state", "occurred_at"}
        else column
        for column in audit_log.columns
    ]
    return select(*raw)


def entry_to_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "sequence": entry.sequence,
        "country_code": entry.country.value,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before_state": entry.before,
        "after_state": entry.after,
        "request_id": entry.request_id,
        "occurred_at": entry.occurred_at,
        "previous_hash": entry.previous_hash,
        "entry_hash": entry.entry_hash,
    }


def row_to_entry(row: Row[Any] | Mapping[str, Any]) -> AuditEntry | UnreadableAuditEntry:
    """Map a raw row (or its mapping) by hand; anything that is not what was written becomes
    unreadable."""
    values: Mapping[Any, Any] = row._mapping if isinstance(row, Row) else row
    sequence = values["sequence"]
    if type(sequence) is not int:
        return UnreadableAuditEntry(None, f"sequence {sequence!r} is not an integer")
    try:
        for name in _STRING_COLUMNS:
            if not isinstance(values[name], str):
                raise TypeError(f"{name} is {type(values[name]).__name__}, not text")
        return AuditEntry(
            sequence=sequence,
            actor_id=ActorId(values["actor_id"]),
            actor_role=values["actor_role"],
            country=CountryCode(values["country_code"]),
            action=values["action"],
            target_type=values["target_type"],
            target_id=values["target_id"],
            before=_json_object(values["before_state"], "before"),
            after=_json_object(values["after_state"], "after"),
            request_id=values["request_id"],
            occurred_at=_utc(values["occurred_at"]),
            previous_hash=values["previous_hash"],
            entry_hash=values["entry_hash"],
        )
    except (InvariantViolation, ValueError, TypeError) as error:
        return UnreadableAuditEntry(sequence, str(error))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(raw: object, field: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    parsed = json.loads(raw, parse_constant=_refuse_constant) if isinstance(raw, str) else raw
    if parsed is None:
        return None
    if not isinstance(parsed, dict):
        raise TypeError(f"{field} is {type(parsed).__name__}, not a JSON object")
    return parsed


def _utc(raw: object) -> datetime:
    moment = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    if not isinstance(moment, datetime):
        raise TypeError(f"occurred_at is {type(raw).__name__}, not a timestamp")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
