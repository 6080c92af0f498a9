"""Idempotency keys on SQLAlchemy Core (Stripe's semantics; see ``application/ports/idempotency.py``).

Reserving never checks-then-inserts. The key is inserted IN_FLIGHT with ``INSERT ... ON
CONFLICT DO NOTHING``; only when that inserts nothing is the existing row read, and then:

- a different fingerprint is ``CONFLICT_PARAMETERS``, whatever the row's state;
- COMPLETED with the same fingerprint is ``REPLAY`` with the stored response;
- IN_FLIGHT with the same fingerprint and a lease still running is ``CONFLICT_IN_FLIGHT``;
- IN_FLIGHT with the same fingerprint and an expired lease (its owner crashed before
  committing anything) is taken over by a conditional ``UPDATE ... WHERE locked_until <
  :now``: if it changed the row this caller holds the key (``RESERVED``, with a new
  lease); otherwise someone else took it over or finished first and the row is read again.

On PostgreSQL an insert that conflicts with a key inserted by a transaction still in
progress waits for it (``run_idempotent`` reserves inside the command's own transaction,
D60, so a concurrent identical request waits for that whole transaction and then finds the
key completed, or gone if it rolled back), and at READ COMMITTED the row read afterwards is
the committed one; the takeover's
``UPDATE`` re-checks its condition on the newest row version, so two callers can never
both take one key over. On SQLite every writer holds the database's write lock from
``BEGIN IMMEDIATE`` (see ``database.py``), which serialises all of this.

``complete`` only turns an IN_FLIGHT row into COMPLETED: if the row is gone or already
completed (the lease expired and another caller took the key over and finished first),
it raises :class:`IdempotencyKeyLost` so the command's transaction rolls back instead of
running a second time in effect. ``release`` deletes the IN_FLIGHT row only. ``expire``
deletes the oldest keys past the retention (D71), on ``ix_idempotency_keys_created_at``.

Every statement is built once, at import, with bound parameters only (D60): executing one
costs a parameter dict and a compiled-cache hit, not a new construct, its cache key and
its column coercions per call. The INSERT exists once per dialect (``ON CONFLICT`` is
dialect-specific).

Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, Select, bindparam, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adapters.persistence.row_level_security import sees_nothing, within_scope
from adapters.persistence.tables import idempotency_keys
from application.ports.idempotency import (
    IdempotencyKeyLost,
    IdempotencyScope,
    JsonObject,
    Reservation,
    ReservationState,
)
from application.security.scope import CountryScope, current_scope

IN_FLIGHT: Final = "IN_FLIGHT"
COMPLETED: Final = "COMPLETED"
_MAX_ROUNDS: Final = 5  # a row can only change under us a few times before it settles


class SqlAlchemyIdempotencyKeys:
    """``IdempotencyKeys`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reserve(
        self, scope: IdempotencyScope, fingerprint: str, *, now: datetime, lease: timedelta
    ) -> Reservation:
        connection = await self._session.connection()
        locked_until = now + lease
        for _ in range(_MAX_ROUNDS):
            inserted = await connection.execute(
                _INSERT[connection.dialect.name],
                {
                    "country_code": scope.country.value,
                    "actor_id": scope.actor_id,
                    "operation": scope.operation,
                    "key": scope.key,
                    "fingerprint": fingerprint,
                    "state": IN_FLIGHT,
                    "response": None,
                    "locked_until": locked_until,
                    "created_at": now,
                    "completed_at": None,
                },
            )
            if inserted.rowcount == 1:
                return Reservation(ReservationState.RESERVED)

            row = await self._row(connection, scope)
            if row is None:
                continue  # released between our insert and our read: try again
            if row.fingerprint != fingerprint:
                return Reservation(ReservationState.CONFLICT_PARAMETERS)
            if row.state == COMPLETED:
                return Reservation(ReservationState.REPLAY, _response(row.response))
            if row.locked_until >= now:
                return Reservation(ReservationState.CONFLICT_IN_FLIGHT)

            taken = await connection.execute(
                _TAKE_OVER,
                {
                    **_key_params(scope),
                    "w_fingerprint": fingerprint,
                    "w_now": now,
                    "locked_until": locked_until,
                },
            )
            if taken.rowcount == 1:
                return Reservation(ReservationState.RESERVED)
            # Someone took it over, completed or released it first: look again.
        return Reservation(ReservationState.CONFLICT_IN_FLIGHT)

    async def complete(self, scope: IdempotencyScope, response: JsonObject, *, now: datetime) -> None:
        connection = await self._session.connection()
        result = await connection.execute(
            _COMPLETE, {**_key_params(scope), "state": COMPLETED, "response": response, "completed_at": now}
        )
        if result.rowcount != 1:
            raise IdempotencyKeyLost(
                f"idempotency key {scope.key!r} ({scope.operation}) is no longer in flight;"
                " its lease expired and another request took it over"
            )

    async def release(self, scope: IdempotencyScope) -> None:
        connection = await self._session.connection()
        await connection.execute(_RELEASE, _key_params(scope))

    async def expire(self, *, created_before: datetime, now: datetime, limit: int) -> int:
        scope = current_scope()
        if limit < 1 or sees_nothing(scope):
            return 0
        oldest = expired_keys_query(created_before=created_before, now=now, limit=limit, scope=scope)
        connection = await self._session.connection()
        deleted = await connection.execute(idempotency_keys.delete().where(_PRIMARY_KEY.in_(oldest)))
        return int(deleted.rowcount)

    @staticmethod
    async def _row(connection: AsyncConnection, scope: IdempotencyScope) -> Row[Any] | None:
        return (await connection.execute(_ROW, _key_params(scope))).first()


def expired_keys_query(
    *, created_before: datetime, now: datetime, limit: int, scope: CountryScope
) -> Select[Any]:
    """The keys ``expire`` deletes: made before ``created_before`` and not running (COMPLETED,
    or a lease that ended before ``now``), oldest first, at most ``limit``; a range of
    ``ix_idempotency_keys_created_at`` (D71)."""
    c = idempotency_keys.c
    query = (
        select(c.country_code, c.actor_id, c.operation, c.key)
        .where(c.created_at < created_before, or_(c.state == COMPLETED, c.locked_until < now))
        .order_by(c.created_at)
        .limit(limit)
    )
    return within_scope(query, c.country_code, scope)


def _key_params(scope: IdempotencyScope) -> dict[str, str]:
    return {
        "w_country": scope.country.value,
        "w_actor": scope.actor_id,
        "w_operation": scope.operation,
        "w_key": scope.key,
    }


# Built once (D60). The key's bound parameters are named ``w_*`` so that they never clash
# with the columns an UPDATE sets from the execution's parameters.
_KEY: Final[tuple[ColumnElement[bool], ...]] = (
    idempotency_keys.c.country_code == bindparam("w_country"),
    idempotency_keys.c.actor_id == bindparam("w_actor"),
    idempotency_keys.c.operation == bindparam("w_operation"),
    idempotency_keys.c.key == bindparam("w_key"),
)
_INDEX: Final = ["country_code", "actor_id", "operation", "key"]
_PRIMARY_KEY: Final = tuple_(*(idempotency_keys.c[name] for name in _INDEX))
_INSERT: Final[dict[str, postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert(idempotency_keys).on_conflict_do_nothing(index_elements=_INDEX),
    "sqlite": sqlite.insert(idempotency_keys).on_conflict_do_nothing(index_elements=_INDEX),
}
_ROW: Final = select(idempotency_keys).where(*_KEY)
_TAKE_OVER: Final = idempotency_keys.update().where(
    *_KEY,
    idempotency_keys.c.state == IN_FLIGHT,
    idempotency_keys.c.fingerprint == bindparam("w_fingerprint"),
    idempotency_keys.c.locked_until < bindparam("w_now"),
)
_COMPLETE: Final = idempotency_keys.update().where(*_KEY, idempotency_keys.c.state == IN_FLIGHT)
_RELEASE: Final = idempotency_keys.delete().where(*_KEY, idempotency_keys.c.state == IN_FLIGHT)


def _response(raw: object) -> JsonObject:
    if not isinstance(raw, dict):
        raise TypeError(f"a completed idempotency key stores a JSON object, not {type(raw).__name__}")
    return raw
