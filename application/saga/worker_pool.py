"""A worker process's job loops: N concurrent claim-and-execute loops over one engine.

Each loop claims a batch of due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any
number of loops and processes share the queue without waiting on each other), carries
them out one at a time through the ``SagaRunner`` and, when nothing is due, sleeps for
the poll interval. Provider jobs that succeed at once through a closed circuit are
recorded together after the batch (``SagaRunner.complete_batch``: one transaction, one
append to the audit chain; sooner if the batch's calls take a quarter of the lease, D51).
A stop request wakes a sleeping loop at once. Every loop has its own worker id
(``<worker>-<n>``): leases, fencing tokens and half-open trials are per loop.

While the queue is deep a loop claims bigger batches (``next_batch``: doubling from
``batch`` up to ``max_batch`` while a batch is expected to take at most an eighth of the
lease), and the loops of a process share the CLOSED circuits they read for up to a second
(``ClosedCircuits``), so a deep queue of quick jobs costs two transactions per claimed batch
instead of three per ten jobs (D59).

Graceful stop: once ``stop`` is set no loop claims again; the job each loop is executing
finishes and is recorded; jobs claimed in the same batch but not started are handed back
at once (``Outbox.defer`` to now: PENDING, attempt not spent), so another worker takes
them without waiting for their lease to expire.

A job that raises (a bug, the database going away) is logged and left to its lease: it
is claimed again when the lease expires. The loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from application.ports.metrics import NO_METRICS, Metrics
from application.ports.outbox import Job
from application.saga.executor import ClosedCircuits, CompletionBatch, SagaRunner, StepOutcome
from application.security.scope import ALL, scoped_to

log = logging.getLogger("supportos.worker")


@dataclass
class WorkerReport:
    """What the loops did (summed over loops)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    released: int = 0  # claimed, not started, handed back at stop
    crashed: int = 0  # jobs whose execution raised (left to their lease)
    failed_claims: int = 0  # claims that raised (the database unreachable, not migrated, ...)

    @property
    def executed(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True, slots=True)
class WorkerPool:
    runner: SagaRunner
    concurrency: int = 1
    batch: int = 10  # jobs claimed at a time while the queue is shallow
    # While the queue is deep (a claim came back full) and the jobs are quick, a loop
    # claims up to twice as many next time, up to ``max_batch`` (never below ``batch``),
    # as long as a claimed batch is expected to be carried out within an eighth of the
    # lease; a short claim or a slow batch brings it back down (D59).
    max_batch: int = 100
    poll_interval: float = 1.0  # seconds between claims when nothing is due
    providers: tuple[str, ...] | None = None  # only jobs of these providers (None: all)
    gauges_every: float = 15.0  # seconds between queue-depth and breaker gauge refreshes
    metrics: Metrics = NO_METRICS
    # Periodic recovery work run with the gauges, e.g. reprocessing webhooks that were
    # stored but never processed (a crash between storing and processing them).
    maintenance: tuple[Callable[[], Awaitable[object]], ...] = ()
    # The CLOSED circuits this process has read, trusted for ``circuits.refresh`` seconds by
    # every loop (D59): a deep queue does not read the breaker for every batch.
    circuits: ClosedCircuits = field(default_factory=ClosedCircuits)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.batch < 1 or self.max_batch < 1:
            raise ValueError("concurrency, batch and max_batch must be at least 1")
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> WorkerReport:
        """Run the loops until ``stop`` is set (or, with ``once``, until nothing is due)."""
        report = WorkerReport()
        with scoped_to(ALL):  # the system's own work: every country (tasks copy this context)
            loops = [
                asyncio.create_task(self._loop(n, stop, report, once=once), name=f"worker-loop-{n}")
                for n in range(self.concurrency)
            ]
            gauges = asyncio.create_task(self._gauges(stop), name="worker-gauges")
            try:
                await asyncio.gather(*loops)
            finally:
                gauges.cancel()
                await asyncio.gather(gauges, return_exceptions=True)
                await self.refresh_gauges()
        return report

    async def refresh_gauges(self) -> None:
        """Read the shared queue depth and breaker states into the metrics."""
        try:
            with scoped_to(ALL):
                async with self.runner.svc.uow() as uow:
                    depths = await uow.outbox.depth()
                    circuits = await uow.circuits.everywhere()
        except Exception:  # metrics must never stop the worker
            log.exception("could not refresh the worker gauges")
            return
        self.metrics.queue_depth(depths)
        self.metrics.circuits(circuits)

    async def _loop(self, n: int, stop: asyncio.Event, report: WorkerReport, *, once: bool) -> None:
        runner = replace(self.runner, worker_id=f"{self.runner.worker_id}-{n}")
        size = self.batch
        while not stop.is_set():
            try:
                jobs = await self._claim(runner, size)
            except Exception:
                log.exception("claim failed; retrying after the poll interval")
                report.failed_claims += 1  # a --once run that could not claim did not succeed (D122)
                jobs = []
            if not jobs:
                size = self.batch
                if once:
                    return
                await _sleep_unless(stop, self.poll_interval)
                continue
            claimed = time.monotonic()
            await self._carry_out(runner, jobs, stop, report)
            size = self.next_batch(size, claimed=len(jobs), seconds=time.monotonic() - claimed)

    def next_batch(self, size: int, *, claimed: int, seconds: float) -> int:
        """How many jobs to claim after a claim of ``size`` brought ``claimed`` jobs that took
        ``seconds`` to carry out (D59): double while the queue is deep and a batch of the
        doubled size would still take at most an eighth of the lease, halve when a batch took
        longer than that, and go back to ``batch`` when the queue is no longer deep."""
        ceiling = max(self.batch, self.max_batch)
        budget = self.runner.lease.total_seconds() / 8
        per_job = seconds / max(claimed, 1)
        if seconds > budget:
            return max(self.batch, size // 2)
        if claimed < size:
            return self.batch
        grown = min(ceiling, size * 2)
        return grown if per_job * grown <= budget else size

    async def _carry_out(
        self, runner: SagaRunner, jobs: list[Job], stop: asyncio.Event, report: WorkerReport
    ) -> None:
        """Execute a claimed batch in order; record its batched successes at the end (D51)."""
        batch = CompletionBatch(circuits=self.circuits)
        for index, job in enumerate(jobs):
            if stop.is_set():
                await self._complete(runner, batch, report)
                report.released += await self._release(runner, jobs[index:])
                return
            outcome = await self._execute(runner, job, report, batch)
            if outcome is not None:
                report.outcomes[outcome.value] += 1
            if batch.done and time.monotonic() - batch.started > runner.lease.total_seconds() / 4:
                await self._complete(runner, batch, report)  # long calls: record well inside the lease
        await self._complete(runner, batch, report)

    async def _claim(self, runner: SagaRunner, size: int) -> list[Job]:
        svc = runner.svc
        async with svc.uow() as uow:
            jobs = await uow.outbox.claim(
                worker_id=runner.worker_id,
                now=svc.clock.now(),
                lease=runner.lease,
                limit=size,
                providers=self.providers,
            )
            await uow.commit()
        return jobs

    async def _execute(
        self, runner: SagaRunner, job: Job, report: WorkerReport, batch: CompletionBatch
    ) -> StepOutcome | None:
        try:
            if not batch.done:
                batch.started = time.monotonic()
            return await runner.execute_batched(job, batch)
        except Exception:
            report.crashed += 1
            log.exception("job %s (%s) raised; it runs again when its lease expires", job.id, job.kind)
            return None

    async def _complete(self, runner: SagaRunner, batch: CompletionBatch, report: WorkerReport) -> None:
        """Record the batch's successful provider jobs in one transaction (D51)."""
        if not batch.done:
            return
        jobs = len(batch.done)
        try:
            outcomes = await runner.complete_batch(batch)
        except Exception:
            report.crashed += jobs
            log.exception("recording %d completed jobs raised; they run again when their leases expire", jobs)
            return
        for outcome in outcomes:
            report.outcomes[outcome.value] += 1

    async def _release(self, runner: SagaRunner, jobs: list[Job]) -> int:
        """Hand claimed jobs that were never started back to the queue, due now."""
        released = 0
        try:
            async with runner.svc.uow() as uow:
                now = runner.svc.clock.now()
                for job in jobs:
                    if await uow.outbox.defer(job.id, job.fencing_token, now=now, until=now):
                        released += 1
                await uow.commit()
        except Exception:
            log.exception("could not hand back %d claimed jobs; their leases will expire", len(jobs))
            return 0
        return released

    async def maintain(self) -> None:
        """Run each maintenance task once; a failing one is logged and retried next time."""
        for task in self.maintenance:
            try:
                await task()
            except Exception:
                log.exception("maintenance task failed; it runs again next round")

    async def _gauges(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.maintain()
            await self.refresh_gauges()
            await _sleep_unless(stop, self.gauges_every)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
