"""``supportos worker`` as real processes against one PostgreSQL.

- Four worker processes (four loops each) drain 2,000 jobs: the 100 saga steps of 25
  decided FULL_REFUND disputes (a step enqueues the next, so these keep arriving) and
  1,900 jobs of a test-only provider job kind (one notification each; cheap, so the run
  stays short on a small machine). Every job is done once, every provider call is made
  once, every dispute is resolved with its refund posted once, no lease expired, nothing
  is left behind, all four processes took part; SIGTERM stops them all cleanly.
- SIGTERM in the middle of a provider call: the call finishes and is recorded, the jobs
  claimed with it but not started are handed back at once (attempt not spent), exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.tables import audit_log, disputes, ledger_transactions, orders, outbox_jobs
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import SystemClock, TimeOrderedIds
from application.context import Services
from application.ports.outbox import JobStatus, NewJob
from domain.disputes.outcomes import StepKind
from tests.integration.bulk_disputes import decided_full_refunds
from tests.integration.scenario import MX, add_policy
from tests.integration.worker_process import ECHO_KIND

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
DISPUTES = 25
STEPS_PER_DISPUTE = 4  # FULL_REFUND: provider refund, ledger refund, notify buyer, notify seller
ECHOES = 1_900
JOBS = DISPUTES * STEPS_PER_DISPUTE + ECHOES


async def start_worker(url: str, calls: Path, *args: str, latency_ms: int = 0) -> asyncio.subprocess.Process:
    env = {**os.environ, "SUPPORTOS_DATABASE_URL": url, "SUPPORTOS_LOG_LEVEL": "WARNING"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.worker_process",
        str(calls),
        "--latency-ms",
        str(latency_ms),
        "--",
        "worker",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def call_lines(calls: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Per log file (process): its (start|end, operation, key) lines."""
    return {
        path.name: [tuple(line.split(" ", 2)) for line in path.read_text().splitlines()]  # type: ignore[misc]
        for path in sorted(calls.glob("calls-*.log"))
    }


async def job_counts(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(outbox_jobs.c.status, func.count()).group_by(outbox_jobs.c.status)
            )
        ).all()
    return Counter({str(status): int(count) for status, count in rows})


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def echo_jobs(svc: Services, count: int) -> set[str]:
    now = svc.clock.now()
    keys = {f"echo:{n:05d}" for n in range(count)}
    async with svc.uow() as uow:
        for key in sorted(keys):
            await uow.outbox.enqueue(
                NewJob(MX, key, ECHO_KIND, "notifications", f"test:{key}", {"to": f"buy_{key}"}, now), now=now
            )
        await uow.commit()
    return keys


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_four_worker_processes_drain_two_thousand_jobs_exactly_once(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], app_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    svc = Services(uow=uow_factory, clock=SystemClock(), ids=TimeOrderedIds())
    await add_policy(svc)
    plans = await decided_full_refunds(svc, DISPUTES, now=svc.clock.now())
    assert {len(plan.immediate_steps()) for plan in plans} == {STEPS_PER_DISPUTE}
    echoes = await echo_jobs(svc, ECHOES)

    workers = [
        await start_worker(app_url, tmp_path, "--concurrency", "4", "--poll-interval", "0.05", "--batch", "5")
        for _ in range(4)
    ]
    try:
        deadline = time.monotonic() + 120
        while (await job_counts(engine))[JobStatus.DONE.value] < JOBS:
            assert time.monotonic() < deadline, await job_counts(engine)
            for worker in workers:
                if worker.returncode is not None:
                    pytest.fail(f"a worker died: {await stop(worker)}")
            await asyncio.sleep(0.2)
    finally:
        results = [await stop(worker) for worker in workers]
    for code, out, err in results:
        assert code == 0, (out, err)
        assert "stopped:" in out
        assert "raised" in out and "; 0 raised" in out, out

    # nothing lost, stuck or doubled in the queue
    assert await job_counts(engine) == Counter({JobStatus.DONE.value: JOBS})
    async with engine.connect() as connection:
        resolved = await connection.scalar(
            select(func.count()).select_from(disputes).where(disputes.c.status == "RESOLVED")
        )
        refunded = await connection.scalar(
            select(func.count()).select_from(orders).where(orders.c.status == "REFUNDED")
        )
        refunds = await connection.scalar(
            select(func.count())
            .select_from(ledger_transactions)
            .where(ledger_transactions.c.idempotency_key.like("dispute:%/FULL_REFUND/%"))
        )
        completions = (
            await connection.execute(
                select(audit_log.c.after_state["idempotency_key"].as_string(), audit_log.c.actor_id).where(
                    audit_log.c.action.in_(["saga.step_completed", "provider.call_completed"])
                )
            )
        ).all()
        attempts = set((await connection.execute(select(outbox_jobs.c.attempts))).scalars())
    assert (resolved, refunded) == (DISPUTES, DISPUTES)
    ledger_steps = sum(
        1 for plan in plans for s in plan.immediate_steps() if s.kind is StepKind.LEDGER_POSTING
    )
    assert refunds == ledger_steps == DISPUTES
    keys = Counter(key for key, _ in completions)
    assert len(keys) == JOBS
    assert set(keys.values()) == {1}  # each job recorded once
    assert attempts == {1}  # no lease expired, nothing ran twice

    # every provider call made once, by some process, and never twice
    lines = call_lines(tmp_path)
    started = Counter(
        key for per_process in lines.values() for kind, _, key in per_process if kind == "start"
    )
    provider_steps = {
        s.idempotency_key
        for plan in plans
        for s in plan.immediate_steps()
        if s.kind is not StepKind.LEDGER_POSTING
    }
    assert set(started) == provider_steps | echoes
    assert set(started.values()) == {1}
    # the four processes shared the work (each process's loops are ``<host>-<pid>-<n>``)
    processes = {actor.rsplit("-", 1)[0] for _, actor in completions}
    assert len(processes) == 4, Counter(actor.rsplit("-", 1)[0] for _, actor in completions)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_sigterm_mid_call_finishes_the_call_and_hands_back_the_rest(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], app_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    svc = Services(uow=uow_factory, clock=SystemClock(), ids=TimeOrderedIds())
    await add_policy(svc)
    plans = await decided_full_refunds(svc, 3, now=svc.clock.now())
    worker = await start_worker(app_url, tmp_path, "--batch", "3", "--poll-interval", "0.05", latency_ms=1500)
    deadline = time.monotonic() + 30
    while not any(call_lines(tmp_path).values()):
        assert time.monotonic() < deadline
        assert worker.returncode is None
        await asyncio.sleep(0.05)
    code, out, err = await stop(worker)  # SIGTERM while the first refund call sleeps
    assert code == 0, (out, err)
    assert "SIGTERM: finishing in-flight jobs" in err
    assert "1 job run(s) COMPLETED=1; 2 handed back" in out

    [log] = call_lines(tmp_path).values()
    in_flight = plans[0].immediate_steps()[0].idempotency_key
    assert [(kind, key) for kind, _, key in log] == [("start", in_flight), ("end", in_flight)]
    async with svc.uow() as uow:
        finished = await uow.outbox.by_key(in_flight)
        handed_back = [await uow.outbox.by_key(p.immediate_steps()[0].idempotency_key) for p in plans[1:]]
        following = await uow.outbox.by_key(plans[0].immediate_steps()[1].idempotency_key)
    assert finished is not None
    assert finished.status is JobStatus.DONE  # the in-flight step was recorded
    assert following is not None
    assert following.status is JobStatus.PENDING  # and its next step enqueued, not started
    for job in handed_back:
        assert job is not None
        assert (job.status, job.attempts, job.lease_owner) == (JobStatus.PENDING, 0, None)
        assert job.available_at <= svc.clock.now()  # due at once, for any other worker
