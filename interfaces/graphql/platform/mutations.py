"""Platform-incident mutations: ``platformIncidentOpen`` and ``platformIncidentUpdate``
(L2+), ``platformIncidentClose`` (L3; writes the post-incident review). Each takes one
``input`` with its ``countryCode`` and answers a union of its success and the errors."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.cases.platform import (
    ActionItemInput,
    ClosePlatformIncident,
    OpenPlatformIncident,
    UpdatePlatformIncident,
    close_platform_incident,
    get_review,
    open_platform_incident,
    update_platform_incident,
)
from application.security.principal import Operation
from domain.cases.kinds import Severity
from domain.cases.platform import MAX_LINKS, MAX_TEXT_CHARS, MAX_TITLE_CHARS, PlatformIncidentStatus
from domain.shared import InvalidInput
from interfaces.graphql.common import check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.platform.types import PlatformIncident, PostIncidentReview
from interfaces.graphql.scope import Scope, guard

MAX_ACTION_ITEMS = 50


def _ids(field: str, values: list[str]) -> InvalidInput | None:
    if len(values) > MAX_LINKS:
        return InvalidInput(field, f"at most {MAX_LINKS} ids")
    return first_problem(*(check_id(field, value) for value in values))


@strawberry.input(description="Open a platform incident (an outage or a degraded provider).")
class PlatformIncidentOpenInput:
    country_code: str
    severity: Severity
    title: str = strawberry.field(description=f"At most {MAX_TITLE_CHARS} characters.")
    order_ids: list[str] = strawberry.field(default_factory=list, description="Affected orders.")
    case_ids: list[str] = strawberry.field(default_factory=list, description="Affected cases.")


@strawberry.input(description="A status update (optionally to MITIGATED or RESOLVED) and/or more links.")
class PlatformIncidentUpdateInput:
    country_code: str
    incident_id: str
    text: str | None = strawberry.field(default=None, description=f"At most {MAX_TEXT_CHARS} characters.")
    status: PlatformIncidentStatus | None = strawberry.field(
        default=None, description="MITIGATED or RESOLVED."
    )
    order_ids: list[str] = strawberry.field(default_factory=list)
    case_ids: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="A follow-up with its owner.")
class ActionItemInputType:
    description: str
    owner: str


@strawberry.input(description="Close a MITIGATED or RESOLVED platform incident with its root cause.")
class PlatformIncidentCloseInput:
    country_code: str
    incident_id: str
    root_cause: str
    action_items: list[ActionItemInputType] = strawberry.field(default_factory=list)


@strawberry.type
class PlatformIncidentSuccess:
    incident: PlatformIncident


@strawberry.type
class PlatformIncidentCloseSuccess:
    incident: PlatformIncident
    review: PostIncidentReview


PlatformIncidentOpenResult: TypeAlias = Annotated[
    PlatformIncidentSuccess | AnyError, strawberry.union("PlatformIncidentOpenResult")
]
PlatformIncidentUpdateResult: TypeAlias = Annotated[
    PlatformIncidentSuccess | AnyError, strawberry.union("PlatformIncidentUpdateResult")
]
PlatformIncidentCloseResult: TypeAlias = Annotated[
    PlatformIncidentCloseSuccess | AnyError, strawberry.union("PlatformIncidentCloseResult")
]


async def platform_incident_open(
    info: GraphQLInfo, input: PlatformIncidentOpenInput
) -> PlatformIncidentOpenResult:
    target = DenialTarget("platform_incident", "-")
    scope = await guard(info, input.country_code, Operation.PLATFORM_INCIDENT_MANAGE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_text("title", input.title, MAX_TITLE_CHARS),
        _ids("orderIds", input.order_ids),
        _ids("caseIds", input.case_ids),
    )
    if problem is not None:
        return invalid_input(problem)
    command = OpenPlatformIncident(
        scope.country, input.severity, input.title, tuple(input.order_ids), tuple(input.case_ids)
    )
    result = await open_platform_incident(scope.services, scope.request, command)
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return PlatformIncidentSuccess(incident=PlatformIncident.from_domain(result.unwrap()))


async def platform_incident_update(
    info: GraphQLInfo, input: PlatformIncidentUpdateInput
) -> PlatformIncidentUpdateResult:
    target = DenialTarget("platform_incident", input.incident_id)
    scope = await guard(info, input.country_code, Operation.PLATFORM_INCIDENT_MANAGE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("incidentId", input.incident_id),
        check_text("text", input.text, MAX_TEXT_CHARS),
        _ids("orderIds", input.order_ids),
        _ids("caseIds", input.case_ids),
    )
    if problem is not None:
        return invalid_input(problem)
    command = UpdatePlatformIncident(
        scope.country,
        input.incident_id,
        input.text,
        input.status,
        tuple(input.order_ids),
        tuple(input.case_ids),
    )
    result = await update_platform_incident(scope.services, scope.request, command)
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return PlatformIncidentSuccess(incident=PlatformIncident.from_domain(result.unwrap()))


async def platform_incident_close(
    info: GraphQLInfo, input: PlatformIncidentCloseInput
) -> PlatformIncidentCloseResult:
    target = DenialTarget("platform_incident", input.incident_id)
    scope = await guard(info, input.country_code, Operation.PLATFORM_INCIDENT_CLOSE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("incidentId", input.incident_id),
        check_text("rootCause", input.root_cause, MAX_TEXT_CHARS),
        None if len(input.action_items) <= MAX_ACTION_ITEMS else InvalidInput("actionItems", "at most 50"),
        *(check_text("actionItems.description", i.description, MAX_TEXT_CHARS) for i in input.action_items),
        *(check_text("actionItems.owner", i.owner, 128) for i in input.action_items),
    )
    if problem is not None:
        return invalid_input(problem)
    items = tuple(ActionItemInput(i.description, i.owner) for i in input.action_items)
    command = ClosePlatformIncident(scope.country, input.incident_id, input.root_cause, items)
    result = await close_platform_incident(scope.services, scope.request, command)
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    incident, _ = result.unwrap()
    stored = await get_review(scope.services, scope.request, scope.country, incident.incident_id)
    if isinstance(stored, Failure):  # pragma: no cover - written in the close's own transaction
        return await scope.failed(stored.failure(), target)
    return PlatformIncidentCloseSuccess(
        incident=PlatformIncident.from_domain(incident),
        review=PostIncidentReview.from_domain(stored.unwrap()),
    )


@strawberry.type
class PlatformMutations:
    platform_incident_open: PlatformIncidentOpenResult = strawberry.mutation(
        resolver=platform_incident_open,
        description=(
            "Open a platform incident (L2+) with its PLATFORM_INCIDENT case (acknowledged: its status-update"
            " clock starts now), optionally linking affected orders and cases. Audited."
        ),
    )
    platform_incident_update: PlatformIncidentUpdateResult = strawberry.mutation(
        resolver=platform_incident_update,
        description=(
            "Post a status update (restarts the case's status-update clock; optionally MITIGATED or RESOLVED)"
            " and/or link more orders and cases (L2+). Audited."
        ),
    )
    platform_incident_close: PlatformIncidentCloseResult = strawberry.mutation(
        resolver=platform_incident_close,
        description=(
            "Close a MITIGATED or RESOLVED platform incident with its root cause and action items (L3);"
            " writes the post-incident review. Audited."
        ),
    )
