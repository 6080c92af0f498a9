"""``supportos migrate`` and ``supportos audit-verify`` as an operator runs them (with the
head it reports, and ``--expect-head SEQ:HASH`` catching a removed tail, D109)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from application.demo.seed import _Seeder
from domain.audit import AuditDraft
from domain.shared import CountryCode
from domain.shared.ids import ActorId
from interfaces.cli.main import app
from interfaces.settings import get_settings


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "ops.sqlite3"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


async def _append(url: str, count: int) -> None:
    engine = create_engine(url)
    uow_factory = unit_of_work_factory(create_session_factory(engine))
    for n in range(count):
        async with uow_factory() as uow:
            await uow.audit.append(
                AuditDraft(
                    actor_id=ActorId("l3-1"),
                    actor_role="L3",
                    country=CountryCode("MX"),
                    action="test.action",
                    target_type="order",
                    target_id=f"o{n}",
                    request_id=f"r{n}",
                    occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                    after={"n": n},
                )
            )
            await uow.commit()
    await engine.dispose()


def test_migrate_is_idempotent_and_audit_verify_catches_tampering(database: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    assert "database migrated: empty ->" in first.output
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0
    assert "already at" in again.output

    asyncio.run(_append(f"sqlite+aiosqlite:///{database}", 3))
    intact = runner.invoke(app, ["audit-verify"])
    assert intact.exit_code == 0
    assert "3 entries verified" in intact.output

    # The database owner bypasses the application: drops the guard and edits entry 2.
    with sqlite3.connect(database) as raw:
        raw.execute("DROP TRIGGER audit_log_refuse_update")
        raw.execute("UPDATE audit_log SET target_id = 'forged' WHERE sequence = 2")
    broken = runner.invoke(app, ["audit-verify"])
    assert broken.exit_code == 1
    assert "sequence 2" in broken.output


def test_the_reported_head_detects_a_truncated_tail(database: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    asyncio.run(_append(f"sqlite+aiosqlite:///{database}", 3))

    intact = runner.invoke(app, ["audit-verify"])
    assert intact.exit_code == 0, intact.output
    assert "3 entries verified" in intact.output
    found = re.search(r"^head: (3:[0-9a-f]{64})$", intact.output, re.MULTILINE)
    assert found is not None, intact.output
    head = found[1]

    same = runner.invoke(app, ["audit-verify", "--expect-head", head])
    assert same.exit_code == 0, same.output
    assert f"expected head {head} found" in same.output

    wrong = runner.invoke(app, ["audit-verify", "--expect-head", f"3:{'0' * 64}"])
    assert wrong.exit_code == 1
    assert "entry 3 has hash" in wrong.output

    # The database owner removes the tail past every guard: the chain of 1..2 is intact,
    # only the kept head shows what happened.
    with sqlite3.connect(database) as raw:
        raw.execute("DROP TRIGGER audit_log_refuse_delete")
        raw.execute("DELETE FROM audit_log WHERE sequence = 3")
    assert runner.invoke(app, ["audit-verify"]).exit_code == 0
    truncated = runner.invoke(app, ["audit-verify", "--expect-head", head])
    assert truncated.exit_code == 1
    assert "no entry at sequence 3 (the chain ends at 2)" in truncated.output


def test_a_malformed_head_is_a_usage_error(database: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["audit-verify", "--expect-head", "3:nothex"])
    assert result.exit_code == 2
    assert "SEQ:HASH" in result.output


def test_a_seed_demo_stopped_half_way_is_reported_not_taken_for_loaded(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D122: an interrupted first seed left half the demo data, and every later run said
    "already loaded" (it looked at the first order only): a console with no partner keys and
    half the states. Now the rerun says what happened and exits 1."""
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0

    async def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C before the seed's last steps

    with monkeypatch.context() as patched:
        patched.setattr(_Seeder, "platform_incident", interrupted)
        first = runner.invoke(app, ["seed-demo"])
    assert first.exit_code != 0

    again = runner.invoke(app, ["seed-demo"])
    assert again.exit_code == 1
    assert "only partly loaded" in again.output and "recreate the database" in again.output
    with sqlite3.connect(database) as raw:
        assert raw.execute("SELECT COUNT(*) FROM api_keys").fetchone() == (0,)


def test_seed_demo_twice_loads_once(database: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    loaded = runner.invoke(app, ["seed-demo"])
    assert loaded.exit_code == 0, loaded.output
    assert "demo data loaded" in loaded.output
    again = runner.invoke(app, ["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "demo data already loaded" in again.output


@pytest.mark.parametrize(
    "command",
    [
        ["seed-demo"],
        ["payouts"],
        ["report", "--month", "2026-03", "--country", "MX"],
        ["apikey", "create", "--partner", "sel_1", "--country", "MX"],
        ["apikey", "revoke", "mx_key_1"],
    ],
    ids=["seed-demo", "payouts", "report", "apikey-create", "apikey-revoke"],
)
def test_a_command_on_an_unmigrated_database_says_so_in_one_line(database: Path, command: list[str]) -> None:
    """D123: these ended with a traceback from their first statement (`no such table`)."""
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "database not migrated" in result.output and "run `supportos migrate`" in result.output
    assert "Traceback" not in result.output
