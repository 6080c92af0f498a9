"""``supportos scheduler``: breach overdue SLA clocks, and run the other periodic checks
(orders completed when their dispute window closes, platform-incident update reminders,
ledger balance checkpoints, idempotency-key expiry, seller payouts).

    supportos scheduler [--once] [--interval SECONDS] [--batch N] [--metrics-port PORT]

Every ``--interval`` seconds one tick runs the tasks of :func:`scheduler_tasks` at the
clock's current time, in the system's scope (every country): first the SLA breaches
(``application/cases/scheduler.py``), then any other periodic check listed there.
``--once`` runs one tick and exits. Any number of schedulers may run side by side (and
``supportos worker`` runs the same tick as a maintenance task): each breach is recorded
exactly once (D41). SIGTERM or SIGINT stops after the tick in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta
from typing import Annotated

import typer

from application.cases.platform_reminders import PlatformUpdateReminders
from application.cases.scheduler import SchedulerTask, SlaBreaches, TickReport, run_scheduler
from application.cases.use_cases import publish_changes
from application.ledger.checkpoints import LedgerCheckpoints
from application.ledger.payouts import SellerPayouts
from application.orders.completion import DEFAULT_LIMIT as DEFAULT_COMPLETION_LIMIT
from application.orders.completion import CompleteDueOrdersTask
from application.security.scope import ALL, scoped_to
from application.shared.idempotency_expiry import ExpireIdempotencyKeys
from interfaces.cli.ready import serve_metrics
from interfaces.container import Container, build_container, dispose_engines
from interfaces.settings import get_settings


def scheduler_tasks(container: Container, *, batch: int = 100) -> tuple[SchedulerTask, ...]:
    """What one tick runs, in order. Add periodic checks here (a ``SchedulerTask``:
    ``async (svc, now) -> int``), e.g. the completion of delivered orders whose dispute
    window closed (the escrow's release, SPEC §3), the platform incidents' "update due" reminder and
    the ledger's balance checkpoints (``SUPPORTOS_LEDGER_CHECKPOINT_EVERY``/``_WINDOW``, D69)
    and the idempotency keys' expiry (``SUPPORTOS_IDEMPOTENCY_KEY_RETENTION_HOURS``, D71) and
    the seller payout run (``SUPPORTOS_PAYOUT_INTERVAL_HOURS``/``_CHECK_MINUTES``, D89).
    Breaches are announced on the container's change feed after their commit (D55): on
    PostgreSQL every API replica's ``caseChanged`` subscribers hear them; on SQLite only
    this process's own (``supportos serve`` runs the scheduler in-process there)."""
    settings = container.settings()
    return (
        SlaBreaches(batch=batch, publish=publish_changes),
        CompleteDueOrdersTask(limit=max(batch, DEFAULT_COMPLETION_LIMIT)),
        PlatformUpdateReminders(batch=batch),
        LedgerCheckpoints(
            every=settings.ledger_checkpoint_every, window=settings.ledger_checkpoint_window, batch=batch
        ),
        ExpireIdempotencyKeys(retention=timedelta(hours=settings.idempotency_key_retention_hours)),
        SellerPayouts(
            min_interval=timedelta(hours=settings.payout_interval_hours),
            check_every=timedelta(minutes=settings.payout_check_minutes),
        ),
    )


def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run one tick, then exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between ticks.")] = 30.0,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Due clocks read at a time.")] = 100,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Serve this process's Prometheus metrics (SLA breaches...) on this port."
        ),
    ] = None,
) -> None:
    """Record the breach of every SLA clock past its deadline (exactly once), every INTERVAL seconds."""
    settings = get_settings()
    settings.ensure_database_directory()
    # the breaches this process records: the SLA alerts' counter
    serve_metrics(metrics_port, settings.host)
    container = build_container(settings)
    tasks = scheduler_tasks(container, batch=batch)
    typer.echo(f"scheduler: {len(tasks)} task(s), every {interval:g} s{', once' if once else ''}")
    reports = asyncio.run(_run(container, tasks, interval=interval, once=once))
    total = sum(sum(report.done.values()) for report in reports)
    failed = sum(len(report.failed) for report in reports)
    typer.echo(f"scheduler stopped: {len(reports)} tick(s) with work, {total} done, {failed} task failure(s)")
    for report in reports:
        typer.echo(f"  {report.at.isoformat()}: " + ", ".join(f"{k}={v}" for k, v in report.done.items()))
    if failed:
        raise typer.Exit(1)


async def _run(
    container: Container, tasks: tuple[SchedulerTask, ...], *, interval: float, once: bool
) -> list[TickReport]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        with scoped_to(ALL):
            return await run_scheduler(container.services(), tasks, stop, interval=interval, once=once)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        with contextlib.suppress(Exception):
            await dispose_engines(container)  # and the change feed's connection
