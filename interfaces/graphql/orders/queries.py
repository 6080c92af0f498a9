"""Root queries on orders: ``order`` and ``orders``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.ports.read_models import OrderFilter, Page
from application.security.principal import Operation
from domain.orders import OrderStatus
from interfaces.graphql.common import (
    AFTER_DESCRIPTION,
    COUNTRY_DESCRIPTION,
    DEFAULT_PAGE_SIZE,
    FIRST_DESCRIPTION,
    Connection,
    check_aware,
    check_id,
    connection,
    first_problem,
    page_request,
)
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    invalid_input,
    not_found,
)
from interfaces.graphql.orders.types import Order, preload_relations
from interfaces.graphql.scope import Scope, guard

OrderResult: TypeAlias = Annotated[
    Order | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("OrderResult"),
]
OrdersResult: TypeAlias = Annotated[
    Connection[Order] | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("OrdersResult"),
]
CountryArgument: TypeAlias = Annotated[str, strawberry.argument(description=COUNTRY_DESCRIPTION)]
FirstArgument: TypeAlias = Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)]
AfterArgument: TypeAlias = Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)]


@strawberry.input(name="OrderFilter", description="All given conditions apply (AND).")
class OrderFilterInput:
    statuses: list[OrderStatus] | None = None
    created_from: datetime | None = strawberry.field(default=None, description="Created at or after.")
    created_before: datetime | None = strawberry.field(default=None, description="Created strictly before.")


async def resolve_order(info: GraphQLInfo, *, country_code: CountryArgument, id: str) -> OrderResult:
    scope = await guard(info, country_code, Operation.ORDER_READ, DenialTarget("order", id))
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("id", id)
    if problem is not None:
        return invalid_input(problem)
    order = await scope.loaders.orders.load((scope.country, id))
    if order is None:
        return not_found("order", id)
    if not scope.sees(order):
        return await scope.hidden("order", id)
    return Order.from_domain(order)


async def resolve_orders(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
    filter: OrderFilterInput | None = None,
) -> OrdersResult:
    scope = await guard(info, country_code, Operation.ORDER_READ, DenialTarget("query", "orders"))
    if not isinstance(scope, Scope):
        return scope
    where = filter or OrderFilterInput()
    problem = first_problem(
        check_aware("createdFrom", where.created_from), check_aware("createdBefore", where.created_before)
    )
    if problem is not None:
        return invalid_input(problem)
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    party = scope.party
    if party.nothing:
        return connection(Page([], None, False), Order.from_domain)
    listed = await scope.reads.orders.list_orders(
        scope.country,
        OrderFilter(
            statuses=frozenset(where.statuses or ()),
            created_from=where.created_from,
            created_before=where.created_before,
            seller_id=party.seller_id,
            buyer_id=party.buyer_id,
            courier_id=party.courier_id,
            payment_partner_id=party.payment_partner_id,
        ),
        page.unwrap(),
    )
    if isinstance(listed, Failure):
        return invalid_input(listed.failure())
    found = listed.unwrap()
    for order in found.items:
        scope.loaders.orders.prime((scope.country, order.id), order)
    await preload_relations(info, found.items)
    return connection(found, Order.from_domain)


@strawberry.type
class OrderQueries:
    order: OrderResult = strawberry.field(
        resolver=resolve_order,
        description="One order of the country (NOT_FOUND if the caller may not see it).",
    )
    orders: OrdersResult = strawberry.field(
        resolver=resolve_orders, description="The country's orders the caller may see, newest first."
    )
