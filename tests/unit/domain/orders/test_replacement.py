"""Replacement orders (SPEC §5 ``REPLACEMENT``): linked, born PAID with nothing charged,
carrying the original's terms; never disputed, never cancelled."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from returns.result import Failure, Success

from domain.orders import (
    IllegalOrderTransition,
    Order,
    OrderCreated,
    OrderStatus,
    ReplacementIssued,
    ReplacementNotAllowed,
    ReplacementNotCancellable,
    ReplacementNotDisputable,
)
from domain.shared import InvalidInput, InvariantViolation
from domain.shared.ids import OrderId
from tests.unit.domain.orders.factories import (
    COUNTRY,
    IN_WINDOW,
    INCIDENT,
    ORDER_ID,
    REASON,
    fields_of,
    order_in,
    rehydrate_like,
    state_of,
)

S = OrderStatus
NEW_ID = OrderId("ord_1-R")
AT = IN_WINDOW + timedelta(hours=2)
ON_ITS_WAY = (S.ACCEPTED, S.IN_PREPARATION, S.IN_TRANSIT, S.DELIVERED)


def replacement(at: datetime = AT) -> Order:
    made = Order.replacement_for(order_in(S.DISPUTED), id=NEW_ID, at=at).unwrap()
    made.pull_events()
    return made


def test_the_replacement_is_linked_paid_and_carries_the_originals_terms() -> None:
    original = order_in(S.DISPUTED)
    before = state_of(original)
    made = Order.replacement_for(original, id=NEW_ID, at=AT).unwrap()
    assert state_of(original) == before  # the original is not touched
    assert (made.id, made.replaces, made.is_replacement, made.status, made.version) == (
        NEW_ID,
        ORDER_ID,
        True,
        S.PAID,
        1,
    )
    assert (made.country, made.buyer_id, made.seller_id, made.courier_id) == (
        original.country,
        original.buyer_id,
        original.seller_id,
        original.courier_id,
    )
    assert original.snapshot is not None and made.snapshot is not None
    assert made.snapshot.order_id == NEW_ID
    assert made.snapshot.captured_at == AT
    for field in ("total_charged", "items_subtotal", "commission_bp", "policy", "seller_payout"):
        assert getattr(made.snapshot, field) == getattr(original.snapshot, field)
    assert (made.created_at, made.delivered_at, made.force_completed) == (AT, None, False)
    assert made.pending_events == (
        OrderCreated(
            occurred_at=AT,
            order_id=NEW_ID,
            country=COUNTRY,
            buyer_id=original.buyer_id,
            seller_id=original.seller_id,
            courier_id=original.courier_id,
        ),
        ReplacementIssued(
            occurred_at=AT,
            order_id=NEW_ID,
            country=COUNTRY,
            from_status=S.CREATED,
            to_status=S.PAID,
            replaces=ORDER_ID,
            policy_version=original.snapshot.policy.version,
        ),
    )


def test_an_ordinary_order_replaces_nothing() -> None:
    order = order_in(S.DELIVERED)
    assert (order.replaces, order.is_replacement) == (None, False)


@pytest.mark.parametrize("status", sorted(set(S) - {S.DISPUTED}))
def test_only_a_disputed_order_is_replaced(status: OrderStatus) -> None:
    original = order_in(status)
    refused = Order.replacement_for(original, id=NEW_ID, at=AT)
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), ReplacementNotAllowed)
    assert refused.failure().code == "REPLACEMENT_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("new_id", "at", "field"),
    [
        (OrderId("  "), AT, "id"),
        (ORDER_ID, AT, "id"),
        (NEW_ID, AT.replace(tzinfo=None), "at"),
    ],
)
def test_bad_inputs_are_refused(new_id: OrderId, at: datetime, field: str) -> None:
    refused = Order.replacement_for(order_in(S.DISPUTED), id=new_id, at=at)
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), InvalidInput)
    assert refused.failure().field == field


def test_a_replacement_is_never_replaced() -> None:
    made = replacement()
    # even if it somehow reached DISPUTED, it could not be replaced in turn
    assert Order.replacement_for(made, id=OrderId("ord_1-R-R"), at=AT) == Failure(
        ReplacementNotAllowed(NEW_ID, "it is itself a replacement")
    )


def test_the_replacement_runs_the_usual_lifecycle_and_window() -> None:
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY, start=1):
        assert isinstance(made.transition_to(target, AT + step * timedelta(minutes=1)), Success)
    closes = made.dispute_window_closes_at
    assert closes is not None and made.snapshot is not None
    assert closes == made.delivered_at + made.snapshot.policy.dispute_window  # type: ignore[operator]
    assert made.transition_to(S.COMPLETED, closes - timedelta(microseconds=1)).failure().code == (
        "DISPUTE_WINDOW_STILL_OPEN"
    )
    assert isinstance(made.transition_to(S.COMPLETED, closes), Success)


def test_a_delivered_replacement_cannot_be_disputed() -> None:
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY, start=1):
        made.transition_to(target, AT + step * timedelta(minutes=1)).unwrap()
    made.pull_events()
    before = state_of(made)
    assert made.transition_to(S.DISPUTED, AT + timedelta(hours=1)) == Failure(
        ReplacementNotDisputable(NEW_ID, ORDER_ID)
    )
    assert state_of(made) == before


@pytest.mark.parametrize("status", [S.PAID, S.ACCEPTED, S.IN_PREPARATION, S.IN_TRANSIT])
def test_a_replacement_cannot_be_cancelled(status: OrderStatus) -> None:
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY, start=1):
        if made.status is status:
            break
        made.transition_to(target, AT + step * timedelta(minutes=1)).unwrap()
    made.pull_events()
    before = state_of(made)
    refused = made.transition_to(S.CANCELLED, AT + timedelta(hours=1))
    assert refused == Failure(ReplacementNotCancellable(NEW_ID, ORDER_ID))
    assert refused.failure().code == "REPLACEMENT_NOT_CANCELLABLE"
    assert state_of(made) == before


@pytest.mark.parametrize("status", [S.PAID, S.ACCEPTED, S.IN_PREPARATION, S.IN_TRANSIT])
def test_a_replacement_that_will_not_arrive_is_cancelled_by_its_own_operation(status: OrderStatus) -> None:
    """D115: only ``cancel_replacement`` (the incident's operational cancellation, which
    refunds the original) cancels a replacement; its delivery can no longer come."""
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY, start=1):
        if made.status is status:
            break
        made.transition_to(target, AT + step * timedelta(minutes=1)).unwrap()
    event = made.cancel_replacement(AT + timedelta(hours=1)).unwrap()
    assert (event.from_status, event.to_status, made.status) == (status, S.CANCELLED, S.CANCELLED)
    assert made.replaces == ORDER_ID and made.snapshot is not None


def test_only_a_replacement_on_its_way_is_cancelled_as_one() -> None:
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY, start=1):
        made.transition_to(target, AT + step * timedelta(minutes=1)).unwrap()
    before = state_of(made)
    assert made.cancel_replacement(AT + timedelta(hours=1)) == Failure(
        IllegalOrderTransition(S.DELIVERED, S.CANCELLED)
    )
    assert state_of(made) == before
    plain = order_in(S.PAID)
    refused = plain.cancel_replacement(AT + timedelta(hours=1))
    assert isinstance(refused, Failure) and refused.failure().code == "INVALID_INPUT"
    assert plain.status is S.PAID


def test_a_replacement_freezes_unfreezes_and_can_be_force_completed() -> None:
    made = replacement()
    for step, target in enumerate(ON_ITS_WAY[:3], start=1):
        made.transition_to(target, AT + step * timedelta(minutes=1)).unwrap()
    made.freeze(AT + timedelta(hours=1), INCIDENT).unwrap()
    assert made.transition_to(S.CANCELLED, AT + timedelta(hours=2)) == Failure(
        IllegalOrderTransition(S.FROZEN, S.CANCELLED)
    )
    made.force_complete(AT + timedelta(hours=2), REASON).unwrap()
    assert (made.status, made.replaces) == (S.FORCE_COMPLETED, ORDER_ID)


def test_rehydrate_round_trips_the_link() -> None:
    made = replacement()
    copy = rehydrate_like(made)
    assert fields_of(copy) == fields_of(made)
    assert copy.pending_events == ()


@pytest.mark.parametrize(
    ("status", "overrides"),
    [
        (S.PAID, {"replaces": NEW_ID}),  # itself
        (S.PAID, {"replaces": OrderId(" ")}),
        (S.CREATED, {"replaces": ORDER_ID}),  # a replacement is born PAID
        (S.DISPUTED, {"replaces": OrderId("ord_0")}),
    ],
)
def test_rehydrate_refuses_a_broken_replacement(status: OrderStatus, overrides: dict[str, Any]) -> None:
    base = replacement() if status is S.PAID else order_in(status, cancelled_from=S.PAID)
    with pytest.raises(InvariantViolation):
        rehydrate_like(base, **overrides)


def test_a_cancelled_replacement_rehydrates() -> None:
    """Cancelled through ``cancel_replacement`` (D115), a replacement is stored CANCELLED."""
    made = replacement()
    made.cancel_replacement(AT + timedelta(hours=1)).unwrap()
    assert rehydrate_like(made).status is S.CANCELLED


def test_the_replacement_names_its_originals_payment_partner() -> None:
    disputed = order_in(S.DISPUTED)
    assert disputed.snapshot is not None
    original = rehydrate_like(disputed, snapshot=replace(disputed.snapshot, payment_partner_id="psp_9"))
    made = Order.replacement_for(original, id=NEW_ID, at=AT).unwrap()
    assert made.payment_partner_id == "psp_9"  # its money is the original's, processed by psp_9
