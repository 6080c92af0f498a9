"""``supportos worker``: carry out outbox jobs (saga steps) against the providers.

    supportos worker [--concurrency N] [--once] [--poll-interval S] [--batch B]
                     [--providers payments,notifications,internal]

One process runs N concurrent claim-and-execute loops over one database engine (see
``application/saga/worker_pool.py``). Run as many processes as you like, on as many
machines, against one PostgreSQL: jobs are claimed with ``FOR UPDATE SKIP LOCKED``, each
under a lease and a fencing token, and the circuit breakers live in the database, so all
workers share them. On the embedded SQLite database run one worker process (writers are
serialised by SQLite's single write lock; ``--concurrency`` above 1 is allowed but buys
little).

SIGTERM or SIGINT stops claiming, lets every in-flight job finish and be recorded, hands
claimed-but-unstarted jobs back, then exits 0. A second signal stops at once (jobs in
flight are retried by another worker when their leases expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from typing import Annotated

import typer

from application.cases.scheduler import run_tick
from application.integrations.webhooks import reprocess_pending_webhooks
from application.saga.worker_pool import WorkerPool, WorkerReport
from interfaces.cli.ready import serve_metrics
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.container import JOB_PROVIDERS, Container, build_container, dispose_engines, saga_runner
from interfaces.logs import configure_logging
from interfaces.runtime import tune_gc
from interfaces.settings import get_settings

KNOWN_PROVIDERS = JOB_PROVIDERS


def worker(  # noqa: PLR0917 - typer options
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Concurrent job loops in this process (one engine).")
    ] = 1,
    once: Annotated[bool, typer.Option("--once", help="Run until no job is due, then exit.")] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds to wait between claims when nothing is due.")
    ] = 1.0,
    batch: Annotated[int, typer.Option(min=1, max=100, help="Jobs claimed per claim.")] = 10,
    providers: Annotated[
        str | None,
        typer.Option(help="Only jobs of these providers, comma-separated (payments,notifications,internal)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve this process's Prometheus metrics on this port."),
    ] = None,
) -> None:
    """Run saga workers until SIGTERM/SIGINT (or, with --once, until nothing is due)."""
    only = _parse_providers(providers)
    settings = get_settings()
    configure_logging(settings.log_level)
    settings.ensure_database_directory()
    # job outcomes, dead letters, provider calls: counted per process
    serve_metrics(metrics_port, settings.host)
    container = build_container(settings)
    pool = worker_pool(
        container, concurrency=concurrency, batch=batch, poll_interval=poll_interval, only=only
    )
    typer.echo(
        f"worker {pool.runner.worker_id}: {concurrency} loop(s), batch {batch}, "
        f"providers {','.join(only) if only else 'all'}{', once' if once else ''}"
    )
    if not once:  # a long-running worker: what start-up built leaves the collector's walks (D63)
        tune_gc()
    try:
        report = asyncio.run(run_until_signalled(container, pool, once=once))
    except asyncio.CancelledError:
        typer.echo(f"worker {pool.runner.worker_id} stopped at once (second signal)", err=True)
        raise typer.Exit(130) from None
    typer.echo(
        f"worker {pool.runner.worker_id} stopped: {report.executed} job run(s) "
        + (", ".join(f"{k}={v}" for k, v in sorted(report.outcomes.items())) or "none")
        + f"; {report.released} handed back; {report.crashed} raised"
        + (f"; {report.failed_claims} claim(s) failed" if report.failed_claims else "")
    )
    if once and report.failed_claims:  # cron and scripts must see that nothing could be claimed
        raise typer.Exit(1)


def worker_pool(
    container: Container,
    *,
    concurrency: int,
    batch: int,
    poll_interval: float,
    only: tuple[str, ...] | None,
) -> WorkerPool:
    metrics = container.metrics()
    # retries back off with full jitter (``random.random``), counted in the process's metrics
    runner = saga_runner(
        container.services(),
        container.saga_providers(),
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
        metrics=metrics,
        job_kinds=container.job_kinds(),
    )
    processing = container.webhook_processing()

    async def recover_webhooks() -> object:
        return await reprocess_pending_webhooks(processing)

    ticks = scheduler_tasks(container)

    async def sla_scheduler() -> object:  # breaches overdue SLA clocks, exactly once (D41)
        return await run_tick(container.services(), ticks)

    return WorkerPool(
        runner,
        concurrency=concurrency,
        batch=batch,
        poll_interval=poll_interval,
        providers=only,
        metrics=metrics,
        maintenance=(recover_webhooks, sla_scheduler),
    )


async def run_until_signalled(container: Container, pool: WorkerPool, *, once: bool) -> WorkerReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if stop.is_set() and main is not None:
            main.cancel()  # the second signal: stop now
            return
        typer.echo(f"{signal.Signals(signum).name}: finishing in-flight jobs, then stopping", err=True)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await pool.run(stop, once=once)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        with contextlib.suppress(Exception):
            await dispose_engines(container)  # and the change feed's connection


def _parse_providers(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in KNOWN_PROVIDERS]
    if not names or unknown:
        raise typer.BadParameter(
            f"expected a comma-separated list of {', '.join(KNOWN_PROVIDERS)}", param_hint="--providers"
        )
    return names
