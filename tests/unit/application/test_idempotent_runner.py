"""run_idempotent against an in-memory key store: Stripe's semantics, and a lost lease."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast

from returns.result import Failure, Result, Success

from application.ports.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyLost,
    IdempotencyKeyReused,
    IdempotencyScope,
    InvalidIdempotencyKey,
    JsonObject,
    Reservation,
    ReservationState,
)
from application.shared.idempotent import IdempotentUnitOfWork, run_idempotent
from domain.shared import CountryCode, InvalidInput
from tests.fakes.time_and_ids import FixedClock

SCOPE = IdempotencyScope(CountryCode("MX"), "agent-1", "op", "key-1")


@dataclass
class Row:
    fingerprint: str
    response: JsonObject | None = None


@dataclass
class MemoryKeys:
    rows: dict[IdempotencyScope, Row] = field(default_factory=dict)
    steal_on_complete: bool = False

    async def reserve(
        self, scope: IdempotencyScope, fingerprint: str, *, now: datetime, lease: timedelta
    ) -> Reservation:
        row = self.rows.get(scope)
        if row is None:
            self.rows[scope] = Row(fingerprint)
            return Reservation(ReservationState.RESERVED)
        if row.fingerprint != fingerprint:
            return Reservation(ReservationState.CONFLICT_PARAMETERS)
        if row.response is None:
            return Reservation(ReservationState.CONFLICT_IN_FLIGHT)
        return Reservation(ReservationState.REPLAY, row.response)

    async def complete(self, scope: IdempotencyScope, response: JsonObject, *, now: datetime) -> None:
        if self.steal_on_complete:
            raise IdempotencyKeyLost(scope.key)
        self.rows[scope].response = response

    async def release(self, scope: IdempotencyScope) -> None:
        self.rows.pop(scope, None)


class Uow:
    """One transaction over ``MemoryKeys``: leaving it without ``commit`` restores the rows."""

    def __init__(self, keys: MemoryKeys) -> None:
        self.idempotency = keys
        self.audit: Any = None
        self.commits = 0
        self._before: dict[IdempotencyScope, Row] = {}

    async def __aenter__(self) -> Self:
        self._before = {scope: replace(row) for scope, row in self.idempotency.rows.items()}
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self.commits += 1
        self._before = {scope: replace(row) for scope, row in self.idempotency.rows.items()}

    async def rollback(self) -> None:
        self.idempotency.rows = dict(self._before)


async def run(
    keys: MemoryKeys, request: dict[str, Any], result: Result[int, InvalidInput], calls: list[int]
) -> Result[int, Any]:
    async def command(_: IdempotentUnitOfWork) -> Result[int, InvalidInput]:
        calls.append(1)
        return result

    return await run_idempotent(
        uow_factory=lambda: cast(IdempotentUnitOfWork, Uow(keys)),  # only .idempotency is used
        clock=FixedClock(),
        scope=SCOPE,
        request=request,
        command=command,
        encode=lambda value: {"value": value},
        decode=lambda data: int(data["value"]),
    )


async def test_replay_conflict_and_failed_validation() -> None:
    keys, calls = MemoryKeys(), list[int]()
    assert await run(keys, {"a": 1}, Success(7), calls) == Success(7)
    assert await run(keys, {"a": 1}, Success(99), calls) == Success(7)  # replayed, not run
    assert len(calls) == 1
    assert await run(keys, {"a": 2}, Success(7), calls) == Failure(IdempotencyKeyReused("key-1"))

    fresh = MemoryKeys()
    bad: Result[int, InvalidInput] = Failure(InvalidInput("x", "bad"))
    assert await run(fresh, {"a": 1}, bad, calls) == bad
    assert fresh.rows == {}  # nothing stored: the key can be used again
    assert await run(fresh, {"a": 1}, Success(3), calls) == Success(3)


async def test_a_lost_lease_is_reported_as_in_flight() -> None:
    keys = MemoryKeys(steal_on_complete=True)
    assert await run(keys, {"a": 1}, Success(7), []) == Failure(IdempotencyKeyInFlight("key-1"))


async def test_invalid_keys_are_refused_before_anything_runs() -> None:
    calls: list[int] = []
    for key in ["", " padded", "x" * 256, "tab\tkey"]:

        async def command(_: IdempotentUnitOfWork) -> Result[int, InvalidInput]:
            calls.append(1)
            return Success(1)

        result = await run_idempotent(
            uow_factory=lambda: cast(IdempotentUnitOfWork, Uow(MemoryKeys())),
            clock=FixedClock(),
            scope=IdempotencyScope(CountryCode("MX"), "a", "op", key),
            request={},
            command=command,
            encode=lambda v: {"v": v},
            decode=lambda d: int(d["v"]),
        )
        assert result == Failure(InvalidIdempotencyKey())
    assert calls == []


async def test_the_key_and_the_command_share_one_transaction() -> None:
    """D60: one unit of work per call; the command runs in the one that reserved the key,
    which commits once on success and never on a failure or a replay."""
    keys = MemoryKeys()
    made: list[Uow] = []
    seen_in_command: list[object] = []

    def factory() -> IdempotentUnitOfWork:
        made.append(Uow(keys))
        return cast(IdempotentUnitOfWork, made[-1])

    async def call(result: Result[int, InvalidInput]) -> Result[int, Any]:
        async def command(uow: IdempotentUnitOfWork) -> Result[int, InvalidInput]:
            seen_in_command.append(uow)
            assert keys.rows[SCOPE].response is None  # reserved, in flight, in this transaction
            return result

        return await run_idempotent(
            uow_factory=factory,
            clock=FixedClock(),
            scope=SCOPE,
            request={"a": 1},
            command=command,
            encode=lambda value: {"value": value},
            decode=lambda data: int(data["value"]),
        )

    assert await call(Failure(InvalidInput("x", "bad"))) == Failure(InvalidInput("x", "bad"))
    assert [u.commits for u in made] == [0] and keys.rows == {}
    assert await call(Success(5)) == Success(5)
    assert seen_in_command == made  # each command ran in its call's only unit of work
    assert [u.commits for u in made] == [0, 1]
    assert await call(Success(6)) == Success(5)  # a replay: read, nothing run or committed
    assert [u.commits for u in made] == [0, 1, 0] and len(seen_in_command) == 2
