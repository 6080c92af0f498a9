"""seed-demo leaves a closed platform incident with its post-incident review in MX, once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import seed_demo
from domain.shared import CountryCode
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock

pytestmark = pytest.mark.slow


async def test_seed_demo_closes_a_platform_incident_with_its_review(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], engine: AsyncEngine
) -> None:
    for _ in range(2):  # the second run changes nothing
        await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())
    async with engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT country_code, id, status FROM platform_incidents"))
        ).all()
    assert [(country, status) for country, _, status in rows] == [("MX", "CLOSED")]
    async with uow_factory() as uow:
        incident = await uow.platform_incidents.get(CountryCode("MX"), str(rows[0][1]))
        review = await uow.platform_incidents.review(CountryCode("MX"), str(rows[0][1]))
    assert incident is not None and review is not None
    assert len(incident.state.updates) == 2 and len(incident.state.action_items) == 2
    assert review.orders_affected >= 2
    assert "## Root cause\n\nAn expired TLS certificate" in review.markdown
    assert "| 2 | Fail over to the backup acquirer automatically | payments-team |" in review.markdown
