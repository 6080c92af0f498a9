"""``caseBundles``: the diagnostics bundles attached to a case, oldest first (``case.read``)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.cases.bundles import CaseBundles, case_bundles
from application.errors import NotFound
from application.security.principal import Operation
from interfaces.graphql.common import check_id
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.types import CaseBundle
from interfaces.graphql.errors import AnyError, invalid_input, not_found
from interfaces.graphql.orders.queries import CountryArgument
from interfaces.graphql.scope import Scope, guard


@strawberry.type(description="The bundles of one case, oldest first.")
class CaseBundleList:
    case_id: str
    bundles: list[CaseBundle]


CaseBundlesResult: TypeAlias = Annotated[CaseBundleList | AnyError, strawberry.union("CaseBundlesResult")]


async def resolve_case_bundles(
    info: GraphQLInfo, *, country_code: CountryArgument, case_id: str
) -> CaseBundlesResult:
    target = DenialTarget("case", case_id)
    scope = await guard(info, country_code, Operation.CASE_READ, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("caseId", case_id)
    if problem is not None:
        return invalid_input(problem)
    found = await case_bundles(scope.services, scope.request, CaseBundles(scope.country, case_id))
    if isinstance(found, Failure):
        error = found.failure()
        if isinstance(error, NotFound):
            return not_found("case", case_id)
        return await scope.failed(error, target)
    return CaseBundleList(case_id=case_id, bundles=[CaseBundle.from_domain(b) for b in found.unwrap()])


@strawberry.type
class DiagnosticsQueries:
    case_bundles: CaseBundlesResult = strawberry.field(
        resolver=resolve_case_bundles,
        description="The diagnostics bundles attached to a case (verdicts, leak locations, summaries).",
    )
