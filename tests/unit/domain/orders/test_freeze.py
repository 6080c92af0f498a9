"""Live-incident holds: freeze from any non-final, non-hold status; unfreeze restores it exactly."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from domain.orders import (
    FREEZABLE_STATUSES,
    MAX_INCIDENT_REF_LENGTH,
    IllegalOrderTransition,
    OrderAlreadyFrozen,
    OrderFrozen,
    OrderNotFrozen,
    OrderStatus,
    OrderUnfrozen,
)
from domain.shared import InvalidInput
from tests.unit.domain.orders.factories import INCIDENT, LATER, fields_of, order_in, state_of

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
