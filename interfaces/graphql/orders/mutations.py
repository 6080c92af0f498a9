"""Order mutations: ``orderTransition`` and ``orderForceComplete`` (L3, reason required).

Each takes one ``input`` (with its ``countryCode``), passes the scope guard, calls the
use case, and answers a union of its success type and the shared error types.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.orders.force_complete import ForceCompleteOrder, force_complete_order
from application.orders.use_cases import TransitionOrder, transition_order
from application.security.principal import Operation
from domain.orders import OrderStatus
from domain.orders.order import MAX_REASON_LENGTH
from domain.shared.ids import OrderId
from interfaces.graphql.common import check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.orders.types import Order
from interfaces.graphql.scope import Scope, guard


@strawberry.input(
    description="Move an order one step along its life (money-moving steps have their own operations)."
)
class OrderTransitionInput:
    country_code: str
    order_id: str
    target: OrderStatus


@strawberry.type
class OrderTransitionSuccess:
    order: Order


OrderTransitionResult: TypeAlias = Annotated[
    OrderTransitionSuccess | AnyError, strawberry.union("OrderTransitionResult")
]


@strawberry.input(description="Force-complete an order (L3; at most once per order; audited).")
class OrderForceCompleteInput:
    country_code: str
    order_id: str
    reason: str = strawberry.field(
        description=f"Why, in words (required, at most {MAX_REASON_LENGTH} characters)."
    )


@strawberry.type
class OrderForceCompleteSuccess:
    order: Order
    plan_fingerprint: str = strawberry.field(description="sha256 of the FORCE_COMPLETE execution plan.")
    ledger_keys: list[str] = strawberry.field(
        description="The ledger transactions posted (the forced release)."
    )


OrderForceCompleteResult: TypeAlias = Annotated[
    OrderForceCompleteSuccess | AnyError, strawberry.union("OrderForceCompleteResult")
]


async def order_transition(info: GraphQLInfo, input: OrderTransitionInput) -> OrderTransitionResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.ORDER_TRANSITION, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("orderId", input.order_id)
    if problem is not None:
        return invalid_input(problem)
    result = await transition_order(
        scope.services, scope.request, TransitionOrder(scope.country, OrderId(input.order_id), input.target)
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return OrderTransitionSuccess(order=Order.from_domain(result.unwrap()))


async def order_force_complete(info: GraphQLInfo, input: OrderForceCompleteInput) -> OrderForceCompleteResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.ORDER_FORCE_COMPLETE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", input.order_id), check_text("reason", input.reason, MAX_REASON_LENGTH)
    )
    if problem is not None:
        return invalid_input(problem)
    result = await force_complete_order(
        scope.services,
        scope.request,
        ForceCompleteOrder(scope.country, OrderId(input.order_id), input.reason),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    done = result.unwrap()
    return OrderForceCompleteSuccess(
        order=Order.from_domain(done.order),
        plan_fingerprint=done.plan_fingerprint,
        ledger_keys=list(done.ledger_keys),
    )


@strawberry.type
class OrderMutations:
    order_transition: OrderTransitionResult = strawberry.mutation(
        resolver=order_transition, description="A plain lifecycle step (L2+)."
    )
    order_force_complete: OrderForceCompleteResult = strawberry.mutation(
        resolver=order_force_complete,
        description="FORCE_COMPLETE (L3): releases the escrow as usual, recorded as forced; reason required.",
    )
