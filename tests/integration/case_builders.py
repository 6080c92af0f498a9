"""Cases for the persistence and scheduler tests: opened through the domain, no use cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from returns.result import Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, IncidentType, Severity, Tier
from domain.cases.sla import default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode
from domain.shared.ids import ActorId
from tests.fakes.calendars import fixed_calendar

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

MX: Final = CountryCode("MX")
CO: Final = CountryCode("CO")
AGENT: Final = ActorRef(ActorId("agent-1"), "L1")
T0: Final = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Mexico City


def open_case(
    case_id: str,
    *,
    country: CountryCode = MX,
    severity: Severity = Severity.SEV1,
    kind: CaseKind = CaseKind.ORDER_INCIDENT,
    at: datetime = T0,
    tier: Tier = Tier.L1,
    order_id: str | None = "order-1",
    subject_ref: str | None = None,
) -> Case:
    """A NEW case (SEV1 order incident by default: acknowledge in 10 min, mitigate in 60, 24x7)."""
    opened = Case.open(
        case_id=case_id,
        country=country,
        kind=kind,
        severity=severity,
        title=f"case {case_id}",
        opened_by=AGENT,
        at=at,
        policy=default_sla_policy(country, kind),
        calendar=fixed_calendar(country.value),
        tier=tier,
        order_id=order_id,
        subject_ref=subject_ref,
        incident_type=IncidentType.LATE if kind is CaseKind.ORDER_INCIDENT else None,
    )
    assert isinstance(opened, Success), opened
    case: Case = opened.unwrap()
    return case


async def store(uow_factory: UowFactory, *items: Case) -> None:
    async with uow_factory() as uow:
        for case in items:
            await uow.cases.add(case)
        await uow.commit()
