"""Root queries on cases: ``cases`` (the console's work queue) and ``case``.

The work queue is a Relay connection ordered by the nearest running SLA deadline (cases
with no running clock last, then by id); its cursors are the repository's keyset
cursors. ``atRisk`` keeps the cases with a running clock due within
``atRiskWithinMinutes`` (default 60; an overdue clock counts). Everything is read in the
country of ``countryCode``: a case of another country is ``NOT_FOUND`` even by id.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget, record_denial
from application.cases.queries import (
    DEFAULT_AT_RISK_MINUTES,
    MAX_AT_RISK_MINUTES,
    WorkQueue,
    case_by_id,
    work_queue,
)
from application.errors import NotFound
from application.ports.read_models import MAX_PAGE_SIZE
from application.security.principal import Forbidden, Operation
from domain.cases.kinds import CaseKind, CaseStatus, Severity, Tier
from domain.shared import InvalidInput
from interfaces.graphql.cases.types import Case, case_of, preload_relations
from interfaces.graphql.common import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_CHARS,
    Connection,
    PageInfo,
    check_id,
    connection_of,
    first_problem,
)
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    forbidden,
    invalid_field,
    invalid_input,
    not_found,
)
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard


async def refused(scope: Scope, error: Forbidden, target: DenialTarget) -> ForbiddenError:
    """A refusal by the read itself (the guard admitted the same operation, so in practice
    never), audited like the guard's."""
    await record_denial(scope.services, scope.request, error, target)
    return forbidden(error)


CaseResult: TypeAlias = Annotated[
    Case | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("CaseResult"),
]
CasesResult: TypeAlias = Annotated[
    Connection[Case] | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("CasesResult"),
]


@strawberry.input(name="CaseFilter", description="All given conditions apply (AND); lists mean any of.")
class CaseFilterInput:
    kinds: list[CaseKind] | None = None
    severities: list[Severity] | None = None
    tiers: list[Tier] | None = None
    statuses: list[CaseStatus] | None = strawberry.field(
        default=None, description="Any status when absent (the queue of open cases: NEW, ACKNOWLEDGED...)."
    )
    assignee: str | None = strawberry.field(default=None, description="Held by this agent.")
    order_id: str | None = strawberry.field(default=None, description="About this order.")
    breached: bool | None = strawberry.field(
        default=None,
        description="true: open cases with a breached SLA clock; false: cases never breached.",
    )
    at_risk: bool | None = strawberry.field(
        default=None,
        description="true: a running SLA clock is due within atRiskWithinMinutes (overdue included).",
    )
    at_risk_within_minutes: int = strawberry.field(
        default=DEFAULT_AT_RISK_MINUTES,
        description=f"The at-risk horizon in minutes: default {DEFAULT_AT_RISK_MINUTES}, "
        f"at most {MAX_AT_RISK_MINUTES}.",
    )


async def resolve_cases(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    filter: CaseFilterInput | None = None,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
) -> CasesResult:
    scope = await guard(info, country_code, Operation.CASE_READ, DenialTarget("query", "cases"))
    if not isinstance(scope, Scope):
        return scope
    where = filter or CaseFilterInput()
    problem = first_problem(
        None if where.assignee is None else check_id("assignee", where.assignee),
        None if where.order_id is None else check_id("orderId", where.order_id),
    )
    if problem is not None:
        return invalid_input(problem)
    if first < 1:
        return invalid_field("first", "must be at least 1")
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        return invalid_field("after", "is not a cursor from this API")
    listed = await work_queue(
        scope.services,
        scope.request,
        WorkQueue(
            country=scope.country,
            first=min(first, MAX_PAGE_SIZE),
            after=after,
            kinds=frozenset(where.kinds or ()),
            severities=frozenset(where.severities or ()),
            tiers=frozenset(where.tiers or ()),
            statuses=frozenset(where.statuses or ()),
            assignee=where.assignee,
            breached=where.breached,
            at_risk=bool(where.at_risk),
            at_risk_minutes=where.at_risk_within_minutes,
            order_id=where.order_id,
        ),
    )
    if isinstance(listed, Failure):
        error = listed.failure()
        if isinstance(error, InvalidInput):
            return invalid_input(error)
        return await refused(scope, error, DenialTarget("query", "cases"))
    page = listed.unwrap()
    await preload_relations(info, page.cases)
    nodes = [case_of(info, case) for case in page.cases]
    # The repository's cursor marks the end of the page; a node's own cursor is the
    # page's end for the last one and empty for the others (resume from the page's end).
    cursors = ["" for _ in nodes]
    if nodes and page.next_cursor is not None:
        cursors[-1] = page.next_cursor
    page_info = PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor)
    return connection_of(nodes, page_info, cursors)


async def resolve_case(info: GraphQLInfo, *, country_code: CountryArgument, id: str) -> CaseResult:
    target = DenialTarget("case", id)
    scope = await guard(info, country_code, Operation.CASE_READ, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("id", id)
    if problem is not None:
        return invalid_input(problem)
    found = await case_by_id(scope.services, scope.request, scope.country, id)
    if isinstance(found, Failure):
        missing = found.failure()
        if isinstance(missing, NotFound):
            return not_found("case", id)
        return await refused(scope, missing, target)
    return case_of(info, found.unwrap())


@strawberry.type
class CaseQueries:
    cases: CasesResult = strawberry.field(
        resolver=resolve_cases,
        description="The work queue: the country's cases, nearest SLA deadline first "
        "(cases with no running clock last).",
    )
    case: CaseResult = strawberry.field(
        resolver=resolve_case, description="One case of the country, with its clocks, timeline and rating."
    )
