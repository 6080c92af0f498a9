"""Idempotency keys expire (D71) on SQLite and PostgreSQL: the scheduler's task deletes the
keys older than the retention that are no longer running, oldest first, a batch per
transaction; a key still in flight is kept whatever its age; a deleted key is a new key;
the bound scope is respected; and the oldest keys are found on their index."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.idempotency import expired_keys_query
from adapters.persistence.tables import idempotency_keys
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.scheduler import run_tick
from application.context import Services
from application.ports.idempotency import IdempotencyScope, ReservationState
from application.security.scope import ALL, scoped_to
from application.shared.idempotency_expiry import DEFAULT_RETENTION, ExpireIdempotencyKeys
from application.shared.idempotent import fingerprint
from domain.shared import CountryCode
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

MX, CO = CountryCode("MX"), CountryCode("CO")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
FP = fingerprint({"dispute_id": "d1", "outcome": "FULL_REFUND"})


def scope(key: str, country: CountryCode = MX) -> IdempotencyScope:
    return IdempotencyScope(country, "agent_1", "dispute.decide", key)


async def make_key(
    uow_factory: UowFactory,
    key: str,
    at: datetime,
    *,
    completed: bool,
    lease: timedelta = LEASE,
    **kw: CountryCode,
) -> None:
    """A key reserved at ``at`` (with ``lease``), completed at once unless told not to."""
    async with uow_factory() as uow:
        reserved = await uow.idempotency.reserve(scope(key, **kw), FP, now=at, lease=lease)
        assert reserved.state is ReservationState.RESERVED
        if completed:
            await uow.idempotency.complete(scope(key, **kw), {"ok": key}, now=at)
        await uow.commit()


async def keys_left(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(idempotency_keys.c.key).order_by(idempotency_keys.c.key))
        return [str(row[0]) for row in rows]


def services(uow_factory: UowFactory) -> Services:
    return Services(uow=uow_factory, clock=FixedClock(NOW), ids=SequentialIds())


async def test_keys_past_the_retention_that_are_not_running_are_deleted_and_the_rest_kept(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    old = NOW - DEFAULT_RETENTION - timedelta(minutes=1)
    await make_key(uow_factory, "old-completed", old, completed=True)
    await make_key(uow_factory, "old-crashed", old, completed=False)  # its lease ended at old + 60 s
    await make_key(uow_factory, "old-running", old, completed=False, lease=DEFAULT_RETENTION * 2)
    await make_key(uow_factory, "young-completed", NOW - timedelta(hours=23), completed=True)
    await make_key(uow_factory, "young-crashed", NOW - timedelta(hours=23), completed=False)

    report = await run_tick(services(uow_factory), [ExpireIdempotencyKeys()])
    assert report.done == {"0:ExpireIdempotencyKeys": 2} and not report.failed
    assert await keys_left(engine) == ["old-running", "young-completed", "young-crashed"]
    assert await ExpireIdempotencyKeys()(services(uow_factory), NOW) == 0

    async with uow_factory() as uow:  # an expired key is a new key: the request runs again
        again = await uow.idempotency.reserve(scope("old-completed"), FP, now=NOW, lease=LEASE)
        kept = await uow.idempotency.reserve(scope("young-completed"), FP, now=NOW, lease=LEASE)
    assert again.state is ReservationState.RESERVED
    assert kept.state is ReservationState.REPLAY and kept.response == {"ok": "young-completed"}


async def test_a_tick_deletes_a_batch_per_transaction_up_to_its_rounds_oldest_first(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    start = NOW - timedelta(days=3)
    for n in range(25):
        await make_key(uow_factory, f"k{n:02d}", start + timedelta(minutes=n), completed=True)
    task = ExpireIdempotencyKeys(batch=10, max_rounds=2)
    assert await task(services(uow_factory), NOW) == 20
    assert await keys_left(engine) == [f"k{n:02d}" for n in range(20, 25)]  # the oldest went first
    assert await task(services(uow_factory), NOW) == 5
    assert await task(services(uow_factory), NOW) == 0
    assert await keys_left(engine) == []


async def test_the_bound_scope_is_respected(uow_factory: UowFactory, engine: AsyncEngine) -> None:
    old = NOW - timedelta(days=2)
    await make_key(uow_factory, "mx", old, completed=True)
    await make_key(uow_factory, "co", old, completed=True, country=CO)
    for bound, limit in ((frozenset(), 10), (ALL, 0)):
        with scoped_to(bound):
            async with uow_factory() as uow:
                assert await uow.idempotency.expire(created_before=NOW, now=NOW, limit=limit) == 0
    with scoped_to(frozenset({CO})):
        async with uow_factory() as uow:
            assert await uow.idempotency.expire(created_before=NOW, now=NOW, limit=10) == 1
            await uow.commit()
    assert await keys_left(engine) == ["mx"]


def test_the_task_and_the_setting_refuse_nonsense() -> None:
    for bad in ({"retention": timedelta(0)}, {"batch": 0}, {"max_rounds": 0}, {"batch": True}):
        with pytest.raises(ValueError, match="ExpireIdempotencyKeys"):
            ExpireIdempotencyKeys(**bad)
    with pytest.raises(ValueError):
        Settings(idempotency_key_retention_hours=0)


async def test_every_scheduler_tick_expires_keys_after_the_configured_hours(app_url: str) -> None:
    container = build_container(Settings(database_url=app_url, idempotency_key_retention_hours=48))
    try:
        tasks = [t for t in scheduler_tasks(container) if isinstance(t, ExpireIdempotencyKeys)]
    finally:
        await dispose_engines(container)
    assert tasks == [ExpireIdempotencyKeys(retention=timedelta(hours=48))]
    assert Settings().idempotency_key_retention_hours * 3600 == DEFAULT_RETENTION.total_seconds()


async def test_among_20000_keys_the_oldest_are_read_from_the_created_at_index(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    series = (
        "generate_series(1, 20000) AS s(g)"
        if backend == "postgresql"
        else "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 20000)"
        " SELECT g FROM s)"
    )
    young = NOW - timedelta(hours=1)
    async with engine.begin() as connection:  # bulk, server side: 20,000 keys younger than the retention
        await connection.execute(
            text(
                "INSERT INTO idempotency_keys (country_code, actor_id, operation, key, fingerprint, state,"
                " locked_until, created_at, completed_at)"
                " SELECT 'MX', 'agent_1', 'dispute.decide', 'bulk-' || g, :fp, 'COMPLETED', :at, :at, :at"
                f" FROM {series}"
            ),
            {"fp": FP, "at": young if backend == "postgresql" else young.replace(tzinfo=None).isoformat(" ")},
        )
        await connection.execute(text("ANALYZE"))
    await make_key(uow_factory, "ancient", NOW - timedelta(days=30), completed=True)

    async with uow_factory() as uow:
        connection = await uow.session.connection()
        query = expired_keys_query(created_before=NOW - DEFAULT_RETENTION, now=NOW, limit=100, scope=ALL)
        compiled = query.compile(dialect=connection.dialect)
        params = compiled.construct_params()
        positional = tuple(
            p.replace(tzinfo=None) if backend == "sqlite" and isinstance(p, datetime) else p
            for p in (params[name] for name in compiled.positiontup or ())
        )
        explain = "EXPLAIN " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
        rows = await connection.exec_driver_sql(explain + compiled.string, positional)
        plan = "\n".join(str(row[0] if backend == "postgresql" else row[-1]) for row in rows)
        assert "ix_idempotency_keys_created_at" in plan, plan
        with scoped_to(ALL):
            assert (
                await uow.idempotency.expire(created_before=NOW - DEFAULT_RETENTION, now=NOW, limit=100) == 1
            )
            await uow.commit()
    async with engine.connect() as connection:
        left = await connection.scalar(select(func.count()).select_from(idempotency_keys))
    assert left == 20_000
