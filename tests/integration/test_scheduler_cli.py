"""``supportos scheduler --once`` and ``supportos worker``'s maintenance round record overdue
SLA breaches (the container's real clock: the cases opened a day ago)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.tables import case_timeline
from interfaces.cli.worker import worker_pool
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings
from tests.integration.case_builders import CO, MX, UowFactory, open_case, store

ROOT = Path(__file__).resolve().parents[2]


async def breaches(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(case_timeline.c.case_id).where(case_timeline.c.kind == "SLA_BREACHED")
        )
        return Counter(str(row.case_id) for row in rows)


async def test_supportos_scheduler_once_breaches_the_overdue_clocks(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await store(uow_factory, open_case("mx1", at=yesterday), open_case("co1", country=CO, at=yesterday))
    env = {**os.environ, "SUPPORTOS_DATABASE_URL": app_url, "SUPPORTOS_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interfaces.cli.main",
        "scheduler",
        "--once",
        "--batch",
        "1",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert "4 done, 0 task failure(s)" in out.decode()  # acknowledge and mitigate of both cases
    assert await breaches(engine) == Counter({"mx1": 2, "co1": 2})


async def test_the_worker_maintenance_round_runs_the_scheduler_tick(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    await store(uow_factory, open_case("mx1", country=MX, at=datetime.now(UTC) - timedelta(hours=2)))
    container = build_container(Settings(database_url=app_url))
    try:
        pool = worker_pool(container, concurrency=1, batch=1, poll_interval=1.0, only=None)
        await pool.maintain()
        await pool.maintain()  # again: nothing more to breach
    finally:
        await dispose_engines(container)
    assert await breaches(engine) == Counter({"mx1": 2})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_scheduler_serves_the_breaches_it_records_as_metrics(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    """A breach recorded by ``supportos scheduler`` must reach the SLA alerts: the process
    serves its own counters with ``--metrics-port``, as a worker does."""
    await store(uow_factory, open_case("mx1", at=datetime.now(UTC) - timedelta(days=1)))
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTOS_DATABASE_URL": app_url,
        "SUPPORTOS_LOG_LEVEL": "WARNING",
        "SUPPORTOS_HOST": "127.0.0.1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interfaces.cli.main",
        "scheduler",
        "--interval",
        "0.2",
        "--metrics-port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    wanted = 'supportos_sla_breaches_total{clock="%s",country="MX",severity="SEV1"} 1.0'
    scraped = ""
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    scraped = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                    if all(wanted % clock in scraped for clock in ("ACKNOWLEDGE", "MITIGATE")):
                        break
                await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert all(wanted % clock in scraped for clock in ("ACKNOWLEDGE", "MITIGATE")), (
        scraped[-2000:],
        err.decode(),
    )
    assert process.returncode == 0, err.decode()
    assert await breaches(engine) == Counter({"mx1": 2})
