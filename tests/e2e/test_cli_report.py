"""``supportos report`` as an operator runs it: Markdown for people, JSON for tools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from application.security.scope import ALL, scoped_to
from domain.cases.kinds import CaseKind
from domain.cases.sla import default_sla_policy
from interfaces.cli.main import app
from interfaces.settings import get_settings
from tests.fakes.calendars import fixed_calendar
from tests.integration.case_builders import AGENT, CO, MX, T0, open_case


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'report.sqlite3'}"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


async def _cases(url: str) -> None:
    """December 2026 in MX: one case acknowledged after 5 min and resolved by L1, one still new;
    one case in CO and one in MX in November (neither counted)."""
    acknowledged = open_case("c-ack")
    policy = default_sla_policy(MX, CaseKind.ORDER_INCIDENT)
    acknowledged.acknowledge(T0 + timedelta(minutes=5), AGENT, fixed_calendar("MX"), policy).unwrap()
    acknowledged.resolve(T0 + timedelta(minutes=20), AGENT, "delivered").unwrap()
    others = (
        open_case("c-new", at=T0 + timedelta(days=3)),
        open_case("c-co", country=CO),
        open_case("c-nov", at=T0 - timedelta(days=10)),
    )
    engine = create_engine(url)
    with scoped_to(ALL):
        async with unit_of_work_factory(create_session_factory(engine))() as uow:
            for case in (acknowledged, *others):
                await uow.cases.add(case)
            await uow.commit()
    await engine.dispose()


def test_report_prints_markdown_and_json(database: str) -> None:
    runner = CliRunner()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    asyncio.run(_cases(database))

    markdown = runner.invoke(app, ["report", "--month", "2026-12", "--country", "MX"])
    assert markdown.exit_code == 0, markdown.output
    assert markdown.output.startswith("# Case report MX 2026-12\n")
    assert "(UTC, end excluded): 2." in markdown.output
    assert "| acknowledge | 1 | 5 min 00 s | 5 min 00 s |" in markdown.output
    assert "| ORDER_INCIDENT | 0 | 2 | 0 | 0 | 2 |" in markdown.output
    assert "| L1 | 1 | 100.00 % |" in markdown.output
    assert "- Refunded: 0" in markdown.output

    as_json = runner.invoke(app, ["report", "--month", "2026-12", "--country", "mx", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["country"], data["month"], data["cases"], data["resolved"]) == ("MX", "2026-12", 2, 1)
    assert data["acknowledge"] == {"count": 1, "p50_seconds": 300, "p90_seconds": 300}
    assert {"tier": "L1", "resolved": 1, "share_bp": 10_000} in data["by_tier"]
    assert data["refunded"] == []

    bad = runner.invoke(app, ["report", "--month", "2026-13", "--country", "MX"])
    assert bad.exit_code == 2
    assert "INVALID_INPUT" in bad.output
