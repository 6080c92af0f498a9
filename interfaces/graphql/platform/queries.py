"""Root queries: ``platformIncident``, ``postIncidentReview`` (L1+, AUDITOR) and
``caseReport`` (L3, AUDITOR), each read in the country of ``countryCode`` only."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.cases.platform import get_platform_incident, get_review
from application.cases.reports import CaseReportQuery, case_report
from application.errors import NotFound
from application.security.principal import Operation
from domain.cases.report import Month
from interfaces.graphql.common import check_id
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    forbidden,
    invalid_input,
    not_found,
)
from interfaces.graphql.orders.queries import CountryArgument
from interfaces.graphql.platform.types import CaseReport, PlatformIncident, PostIncidentReview
from interfaces.graphql.scope import Scope, guard

PlatformIncidentResult: TypeAlias = Annotated[
    PlatformIncident | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("PlatformIncidentResult"),
]
PostIncidentReviewResult: TypeAlias = Annotated[
    PostIncidentReview | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("PostIncidentReviewResult"),
]
CaseReportResult: TypeAlias = Annotated[
    CaseReport | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("CaseReportResult"),
]


async def resolve_platform_incident(
    info: GraphQLInfo, *, country_code: CountryArgument, id: str
) -> PlatformIncidentResult:
    target = DenialTarget("platform_incident", id)
    scope = await guard(info, country_code, Operation.PLATFORM_INCIDENT_READ, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("id", id)
    if problem is not None:
        return invalid_input(problem)
    found = await get_platform_incident(scope.services, scope.request, scope.country, id)
    if isinstance(found, Failure):
        error = found.failure()
        if isinstance(error, NotFound):
            return not_found("platform_incident", id)
        await scope.failed(error, target)  # audited
        return forbidden(error)
    return PlatformIncident.from_domain(found.unwrap())


async def resolve_post_incident_review(
    info: GraphQLInfo, *, country_code: CountryArgument, incident_id: str
) -> PostIncidentReviewResult:
    target = DenialTarget("post_incident_review", incident_id)
    scope = await guard(info, country_code, Operation.PLATFORM_INCIDENT_READ, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("incidentId", incident_id)
    if problem is not None:
        return invalid_input(problem)
    found = await get_review(scope.services, scope.request, scope.country, incident_id)
    if isinstance(found, Failure):
        error = found.failure()
        if isinstance(error, NotFound):
            return not_found("post_incident_review", incident_id)
        await scope.failed(error, target)  # audited
        return forbidden(error)
    return PostIncidentReview.from_domain(found.unwrap())


async def resolve_case_report(
    info: GraphQLInfo, *, country_code: CountryArgument, month: str
) -> CaseReportResult:
    target = DenialTarget("query", "caseReport")
    scope = await guard(info, country_code, Operation.CASE_REPORT_READ, target)
    if not isinstance(scope, Scope):
        return scope
    parsed = Month.parse(month[:16])
    if isinstance(parsed, Failure):
        return invalid_input(parsed.failure())
    built = await case_report(scope.services, scope.request, CaseReportQuery(scope.country, parsed.unwrap()))
    if isinstance(built, Failure):
        await scope.failed(built.failure(), target)  # audited
        return forbidden(built.failure())
    return CaseReport.from_domain(built.unwrap())


@strawberry.type
class PlatformQueries:
    platform_incident: PlatformIncidentResult = strawberry.field(
        resolver=resolve_platform_incident,
        description="A platform incident with its links, status updates and timeline (L1+, AUDITOR).",
    )
    post_incident_review: PostIncidentReviewResult = strawberry.field(
        resolver=resolve_post_incident_review,
        description="The review written when the platform incident closed (L1+, AUDITOR).",
    )
    case_report: CaseReportResult = strawberry.field(
        resolver=resolve_case_report,
        description=(
            "The monthly case report of a country (month: YYYY-MM, UTC): volumes, times to acknowledge"
            " and mitigate, SLA compliance, resolution by tier, satisfaction, money refunded through"
            " outcomes (L3, AUDITOR)."
        ),
    )
