"""``supportos scheduler --once`` and ``supportos worker``'s maintenance round record overdue
SLA breaches (the container's real clock: the cases opened a day ago)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
