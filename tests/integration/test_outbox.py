"""The transactional outbox on both databases: dedup by key, rollback, claims with leases
and fencing tokens, retry and dead-letter history, and — on PostgreSQL — concurrent
claimers that never claim one job twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from application.ports.outbox import Job, JobError, JobStatus, NewJob
from domain.shared import CountryCode
from tests.fakes.time_and_ids import FixedClock

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

MX = CountryCode("MX")
CO = CountryCode("CO")
LEASE = timedelta(seconds=30)

postgres_only = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


def new_job(
    clock: FixedClock,
    key: str,
    *,
    country: CountryCode = MX,
    provider: str = "payments",
    reference: str = "dispute:dsp_1",
    delay: timedelta = timedelta(0),
    payload: dict[str, object] | None = None,
    max_attempts: int = 3,
) -> NewJob:
    return NewJob(
        country=country,
        idempotency_key=key,
        kind="dispute.step",
        provider=provider,
        reference=reference,
        payload=payload
        if payload is not None
        else {"step": key, "amount": {"minor": 1250, "currency": "MXN"}},
        available_at=clock.now() + delay,
        max_attempts=max_attempts,
    )


async def enqueue(uow_factory: UowFactory, clock: FixedClock, *jobs: NewJob) -> list[bool]:
    async with uow_factory() as uow:
        added = [await uow.outbox.enqueue(job, now=clock.now()) for job in jobs]
        await uow.commit()
    return added


async def claim(
    uow_factory: UowFactory,
    clock: FixedClock,
    worker: str,
    *,
    limit: int = 10,
    providers: tuple[str, ...] | None = None,
) -> list[Job]:
    async with uow_factory() as uow:
        jobs = await uow.outbox.claim(
            worker_id=worker, now=clock.now(), lease=LEASE, limit=limit, providers=providers
        )
        await uow.commit()
    return jobs


async def get(uow_factory: UowFactory, job_id: int) -> Job:
    async with uow_factory() as uow:
        job = await uow.outbox.get(job_id)
    assert job is not None
    return job


async def complete(uow_factory: UowFactory, clock: FixedClock, job: Job) -> bool:
    async with uow_factory() as uow:
        done = await uow.outbox.complete(job.id, job.fencing_token, now=clock.now())
        await uow.commit()
    return done


def failure(clock: FixedClock, attempt: int, detail: str, kind: str = "TRANSIENT") -> JobError:
    return JobError(at=clock.now(), attempt=attempt, kind=kind, detail=detail)


# --------------------------------------------------------------------------- enqueue


async def test_enqueue_is_deduplicated_by_idempotency_key(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    first = new_job(clock, "dsp_1/FULL_REFUND/refund")
    again = new_job(clock, "dsp_1/FULL_REFUND/refund", payload={"different": True}, country=CO)
    assert await enqueue(uow_factory, clock, first) == [True]
    assert await enqueue(uow_factory, clock, again, again) == [False, False]

    async with uow_factory() as uow:
        job = await uow.outbox.by_key("dsp_1/FULL_REFUND/refund")
        assert await uow.outbox.by_key("no-such-key") is None
        assert await uow.outbox.get(10_000) is None
    assert job is not None
    assert job == Job(
        id=job.id,
        country=MX,
        idempotency_key="dsp_1/FULL_REFUND/refund",
        kind="dispute.step",
        provider="payments",
        reference="dispute:dsp_1",
        payload={"step": "dsp_1/FULL_REFUND/refund", "amount": {"minor": 1250, "currency": "MXN"}},
        status=JobStatus.PENDING,
        attempts=0,
        max_attempts=3,
        available_at=clock.now(),
        created_at=clock.now(),
        lease_owner=None,
        lease_until=None,
        fencing_token=0,
        errors=(),
    )
    assert await get(uow_factory, job.id) == job


async def test_a_job_enqueued_by_a_rolled_back_unit_of_work_does_not_exist(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    async with uow_factory() as uow:
        assert await uow.outbox.enqueue(new_job(clock, "k1"), now=clock.now())
        assert await uow.outbox.by_key("k1") is not None  # visible inside its own transaction
        await uow.rollback()
    async with uow_factory() as uow:
        assert await uow.outbox.enqueue(new_job(clock, "k2"), now=clock.now())
        # leaving without commit() rolls back too

    async with uow_factory() as uow:
        assert await uow.outbox.by_key("k1") is None
        assert await uow.outbox.by_key("k2") is None
        assert await uow.outbox.jobs_for(MX, "dispute:dsp_1") == []
    assert await claim(uow_factory, clock, "w1") == []
    assert await enqueue(uow_factory, clock, new_job(clock, "k1")) == [True]  # the key was never used


async def test_jobs_for_lists_a_references_jobs_in_order(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await enqueue(
        uow_factory,
        clock,
        new_job(clock, "a/1"),
        new_job(clock, "b/1", reference="dispute:dsp_2"),
        new_job(clock, "a/2", delay=timedelta(hours=1)),
    )
    async with uow_factory() as uow:
        jobs = await uow.outbox.jobs_for(MX, "dispute:dsp_1")
        assert [job.idempotency_key for job in jobs] == ["a/1", "a/2"]
        assert [job.idempotency_key for job in await uow.outbox.jobs_for(MX, "dispute:dsp_2")] == ["b/1"]


# --------------------------------------------------------------------------- claim, lease, fencing


async def test_claim_takes_due_jobs_oldest_first_with_a_lease(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await enqueue(
        uow_factory,
        clock,
        new_job(clock, "later", delay=timedelta(minutes=5)),
        new_job(clock, "second", delay=-timedelta(seconds=1)),
        new_job(clock, "first", delay=-timedelta(seconds=2)),
        new_job(clock, "third"),
    )
    jobs = await claim(uow_factory, clock, "w1", limit=2)
    assert [job.idempotency_key for job in jobs] == ["first", "second"]
    for job in jobs:
        assert job.status is JobStatus.RUNNING
        assert job.lease_owner == "w1"
        assert job.lease_until == clock.now() + LEASE
        assert job.attempts == 1
        assert job.fencing_token == 1
        assert await get(uow_factory, job.id) == job

    third = await claim(uow_factory, clock, "w2")
    assert [job.idempotency_key for job in third] == ["third"]
    assert await claim(uow_factory, clock, "w3") == []  # the rest is leased or not due

    for job in [*jobs, *third]:
        assert await complete(uow_factory, clock, job)
    clock.advance(timedelta(minutes=5))
    assert [job.idempotency_key for job in await claim(uow_factory, clock, "w3")] == ["later"]


async def test_claim_can_be_limited_to_providers(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await enqueue(
        uow_factory,
        clock,
        new_job(clock, "pay", provider="payments"),
        new_job(clock, "mail", provider="notifications"),
        new_job(clock, "ledger", provider="internal"),
    )
    assert await claim(uow_factory, clock, "w1", providers=()) == []
    claimed = await claim(uow_factory, clock, "w1", providers=("notifications", "internal"))
    assert sorted(job.idempotency_key for job in claimed) == ["ledger", "mail"]
    assert [job.idempotency_key for job in await claim(uow_factory, clock, "w2")] == ["pay"]


async def test_an_expired_lease_is_claimed_again_and_fences_off_the_first_worker(
    uow_factory: UowFactory,
) -> None:
    clock = FixedClock()
    await enqueue(uow_factory, clock, new_job(clock, "refund"))
    [first] = await claim(uow_factory, clock, "w1")

    clock.advance(LEASE)  # lease_until == now: still held
    assert await claim(uow_factory, clock, "w2") == []

    clock.advance(timedelta(seconds=1))  # w1 stalled or crashed: its lease expired
    [second] = await claim(uow_factory, clock, "w2")
    assert second.id == first.id
    assert second.fencing_token == first.fencing_token + 1 == 2
    assert second.attempts == 2
    assert second.lease_owner == "w2"
    assert second.lease_until == clock.now() + LEASE

    # w1 comes back: every write it tries with its stale token is refused and changes nothing.
    async with uow_factory() as uow:
        assert not await uow.outbox.complete(first.id, first.fencing_token, now=clock.now())
        assert not await uow.outbox.retry_later(
            first.id,
            first.fencing_token,
            now=clock.now(),
            error=failure(clock, 1, "late"),
            available_at=clock.now(),
        )
        assert not await uow.outbox.dead_letter(
            first.id, first.fencing_token, now=clock.now(), error=failure(clock, 1, "late")
        )
        await uow.commit()
    assert await get(uow_factory, first.id) == second

    assert await complete(uow_factory, clock, second)
    done = await get(uow_factory, first.id)
    assert done.status is JobStatus.DONE
    assert done.fencing_token == 2
    assert not await complete(uow_factory, clock, second)  # only once, even with the current token

    clock.advance(timedelta(hours=1))
    assert await claim(uow_factory, clock, "w3") == []  # a finished job is never claimed again


async def test_a_claim_that_is_rolled_back_leaves_the_job_pending(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await enqueue(uow_factory, clock, new_job(clock, "k"))
    async with uow_factory() as uow:
        [job] = await uow.outbox.claim(worker_id="w1", now=clock.now(), lease=LEASE, limit=5)
    pending = await get(uow_factory, job.id)
    assert (pending.status, pending.attempts, pending.fencing_token) == (JobStatus.PENDING, 0, 0)
    [again] = await claim(uow_factory, clock, "w2")
    assert (again.id, again.fencing_token) == (job.id, 1)


async def test_retry_later_and_dead_letter_keep_the_error_history(uow_factory: UowFactory) -> None:
    clock = FixedClock()
    await enqueue(uow_factory, clock, new_job(clock, "refund", max_attempts=2))
    [job] = await claim(uow_factory, clock, "w1")

    first_error = failure(clock, 1, "502 from the provider")
    async with uow_factory() as uow:
        assert await uow.outbox.retry_later(
            job.id,
            job.fencing_token,
            now=clock.now(),
            error=first_error,
            available_at=clock.now() + timedelta(seconds=20),
        )
        await uow.commit()
    waiting = await get(uow_factory, job.id)
    assert waiting.status is JobStatus.PENDING
    assert waiting.available_at == clock.now() + timedelta(seconds=20)
    assert waiting.lease_until is None
    assert waiting.errors == (first_error,)
    # Its old token is no longer "running": a second retry_later with it is refused.
    async with uow_factory() as uow:
        assert not await uow.outbox.retry_later(
            job.id, job.fencing_token, now=clock.now(), error=first_error, available_at=clock.now()
        )

    clock.advance(timedelta(seconds=19))
    assert await claim(uow_factory, clock, "w1") == []  # not due yet
    clock.advance(timedelta(seconds=1))
    [retry] = await claim(uow_factory, clock, "w2")
    assert (retry.attempts, retry.fencing_token, retry.errors) == (2, 2, (first_error,))

    clock.advance(timedelta(seconds=3))
    last_error = failure(clock, 2, "card declined", kind="PERMANENT")
    async with uow_factory() as uow:
        assert await uow.outbox.dead_letter(retry.id, retry.fencing_token, now=clock.now(), error=last_error)
        await uow.commit()
    dead = await get(uow_factory, job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.errors == (first_error, last_error)
    assert dead.errors[1].at == clock.now()

    clock.advance(timedelta(days=1))
    assert await claim(uow_factory, clock, "w3") == []  # the dead-letter queue is not claimed
    assert not await complete(uow_factory, clock, retry)


async def test_a_claim_takes_the_oldest_due_jobs_across_pending_ones_and_expired_leases(
    uow_factory: UowFactory,
) -> None:
    clock = FixedClock()
    await enqueue(
        uow_factory,
        clock,
        new_job(clock, "stalled-oldest", delay=-timedelta(minutes=3)),
        new_job(clock, "pending-old", delay=-timedelta(minutes=2)),
        new_job(clock, "stalled-newer", delay=-timedelta(minutes=1)),
    )
    stalled = await claim(uow_factory, clock, "w1", limit=3)
    for job in stalled:
        if job.idempotency_key == "pending-old":
            assert await complete(uow_factory, clock, job)  # w1 finished this one
    await enqueue(
        uow_factory,
        clock,
        new_job(clock, "pending-older", delay=-timedelta(minutes=2, seconds=30)),
        new_job(clock, "pending-new"),
    )
    clock.advance(LEASE + timedelta(seconds=1))  # w1's other two leases expired
    first = await claim(uow_factory, clock, "w2", limit=2)
    assert [job.idempotency_key for job in first] == ["stalled-oldest", "pending-older"]
    rest = await claim(uow_factory, clock, "w3", limit=5)
    assert [job.idempotency_key for job in rest] == ["stalled-newer", "pending-new"]


@postgres_only
async def test_a_claim_on_a_deep_queue_walks_the_index_instead_of_sorting_every_due_job(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    async with engine.begin() as connection:  # 50,000 due jobs, server side
        await connection.execute(
            text(
                "INSERT INTO outbox_jobs (country_code, idempotency_key, kind, provider, reference,"
                " payload, status, attempts, max_attempts, available_at, fencing_token, errors,"
                " created_at, updated_at)"
                " SELECT 'MX', 'deep-' || g, 'dispute.step', 'payments', 'dispute:deep', '{}'::jsonb,"
                " 'PENDING', 0, 3, CAST(:now AS timestamptz) - make_interval(secs => g), 0, '[]'::jsonb,"
                " :now, :now"
                " FROM generate_series(1, 50000) AS g"
            ),
            {"now": clock.now()},
        )
        await connection.execute(text("ANALYZE outbox_jobs"))
    sent: list[tuple[str, Any]] = []
    async with uow_factory() as uow:  # the claim as the workers send it, captured, then EXPLAINed
        connection = await uow.session.connection()

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            sent.append((statement, parameters))

        event.listen(connection.sync_connection, "before_cursor_execute", capture)
        await uow.outbox.claim(worker_id="w0", now=clock.now(), lease=LEASE, limit=10)
        event.remove(connection.sync_connection, "before_cursor_execute", capture)
        [(statement, parameters)] = [(q, p) for q, p in sent if "UPDATE outbox_jobs" in q]
        plan = "\n".join(
            str(row[0]) for row in await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
        await uow.rollback()  # the captured claim is not kept
    assert "Index Scan using ix_outbox_jobs_status_available_at on outbox_jobs" in plan, plan
    assert "Seq Scan on outbox_jobs" not in plan, plan
    jobs = await claim(uow_factory, clock, "w1", limit=10)
    assert [job.idempotency_key for job in jobs] == [f"deep-{n}" for n in range(50000, 49990, -1)]


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


@postgres_only
async def test_four_concurrent_claimers_claim_each_of_200_jobs_exactly_once(migrated_url: str) -> None:
    engine = create_engine(migrated_url, pool_size=8, max_overflow=0)
    try:
        factory = unit_of_work_factory(create_session_factory(engine))
        clock = FixedClock()
        async with factory() as uow:
            for n in range(200):
                fresh = new_job(
                    clock, f"job-{n:03d}", country=(MX, CO)[n % 2], delay=-timedelta(seconds=n % 7)
                )
                assert await uow.outbox.enqueue(fresh, now=clock.now())
            await uow.commit()

        start = asyncio.Event()
        claimed: dict[str, list[Job]] = {}

        async def worker(name: str) -> None:
            mine = claimed.setdefault(name, [])
            await start.wait()
            while True:
                async with factory() as uow:
                    batch = await uow.outbox.claim(worker_id=name, now=clock.now(), lease=LEASE, limit=7)
                    await asyncio.sleep(0.01)  # hold the row locks a little while the others claim
                    await uow.commit()
                if not batch:
                    return
                mine.extend(batch)
                async with factory() as uow:
                    for job in batch:
                        assert await uow.outbox.complete(job.id, job.fencing_token, now=clock.now())
                    await uow.commit()

        workers = [asyncio.create_task(worker(f"w{n}")) for n in range(4)]
        start.set()
        await asyncio.gather(*workers)

        ids = [job.id for jobs in claimed.values() for job in jobs]
        assert len(ids) == 200
        assert len(set(ids)) == 200  # no job was claimed twice
        assert sum(1 for jobs in claimed.values() if jobs) >= 2  # they really ran side by side
        async with factory() as uow:
            for job in [job for jobs in claimed.values() for job in jobs]:
                stored = await uow.outbox.get(job.id)
                assert stored is not None
                assert (stored.status, stored.attempts, stored.fencing_token) == (JobStatus.DONE, 1, 1)
                assert stored.lease_owner == job.lease_owner
    finally:
        await engine.dispose()
