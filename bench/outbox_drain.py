"""outbox-drain: the saga workers draining no-op provider jobs, vs a raw SKIP LOCKED loop and procrastinate.

    .venv/bin/python -m bench.outbox_drain [--jobs 20000] [--processes 2] [--concurrency 4] \
        [--batch 10] [--rounds 3] [--max-batch N]

Starts everything itself: a fresh database ``supportos_bench_outbox_drain`` (migrated, and
procrastinate's schema applied beside ours; dropped at the end). In each round, for each
contestant (the order rotates between rounds), ``--jobs`` jobs are enqueued (not timed),
then ``--processes`` processes of ``--concurrency`` loops each drain them; the processes
set up first, then start together, and the drain time is from the first start to the last
finish. Every job must end done.

- candidate: the real ``WorkerPool`` and ``SagaRunner`` (what ``supportos worker`` runs, as
  the service's role under row-level security, with the Prometheus metrics), on
  ``outbox_jobs`` rows of the job kind ``bench.noop``: per claimed batch the circuit-breaker
  gate (read once while the circuit is closed), the handler per job, then one completion
  transaction for the batch (fencing-token check per job, an audit entry per job; D51).
  Like ``supportos worker`` it starts at ``--batch`` and claims bigger batches while the queue
  is deep, up to the pool's ``max_batch`` (D59; ``--max-batch`` sets it, ``--max-batch 10``
  with ``--batch 10`` turns that off), and keeps a closed circuit's verdict for a second.
  The no-op kind is registered only in this benchmark's worker processes
  (``SagaRunner.job_kinds``); the production container's ``job_kinds`` never has it (D37).
- raw loop: asyncpg on the same table and role, the same claim protocol with nothing else:
  ``SELECT ... FOR UPDATE SKIP LOCKED`` a batch, set it RUNNING with a lease and a new
  fencing token, commit; then per job one fenced ``UPDATE ... SET status = 'DONE'``.
- procrastinate: the library's worker (``run_worker_async(wait=False)``) running a no-op
  task, the same number of processes and concurrency, its jobs deferred with
  ``batch_defer_async``.

Targets: candidate >= 0.5x the raw loop's jobs/s and >= 3x procrastinate's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import asyncpg
from returns.result import Result, Success

from application.ports.outbox import Job
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers, SagaRunner
from application.saga.worker_pool import WorkerPool
from bench.load import Row, render_table
from bench.server import ROOT, BenchDatabase, fresh_database, supportos

NOOP_KIND: Final = "bench.noop"
NOOP_PROVIDER: Final = "bench-noop"
ENQUEUE_CHUNK: Final = 2000
CONTESTANTS: Final = ("candidate", "raw", "procrastinate")
TARGETS: Final = {"raw": ">= 0.50x", "procrastinate": ">= 3.00x"}
POLL_INTERVAL_S: Final = 0.05


# ----------------------------------------------------------------------------- the no-op job


async def noop_job(job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
    """A provider call that does nothing and succeeds at once (bench only: never in production)."""
    return Success(ProviderReceipt(job.provider, job.kind, job.idempotency_key, f"noop-{job.id}"))


def outbox_rows(round_no: int, count: int, *, now: datetime) -> list[dict[str, Any]]:
    """``count`` PENDING no-op jobs, due now, with keys unique per round."""
    return [
        {
            "country_code": "MX",
            "idempotency_key": f"bench-noop/{round_no}/{i}",
            "kind": NOOP_KIND,
            "provider": NOOP_PROVIDER,
            "reference": f"bench:{round_no}:{i}",
            "payload": "{}",
            "status": "PENDING",
            "attempts": 0,
            "max_attempts": 5,
            "available_at": now - timedelta(seconds=1),
            "lease_owner": None,
            "lease_until": None,
            "fencing_token": 0,
            "errors": "[]",
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
        }
        for i in range(count)
    ]


async def enqueue_outbox(dsn: str, round_no: int, count: int) -> None:
    rows = outbox_rows(round_no, count, now=datetime.now(UTC))
    columns = list(rows[0])
    conn = await asyncpg.connect(dsn)
    try:
        for first in range(0, len(rows), ENQUEUE_CHUNK):
            chunk = rows[first : first + ENQUEUE_CHUNK]
            await conn.copy_records_to_table(
                "outbox_jobs", records=[tuple(r[c] for c in columns) for r in chunk], columns=columns
            )
        await conn.execute("ANALYZE outbox_jobs")
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- the contestants


async def run_candidate(concurrency: int, batch: int, ready: Any) -> int:
    """The real pool (as ``supportos worker`` builds it) with the no-op kind registered."""
    from interfaces.container import build_container, dispose_engines  # noqa: PLC0415 - in the child only

    container = build_container()
    metrics = container.metrics()
    runner = SagaRunner(
        container.services(),
        container.saga_providers(),
        worker_id=f"bench-{os.getpid()}",
        metrics=metrics,
        job_kinds=MappingProxyType({NOOP_KIND: noop_job}),
    )
    pool = WorkerPool(
        runner, concurrency=concurrency, batch=batch, poll_interval=POLL_INTERVAL_S, metrics=metrics
    )
    ceiling = os.environ.get("BENCH_MAX_BATCH")
    if ceiling:
        pool = replace(pool, max_batch=int(ceiling))
    await pool.refresh_gauges()  # opens the pool's first connection before the start
    await ready()
    report = await pool.run(asyncio.Event(), once=True)
    await dispose_engines(container)
    return report.outcomes.get("COMPLETED", 0)


_CLAIM: Final = """
SELECT id, fencing_token FROM outbox_jobs
WHERE status = 'PENDING' AND available_at <= now()
ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_LEASE: Final = """
UPDATE outbox_jobs SET status = 'RUNNING', lease_owner = $2, lease_until = now() + interval '30 seconds',
  attempts = attempts + 1, fencing_token = fencing_token + 1, updated_at = now()
WHERE id = ANY($1::bigint[])
"""
_DONE: Final = """
UPDATE outbox_jobs SET status = 'DONE', lease_until = NULL, updated_at = now(), completed_at = now()
WHERE id = $1 AND fencing_token = $2 AND status = 'RUNNING'
"""


async def run_raw(concurrency: int, batch: int, ready: Any) -> int:
    dsn = os.environ["BENCH_APP_DSN"]
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    for conn in connections:  # the service's role sees rows only with a country scope
        await conn.execute("SELECT set_config('supportos.countries', '*', false)")
    done = 0

    async def loop(n: int, conn: asyncpg.Connection) -> None:
        nonlocal done
        owner = f"raw-{os.getpid()}-{n}"
        while True:
            async with conn.transaction():
                rows = await conn.fetch(_CLAIM, batch)
                if rows:
                    await conn.execute(_LEASE, [r["id"] for r in rows], owner)
            if not rows:
                return
            for row in rows:
                status = await conn.execute(_DONE, row["id"], row["fencing_token"] + 1)
                done += status == "UPDATE 1"

    await ready()
    await asyncio.gather(*(loop(n, conn) for n, conn in enumerate(connections)))
    for conn in connections:
        await conn.close()
    return done


def procrastinate_app(dsn: str) -> Any:
    import procrastinate  # noqa: PLC0415 - a bench-only dependency

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="bench_noop")
    async def bench_noop() -> None:
        return None

    return app


async def run_procrastinate(concurrency: int, batch: int, ready: Any) -> int:
    app = procrastinate_app(os.environ["BENCH_OWNER_DSN"])
    async with app.open_async():
        await ready()
        await app.run_worker_async(
            concurrency=concurrency, wait=False, install_signal_handlers=False, listen_notify=False
        )
    return -1  # counted by the parent


async def defer_procrastinate(dsn: str, count: int) -> None:
    app = procrastinate_app(dsn)
    async with app.open_async():
        task = app.tasks["bench_noop"]
        for first in range(0, count, ENQUEUE_CHUNK):
            await task.batch_defer_async(*[{} for _ in range(min(ENQUEUE_CHUNK, count - first))])


async def apply_procrastinate_schema(dsn: str) -> None:
    app = procrastinate_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


_RUNNERS: Final = {"candidate": run_candidate, "raw": run_raw, "procrastinate": run_procrastinate}


def child(contestant: str, concurrency: int, batch: int) -> int:
    """One draining process: set up, say ``ready``, wait for ``go``, drain, print timings."""
    started: list[float] = []

    async def ready() -> None:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started.append(time.time())

    done = asyncio.run(_RUNNERS[contestant](concurrency, batch, ready))
    print(json.dumps({"start": started[0], "end": time.time(), "done": done}), flush=True)
    return 0


# ----------------------------------------------------------------------------- the parent


@dataclass(frozen=True, slots=True)
class Drain:
    contestant: str
    jobs: int
    seconds: float

    @property
    def throughput(self) -> float:
        return self.jobs / self.seconds


def drain_seconds(timings: Sequence[dict[str, float]]) -> float:
    """From the first process's start to the last one's end."""
    return max(t["end"] for t in timings) - min(t["start"] for t in timings)


def drain(
    db: BenchDatabase, contestant: str, *, processes: int, concurrency: int, batch: int, max_batch: int | None
) -> float:
    env = {**db.env(), "BENCH_APP_DSN": db.app_dsn, "BENCH_OWNER_DSN": db.owner_dsn}
    if max_batch is not None:
        env["BENCH_MAX_BATCH"] = str(max_batch)
    command = [sys.executable, "-m", "bench.outbox_drain", "--child", contestant]
    command += ["--concurrency", str(concurrency), "--batch", str(batch)]
    children = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for proc in children:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"{contestant} worker did not start: {line!r}")
        for proc in children:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        timings = []
        for proc in children:
            out, _ = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise RuntimeError(f"{contestant} worker failed ({proc.returncode})")
            timings.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
    return drain_seconds(timings)


async def remaining(db: BenchDatabase, contestant: str) -> int:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        if contestant == "procrastinate":
            return int(
                await conn.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'")
            )
        return int(await conn.fetchval("SELECT count(*) FROM outbox_jobs WHERE status <> 'DONE'"))
    finally:
        await conn.close()


async def enqueue(db: BenchDatabase, contestant: str, round_no: int, jobs: int) -> None:
    if contestant == "procrastinate":
        await defer_procrastinate(db.owner_dsn, jobs)
    else:
        await enqueue_outbox(db.owner_dsn, round_no * 10 + CONTESTANTS.index(contestant), jobs)


def rotation(round_no: int) -> list[str]:
    """The contestants' order in round ``round_no`` (rotated, so none always runs first)."""
    shift = round_no % len(CONTESTANTS)
    return [*CONTESTANTS[shift:], *CONTESTANTS[:shift]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_drain", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--max-batch", type=int, default=None, help="the candidate pool's max_batch (default: the pool's own)"
    )
    parser.add_argument("--child", choices=CONTESTANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.concurrency, args.batch)

    results: dict[str, list[float]] = {name: [] for name in CONTESTANTS}
    with fresh_database("outbox_drain") as db:
        supportos(["migrate"], db.env())
        asyncio.run(apply_procrastinate_schema(db.owner_dsn))
        for round_no in range(args.rounds):
            for contestant in rotation(round_no):
                asyncio.run(enqueue(db, contestant, round_no, args.jobs))
                seconds = drain(
                    db,
                    contestant,
                    processes=args.processes,
                    concurrency=args.concurrency,
                    batch=args.batch,
                    max_batch=args.max_batch,
                )
                left = asyncio.run(remaining(db, contestant))
                if left:
                    raise RuntimeError(f"{contestant}: {left} jobs not done after the drain")
                results[contestant].append(args.jobs / seconds)
                print(
                    f"round {round_no + 1}: {contestant:13} {args.jobs:,} jobs in {seconds:6.2f} s "
                    f"= {args.jobs / seconds:8,.0f} jobs/s",
                    flush=True,
                )
    rows = [
        Row(f"jobs/s: workers vs {name}", results[name], results["candidate"], TARGETS[name], "jobs/s")
        for name in ("raw", "procrastinate")
    ]
    print()
    print(
        render_table(
            f"outbox-drain: {args.jobs:,} no-op jobs, {args.processes} processes x {args.concurrency} loops "
            f"(batch {args.batch}"
            + ("" if args.max_batch is None else f", candidate max_batch {args.max_batch}")
            + ")",
            rows,
        )
    )
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
