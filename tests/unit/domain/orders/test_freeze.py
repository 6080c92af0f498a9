"""Live-incident holds: freeze from any non-final, non-hold status; unfreeze restores it exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from returns.result import Failure, Success

from domain.orders import (
    FREEZABLE_STATUSES,
    MAX_INCIDENT_REF_LENGTH,
    DisputeWindowStillOpen,
    IllegalOrderTransition,
    Order,
    OrderAlreadyFrozen,
    OrderFrozen,
    OrderNotFrozen,
    OrderStatus,
    OrderUnfrozen,
)
from domain.shared import InvalidInput, InvariantViolation
from tests.unit.domain.orders.factories import (
    DELIVERED_AT,
    DISPUTE_WINDOW,
    IN_TRANSIT_AT,
    IN_WINDOW,
    INCIDENT,
    LATER,
    REASON,
    WINDOW_CLOSES_AT,
    fields_of,
    order_in,
    state_of,
)

S = OrderStatus
FREEZABLE = sorted(FREEZABLE_STATUSES)


@pytest.mark.parametrize("src", FREEZABLE)
def test_freeze_then_unfreeze_restores_exactly_the_previous_state(src: OrderStatus) -> None:
    order = order_in(src)
    before = fields_of(order)
    version = order.version

    assert isinstance(order.freeze(LATER, INCIDENT), Success)
    assert (order.status, order.frozen_from, order.frozen_by_incident) == (S.FROZEN, src, INCIDENT)
    assert (order.is_on_payout_hold, order.is_final) == (True, False)

    assert isinstance(order.unfreeze(LATER), Success)
    assert (order.status, order.frozen_from, order.frozen_by_incident) == (src, None, None)
    assert (order.is_on_payout_hold, order.is_final) == (False, False)
    assert order.version == version + 2
    # Everything but the version is as before the freeze.
    assert fields_of(order) == {**before, "version": version + 2}
    assert [type(e) for e in order.pull_events()] == [OrderFrozen, OrderUnfrozen]


@pytest.mark.parametrize("src", FREEZABLE)
def test_after_unfreezing_the_order_carries_on(src: OrderStatus) -> None:
    order = order_in(src)
    assert isinstance(order.freeze(LATER, INCIDENT), Success)
    assert isinstance(order.unfreeze(LATER), Success)
    assert order.next_statuses == order_in(src).next_statuses


@pytest.mark.parametrize("src", FREEZABLE)
def test_a_frozen_order_may_only_unfreeze_or_be_force_completed(src: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=src)
    expected: set[OrderStatus] = {src, S.FORCE_COMPLETED} if src in {S.IN_TRANSIT, S.DELIVERED} else {src}
    assert order.next_statuses == expected


def test_repeated_freeze_and_unfreeze_cycles() -> None:
    order = order_in(S.ACCEPTED)
    for n in range(3):
        assert isinstance(order.freeze(LATER, f"INC-{n}"), Success)
        assert isinstance(order.unfreeze(LATER), Success)
    assert order.status is S.ACCEPTED
    assert order.version == order_in(S.ACCEPTED).version + 6


def test_disputed_orders_cannot_be_frozen() -> None:
    """DISPUTED is already the payout hold of a post-delivery dispute."""
    order = order_in(S.DISPUTED)
    before = state_of(order)
    assert order.freeze(LATER, INCIDENT) == Failure(IllegalOrderTransition(S.DISPUTED, S.FROZEN))
    assert state_of(order) == before
    assert order.is_on_payout_hold is True


def test_freezing_again_for_the_same_incident_is_a_no_op() -> None:
    order = order_in(S.FROZEN)
    before = state_of(order)
    assert order.freeze(LATER, INCIDENT) == Success(None)
    assert order.freeze(LATER, f"  {INCIDENT} ") == Success(None)
    assert state_of(order) == before


def test_freezing_for_another_incident_is_refused() -> None:
    order = order_in(S.FROZEN)
    before = state_of(order)
    assert order.freeze(LATER, "INC-2") == Failure(OrderAlreadyFrozen(INCIDENT))
    assert state_of(order) == before
    assert OrderAlreadyFrozen(INCIDENT).message == "the order is already frozen by incident INC-1"


def test_incident_ref_is_trimmed() -> None:
    order = order_in(S.PAID)
    result = order.freeze(LATER, "  INC-7\n")
    assert isinstance(result, Success)
    event = result.unwrap()
    assert event is not None
    assert event.incident_ref == "INC-7"
    assert order.frozen_by_incident == "INC-7"


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("", "must not be blank"),
        ("   ", "must not be blank"),
        ("I" * (MAX_INCIDENT_REF_LENGTH + 1), f"must be at most {MAX_INCIDENT_REF_LENGTH} chars"),
    ],
)
def test_incident_ref_is_required_and_bounded(ref: str, reason: str) -> None:
    order = order_in(S.PAID)
    before = state_of(order)
    assert order.freeze(LATER, ref) == Failure(InvalidInput("incident_ref", reason))
    assert state_of(order) == before


def test_incident_ref_at_the_bound_is_accepted() -> None:
    assert isinstance(order_in(S.PAID).freeze(LATER, "I" * MAX_INCIDENT_REF_LENGTH), Success)


def test_unfreezing_an_order_that_is_not_frozen_is_refused() -> None:
    order = order_in(S.IN_TRANSIT)
    assert order.unfreeze(LATER) == Failure(OrderNotFrozen(S.IN_TRANSIT))
    assert OrderNotFrozen(S.IN_TRANSIT).message == "the order is IN_TRANSIT, not FROZEN"


def test_unfreeze_twice_is_refused_the_second_time() -> None:
    order = order_in(S.FROZEN, frozen_from=S.PAID)
    assert isinstance(order.unfreeze(LATER), Success)
    assert order.unfreeze(LATER) == Failure(OrderNotFrozen(S.PAID))


def test_freezing_keeps_delivery_and_snapshot() -> None:
    order = order_in(S.DELIVERED)
    delivered_at, snapshot = order.delivered_at, order.snapshot
    assert isinstance(order.freeze(LATER, INCIDENT), Success)
    assert (order.delivered_at, order.snapshot) == (delivered_at, snapshot)
    assert order.dispute_window_closes_at is not None
    assert isinstance(order.unfreeze(LATER), Success)
    assert (order.delivered_at, order.snapshot) == (delivered_at, snapshot)


# --------------------------------------------------------------------------- the dispute window pauses (D127)


def test_a_hold_after_delivery_pauses_the_dispute_window() -> None:
    # delivered, then held 5 h by a live incident: nobody could dispute meanwhile, so the
    # buyer keeps the window's remaining time, and the seller's release waits that much more
    order = order_in(S.DELIVERED)
    frozen_at = IN_WINDOW
    assert isinstance(order.freeze(frozen_at, INCIDENT), Success)
    assert order.frozen_at == frozen_at
    assert order.dispute_window_closes_at == WINDOW_CLOSES_AT  # the hold is counted when it lifts
    assert isinstance(order.unfreeze(frozen_at + timedelta(hours=5)), Success)
    assert order.window_paused == timedelta(hours=5)
    assert order.status is S.DELIVERED and fields_of(order)["frozen_at"] is None
    assert order.dispute_window_closes_at == WINDOW_CLOSES_AT + timedelta(hours=5)

    late = WINDOW_CLOSES_AT + timedelta(hours=1)  # past the original window, inside the paused one
    assert order.transition_to(S.COMPLETED, late) == Failure(
        DisputeWindowStillOpen(WINDOW_CLOSES_AT + timedelta(hours=5))
    )
    assert isinstance(order.transition_to(S.DISPUTED, late), Success)


def test_holds_add_up_and_a_hold_before_delivery_pauses_nothing() -> None:
    order = order_in(S.IN_TRANSIT)
    assert isinstance(order.freeze(IN_TRANSIT_AT, INCIDENT), Success)
    assert isinstance(order.unfreeze(IN_TRANSIT_AT + timedelta(minutes=5)), Success)
    assert isinstance(order.transition_to(S.DELIVERED, DELIVERED_AT), Success)
    assert order.window_paused == timedelta(0)
    for start, hours in ((IN_WINDOW, 2), (IN_WINDOW + timedelta(hours=10), 3)):
        assert isinstance(order.freeze(start, INCIDENT), Success)
        assert isinstance(order.unfreeze(start + timedelta(hours=hours)), Success)
    assert order.window_paused == timedelta(hours=5)
    assert order.dispute_window_closes_at == DELIVERED_AT + DISPUTE_WINDOW + timedelta(hours=5)


def test_a_hold_that_begins_after_the_window_closed_does_not_reopen_it() -> None:
    order = order_in(S.DELIVERED)  # not completed yet: the scheduler had not run
    assert isinstance(order.freeze(WINDOW_CLOSES_AT + timedelta(hours=1), INCIDENT), Success)
    lifted = WINDOW_CLOSES_AT + timedelta(hours=4)
    assert isinstance(order.unfreeze(lifted), Success)
    closes = order.dispute_window_closes_at
    assert closes is not None and closes <= lifted  # still closed when the hold lifts
    assert isinstance(order.transition_to(S.DISPUTED, lifted), Failure)
    assert isinstance(order.transition_to(S.COMPLETED, lifted), Success)


def test_force_completing_a_held_order_ends_its_hold() -> None:
    order = order_in(S.FROZEN, frozen_from=S.DELIVERED)
    assert order.frozen_at == IN_WINDOW
    assert isinstance(order.force_complete(IN_WINDOW + timedelta(hours=1), REASON), Success)
    assert order.frozen_at is None


@pytest.mark.parametrize(
    ("status", "changes", "why"),
    [
        (S.DELIVERED, {"frozen_at": IN_WINDOW}, "frozen_at"),
        (S.FROZEN, {"frozen_at": IN_WINDOW.replace(tzinfo=None)}, "frozen_at"),
        (S.DELIVERED, {"window_paused": -timedelta(seconds=1)}, "pauses only after delivery"),
        (S.IN_TRANSIT, {"window_paused": timedelta(hours=1)}, "pauses only after delivery"),
    ],
    ids=["frozen_at-when-not-frozen", "naive-frozen_at", "negative-pause", "pause-before-delivery"],
)
def test_rehydrating_a_contradictory_hold_is_refused(
    status: OrderStatus, changes: dict[str, object], why: str
) -> None:
    stored = order_in(status)
    with pytest.raises(InvariantViolation, match=why):
        Order.rehydrate(**{**fields_of(stored), **changes})
