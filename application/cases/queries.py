"""Reading cases: the console's work queue and one case, always within one country.

- :func:`work_queue`: a page of the country's cases, nearest running SLA deadline first
  (cases with no running clock last), then by id; filters by kind, severity, tier,
  status, assignee, breached and *at risk* (a running clock due within N minutes,
  :data:`DEFAULT_AT_RISK_MINUTES` unless the caller says otherwise; an overdue clock the
  scheduler has not marked yet counts as at risk too).
- :func:`case_by_id`: one case of the country; another country's case is ``NOT_FOUND``
  (the repository filters by country, and row-level security by the caller's scope).

Both authorize ``CASE_READ`` first, like every use case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from returns.result import Failure, Result, Success

from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.cases import CaseFilter, CasePage
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, CaseStatus, Severity, Tier
from domain.shared import CountryCode, InvalidInput

DEFAULT_AT_RISK_MINUTES: Final = 60
MAX_AT_RISK_MINUTES: Final = 7 * 24 * 60
MAX_QUEUE_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class WorkQueue:
    """``at_risk``: only cases with a running clock due within ``at_risk_minutes``;
    ``breached``: ``True`` open cases with a breached clock, ``False`` cases never breached."""

    country: CountryCode
    first: int
    after: str | None = None
    kinds: frozenset[CaseKind] = field(default_factory=frozenset)
    severities: frozenset[Severity] = field(default_factory=frozenset)
    tiers: frozenset[Tier] = field(default_factory=frozenset)
    statuses: frozenset[CaseStatus] = field(default_factory=frozenset)
    assignee: str | None = None
    breached: bool | None = None
    at_risk: bool = False
    at_risk_minutes: int = DEFAULT_AT_RISK_MINUTES
    order_id: str | None = None


async def work_queue(
    svc: Services, ctx: RequestContext, query: WorkQueue
) -> Result[CasePage, Forbidden | InvalidInput]:
    allowed = authorize(ctx.principal, Operation.CASE_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    if not 1 <= query.first <= MAX_QUEUE_PAGE:
        return Failure(InvalidInput("first", f"must be 1..{MAX_QUEUE_PAGE}"))
    if not 1 <= query.at_risk_minutes <= MAX_AT_RISK_MINUTES:
        return Failure(InvalidInput("at_risk_within_minutes", f"must be 1..{MAX_AT_RISK_MINUTES}"))
    at_risk_before = svc.clock.now() + timedelta(minutes=query.at_risk_minutes) if query.at_risk else None
    where = CaseFilter(
        kinds=query.kinds,
        severities=query.severities,
        tiers=query.tiers,
        statuses=query.statuses,
        assignee=query.assignee,
        breached=query.breached,
        at_risk_before=at_risk_before,
        order_id=query.order_id,
    )
    async with svc.uow() as uow:
        try:
            page = await uow.cases.list(query.country, where, first=query.first, after=query.after)
        except ValueError:  # a cursor this API did not make (the adapter decodes it)
            return Failure(InvalidInput("after", "is not a cursor from this API"))
    return Success(page)


async def case_by_id(
    svc: Services, ctx: RequestContext, country: CountryCode, case_id: str
) -> Result[Case, Forbidden | NotFound]:
    allowed = authorize(ctx.principal, Operation.CASE_READ, country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        case = await uow.cases.get(country, case_id)
    if case is None or case.country != country:
        return Failure(NotFound("case", case_id))
    return Success(case)
