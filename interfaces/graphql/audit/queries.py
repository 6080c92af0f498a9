"""Root query on the audit log: ``auditTrail`` of one entity (AUDITOR and L3)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.security.principal import Operation
from interfaces.graphql.audit.types import AuditEntry
from interfaces.graphql.common import (
    DEFAULT_PAGE_SIZE,
    Connection,
    check_id,
    check_text,
    connection,
    first_problem,
    page_request,
)
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import ForbiddenError, InvalidInputError, UnauthenticatedError, invalid_input
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

AuditTrailResult: TypeAlias = Annotated[
    Connection[AuditEntry] | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("AuditTrailResult"),
]
MAX_TARGET_TYPE_CHARS = 64


async def resolve_audit_trail(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    target_type: Annotated[str, strawberry.argument(description="order, dispute, ledger_account...")],
    target_id: str,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
) -> AuditTrailResult:
    scope = await guard(info, country_code, Operation.AUDIT_READ, DenialTarget("audit_trail", target_id))
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_text("targetType", target_type, MAX_TARGET_TYPE_CHARS), check_id("targetId", target_id)
    )
    if problem is not None:
        return invalid_input(problem)
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    trail = await scope.reads.audit.trail(scope.country, target_type, target_id, page.unwrap())
    if isinstance(trail, Failure):
        return invalid_input(trail.failure())
    return connection(trail.unwrap(), AuditEntry.from_domain)


@strawberry.type
class AuditQueries:
    audit_trail: AuditTrailResult = strawberry.field(
        resolver=resolve_audit_trail,
        description="Everything recorded about one entity in the country, oldest first (AUDITOR and L3).",
    )
