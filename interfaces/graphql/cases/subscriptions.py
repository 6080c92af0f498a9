"""``caseChanged(countryCode)``: the console's work queue, live (graphql-transport-ws).

The subscriber passes the scope guard once, like a query (``CASE_READ`` in that country:
a caller outside it gets one ``ForbiddenError``, audited, and the stream ends). It then
listens on the country's queue topic of the change feed (application/cases/feed.py) and,
for every wake-up, re-reads the case through the ordinary read path (``case_by_id``:
authorized, filtered by country, row-level security) and pushes it with what changed.
Wake-ups carry ids only; a dropped one loses nothing the next read would not show.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, TypeAlias

import strawberry
from returns.result import Success

from application.audit.denials import DenialTarget
from application.cases.feed import CHANGE_PREFIX, queue_topic
from application.cases.queries import case_by_id
from application.security.principal import Operation
from application.security.scope import bind_scope
from interfaces.graphql.cases.types import Case, case_of
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import ForbiddenError, InvalidInputError, UnauthenticatedError
from interfaces.graphql.orders.queries import CountryArgument
from interfaces.graphql.scope import Scope, guard


@strawberry.type(description="A case of the country changed (opened, acknowledged, breached, resolved...).")
class CaseChangedEvent:
    case_id: str
    change: str = strawberry.field(
        description="The last thing that happened: a CaseTimelineKind, e.g. ACKNOWLEDGED."
    )
    version: int = strawberry.field(description="The case's version after the change.")
    case: Case | None = strawberry.field(
        description="The case as it is now (null if it can no longer be read)."
    )


CaseChangedResult: TypeAlias = Annotated[
    CaseChangedEvent | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("CaseChangedResult"),
]


async def case_changed(
    info: GraphQLInfo, country_code: CountryArgument
) -> AsyncGenerator[CaseChangedResult, None]:
    scope = await guard(info, country_code, Operation.CASE_READ, DenialTarget("subscription", "caseChanged"))
    if not isinstance(scope, Scope):
        yield scope
        return
    # The stream runs in a task of its own, perhaps authenticated only by connection_init:
    # bind the caller's countries for the database's own wall, as the HTTP context does.
    bind_scope(scope.principal)
    async with scope.services.changes.subscribe(queue_topic(scope.country)) as changes:
        async for change in changes:
            case_id, version = change.data.get("case_id"), change.data.get("version")
            if not isinstance(case_id, str) or not isinstance(version, int):
                continue
            found = await case_by_id(scope.services, scope.request, scope.country, case_id)
            scope.loaders.clear_all()  # the connection's loaders would serve stale orders
            yield CaseChangedEvent(
                case_id=case_id,
                change=change.kind.removeprefix(CHANGE_PREFIX),
                version=version,
                case=case_of(info, found.unwrap()) if isinstance(found, Success) else None,
            )


@strawberry.type
class CaseSubscriptions:
    case_changed: AsyncGenerator[CaseChangedResult, None] = strawberry.subscription(
        resolver=case_changed,
        description="Every change to the country's cases, as it is committed (the live work queue).",
    )
