"""The demo's cases: every incident type, severity and status, breached and at risk, in
several countries; the disputes' cases; L0's store credit; a second seed adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import DEMO_COUNTRIES, seed_demo
from application.ports.cases import CaseFilter
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, CaseStatus, IncidentType, Severity, Tier
from domain.shared import CountryCode
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock

pytestmark = pytest.mark.slow


async def all_cases(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> list[Case]:
    found: list[Case] = []
    async with uow_factory() as uow:
        for country in DEMO_COUNTRIES:
            page = await uow.cases.list(CountryCode(country), CaseFilter(), first=200)
            found.extend(page.cases)
    return found


async def test_the_demo_has_cases_of_every_kind_status_and_severity(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork],
) -> None:
    clock = FixedClock()
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=clock)
    cases = await all_cases(uow_factory)
    incidents = [c for c in cases if c.state.kind is CaseKind.ORDER_INCIDENT]
    assert {c.state.incident_type for c in incidents} == set(IncidentType)
    assert {c.state.severity for c in cases} == set(Severity)
    assert {c.state.status for c in incidents} == set(CaseStatus)
    assert {c.state.kind for c in cases} >= {CaseKind.ORDER_INCIDENT, CaseKind.DISPUTE}
    assert {c.country.value for c in incidents} == set(DEMO_COUNTRIES)
    breached = [c for c in incidents if c.state.breaches > 0]
    assert len({c.country for c in breached}) >= 3
    outages = [c for c in incidents if c.state.severity is Severity.SEV0]
    assert outages and all(c.state.breaches > 0 and c.state.tier is Tier.L3 for c in outages)
    now = clock.now()
    at_risk = [
        c
        for c in incidents
        if c.state.next_deadline is not None and now <= c.state.next_deadline <= now + timedelta(hours=1)
    ]
    assert len({c.country for c in at_risk}) >= 3
    settled_by_rules = [c for c in incidents if c.state.resolved_tier is Tier.L0]
    assert len(settled_by_rules) == len(DEMO_COUNTRIES)
    assert any(c.state.rating is not None for c in incidents)

    again = await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=clock)
    assert again.skipped
    assert len(await all_cases(uow_factory)) == len(cases)
