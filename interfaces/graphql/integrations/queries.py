"""Root queries of the integration hub: ``deadLetterJobs`` and ``providerStatus`` (L3, AUDITOR)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.integrations.dead_letters import (
    ListDeadLetters,
    ReadProviderStatus,
    list_dead_letters,
    provider_status,
)
from application.security.principal import Forbidden, Operation
from interfaces.graphql.common import DEFAULT_PAGE_SIZE, Connection, connection, page_request
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    UnauthenticatedError,
    forbidden,
    invalid_input,
)
from interfaces.graphql.integrations.types import OutboxJob, ProviderStatus
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

DeadLetterJobsResult: TypeAlias = Annotated[
    Connection[OutboxJob] | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("DeadLetterJobsResult"),
]


@strawberry.type
class ProviderStatusList:
    providers: list[ProviderStatus]


ProviderStatusResult: TypeAlias = Annotated[
    ProviderStatusList | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("ProviderStatusResult"),
]


async def resolve_dead_letter_jobs(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
) -> DeadLetterJobsResult:
    target = DenialTarget("query", "deadLetterJobs")
    scope = await guard(info, country_code, Operation.DEAD_LETTER_READ, target)
    if not isinstance(scope, Scope):
        return scope
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    listed = await list_dead_letters(
        scope.services, scope.request, ListDeadLetters(scope.country, page.unwrap())
    )
    if isinstance(listed, Failure):
        error = listed.failure()
        if isinstance(error, Forbidden):
            await scope.failed(error, target)  # audited
            return forbidden(error)
        return invalid_input(error)
    return connection(listed.unwrap(), OutboxJob.from_domain)


async def resolve_provider_status(
    info: GraphQLInfo, *, country_code: CountryArgument
) -> ProviderStatusResult:
    target = DenialTarget("query", "providerStatus")
    scope = await guard(info, country_code, Operation.PROVIDER_STATUS_READ, target)
    if not isinstance(scope, Scope):
        return scope
    statuses = await provider_status(scope.services, scope.request, ReadProviderStatus(scope.country))
    if isinstance(statuses, Failure):
        await scope.failed(statuses.failure(), target)  # audited
        return forbidden(statuses.failure())
    return ProviderStatusList(providers=[ProviderStatus.from_domain(s) for s in statuses.unwrap()])


@strawberry.type
class IntegrationQueries:
    dead_letter_jobs: DeadLetterJobsResult = strawberry.field(
        resolver=resolve_dead_letter_jobs,
        description="The country's dead-letter queue, newest first, with each job's errors (L3, AUDITOR).",
    )
    provider_status: ProviderStatusResult = strawberry.field(
        resolver=resolve_provider_status,
        description="Circuit breaker and queue depth of every provider of the country (L3, AUDITOR).",
    )
