"""``supportos worker`` as an operator runs it, on the embedded SQLite database."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from adapters.system import SystemClock, TimeOrderedIds
from application.context import Services
from application.security.scope import ALL, scoped_to
from interfaces.cli.main import app
from interfaces.settings import get_settings
from tests.integration.bulk_disputes import decided_full_refunds
from tests.integration.scenario import add_policy


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.sqlite3'}"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


async def _decide_two(url: str) -> None:
    engine = create_engine(url)
    with scoped_to(ALL):
        svc = Services(
            uow=unit_of_work_factory(create_session_factory(engine)),
            clock=SystemClock(),
            ids=TimeOrderedIds(),
        )
        await add_policy(svc)
        await decided_full_refunds(svc, 2, now=svc.clock.now())
    await engine.dispose()


def test_worker_once_runs_every_due_job_then_exits(database: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    asyncio.run(_decide_two(database))

    first = runner.invoke(app, ["worker", "--once", "--concurrency", "2", "--poll-interval", "0.01"])
    assert first.exit_code == 0, first.output
    assert "2 loop(s), batch 10, providers all, once" in first.output
    assert "8 job run(s) COMPLETED=6, RESOLVED=2; 0 handed back; 0 raised" in first.output

    again = runner.invoke(app, ["worker", "--once", "--providers", "payments,notifications"])
    assert again.exit_code == 0, again.output
    assert "providers payments,notifications" in again.output
    assert "0 job run(s) none" in again.output


def test_worker_refuses_unknown_providers(database: str) -> None:
    refused = CliRunner().invoke(app, ["worker", "--once", "--providers", "payments,carrier-pigeons"])
    assert refused.exit_code == 2
    assert "--providers" in refused.output


def test_worker_once_that_cannot_claim_exits_1(database: str) -> None:
    """D122: on a database it cannot claim from (here: not migrated) `worker --once` logged the
    failure and exited 0, so cron and scripts took it for an idle queue."""
    failed = CliRunner().invoke(app, ["worker", "--once", "--poll-interval", "0.01"])
    assert failed.exit_code == 1, failed.output
    assert "1 claim(s) failed" in failed.output


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_a_metrics_port_in_use_is_a_bad_option_not_a_traceback(database: str, command: str) -> None:
    """D123: a busy --metrics-port ended the command with an OSError traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, [command, "--once", "--metrics-port", str(port)])
    assert result.exit_code == 2, result.output
    assert "--metrics-port" in result.output and "cannot serve metrics" in result.output
