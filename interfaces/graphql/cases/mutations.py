"""Case and incident mutations.

Each takes one ``input`` (with its ``countryCode``), passes the scope guard, checks the
sizes of its text at the edge, calls the use case (application/cases/use_cases.py and
incidents.py, which authorize again, audit and announce the change on the live queue)
and answers a union of its success type and the shared error types. A refusal is a
``ForbiddenError`` and an ``access.denied`` audit entry; another country's case is
``NOT_FOUND``.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure, Result

from application.audit.denials import DenialTarget
from application.cases.incidents import (
    ACTION_OPERATIONS,
    MAX_REASON_CHARS,
    ApplyIncidentAction,
    IncidentActionReceipt,
    OpenOrderIncident,
    apply_incident_action,
    open_order_incident,
)
from application.cases.use_cases import (
    AcknowledgeCase,
    AssignCase,
    CustomerReplied,
    EscalateCase,
    PostStatusUpdate,
    RateCase,
    WaitOnCustomer,
    acknowledge_case,
    assign_case,
    customer_replied,
    escalate_case,
    post_status_update,
    rate_case,
    wait_on_customer,
)
from application.security.principal import Operation
from domain.cases.case import MAX_TEXT_CHARS, MAX_TITLE_CHARS
from domain.cases.case import Case as DomainCase
from domain.cases.kinds import CaseStatus, IncidentAction, IncidentType, Severity
from domain.orders import MAX_PARTY_ID_LENGTH, OrderStatus
from domain.shared import DomainError
from domain.shared import Money as DomainMoney
from domain.shared.ids import OrderId
from interfaces.graphql.cases.types import Case, CaseRatingType, case_of
from interfaces.graphql.common import Money, check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.disputes.types import Dispute
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.orders.types import Order
from interfaces.graphql.scope import Scope, guard


@strawberry.type(description="The case after the change.")
class CaseChangeSuccess:
    case: Case


CaseChangeResult: TypeAlias = Annotated[CaseChangeSuccess | AnyError, strawberry.union("CaseChangeResult")]


async def _case_scope(
    info: GraphQLInfo, country_code: str, case_id: str, operation: Operation
) -> tuple[Scope, DenialTarget] | AnyError:
    target = DenialTarget("case", case_id)
    scope = await guard(info, country_code, operation, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("caseId", case_id)
    if problem is not None:
        return invalid_input(problem)
    return scope, target


async def _changed(
    info: GraphQLInfo, scope: Scope, target: DenialTarget, result: Result[DomainCase, DomainError]
) -> CaseChangeResult:
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return CaseChangeSuccess(case=case_of(info, result.unwrap()))


# ------------------------------------------------------------------------ acknowledge


@strawberry.input(
    description="Take a NEW case on: stops the acknowledge clock, starts the status-update clock."
)
class CaseAcknowledgeInput:
    country_code: str
    case_id: str


async def case_acknowledge(info: GraphQLInfo, input: CaseAcknowledgeInput) -> CaseChangeResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_ACKNOWLEDGE)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    result = await acknowledge_case(
        scope.services, scope.request, AcknowledgeCase(scope.country, input.case_id)
    )
    return await _changed(info, scope, target, result)


# ------------------------------------------------------------------------ assign


@strawberry.input(description="Give an open case to an agent, or back to its tier's queue (assignee null).")
class CaseAssignInput:
    country_code: str
    case_id: str
    assignee: str | None = strawberry.field(default=None, description="The agent's id; null: unassign.")


async def case_assign(info: GraphQLInfo, input: CaseAssignInput) -> CaseChangeResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_ASSIGN)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    if input.assignee is not None:
        problem = check_id("assignee", input.assignee)
        if problem is not None:
            return invalid_input(problem)
    result = await assign_case(
        scope.services, scope.request, AssignCase(scope.country, input.case_id, input.assignee)
    )
    return await _changed(info, scope, target, result)


# ------------------------------------------------------------------------ escalate


@strawberry.input(
    description="Move an open case one tier up (L0 -> L1 -> L2 -> L3), back to that tier's queue."
)
class CaseEscalateInput:
    country_code: str
    case_id: str
    reason: str = strawberry.field(description=f"Why (required, at most {MAX_TEXT_CHARS} characters).")


async def case_escalate(info: GraphQLInfo, input: CaseEscalateInput) -> CaseChangeResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_ESCALATE)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    problem = check_text("reason", input.reason, MAX_TEXT_CHARS)
    if problem is not None:
        return invalid_input(problem)
    result = await escalate_case(
        scope.services, scope.request, EscalateCase(scope.country, input.case_id, input.reason)
    )
    return await _changed(info, scope, target, result)


# ------------------------------------------------------------------------ status update


@strawberry.input(
    description="Post a status update for the people affected (restarts the status-update clock), "
    "optionally moving the case on: ACKNOWLEDGED, MITIGATED, WAITING_ON_CUSTOMER, RESOLVED "
    "(with a resolution; the text if none is given) or CLOSED (a resolved case; the text is kept as a note)."
)
class CaseStatusUpdateInput:
    country_code: str
    case_id: str
    text: str = strawberry.field(description=f"At most {MAX_TEXT_CHARS} characters.")
    status: CaseStatus | None = strawberry.field(default=None, description="The status to move to, if any.")
    resolution: str | None = strawberry.field(
        default=None, description=f"RESOLVED only: how it was resolved (at most {MAX_TEXT_CHARS} characters)."
    )


async def case_status_update(info: GraphQLInfo, input: CaseStatusUpdateInput) -> CaseChangeResult:
    operation = (
        Operation.CASE_RESOLVE
        if input.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
        else (Operation.CASE_UPDATE)
    )
    admitted = await _case_scope(info, input.country_code, input.case_id, operation)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    problem = first_problem(
        check_text("text", input.text, MAX_TEXT_CHARS),
        check_text("resolution", input.resolution, MAX_TEXT_CHARS),
    )
    if problem is not None:
        return invalid_input(problem)
    result = await post_status_update(
        scope.services,
        scope.request,
        PostStatusUpdate(scope.country, input.case_id, input.text, input.status, input.resolution),
    )
    return await _changed(info, scope, target, result)


# ------------------------------------------------------------------------ waiting on the customer


@strawberry.input(description="Wait for the customer's answer: every running SLA clock pauses.")
class CaseWaitOnCustomerInput:
    country_code: str
    case_id: str
    reason: str = strawberry.field(description=f"What is asked of the customer (at most {MAX_TEXT_CHARS}).")


async def case_wait_on_customer(info: GraphQLInfo, input: CaseWaitOnCustomerInput) -> CaseChangeResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_UPDATE)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    problem = check_text("reason", input.reason, MAX_TEXT_CHARS)
    if problem is not None:
        return invalid_input(problem)
    result = await wait_on_customer(
        scope.services, scope.request, WaitOnCustomer(scope.country, input.case_id, input.reason)
    )
    return await _changed(info, scope, target, result)


@strawberry.input(description="The customer answered: back to the status it left; paused clocks resume.")
class CaseCustomerRepliedInput:
    country_code: str
    case_id: str


async def case_customer_replied(info: GraphQLInfo, input: CaseCustomerRepliedInput) -> CaseChangeResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_UPDATE)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    result = await customer_replied(
        scope.services, scope.request, CustomerReplied(scope.country, input.case_id)
    )
    return await _changed(info, scope, target, result)


# ------------------------------------------------------------------------ rating


@strawberry.input(description="The customer's rating of a resolved case: the order's buyer, once.")
class CaseRateInput:
    country_code: str
    case_id: str
    score: int = strawberry.field(description="1 (bad) to 5 (excellent).")
    comment: str = strawberry.field(default="", description=f"At most {MAX_TEXT_CHARS} characters.")


@strawberry.type
class CaseRateSuccess:
    case_id: str
    rating: CaseRatingType


CaseRateResult: TypeAlias = Annotated[CaseRateSuccess | AnyError, strawberry.union("CaseRateResult")]


async def case_rate(info: GraphQLInfo, input: CaseRateInput) -> CaseRateResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, Operation.CASE_RATE)
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    problem = check_text("comment", input.comment, MAX_TEXT_CHARS)
    if problem is not None:
        return invalid_input(problem)
    result = await rate_case(
        scope.services, scope.request, RateCase(scope.country, input.case_id, input.score, input.comment)
    )
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return CaseRateSuccess(case_id=input.case_id, rating=CaseRatingType.from_domain(result.unwrap()))


# ------------------------------------------------------------------------ incidents


@strawberry.input(
    description="Open a live incident on an order in flight: a case (at L0, the rules look first) "
    "and the order's payout frozen until it is resolved."
)
class IncidentOpenInput:
    country_code: str
    order_id: str
    type: IncidentType
    severity: Severity
    title: str = strawberry.field(description=f"What happened (at most {MAX_TITLE_CHARS} characters).")


@strawberry.type
class IncidentOpenSuccess:
    case: Case = strawberry.field(
        description="The incident's case, as it is after the rules (L0) looked at it."
    )
    order: Order | None = strawberry.field(description="The order, its payout frozen.")


IncidentOpenResult: TypeAlias = Annotated[
    IncidentOpenSuccess | AnyError, strawberry.union("IncidentOpenResult")
]


async def incident_open(info: GraphQLInfo, input: IncidentOpenInput) -> IncidentOpenResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.INCIDENT_OPEN, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", input.order_id), check_text("title", input.title, MAX_TITLE_CHARS)
    )
    if problem is not None:
        return invalid_input(problem)
    result = await open_order_incident(
        scope.services,
        scope.request,
        OpenOrderIncident(scope.country, OrderId(input.order_id), input.type, input.severity, input.title),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    order = await scope.loaders.orders.load((scope.country, input.order_id))
    return IncidentOpenSuccess(
        case=case_of(info, result.unwrap()), order=None if order is None else Order.from_domain(order)
    )


@strawberry.input(
    description=(
        "Act on an open order incident. RETRY (L1+): re-dispatch (the seller and the courier are sent the "
        "order again). URGENT_REPLACEMENT (L2+): reassign the courier (until delivery) or the seller (only "
        "before capture) to `replacementId`; the new and the replaced party are notified. "
        "OPERATIONAL_CANCELLATION (L2+): cancel the order; after a capture the buyer is refunded in full "
        "through a FULL_REFUND dispute run by the saga (returned as `dispute`). FORCE_COMPLETE (L3, reason "
        "required, once per order): release the order to the seller."
    )
)
class IncidentActionInput:
    country_code: str
    case_id: str
    action: IncidentAction
    reason: str = strawberry.field(default="", description=f"Why (at most {MAX_REASON_CHARS} characters).")
    replace: str | None = strawberry.field(
        default=None, description="URGENT_REPLACEMENT only: SELLER or COURIER (default COURIER)."
    )
    replacement_id: str | None = strawberry.field(
        default=None, description="URGENT_REPLACEMENT only (required): the seller or courier who takes over."
    )


@strawberry.type
class IncidentActionSuccess:
    case: Case
    order_status: OrderStatus
    order: Order | None = strawberry.field(
        description="The order after the action (an URGENT_REPLACEMENT shows its new seller or courier)."
    )
    dispute: Dispute | None = strawberry.field(
        description="OPERATIONAL_CANCELLATION after a capture: the dispute whose saga refunds the buyer."
    )
    refund: Money | None = strawberry.field(description="What that dispute refunds to the buyer's card.")
    released: Money | None = strawberry.field(description="FORCE_COMPLETE: what was released to the seller.")
    ledger_keys: list[str]


IncidentActionResult: TypeAlias = Annotated[
    IncidentActionSuccess | AnyError, strawberry.union("IncidentActionResult")
]


def _money(minor: int, currency: str | None) -> Money | None:
    if currency is None or minor == 0:
        return None
    return Money.from_domain(DomainMoney.of(minor, currency))


async def incident_action(info: GraphQLInfo, input: IncidentActionInput) -> IncidentActionResult:
    admitted = await _case_scope(info, input.country_code, input.case_id, ACTION_OPERATIONS[input.action])
    if not isinstance(admitted, tuple):
        return admitted
    scope, target = admitted
    problem = first_problem(
        check_text("reason", input.reason, MAX_REASON_CHARS),
        check_text("replace", input.replace, 16),
        check_text("replacement_id", input.replacement_id, MAX_PARTY_ID_LENGTH),
    )
    if problem is not None:
        return invalid_input(problem)
    result = await apply_incident_action(
        scope.services,
        scope.request,
        ApplyIncidentAction(
            scope.country, input.case_id, input.action, input.reason, input.replace, input.replacement_id
        ),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    receipt: IncidentActionReceipt = result.unwrap()
    dispute = None
    if receipt.dispute_id is not None:
        found = await scope.loaders.disputes.load((scope.country, receipt.dispute_id))
        dispute = None if found is None else Dispute.from_domain(found)
    order = None
    if receipt.case.state.order_id is not None:
        found_order = await scope.loaders.orders.load((scope.country, receipt.case.state.order_id))
        order = None if found_order is None else Order.from_domain(found_order)
    return IncidentActionSuccess(
        case=case_of(info, receipt.case),
        order_status=receipt.order_status,
        order=order,
        dispute=dispute,
        refund=_money(receipt.refund_minor, receipt.currency),
        released=_money(receipt.released_minor, receipt.currency),
        ledger_keys=list(receipt.ledger_keys),
    )


@strawberry.type
class CaseMutations:
    case_acknowledge: CaseChangeResult = strawberry.mutation(
        resolver=case_acknowledge, description="Acknowledge a NEW case."
    )
    case_assign: CaseChangeResult = strawberry.mutation(
        resolver=case_assign, description="Assign an open case to an agent (or unassign it)."
    )
    case_escalate: CaseChangeResult = strawberry.mutation(
        resolver=case_escalate, description="Escalate an open case one tier."
    )
    case_status_update: CaseChangeResult = strawberry.mutation(
        resolver=case_status_update,
        description="Post a status update, optionally mitigating, resolving or closing the case.",
    )
    case_wait_on_customer: CaseChangeResult = strawberry.mutation(
        resolver=case_wait_on_customer, description="Wait on the customer (SLA clocks pause)."
    )
    case_customer_replied: CaseChangeResult = strawberry.mutation(
        resolver=case_customer_replied, description="The customer answered (SLA clocks resume)."
    )
    case_rate: CaseRateResult = strawberry.mutation(
        resolver=case_rate, description="The buyer rates a resolved case, 1-5 with a comment, once."
    )
    incident_open: IncidentOpenResult = strawberry.mutation(
        resolver=incident_open, description="Open an incident on an order in flight (freezes its payout)."
    )
    incident_action: IncidentActionResult = strawberry.mutation(
        resolver=incident_action, description="Act on an open order incident."
    )
