"""Payment capture freezes the snapshot, once, and only the order's own snapshot."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from domain.orders import OrderAlreadyCaptured, OrderStatus, SnapshotMismatch
from domain.shared.ids import BuyerId, OrderId, SellerId
from domain.snapshots import OrderSnapshot
from tests.unit.domain.orders.factories import (
    ORDER_ID,
    PAID_AT,
    make_snapshot,
    new_order,
    order_in,
    state_of,
)

S = OrderStatus


@pytest.mark.parametrize(
    ("snapshot", "error"),
    [
        (make_snapshot(order_id=OrderId("ord_2")), SnapshotMismatch("order_id", "ord_1", "ord_2")),
        (make_snapshot(country="CO", currency="COP"), SnapshotMismatch("country", "MX", "CO")),
        (make_snapshot(buyer_id=BuyerId("buy_9")), SnapshotMismatch("buyer_id", "buy_1", "buy_9")),
        (make_snapshot(seller_id=SellerId("sel_9")), SnapshotMismatch("seller_id", "sel_1", "sel_9")),
    ],
    ids=["order_id", "country", "buyer_id", "seller_id"],
)
def test_a_snapshot_of_something_else_is_refused(snapshot: OrderSnapshot, error: SnapshotMismatch) -> None:
    order = new_order()
    before = state_of(order)

    assert order.capture_payment(snapshot, PAID_AT) == Failure(error)

    assert state_of(order) == before
    assert order.captured is False
    assert error.code == "SNAPSHOT_MISMATCH"


def test_mismatch_message_names_both_sides() -> None:
    error = SnapshotMismatch("order_id", "ord_1", "ord_2")
    assert error.message == "snapshot order_id is 'ord_2', the order's is 'ord_1'"


def test_the_courier_may_differ_or_be_missing() -> None:
    """Couriers are reassigned (urgent replacement); the snapshot records the one at capture."""
    order = new_order(courier_id=None)
    assert isinstance(order.capture_payment(make_snapshot(), PAID_AT), Success)


def test_a_second_capture_is_refused_even_with_the_same_snapshot() -> None:
    order = new_order()
    snapshot = make_snapshot()
    assert isinstance(order.capture_payment(snapshot, PAID_AT), Success)
    before = state_of(order)

    assert order.capture_payment(snapshot, PAID_AT) == Failure(OrderAlreadyCaptured(ORDER_ID))
    assert order.capture_payment(make_snapshot(captured_at=PAID_AT), PAID_AT) == Failure(
        OrderAlreadyCaptured(ORDER_ID)
    )

    assert state_of(order) == before
    assert order.snapshot is snapshot
    assert OrderAlreadyCaptured(ORDER_ID).message == "payment for order ord_1 was already captured"


def test_a_capture_after_a_cancellation_is_recorded_and_the_order_stays_cancelled() -> None:
    """D116: cancelled before its capture and captured all the same, the buyer's money is
    recorded (the application then refunds it); nothing else about the order changes."""
    order = order_in(S.CANCELLED, cancelled_from=S.CREATED)
    snapshot = make_snapshot()
    event = order.capture_payment(snapshot, PAID_AT).unwrap()
    assert (event.from_status, event.to_status) == (S.CANCELLED, S.CANCELLED)
    assert (order.status, order.snapshot, order.captured) == (S.CANCELLED, snapshot, True)
    assert order.next_statuses == frozenset()
    assert order.capture_payment(make_snapshot(), PAID_AT) == Failure(OrderAlreadyCaptured(ORDER_ID))


def test_a_capture_while_a_created_order_is_frozen_is_recorded_and_the_hold_lifts_to_paid() -> None:
    """D103: the provider holds the money whatever the hold says; the order stays FROZEN."""
    order = order_in(S.FROZEN, frozen_from=S.CREATED)
    snapshot = make_snapshot()
    captured = order.capture_payment(snapshot, PAID_AT)
    assert isinstance(captured, Success)
    event = captured.unwrap()
    assert (event.from_status, event.to_status) == (S.FROZEN, S.FROZEN)
    assert (order.status, order.frozen_from, order.snapshot) == (S.FROZEN, S.PAID, snapshot)
    assert order.next_statuses == frozenset({S.PAID})
    assert order.capture_payment(make_snapshot(), PAID_AT) == Failure(OrderAlreadyCaptured(ORDER_ID))
    assert isinstance(order.unfreeze(PAID_AT), Success)
    assert order.status is S.PAID and order.snapshot is snapshot


def test_the_snapshot_survives_every_later_change() -> None:
    snapshot = make_snapshot()
    order = new_order()
    assert isinstance(order.capture_payment(snapshot, PAID_AT), Success)
    for target in (S.ACCEPTED, S.IN_PREPARATION, S.IN_TRANSIT):
        assert isinstance(order.transition_to(target, PAID_AT), Success)
    assert isinstance(order.freeze(PAID_AT, "INC-1"), Success)
    assert isinstance(order.unfreeze(PAID_AT), Success)
    assert isinstance(order.transition_to(S.CANCELLED, PAID_AT), Success)
    assert order.snapshot is snapshot
    assert order.captured is True


def test_the_payment_partner_is_a_fact_of_the_capture() -> None:
    order = new_order()
    before = order.payment_partner_id  # nothing captured yet
    assert isinstance(order.capture_payment(make_snapshot(payment_partner_id="psp_9"), PAID_AT), Success)
    assert (before, order.payment_partner_id) == (None, "psp_9")
    unreported = new_order()
    assert isinstance(unreported.capture_payment(make_snapshot(), PAID_AT), Success)
    assert unreported.captured and unreported.payment_partner_id is None


@pytest.mark.parametrize("bad", ["", " ", "psp 9", " psp_9", "psp\n9", "p" * 129])
def test_a_payment_partner_id_must_be_usable_as_a_partner_id(bad: str) -> None:
    captured = OrderSnapshot.capture(
        order_id=ORDER_ID,
        country=make_snapshot().country,
        currency=make_snapshot().currency,
        items_subtotal_minor=100_000,
        delivery_fee_minor=5_000,
        service_fee_minor=2_000,
        tax_minor=16_000,
        discount_minor=0,
        commission_bp=1_500,
        policy=make_snapshot().policy,
        buyer_id=BuyerId("buy_1"),
        seller_id=SellerId("sel_1"),
        courier_id=None,
        captured_at=PAID_AT,
        payment_partner_id=bad,
    )
    assert isinstance(captured, Failure)
    assert captured.failure().field == "payment_partner_id"
