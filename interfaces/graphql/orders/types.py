"""GraphQL types of orders, built from domain ``Order`` objects with ``from_domain``."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from application.security.principal import Principal
from domain.disputes import Dispute as DomainDispute
from domain.ledger import LedgerTransaction as DomainLedgerTransaction
from domain.orders import Order as DomainOrder
from domain.orders import OrderStatus
from domain.snapshots import OrderSnapshot as DomainSnapshot
from interfaces.graphql.common import Key, Money, Pending, in_place_or_awaited, node_fields, preload, settled
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.scope import load_relation, reads_ledger, relation_in_place, support_internal, viewer

if TYPE_CHECKING:
    from interfaces.graphql.disputes.types import Dispute
    from interfaces.graphql.ledger.types import LedgerTransaction

strawberry.enum(OrderStatus, description="Where an order is in its life (SPEC §3).")


def _seller_payout(root: OrderSnapshotType) -> Money:
    return Money.from_domain(root.domain.seller_payout)  # computed only when asked for


def _platform_take(root: OrderSnapshotType) -> Money:
    return Money.from_domain(root.domain.platform_take)  # computed only when asked for


@strawberry.type(
    name="OrderSnapshot",
    description="The financial facts frozen at payment capture; every outcome is computed from them.",
)
class OrderSnapshotType:
    currency: str
    items_subtotal: Money
    delivery_fee: Money
    service_fee: Money
    tax: Money
    discount: Money
    total_charged: Money
    commission_bp: int = strawberry.field(description="The seller's commission rate in basis points.")
    seller_payout: Money = strawberry.field(resolver=_seller_payout)
    platform_take: Money = strawberry.field(resolver=_platform_take)
    policy_version: str
    partial_refund_tiers_bp: list[int]
    captured_at: datetime
    payment_partner_id: str | None = strawberry.field(
        description="The payment partner (PSP) that processed the payment; null if not reported."
    )
    domain: strawberry.Private[DomainSnapshot]

    @staticmethod
    def from_domain(snapshot: DomainSnapshot) -> OrderSnapshotType:
        return OrderSnapshotType(
            currency=snapshot.currency.code,
            items_subtotal=Money.from_domain(snapshot.items_subtotal),
            delivery_fee=Money.from_domain(snapshot.delivery_fee),
            service_fee=Money.from_domain(snapshot.service_fee),
            tax=Money.from_domain(snapshot.tax),
            discount=Money.from_domain(snapshot.discount),
            total_charged=Money.from_domain(snapshot.total_charged),
            commission_bp=snapshot.commission_bp,
            policy_version=snapshot.policy.version,
            partial_refund_tiers_bp=list(snapshot.policy.partial_refund_tiers_bp),
            captured_at=snapshot.captured_at,
            payment_partner_id=snapshot.payment_partner_id,
            domain=snapshot,
        )


# An order's relations in a page of orders (D143): answered from what ``preload_relations``
# loaded when it is there, as a value; otherwise loaded (a coroutine). The same answer.


def _disputes_shown(found: list[DomainDispute]) -> list[Dispute]:
    from interfaces.graphql.disputes.types import Dispute  # noqa: PLC0415 - the types refer to each other

    return [Dispute.from_domain(dispute) for dispute in found]


async def _load_order_disputes(root: Order, info: GraphQLInfo) -> list[Dispute]:
    return _disputes_shown(await info.context.loaders.disputes_by_order.load((root.domain.country, root.id)))


def resolve_order_disputes(
    root: Order, info: GraphQLInfo
) -> (
    list[Annotated[Dispute, strawberry.lazy("interfaces.graphql.disputes.types")]]
    | Awaitable[list[Annotated[Dispute, strawberry.lazy("interfaces.graphql.disputes.types")]]]
):
    found = settled(info.context.loaders.disputes_by_order, (root.domain.country, root.id))
    return _load_order_disputes(root, info) if isinstance(found, Pending) else _disputes_shown(found)


def _ledger_key(order: DomainOrder, principal: Principal | None) -> Key | None:
    """The order's ledger transactions, when the caller may read the ledger of its country."""
    return (order.country, f"order:{order.id}/") if reads_ledger(principal, order.country) else None


def _ledger_shown(found: list[DomainLedgerTransaction]) -> list[LedgerTransaction]:
    from interfaces.graphql.ledger.types import LedgerTransaction  # noqa: PLC0415

    return [LedgerTransaction.from_domain(transaction) for transaction in found]


async def _load_order_ledger(root: Order, info: GraphQLInfo) -> list[LedgerTransaction] | None:
    loader = info.context.loaders.ledger_by_prefix
    return await load_relation(info, root.domain, _ledger_key, loader, _ledger_shown, None)


def resolve_order_ledger(
    root: Order, info: GraphQLInfo
) -> (
    list[Annotated[LedgerTransaction, strawberry.lazy("interfaces.graphql.ledger.types")]]
    | Awaitable[list[Annotated[LedgerTransaction, strawberry.lazy("interfaces.graphql.ledger.types")]] | None]
    | None
):
    loader = info.context.loaders.ledger_by_prefix
    return relation_in_place(
        info, root.domain, _ledger_key, loader, _ledger_shown, None, lambda: _load_order_ledger(root, info)
    )


async def preload_relations(info: GraphQLInfo, orders: Sequence[DomainOrder]) -> None:
    """Load the relations a page of orders' nodes ask for (their disputes; their ledger
    transactions, for a caller who may read the ledger) before the page is answered, in the
    loaders' own batches, so the nested fields answer in place (D143)."""
    if not orders:
        return
    wanted = node_fields(info)
    loaders = info.context.loaders
    principal = await viewer(info) if "ledgerTransactions" in wanted else None
    disputes = [(o.country, o.id) for o in orders] if "disputes" in wanted else []
    ledger = [key for o in orders if (key := _ledger_key(o, principal)) is not None]
    await preload([(loaders.disputes_by_order, disputes), (loaders.ledger_by_prefix, ledger)])


def resolve_force_complete_reason(root: Order, info: GraphQLInfo) -> str | None:
    return root.domain.force_complete_reason if support_internal(info, root.domain.country) else None


def _next_statuses(root: Order) -> list[OrderStatus]:
    return sorted(root.domain.next_statuses)  # computed only when asked for


@strawberry.type(description="A marketplace order.")
class Order:
    id: str
    country_code: str
    status: OrderStatus
    buyer_id: str
    seller_id: str
    courier_id: str | None
    created_at: datetime
    delivered_at: datetime | None
    dispute_window_closes_at: datetime | None
    frozen_from: OrderStatus | None
    force_completed: bool
    force_complete_reason: str | None = strawberry.field(
        resolver=resolve_force_complete_reason,
        description="The L3's reason for FORCE_COMPLETE; null if the order was not force-completed. "
        "Internal to support: null for a partner or a party.",
    )
    replaces_order_id: str | None = strawberry.field(
        description="The order this one replaces (the REPLACEMENT outcome of a dispute on it): "
        "nothing was charged for a replacement, its snapshot carries the original's terms, and "
        "the original's escrow is released when it is delivered. Null for an ordinary order."
    )
    version: int = strawberry.field(description="Optimistic-concurrency counter: +1 per change.")
    next_statuses: list[OrderStatus] = strawberry.field(
        resolver=_next_statuses,
        description="Where the order may go next, by any operation (time guards aside).",
    )
    snapshot: OrderSnapshotType | None = strawberry.field(description="Null until payment capture.")
    disputes: list[Annotated[Dispute, strawberry.lazy("interfaces.graphql.disputes.types")]] = (
        strawberry.field(
            resolver=in_place_or_awaited(resolve_order_disputes),
            description="The order's disputes, oldest first.",
        )
    )
    ledger_transactions: (
        list[Annotated[LedgerTransaction, strawberry.lazy("interfaces.graphql.ledger.types")]] | None
    ) = strawberry.field(
        resolver=in_place_or_awaited(resolve_order_ledger),
        description="Capture, release and forced release of this order; "
        "null if the caller may not read the ledger.",
    )
    domain: strawberry.Private[DomainOrder]

    @staticmethod
    def from_domain(order: DomainOrder) -> Order:
        return Order(
            id=order.id,
            country_code=order.country.value,
            status=order.status,
            buyer_id=order.buyer_id,
            seller_id=order.seller_id,
            courier_id=order.courier_id,
            created_at=order.created_at,
            delivered_at=order.delivered_at,
            dispute_window_closes_at=order.dispute_window_closes_at,
            frozen_from=order.frozen_from,
            force_completed=order.force_completed,
            replaces_order_id=order.replaces,
            version=order.version,
            snapshot=None if order.snapshot is None else OrderSnapshotType.from_domain(order.snapshot),
            domain=order,
        )
