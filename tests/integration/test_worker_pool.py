"""The worker pool in-process, on SQLite and PostgreSQL: concurrent loops drain the queue,
a stop lets the job in flight finish and hands the rest of its batch back, a provider
filter is honoured, a job that raises does not stop the loop, gauges are refreshed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from returns.result import Result, Success

from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.outbox import SqlAlchemyOutbox
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import SystemClock, TimeOrderedIds
from application.context import Services
from application.ports.outbox import Job, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers, SagaRunner
from application.saga.worker_pool import WorkerPool
from domain.audit import AuditEntry
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.scenario import MX

KIND = "partner.ping"


class Ping:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.explode: set[str] = set()

    async def __call__(self, job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
        self.calls.append(job.idempotency_key)
        self.started.set()
        await self.release.wait()
        if job.idempotency_key in self.explode:
            raise RuntimeError("a bug in a handler")
        return Success(ProviderReceipt("pinger", "ping", job.idempotency_key, f"p_{job.id}"))


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    return Services(uow=uow_factory, clock=SystemClock(), ids=TimeOrderedIds())


def pool_for(svc: Services, ping: Ping, metrics: RecordingMetrics, **options: object) -> WorkerPool:
    runner = SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), job_kinds={KIND: ping})
    return WorkerPool(runner, poll_interval=0.01, metrics=metrics, **options)  # type: ignore[arg-type]


async def enqueue(svc: Services, keys: list[str], provider: str = "pinger") -> None:
    now = svc.clock.now()
    async with svc.uow() as uow:
        for key in keys:
            await uow.outbox.enqueue(NewJob(MX, key, KIND, provider, f"ping:{key}", {}, now), now=now)
        await uow.commit()


async def statuses(svc: Services, keys: list[str]) -> list[tuple[JobStatus, int]]:
    async with svc.uow() as uow:
        jobs = [await uow.outbox.by_key(key) for key in keys]
    return [(job.status, job.attempts) for job in jobs if job is not None]


async def test_loops_drain_the_queue_once_each_and_refresh_the_gauges(svc: Services) -> None:
    keys = [f"k{n:02d}" for n in range(30)]
    other = ["o1", "o2"]
    await enqueue(svc, keys)
    await enqueue(svc, other, provider="elsewhere")
    ping, metrics = Ping(), RecordingMetrics()
    ping.explode = {"k07"}
    pool = pool_for(svc, ping, metrics, concurrency=3, batch=4, providers=("pinger",))
    report = await asyncio.wait_for(pool.run(asyncio.Event(), once=True), timeout=60)
    assert sorted(ping.calls) == keys  # each once; the other provider's jobs untouched
    assert report.outcomes == {"COMPLETED": 29}
    assert report.crashed == 1  # k07 raised: logged, left to its lease, the loop went on
    assert await statuses(svc, [k for k in keys if k != "k07"]) == [(JobStatus.DONE, 1)] * 29
    assert await statuses(svc, ["k07", *other]) == [
        (JobStatus.RUNNING, 1),
        (JobStatus.PENDING, 0),
        (JobStatus.PENDING, 0),
    ]
    depths = {(d.provider, d.status): d.jobs for d in metrics.depths[-1]}
    assert depths == {("pinger", JobStatus.RUNNING): 1, ("elsewhere", JobStatus.PENDING): 2}


async def test_a_stop_finishes_the_job_in_flight_and_hands_back_the_rest_of_the_batch(svc: Services) -> None:
    keys = ["a", "b", "c", "d"]
    await enqueue(svc, keys)
    ping, metrics = Ping(), RecordingMetrics()
    ping.release.clear()
    pool = pool_for(svc, ping, metrics, concurrency=1, batch=3)
    stop = asyncio.Event()
    running = asyncio.create_task(pool.run(stop))
    await asyncio.wait_for(ping.started.wait(), timeout=30)
    stop.set()  # while "a" is with the provider
    ping.release.set()
    report = await asyncio.wait_for(running, timeout=30)
    assert ping.calls == ["a"]
    assert report.outcomes == {"COMPLETED": 1}
    assert report.released == 2
    assert await statuses(svc, keys) == [
        (JobStatus.DONE, 1),
        (JobStatus.PENDING, 0),  # handed back: due now, no attempt spent
        (JobStatus.PENDING, 0),
        (JobStatus.PENDING, 0),  # never claimed
    ]


async def test_a_deep_queue_is_claimed_in_growing_batches_each_job_done_once_with_its_entry(
    svc: Services, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"d{n:03d}" for n in range(70)]
    await enqueue(svc, keys)
    limits: list[int] = []
    claim = SqlAlchemyOutbox.claim

    async def recording_claim(self: SqlAlchemyOutbox, **options: Any) -> list[Job]:
        limits.append(options["limit"])
        return await claim(self, **options)

    monkeypatch.setattr(SqlAlchemyOutbox, "claim", recording_claim)
    ping, metrics = Ping(), RecordingMetrics()
    pool = pool_for(svc, ping, metrics, concurrency=1, batch=5, max_batch=20)
    report = await asyncio.wait_for(pool.run(asyncio.Event(), once=True), timeout=60)

    # 5 + 10 + 20 + 20 = 55 jobs, then 20 asked for and 15 left: back to 5 for the empty claim
    assert limits == [5, 10, 20, 20, 20, 5]
    assert report.outcomes == {"COMPLETED": 70}
    assert sorted(ping.calls) == keys
    assert await statuses(svc, keys) == [(JobStatus.DONE, 1)] * 70
    async with svc.uow() as uow:
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    completed = [e.after for e in entries if e.action == "provider.call_completed" and e.after]
    assert sorted(str(after["idempotency_key"]) for after in completed) == keys  # one entry per job
    code, _ = await run_audit_verify(migrated_url)
    assert code == 0
