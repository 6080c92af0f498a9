"""Small builders for the Order tests: snapshots, new orders and orders driven to any status.

``order_in`` reaches a status only through the aggregate's own operations (never by
rehydrating), on a fixed timeline, and clears the events recorded on the way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from returns.result import Success

from domain.orders import Order, OrderEvent, OrderStatus
from domain.shared import CountryCode, Currency
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import OrderSnapshot, RefundPolicy

ORDER_ID = OrderId("ord_1")
COUNTRY = CountryCode("MX")
BUYER = BuyerId("buy_1")
SELLER = SellerId("sel_1")
COURIER = CourierId("cou_1")

# The fixed timeline that order_in follows.
CREATED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
PAID_AT = CREATED_AT + STEP
ACCEPTED_AT = CREATED_AT + 2 * STEP
IN_PREPARATION_AT = CREATED_AT + 3 * STEP
IN_TRANSIT_AT = CREATED_AT + 4 * STEP
DELIVERED_AT = CREATED_AT + 5 * STEP
DISPUTE_WINDOW = timedelta(hours=72)
WINDOW_CLOSES_AT = DELIVERED_AT + DISPUTE_WINDOW
IN_WINDOW = DELIVERED_AT + timedelta(hours=1)
LATER = WINDOW_CLOSES_AT + timedelta(days=1)
"""A moment after every step of the timeline, the dispute window included."""

INCIDENT = "INC-1"
REASON = "courier confirmed delivery by phone; GPS outage"

_FORWARD: tuple[tuple[OrderStatus, datetime], ...] = (
    (OrderStatus.ACCEPTED, ACCEPTED_AT),
    (OrderStatus.IN_PREPARATION, IN_PREPARATION_AT),
    (OrderStatus.IN_TRANSIT, IN_TRANSIT_AT),
    (OrderStatus.DELIVERED, DELIVERED_AT),
)


def refund_policy(
    country: str = "MX",
    currency: str = "MXN",
    dispute_window: timedelta = DISPUTE_WINDOW,
) -> RefundPolicy:
    result = RefundPolicy.create(
        country=CountryCode(country),
        version=f"{country}-2026-01",
        currency=Currency.of(currency),
        goodwill_credit_minor=10_000,
        dispute_window=dispute_window,
    )
    return result.unwrap()


def make_snapshot(
    *,
    order_id: OrderId = ORDER_ID,
    country: str = "MX",
    currency: str = "MXN",
    buyer_id: BuyerId = BUYER,
    seller_id: SellerId = SELLER,
    courier_id: CourierId | None = COURIER,
    dispute_window: timedelta = DISPUTE_WINDOW,
    captured_at: datetime = PAID_AT,
    payment_partner_id: str | None = None,
) -> OrderSnapshot:
    result = OrderSnapshot.capture(
        order_id=order_id,
        country=CountryCode(country),
        currency=Currency.of(currency),
        items_subtotal_minor=100_000,
        delivery_fee_minor=5_000,
        service_fee_minor=2_000,
        tax_minor=16_000,
        discount_minor=0,
        commission_bp=1_500,
        policy=refund_policy(country, currency, dispute_window),
        buyer_id=buyer_id,
        seller_id=seller_id,
        courier_id=courier_id,
        captured_at=captured_at,
        payment_partner_id=payment_partner_id,
    )
    return result.unwrap()


def new_order(
    *,
    order_id: OrderId = ORDER_ID,
    country: CountryCode = COUNTRY,
    courier_id: CourierId | None = COURIER,
    created_at: datetime = CREATED_AT,
) -> Order:
    result = Order.create(
        id=order_id,
        country=country,
        buyer_id=BUYER,
        seller_id=SELLER,
        courier_id=courier_id,
        created_at=created_at,
    )
    return result.unwrap()


def _ok(result: Any) -> None:
    assert isinstance(result, Success), result


def order_in(
    status: OrderStatus,
    *,
    frozen_from: OrderStatus = OrderStatus.IN_TRANSIT,
    cancelled_from: OrderStatus = OrderStatus.CREATED,
    dispute_window: timedelta = DISPUTE_WINDOW,
) -> Order:
    """An order driven to ``status`` through its own operations, with no pending events.

    ``frozen_from`` chooses where a FROZEN order was frozen from; ``cancelled_from`` where a
    CANCELLED one was cancelled from (CREATED: nothing captured).
    """
    if status is OrderStatus.FROZEN:
        order = order_in(frozen_from, dispute_window=dispute_window)
        _ok(order.freeze(IN_WINDOW, INCIDENT))
        order.pull_events()
        return order
    path: dict[OrderStatus, OrderStatus] = {
        OrderStatus.CANCELLED: cancelled_from,
        OrderStatus.COMPLETED: OrderStatus.DELIVERED,
        OrderStatus.DISPUTED: OrderStatus.DELIVERED,
        OrderStatus.REFUNDED: OrderStatus.DISPUTED,
        OrderStatus.PARTIALLY_REFUNDED: OrderStatus.DISPUTED,
        OrderStatus.FORCE_COMPLETED: OrderStatus.IN_TRANSIT,
    }
    if status in path:
        order = order_in(path[status], dispute_window=dispute_window)
        if status is OrderStatus.FORCE_COMPLETED:
            _ok(order.force_complete(LATER, REASON))
        elif status is OrderStatus.COMPLETED:
            _ok(order.transition_to(status, LATER))
        else:
            _ok(order.transition_to(status, IN_WINDOW))
        order.pull_events()
        return order
    order = new_order()
    if status is not OrderStatus.CREATED:
        _ok(order.capture_payment(make_snapshot(dispute_window=dispute_window), PAID_AT))
        for target, moment in _FORWARD:
            if order.status is status:
                break
            _ok(order.transition_to(target, moment))
    assert order.status is status
    order.pull_events()
    return order


def fields_of(order: Order) -> dict[str, Any]:
    """Every stored field of ``order``, named as ``Order.rehydrate`` takes them."""
    return {
        "id": order.id,
        "country": order.country,
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "courier_id": order.courier_id,
        "status": order.status,
        "frozen_from": order.frozen_from,
        "frozen_by_incident": order.frozen_by_incident,
        "snapshot": order.snapshot,
        "delivered_at": order.delivered_at,
        "force_completed": order.force_completed,
        "force_complete_reason": order.force_complete_reason,
        "version": order.version,
        "created_at": order.created_at,
        "replaces": order.replaces,
        "frozen_at": order.frozen_at,
        "window_paused": order.window_paused,
        "courier_assigned_at": order.courier_assigned_at,
    }


def state_of(order: Order) -> tuple[dict[str, Any], tuple[OrderEvent, ...]]:
    """Every observable field of ``order`` and its pending events, to compare before/after."""
    return fields_of(order), order.pending_events


def rehydrate_like(order: Order, **overrides: Any) -> Order:
    """``Order.rehydrate`` with ``order``'s fields, some of them overridden."""
    return Order.rehydrate(**{**fields_of(order), **overrides})
