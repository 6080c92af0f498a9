"""Idempotency keys on both databases: every reservation state, lease takeover, and
``run_idempotent`` end to end (replay, reuse with other parameters, failures, exceptions,
and — on PostgreSQL — 50 concurrent identical requests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import pytest
from returns.result import Failure, Result, Success
from sqlalchemy import Table, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.tables import audit_log, idempotency_keys
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from application.ports.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyLost,
    IdempotencyKeyReused,
    IdempotencyKeys,
    IdempotencyScope,
    InvalidIdempotencyKey,
    JsonObject,
    Reservation,
    ReservationState,
)
from application.ports.outbox import Outbox
from application.shared.idempotent import IdempotencyFailure, fingerprint, run_idempotent
from domain.audit import AuditDraft
from domain.shared import CountryCode, DomainError
from domain.shared.ids import ActorId
from tests.fakes.time_and_ids import FixedClock

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

MX = CountryCode("MX")
CO = CountryCode("CO")
LEASE = timedelta(seconds=60)
SCOPE = IdempotencyScope(MX, "agent_1", "order.refund", "key-1")
FP_A = fingerprint({"order_id": "ord_1", "amount": 100})
FP_B = fingerprint({"order_id": "ord_1", "amount": 999})

postgres_only = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


async def reserve(
    uow_factory: UowFactory,
    clock: FixedClock,
    fp: str = FP_A,
    scope: IdempotencyScope = SCOPE,
) -> Reservation:
    async with uow_factory() as uow:
        reservation = await uow.idempotency.reserve(scope, fp, now=clock.now(), lease=LEASE)
        await uow.commit()
    return reservation


async def complete(
    uow_factory: UowFactory, clock: FixedClock, response: JsonObject, scope: IdempotencyScope = SCOPE
) -> None:
    async with uow_factory() as uow:
        await uow.idempotency.complete(scope, response, now=clock.now())
        await uow.commit()


async def release(uow_factory: UowFactory, scope: IdempotencyScope = SCOPE) -> None:
    async with uow_factory() as uow:
        await uow.idempotency.release(scope)
        await uow.commit()


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def key_state(engine: AsyncEngine, scope: IdempotencyScope = SCOPE) -> str | None:
    async with engine.connect() as connection:
        state = (
            await connection.execute(
                select(idempotency_keys.c.state).where(
                    idempotency_keys.c.country_code == scope.country.value,
                    idempotency_keys.c.actor_id == scope.actor_id,
                    idempotency_keys.c.operation == scope.operation,
                    idempotency_keys.c.key == scope.key,
                )
            )
        ).scalar_one_or_none()
    return None if state is None else str(state)


RESERVED = Reservation(ReservationState.RESERVED)
IN_FLIGHT = Reservation(ReservationState.CONFLICT_IN_FLIGHT)
PARAMETERS = Reservation(ReservationState.CONFLICT_PARAMETERS)


# --------------------------------------------------------------------------- the repository


async def test_the_unit_of_work_exposes_the_idempotency_and_outbox_ports(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        keys: IdempotencyKeys = uow.idempotency
        outbox: Outbox = uow.outbox
        assert keys is not None
        assert outbox is not None


async def test_a_new_key_is_reserved_in_flight(uow_factory: UowFactory, engine: AsyncEngine) -> None:
    clock = FixedClock()
    assert await reserve(uow_factory, clock) == RESERVED
    assert await key_state(engine) == "IN_FLIGHT"


async def test_an_in_flight_key_is_a_conflict_for_the_same_request_and_for_another(
    uow_factory: UowFactory,
) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)
    clock.advance(timedelta(seconds=30))
    assert await reserve(uow_factory, clock) == IN_FLIGHT
    assert await reserve(uow_factory, clock, FP_B) == PARAMETERS


async def test_a_completed_key_replays_its_response_and_refuses_other_parameters(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)
    await complete(uow_factory, clock, {"refund_id": "re_1", "amount": 100, "nested": {"ok": True}})
    assert await key_state(engine) == "COMPLETED"

    replay = await reserve(uow_factory, clock)
    assert replay == Reservation(
        ReservationState.REPLAY, {"refund_id": "re_1", "amount": 100, "nested": {"ok": True}}
    )
    assert await reserve(uow_factory, clock, FP_B) == PARAMETERS

    clock.advance(timedelta(days=7))  # a completed key has no lease to expire
    assert (await reserve(uow_factory, clock)).state is ReservationState.REPLAY


async def test_an_expired_lease_is_taken_over_and_renewed(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)

    clock.advance(LEASE)  # locked_until == now: the lease still runs
    assert await reserve(uow_factory, clock) == IN_FLIGHT

    clock.advance(timedelta(microseconds=1))
    assert await reserve(uow_factory, clock, FP_B) == PARAMETERS  # expired, but another request
    assert await reserve(uow_factory, clock) == RESERVED  # taken over
    assert await reserve(uow_factory, clock) == IN_FLIGHT  # with a new lease

    clock.advance(LEASE + timedelta(seconds=1))
    assert await reserve(uow_factory, clock) == RESERVED  # and again once that one expires


async def test_a_released_key_stores_nothing_and_can_be_used_again(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)
    await release(uow_factory)
    assert await key_state(engine) is None
    assert await reserve(uow_factory, clock, FP_B) == RESERVED  # even with other parameters


async def test_release_never_forgets_a_completed_key(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)
    await complete(uow_factory, clock, {"ok": True})
    await release(uow_factory)
    assert await reserve(uow_factory, clock) == Reservation(ReservationState.REPLAY, {"ok": True})


async def test_keys_are_scoped_by_country_actor_and_operation(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)
    for scope in (
        IdempotencyScope(CO, SCOPE.actor_id, SCOPE.operation, SCOPE.key),
        IdempotencyScope(MX, "agent_2", SCOPE.operation, SCOPE.key),
        IdempotencyScope(MX, SCOPE.actor_id, "dispute.decide", SCOPE.key),
    ):
        assert await reserve(uow_factory, clock, FP_B, scope) == RESERVED


async def test_a_reservation_that_is_rolled_back_leaves_no_key(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    async with uow_factory() as uow:
        assert await uow.idempotency.reserve(SCOPE, FP_A, now=clock.now(), lease=LEASE) == RESERVED
    assert await key_state(engine) is None
    assert await reserve(uow_factory, clock) == RESERVED


async def test_completing_a_key_that_was_taken_over_and_completed_is_refused(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    await reserve(uow_factory, clock)  # the first request stalls past its lease...
    clock.advance(LEASE * 2)
    assert await reserve(uow_factory, clock) == RESERVED  # ...the retry takes over
    await complete(uow_factory, clock, {"by": "retry"})

    with pytest.raises(IdempotencyKeyLost):  # the stalled one must not record a second result
        await complete(uow_factory, clock, {"by": "stalled"})
    assert await reserve(uow_factory, clock) == Reservation(ReservationState.REPLAY, {"by": "retry"})

    await release(uow_factory, IdempotencyScope(MX, "agent_9", "x", "never-reserved"))
    with pytest.raises(IdempotencyKeyLost):
        await complete(uow_factory, clock, {}, IdempotencyScope(MX, "agent_9", "x", "never-reserved"))
    assert await count(engine, idempotency_keys) == 1


# --------------------------------------------------------------------------- run_idempotent


@dataclass(frozen=True, slots=True)
class Refund:
    refund_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class RefundRefused(DomainError):
    code: ClassVar[str] = "REFUND_REFUSED"
    reason: str


def encode(refund: Refund) -> JsonObject:
    return {"refund_id": refund.refund_id, "amount": refund.amount}


def decode(raw: JsonObject) -> Refund:
    return Refund(str(raw["refund_id"]), int(raw["amount"]))


class RefundCommand:
    """A trivial command: records an audit entry and answers with a new refund id."""

    def __init__(self, clock: FixedClock, *, amount: int = 100, pause: float = 0.0) -> None:
        self.clock = clock
        self.amount = amount
        self.pause = pause
        self.runs = 0
        self.refuse = False
        self.explode = False

    @property
    def request(self) -> dict[str, object]:
        return {"order_id": "ord_1", "amount": self.amount}

    async def __call__(self, uow: SqlAlchemyUnitOfWork) -> Result[Refund, RefundRefused]:
        self.runs += 1
        refund = Refund(f"re_{self.runs}", self.amount)
        await uow.audit.append(
            AuditDraft(
                actor_id=ActorId(SCOPE.actor_id),
                actor_role="AGENT",
                country=SCOPE.country,
                action="order.refund",
                target_type="order",
                target_id="ord_1",
                request_id=f"req_{self.runs}",
                occurred_at=self.clock.now(),
                after=encode(refund),
            )
        )
        if self.pause:
            await asyncio.sleep(self.pause)
        if self.explode:
            raise RuntimeError("the provider's SDK blew up")
        if self.refuse:
            return Failure(RefundRefused("amount above the order total"))
        return Success(refund)

    async def run(
        self, uow_factory: UowFactory, scope: IdempotencyScope = SCOPE
    ) -> Result[Refund, RefundRefused | IdempotencyFailure]:
        return await run_idempotent(
            uow_factory=uow_factory,
            clock=self.clock,
            scope=scope,
            request=self.request,
            command=self,
            encode=encode,
            decode=decode,
            lease=LEASE,
        )


async def test_a_replay_returns_the_stored_response_and_writes_nothing_more(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    command = RefundCommand(FixedClock())
    first = await command.run(uow_factory)
    assert first == Success(Refund("re_1", 100))
    assert await key_state(engine) == "COMPLETED"

    command.clock.advance(timedelta(hours=1))
    assert await command.run(uow_factory) == first
    assert await command.run(uow_factory) == first
    assert command.runs == 1
    assert await count(engine, audit_log) == 1


async def test_the_same_key_with_another_request_is_refused(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    assert isinstance(await RefundCommand(clock).run(uow_factory), Success)
    other = RefundCommand(clock, amount=999)
    assert await other.run(uow_factory) == Failure(IdempotencyKeyReused(SCOPE.key))
    assert other.runs == 0
    assert await count(engine, audit_log) == 1


async def test_a_failed_command_stores_nothing_and_the_key_can_be_used_again(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    command = RefundCommand(FixedClock())
    command.refuse = True
    assert await command.run(uow_factory) == Failure(RefundRefused("amount above the order total"))
    assert await key_state(engine) is None
    assert await count(engine, audit_log) == 0  # its audit entry was rolled back with it

    fixed = RefundCommand(command.clock, amount=50)  # the caller corrects the request, same key
    assert await fixed.run(uow_factory) == Success(Refund("re_1", 50))
    assert await count(engine, audit_log) == 1


async def test_a_command_that_raises_leaves_no_key(uow_factory: UowFactory, engine: AsyncEngine) -> None:
    command = RefundCommand(FixedClock())
    command.explode = True
    with pytest.raises(RuntimeError, match="blew up"):
        await command.run(uow_factory)
    assert await key_state(engine) is None
    assert await count(engine, audit_log) == 0

    command.explode = False
    assert await command.run(uow_factory) == Success(Refund("re_2", 100))
    assert await count(engine, audit_log) == 1


async def test_a_request_in_flight_is_refused_until_its_lease_expires(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    command = RefundCommand(clock)
    # A first attempt reserved the key and crashed before committing anything.
    await reserve(uow_factory, clock, fingerprint(command.request))

    assert await command.run(uow_factory) == Failure(IdempotencyKeyInFlight(SCOPE.key))
    assert command.runs == 0

    clock.advance(LEASE + timedelta(seconds=1))
    assert await command.run(uow_factory) == Success(Refund("re_1", 100))
    assert await command.run(uow_factory) == Success(Refund("re_1", 100))
    assert command.runs == 1
    assert await count(engine, audit_log) == 1


async def test_an_invalid_key_is_refused_before_anything_is_stored(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    command = RefundCommand(FixedClock())
    for key in ("", " padded ", "x" * 256, "line\nbreak"):
        scope = IdempotencyScope(MX, "agent_1", "order.refund", key)
        assert await command.run(uow_factory, scope) == Failure(InvalidIdempotencyKey())
    assert command.runs == 0
    assert await count(engine, idempotency_keys) == 0


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


async def all_at_once(command: RefundCommand, factory: UowFactory, requests: int) -> list[object]:
    """``requests`` identical calls released together (after all of them are waiting)."""
    start = asyncio.Event()

    async def one() -> object:
        await start.wait()
        return await command.run(factory)

    tasks = [asyncio.create_task(one()) for _ in range(requests)]
    await asyncio.sleep(0.05)
    start.set()
    return list(await asyncio.gather(*tasks))


@postgres_only
async def test_fifty_concurrent_identical_requests_run_the_command_once(migrated_url: str) -> None:
    engine = create_engine(migrated_url, pool_size=60, max_overflow=0)
    try:
        factory = unit_of_work_factory(create_session_factory(engine))
        command = RefundCommand(FixedClock(), pause=0.2)  # stays in flight while the others arrive
        results = await all_at_once(command, factory, 50)

        assert command.runs == 1
        winner = Success(Refund("re_1", 100))
        in_flight = Failure(IdempotencyKeyInFlight(SCOPE.key))
        assert all(result in (winner, in_flight) for result in results), results
        assert winner in results
        assert await count(engine, audit_log) == 1
        assert await key_state(engine) == "COMPLETED"

        # Once it finished, every retry is a replay.
        retries = await asyncio.gather(*(command.run(factory) for _ in range(20)))
        assert retries == [winner] * 20
        assert command.runs == 1
    finally:
        await engine.dispose()


@postgres_only
async def test_concurrent_takeovers_of_an_expired_key_have_one_winner(migrated_url: str) -> None:
    engine = create_engine(migrated_url, pool_size=30, max_overflow=0)
    try:
        factory = unit_of_work_factory(create_session_factory(engine))
        clock = FixedClock()
        await reserve(factory, clock)
        clock.advance(LEASE * 2)
        reservations = await asyncio.gather(*(reserve(factory, clock) for _ in range(25)))
        assert reservations.count(RESERVED) == 1
        assert reservations.count(IN_FLIGHT) == 24
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- one transaction (D60)


async def test_a_new_key_and_its_command_commit_in_one_transaction(
    uow_factory: UowFactory, app_engine: AsyncEngine, engine: AsyncEngine, backend: str
) -> None:
    """The key is reserved inside the command's own transaction: one COMMIT a call, none for a
    replay or a refused request, and (PostgreSQL; SQLite's write lock keeps other readers of
    the key waiting) the key is never seen in flight by another connection."""
    commits: list[int] = []

    def count_commit(*_: object) -> None:
        commits.append(1)

    event.listen(app_engine.sync_engine, "commit", count_commit)
    try:
        command = RefundCommand(FixedClock())
        observed: list[str | None] = []
        original = command.__call__

        async def observing(uow: SqlAlchemyUnitOfWork) -> Result[Refund, RefundRefused]:
            if backend == "postgresql":
                observed.append(await key_state(engine))  # another connection: nothing committed
            return await original(uow)

        result = await run_idempotent(
            uow_factory=uow_factory,
            clock=command.clock,
            scope=SCOPE,
            request=command.request,
            command=observing,
            encode=encode,
            decode=decode,
        )
        assert result == Success(Refund("re_1", 100))
        assert observed == ([None] if backend == "postgresql" else [])
        assert len(commits) == 1
        assert await key_state(engine) == "COMPLETED"

        assert await command.run(uow_factory) == result  # a replay commits nothing
        assert await RefundCommand(command.clock, amount=7).run(uow_factory) == Failure(
            IdempotencyKeyReused(SCOPE.key)
        )
        assert len(commits) == 1
    finally:
        event.remove(app_engine.sync_engine, "commit", count_commit)


@postgres_only
async def test_a_concurrent_request_with_the_same_key_waits_and_replays(migrated_url: str) -> None:
    """D60: no in-flight key is ever committed, so a concurrent identical request waits for
    the first transaction at the key's unique index and then replays its response; if the
    first fails, the waiting one runs the command itself."""
    engine = create_engine(migrated_url, pool_size=60, max_overflow=0)
    try:
        factory = unit_of_work_factory(create_session_factory(engine))
        command = RefundCommand(FixedClock(), pause=0.2)
        results = await all_at_once(command, factory, 50)
        assert command.runs == 1
        assert results == [Success(Refund("re_1", 100))] * 50
        assert await count(engine, audit_log) == 1

        other = IdempotencyScope(MX, "agent_1", "order.refund", "key-2")
        failing = RefundCommand(command.clock, pause=0.2)
        failing.refuse = True
        first = asyncio.create_task(failing.run(factory, other))
        await asyncio.sleep(0.05)  # the first holds the key (uncommitted) while it pauses
        succeeding = RefundCommand(command.clock)
        second = await succeeding.run(factory, other)
        assert await first == Failure(RefundRefused("amount above the order total"))
        assert second == Success(Refund("re_1", 100))
        assert (failing.runs, succeeding.runs) == (1, 1)
        assert await key_state(engine, other) == "COMPLETED"
    finally:
        await engine.dispose()
