"""``supportos payouts`` as an operator runs it: schedules what the ledger owes, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from application.ports.outbox import Job
from application.security.scope import ALL, scoped_to
from domain.ledger import Account, LedgerTransaction, LegBuilder, TransactionKind
from domain.shared import CountryCode, Currency, Money
from interfaces.cli.main import app
from interfaces.settings import get_settings

MX, CO, MXN, COP = CountryCode("MX"), CountryCode("CO"), Currency.of("MXN"), Currency.of("COP")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'payouts.sqlite3'}"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _owed(country: CountryCode, currency: Currency, seller: str, minor: int, key: str) -> LedgerTransaction:
    legs = LegBuilder(currency)
    legs.debit(Account.psp_clearing(), Money(minor, currency))
    legs.credit(Account.seller_payable(seller), Money(minor, currency))
    return LedgerTransaction(key, TransactionKind.RELEASE, country, currency, legs.postings(), "released")


async def _release(url: str) -> None:
    engine = create_engine(url)
    with scoped_to(ALL):
        async with unit_of_work_factory(create_session_factory(engine))() as uow:
            await uow.ledger.post(_owed(MX, MXN, "sel_a", 106_000, "release:a"))
            await uow.ledger.post(_owed(MX, MXN, "sel_b", 5_050, "release:b"))
            await uow.ledger.post(_owed(CO, COP, "sel_c", 900_000, "release:c"))
            await uow.commit()
    await engine.dispose()


async def _jobs(url: str) -> list[Job]:
    engine = create_engine(url)
    with scoped_to(ALL):
        async with unit_of_work_factory(create_session_factory(engine))() as uow:
            found = [
                job
                for seller in ("sel_a", "sel_b")
                for job in await uow.outbox.jobs_for(MX, f"seller:{seller}")
            ]
            found += await uow.outbox.jobs_for(CO, "seller:sel_c")
    await engine.dispose()
    return found


def test_payouts_schedules_each_seller_once_per_country(database: str) -> None:
    runner = CliRunner()
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    asyncio.run(_release(database))

    mx = runner.invoke(app, ["payouts", "--country", "mx"])
    assert mx.exit_code == 0, mx.output
    lines = mx.output.splitlines()
    assert lines[0].startswith("payout:MX:sel_a:MXN:1: ") and "1060.00" in lines[0].replace(",", "")
    assert lines[1].startswith("payout:MX:sel_b:MXN:1: ")
    assert "total MX MXN: 111050 minor units" in lines
    assert lines[-1] == "2 payout(s) scheduled"
    assert sorted((j.idempotency_key, j.payload["amount_minor"]) for j in asyncio.run(_jobs(database))) == [
        ("payout:MX:sel_a:MXN:1", 106_000),
        ("payout:MX:sel_b:MXN:1", 5_050),
    ]

    everywhere = runner.invoke(app, ["payouts", "--interval-hours", "0"])
    assert everywhere.exit_code == 0, everywhere.output
    assert everywhere.output.splitlines()[-1] == "1 payout(s) scheduled; skipped: in_flight=2"
    assert "total CO COP: 900000 minor units" in everywhere.output

    bad = runner.invoke(app, ["payouts", "--country", "Mexico"])
    assert bad.exit_code == 2
    assert "INVALID_INPUT" in bad.output
    assert len(asyncio.run(_jobs(database))) == 3
