"""The demo data: every dispute state in every demo country, consistent books, idempotent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import DEMO_COUNTRIES, OUTAGE_COUNTRY, seed_demo
from domain.disputes.status import DisputeStatus
from domain.integrations import CircuitState
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock

pytestmark = pytest.mark.slow


async def test_seed_demo_covers_every_state_and_balances(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], engine: AsyncEngine, migrated_url: str
) -> None:
    report = await seed_demo(
        uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock()
    )
    assert not report.skipped
    async with engine.connect() as connection:
        disputes = (await connection.execute(text("SELECT country_code, status FROM disputes"))).all()
        totals = (
            await connection.execute(
                text("SELECT currency, SUM(signed_minor) FROM ledger_postings GROUP BY currency")
            )
        ).all()
        dead = (
            await connection.execute(text("SELECT COUNT(*) FROM outbox_jobs WHERE status = 'DEAD'"))
        ).scalar_one()
    for country in DEMO_COUNTRIES:
        assert {status for c, status in disputes if c == country} == {s.value for s in DisputeStatus}
    assert sorted(currency for currency, _ in totals) == ["BRL", "CLP", "COP", "MXN"]
    assert all(total == 0 for _, total in totals)
    assert dead == len(DEMO_COUNTRIES)
    async with uow_factory() as uow:
        circuits = [(c.country.value, c.provider, c.state) for c in await uow.circuits.everywhere()]
    assert circuits == [(OUTAGE_COUNTRY, "payments", CircuitState.OPEN)]
    assert {
        "COMPLETED",
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "DISPUTED",
        "DELIVERED",
        "CANCELLED",
        "CREATED",
    } <= set(report.orders)
    code, summary = await run_audit_verify(migrated_url)
    assert code == 0, summary

    again = await seed_demo(
        uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock()
    )
    assert again.skipped
