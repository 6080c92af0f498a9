"""``provider_circuits`` on SQLite and PostgreSQL: compare-and-set, country scope, and one
half-open trial however many workers race for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.integrations.breakers import CircuitBreakerGate
from application.security.scope import scoped_to
from domain.integrations import BreakerPolicy, Circuit, CircuitState, Verdict
from domain.shared import CountryCode
from tests.fakes.time_and_ids import FixedClock, SequentialIds

MX, CO = CountryCode("MX"), CountryCode("CO")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=2, open_for=timedelta(seconds=30), trial_timeout=timedelta(seconds=10)
)

UowFactory = Callable[[], SqlAlchemyUnitOfWork]


async def stored(uow_factory: UowFactory, country: CountryCode, provider: str) -> Circuit:
    async with uow_factory() as uow:
        return await uow.circuits.get(country, provider)


async def test_replace_is_a_compare_and_set(uow_factory: UowFactory) -> None:
    closed = await stored(uow_factory, MX, "payments")
    assert closed == Circuit.closed(MX, "payments")  # no row: closed, version 0
    assert closed.version == 0
    async with uow_factory() as uow:
        assert await uow.circuits.in_country(MX) == []
    failing = closed.record_failure(POLICY, now=T0, caller="w")
    async with uow_factory() as uow:
        assert await uow.circuits.replace(closed, failing)
        await uow.commit()
    first = await stored(uow_factory, MX, "payments")
    assert (first.consecutive_failures, first.version, first.updated_at) == (1, 1, T0)

    # a second writer that read the never-stored circuit loses
    async with uow_factory() as uow:
        assert not await uow.circuits.replace(closed, failing)
    opened = first.record_failure(POLICY, now=T0 + timedelta(seconds=1), caller="w")
    async with uow_factory() as uow:
        assert await uow.circuits.replace(first, opened)
        await uow.commit()
    # a writer holding the stale version 1 loses too
    async with uow_factory() as uow:
        assert not await uow.circuits.replace(first, first.record_success(POLICY, now=T0, caller="w"))
    now_stored = await stored(uow_factory, MX, "payments")
    assert now_stored.state is CircuitState.OPEN
    assert now_stored.opened_at == T0 + timedelta(seconds=1)
    assert now_stored.version == 2

    # every field round-trips, to the microsecond
    closed = await stored(uow_factory, CO, "notifications")
    half_open = Circuit(
        CO,
        "notifications",
        state=CircuitState.HALF_OPEN,
        consecutive_failures=7,
        opened_at=T0,
        trial_owner="host-1-3/job:9/token:2",
        trial_until=T0 + timedelta(seconds=10, microseconds=123_456),
        updated_at=T0 + timedelta(microseconds=1),
    )
    async with uow_factory() as uow:
        assert await uow.circuits.replace(closed, half_open)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.circuits.in_country(CO) == [replace(half_open, version=1)]
        everywhere = await uow.circuits.everywhere()
    assert [(c.country, c.provider) for c in everywhere] == [(CO, "notifications"), (MX, "payments")]


async def test_a_country_scope_hides_other_countries_circuits(
    uow_factory: UowFactory, backend: str, engine: AsyncEngine
) -> None:
    for country in (MX, CO):
        closed = await stored(uow_factory, country, "payments")
        async with uow_factory() as uow:
            assert await uow.circuits.replace(closed, closed.record_failure(POLICY, now=T0, caller="w"))
            await uow.commit()
    with scoped_to(frozenset({MX})):
        async with uow_factory() as uow:
            seen = [c.country for c in await uow.circuits.everywhere()]
    if backend == "postgresql":
        assert seen == [MX]  # row-level security: the other country is not there
        async with engine.connect() as connection:
            forced = await connection.scalar(
                text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'provider_circuits'")
            )
        assert forced is True
    else:
        assert sorted(seen) == [CO, MX]  # SQLite has no second wall; repositories filter by country


@pytest.mark.parametrize("racers", [16])
async def test_racing_workers_take_exactly_one_half_open_trial(
    uow_factory: UowFactory, backend: str, racers: int
) -> None:
    clock = FixedClock(T0)
    gate = CircuitBreakerGate(Services(uow=uow_factory, clock=clock, ids=SequentialIds()), POLICY)
    for _ in range(POLICY.failure_threshold):
        await gate.failed(MX, "payments", caller="w")
    assert (await stored(uow_factory, MX, "payments")).state is CircuitState.OPEN

    clock.advance(timedelta(seconds=31))
    admissions = await asyncio.gather(*(gate.admit(MX, "payments", caller=f"w{i}") for i in range(racers)))
    trials = [i for i, a in enumerate(admissions) if a.verdict is Verdict.TRIAL]
    assert len(trials) == 1, [a.verdict for a in admissions]
    waiting = [a for a in admissions if a.verdict is Verdict.WAIT]
    assert len(waiting) == racers - 1
    assert {a.retry_at for a in waiting} == {clock.now() + POLICY.trial_timeout}

    winner = f"w{trials[0]}"
    circuit = await stored(uow_factory, MX, "payments")
    assert (circuit.state, circuit.trial_owner) == (CircuitState.HALF_OPEN, winner)
    # a loser's late answer decides nothing; the winner's success closes it
    await gate.succeeded(MX, "payments", caller="w99")
    assert (await stored(uow_factory, MX, "payments")).state is CircuitState.HALF_OPEN
    closed = await gate.succeeded(MX, "payments", caller=winner)
    assert closed.state is CircuitState.CLOSED
    assert (await stored(uow_factory, MX, "payments")).state is CircuitState.CLOSED
