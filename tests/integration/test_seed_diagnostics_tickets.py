"""The demo's diagnostics tickets (D56): two countries, SEV1..SEV3, one waiting on the
customer, one about an order; a second seed adds none."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import DEMO_COUNTRIES, seed_demo
from application.ports.cases import CaseFilter
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, CaseStatus, Severity
from domain.shared import CountryCode
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock

pytestmark = pytest.mark.slow


async def tickets(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> list[Case]:
    found: list[Case] = []
    async with uow_factory() as uow:
        for country in DEMO_COUNTRIES:
            page = await uow.cases.list(
                CountryCode(country), CaseFilter(kinds=frozenset({CaseKind.DIAGNOSTICS})), first=200
            )
            found.extend(page.cases)
    return found


async def test_the_demo_has_diagnostics_tickets(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> None:
    clock = FixedClock()
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=clock)

    seeded = await tickets(uow_factory)

    assert all(c.state.kind is CaseKind.DIAGNOSTICS for c in seeded)
    assert len({c.country for c in seeded}) == 2
    for country in {c.country for c in seeded}:
        mine = [c for c in seeded if c.country == country]
        assert {c.state.severity for c in mine} == {Severity.SEV1, Severity.SEV2, Severity.SEV3}
        statuses = {c.state.severity: c.state.status for c in mine}
        assert statuses == {
            Severity.SEV1: CaseStatus.ACKNOWLEDGED,
            Severity.SEV2: CaseStatus.WAITING_ON_CUSTOMER,
            Severity.SEV3: CaseStatus.NEW,
        }
        assert [c.state.order_id is not None for c in mine if c.state.severity is Severity.SEV3] == [True]
        assert all(c.state.subject_ref for c in mine)

    again = await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=clock)
    assert again.skipped
    assert len(await tickets(uow_factory)) == len(seeded)
