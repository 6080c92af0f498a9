"""Force-complete (L3; the role is checked by the application): reason, sources, at most once."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from domain.orders import (
    MAX_REASON_LENGTH,
    ForceCompleteNotEligible,
    IllegalOrderTransition,
    OrderAlreadyForceCompleted,
    OrderForceCompleted,
    OrderStatus,
    ReasonRequired,
    ReasonTooLong,
)
from tests.unit.domain.orders.factories import (
    COUNTRY,
    LATER,
    ORDER_ID,
    REASON,
    order_in,
    rehydrate_like,
    state_of,
)

S = OrderStatus


@pytest.mark.parametrize(
    ("src", "frozen_from"),
    [
        (S.IN_TRANSIT, S.IN_TRANSIT),
        (S.DELIVERED, S.IN_TRANSIT),
        (S.FROZEN, S.IN_TRANSIT),
        (S.FROZEN, S.DELIVERED),
    ],
)
def test_force_complete_from_each_eligible_state(src: OrderStatus, frozen_from: OrderStatus) -> None:
    order = order_in(src, frozen_from=frozen_from)
    version = order.version

    result = order.force_complete(LATER, REASON)

    assert result == Success(
        OrderForceCompleted(
            occurred_at=LATER,
            order_id=ORDER_ID,
            country=COUNTRY,
            from_status=src,
            to_status=S.FORCE_COMPLETED,
            reason=REASON,
        )
    )
    assert order.status is S.FORCE_COMPLETED
    assert order.force_completed is True
    assert order.force_complete_reason == REASON
    assert order.frozen_from is None
    assert order.frozen_by_incident is None
    assert order.is_final is True
    assert order.is_on_payout_hold is False
    assert order.version == version + 1


def test_a_second_force_complete_is_refused() -> None:
    order = order_in(S.FORCE_COMPLETED)
    before = state_of(order)
    assert order.force_complete(LATER, "again") == Failure(OrderAlreadyForceCompleted(ORDER_ID))
    assert state_of(order) == before
    assert OrderAlreadyForceCompleted.code == "ORDER_ALREADY_FORCE_COMPLETED"


@pytest.mark.parametrize("status", [S.IN_TRANSIT, S.DELIVERED])
def test_at_most_once_even_if_a_forced_order_were_somehow_live_again(status: OrderStatus) -> None:
    order = rehydrate_like(order_in(status), force_completed=True, force_complete_reason=REASON)
    before = state_of(order)
    assert order.force_complete(LATER, REASON) == Failure(OrderAlreadyForceCompleted(ORDER_ID))
    assert state_of(order) == before
    assert S.FORCE_COMPLETED not in order.next_statuses


@pytest.mark.parametrize("reason", ["", " ", "\n\t  "])
def test_a_reason_is_required(reason: str) -> None:
    order = order_in(S.IN_TRANSIT)
    before = state_of(order)
    assert order.force_complete(LATER, reason) == Failure(ReasonRequired())
    assert state_of(order) == before
    assert ReasonRequired.code == "REASON_REQUIRED"


def test_the_reason_is_bounded() -> None:
    order = order_in(S.IN_TRANSIT)
    before = state_of(order)
    too_long = "x" * (MAX_REASON_LENGTH + 1)
    assert MAX_REASON_LENGTH == 2_000
    assert order.force_complete(LATER, too_long) == Failure(ReasonTooLong(2_001, 2_000))
    assert state_of(order) == before
    assert ReasonTooLong(2_001, 2_000).code == "REASON_TOO_LONG"
    assert ReasonTooLong(2_001, 2_000).message == "the reason has 2001 characters; at most 2000 are allowed"


def test_a_reason_at_the_bound_is_accepted_and_surrounding_blanks_are_trimmed() -> None:
    order = order_in(S.DELIVERED)
    reason = "y" * MAX_REASON_LENGTH
    assert isinstance(order.force_complete(LATER, f"  {reason}\n"), Success)
    assert order.force_complete_reason == reason


@pytest.mark.parametrize("frozen_from", [S.CREATED, S.PAID, S.ACCEPTED, S.IN_PREPARATION])
def test_an_order_frozen_before_dispatch_cannot_be_force_completed(frozen_from: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=frozen_from)
    before = state_of(order)
    assert order.force_complete(LATER, REASON) == Failure(ForceCompleteNotEligible(frozen_from))
    assert state_of(order) == before
    assert ForceCompleteNotEligible.code == "FORCE_COMPLETE_NOT_ELIGIBLE"


@pytest.mark.parametrize(
    "src",
    [S.CREATED, S.PAID, S.ACCEPTED, S.IN_PREPARATION, S.DISPUTED, S.COMPLETED, S.CANCELLED, S.REFUNDED],
)
def test_other_statuses_cannot_be_force_completed(src: OrderStatus) -> None:
    order = order_in(src)
    assert order.force_complete(LATER, REASON) == Failure(IllegalOrderTransition(src, S.FORCE_COMPLETED))


def test_the_source_state_is_checked_before_the_reason() -> None:
    order = order_in(S.PAID)
    assert order.force_complete(LATER, "") == Failure(IllegalOrderTransition(S.PAID, S.FORCE_COMPLETED))
