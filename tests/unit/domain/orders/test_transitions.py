"""Every legal edge works and records its event; every other pair is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from itertools import product
from typing import Any

import pytest
from returns.result import Failure, Success

from domain.orders import (
    FINAL_STATUSES,
    FORCE_COMPLETABLE_STATUSES,
    FREEZABLE_STATUSES,
    TRANSITIONS,
    DedicatedOperationRequired,
    DisputeWindowClosed,
    DisputeWindowStillOpen,
    ForceCompleteNotEligible,
    IllegalOrderTransition,
    Order,
    OrderAlreadyCaptured,
    OrderAlreadyForceCompleted,
    OrderAlreadyFrozen,
    OrderForceCompleted,
    OrderFrozen,
    OrderNotFrozen,
    OrderOperation,
    OrderStatus,
    OrderStatusChanged,
    OrderUnfrozen,
    PaymentCaptured,
    can_transition,
    operation_for,
)
from domain.shared import InvalidInput
from domain.shared.ids import PolicyVersion
from tests.unit.domain.orders.factories import (
    COUNTRY,
    DELIVERED_AT,
    IN_WINDOW,
    INCIDENT,
    LATER,
    ORDER_ID,
    PAID_AT,
    REASON,
    WINDOW_CLOSES_AT,
    make_snapshot,
    order_in,
    state_of,
)

S = OrderStatus

LEGAL_EDGES = sorted((src, dst) for src, targets in TRANSITIONS.items() for dst in targets)
PLAIN_EDGES = [(s, d) for s, d in LEGAL_EDGES if operation_for(s, d) is OrderOperation.TRANSITION_TO]
DEDICATED_EDGES = [(s, d) for s, d in LEGAL_EDGES if operation_for(s, d) is not OrderOperation.TRANSITION_TO]
ILLEGAL_PAIRS = [(s, d) for s, d in product(OrderStatus, OrderStatus) if not can_transition(s, d)]
NON_FROZEN = [s for s in OrderStatus if s is not S.FROZEN]


def _when(src: OrderStatus, dst: OrderStatus) -> datetime:
    """A moment at which ``src -> dst`` is timely (completion waits for the dispute window)."""
    if (src, dst) == (S.DELIVERED, S.COMPLETED):
        return WINDOW_CLOSES_AT
    return IN_WINDOW if src is S.DELIVERED else LATER


def _source(src: OrderStatus, dst: OrderStatus) -> Order:
    """An order in ``src``; a FROZEN one frozen from ``dst`` when that is where it goes back."""
    if src is S.FROZEN and dst in FREEZABLE_STATUSES:
        return order_in(S.FROZEN, frozen_from=dst)
    return order_in(src)


def _assert_refused(order: Order, attempt: Callable[[], Any], error: object) -> None:
    before = state_of(order)
    result = attempt()
    assert result == Failure(error)
    assert state_of(order) == before


# -- legal edges --------------------------------------------------------------------


def test_edge_lists_cover_the_table() -> None:
    assert len(LEGAL_EDGES) == 30
    assert len(PLAIN_EDGES) + len(DEDICATED_EDGES) == 30
    assert len(ILLEGAL_PAIRS) == 13 * 13 - 30


@pytest.mark.parametrize(("src", "dst"), PLAIN_EDGES)
def test_every_plain_edge_succeeds_and_records_a_status_change(src: OrderStatus, dst: OrderStatus) -> None:
    order = order_in(src)
    at = _when(src, dst)

    result = order.transition_to(dst, at)

    event = OrderStatusChanged(
        occurred_at=at, order_id=ORDER_ID, country=COUNTRY, from_status=src, to_status=dst
    )
    assert result == Success(event)
    assert order.status is dst
    assert order.version == 1 + order_in(src).version
    assert order.pending_events == (event,)
    assert order.is_final is (dst in FINAL_STATUSES)


def test_capture_payment_edge() -> None:
    order = order_in(S.CREATED)
    snapshot = make_snapshot()

    result = order.capture_payment(snapshot, PAID_AT)

    event = PaymentCaptured(
        occurred_at=PAID_AT,
        order_id=ORDER_ID,
        country=COUNTRY,
        from_status=S.CREATED,
        to_status=S.PAID,
        total_charged=snapshot.total_charged,
        policy_version=PolicyVersion("MX-2026-01"),
    )
    assert result == Success(event)
    assert order.status is S.PAID
    assert order.snapshot is snapshot
    assert order.captured is True
    assert order.version == 1
    assert order.pending_events == (event,)


@pytest.mark.parametrize("src", sorted(FREEZABLE_STATUSES))
def test_freeze_edge(src: OrderStatus) -> None:
    order = order_in(src)
    version = order.version

    result = order.freeze(LATER, INCIDENT)

    event = OrderFrozen(
        occurred_at=LATER,
        order_id=ORDER_ID,
        country=COUNTRY,
        from_status=src,
        to_status=S.FROZEN,
        incident_ref=INCIDENT,
    )
    assert result == Success(event)
    assert order.status is S.FROZEN
    assert order.frozen_from is src
    assert order.version == version + 1
    assert order.pending_events == (event,)


@pytest.mark.parametrize("dst", sorted(FREEZABLE_STATUSES))
def test_unfreeze_edge(dst: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=dst)
    version = order.version

    result = order.unfreeze(LATER)

    event = OrderUnfrozen(
        occurred_at=LATER,
        order_id=ORDER_ID,
        country=COUNTRY,
        from_status=S.FROZEN,
        to_status=dst,
        incident_ref=INCIDENT,
    )
    assert result == Success(event)
    assert order.status is dst
    assert order.frozen_from is None
    assert order.version == version + 1
    assert order.pending_events == (event,)


@pytest.mark.parametrize("src", [S.IN_TRANSIT, S.DELIVERED, S.FROZEN])
def test_force_complete_edge(src: OrderStatus) -> None:
    order = order_in(src)
    version = order.version

    result = order.force_complete(LATER, REASON)

    event = OrderForceCompleted(
        occurred_at=LATER,
        order_id=ORDER_ID,
        country=COUNTRY,
        from_status=src,
        to_status=S.FORCE_COMPLETED,
        reason=REASON,
    )
    assert result == Success(event)
    assert order.status is S.FORCE_COMPLETED
    assert order.version == version + 1
    assert order.pending_events == (event,)


def test_delivery_sets_delivered_at_and_opens_the_dispute_window() -> None:
    order = order_in(S.IN_TRANSIT)
    assert order.delivered_at is None
    assert order.dispute_window_closes_at is None

    assert isinstance(order.transition_to(S.DELIVERED, DELIVERED_AT), Success)

    assert order.delivered_at == DELIVERED_AT
    assert order.dispute_window_closes_at == DELIVERED_AT + timedelta(hours=72)


def test_the_happy_path_end_to_end() -> None:
    order = order_in(S.CREATED)
    assert isinstance(order.capture_payment(make_snapshot(), PAID_AT), Success)
    for target in (S.ACCEPTED, S.IN_PREPARATION, S.IN_TRANSIT, S.DELIVERED):
        assert isinstance(order.transition_to(target, DELIVERED_AT), Success)
    assert isinstance(order.transition_to(S.COMPLETED, LATER), Success)

    assert order.status is S.COMPLETED
    assert order.version == 6
    assert order.is_final is True
    assert [
        (e.from_status, e.to_status) for e in order.pull_events() if isinstance(e, OrderStatusChanged)
    ] == [
        (S.PAID, S.ACCEPTED),
        (S.ACCEPTED, S.IN_PREPARATION),
        (S.IN_PREPARATION, S.IN_TRANSIT),
        (S.IN_TRANSIT, S.DELIVERED),
        (S.DELIVERED, S.COMPLETED),
    ]


# -- illegal pairs over the full product ----------------------------------------------


@pytest.mark.parametrize(("src", "dst"), ILLEGAL_PAIRS)
def test_every_illegal_pair_is_refused_by_transition_to(src: OrderStatus, dst: OrderStatus) -> None:
    order = order_in(src)
    _assert_refused(
        order, lambda: order.transition_to(dst, _when(src, dst)), IllegalOrderTransition(src, dst)
    )


OPERATIONS: dict[str, Callable[[Order, OrderStatus], Any]] = {
    "capture_payment": lambda order, _: order.capture_payment(make_snapshot(), LATER),
    "freeze": lambda order, _: order.freeze(LATER, "INC-other"),
    "unfreeze": lambda order, _: order.unfreeze(LATER),
    "force_complete": lambda order, _: order.force_complete(LATER, REASON),
    "transition_to": lambda order, dst: order.transition_to(dst, LATER),
}


@pytest.mark.parametrize(("src", "dst"), ILLEGAL_PAIRS)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_operation_takes_an_order_along_an_illegal_pair(
    operation: str, src: OrderStatus, dst: OrderStatus
) -> None:
    order = order_in(src)
    result = OPERATIONS[operation](order, dst)
    if isinstance(result, Success) and order.status is src:
        # no edge taken: only a capture keeps the status (FROZEN D103, CANCELLED D116)
        assert operation == "capture_payment" and src in (S.FROZEN, S.CANCELLED)
    elif isinstance(result, Success):
        assert order.status is not dst
        assert can_transition(src, order.status)
    else:
        assert order.status is src


@pytest.mark.parametrize(("src", "dst"), DEDICATED_EDGES)
def test_dedicated_edges_are_refused_by_transition_to(src: OrderStatus, dst: OrderStatus) -> None:
    order = _source(src, dst)
    if src is S.FROZEN and dst is S.FORCE_COMPLETED:
        assert order.frozen_from is S.IN_TRANSIT
    _assert_refused(
        order,
        lambda: order.transition_to(dst, LATER),
        DedicatedOperationRequired(src, dst, operation_for(src, dst)),
    )


@pytest.mark.parametrize(("frozen_from", "dst"), list(product(sorted(FREEZABLE_STATUSES), OrderStatus)))
def test_a_frozen_order_goes_back_only_where_it_came_from(frozen_from: OrderStatus, dst: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=frozen_from)
    if dst is frozen_from:
        error: object = DedicatedOperationRequired(S.FROZEN, dst, OrderOperation.UNFREEZE)
    elif dst is S.FORCE_COMPLETED and frozen_from in FORCE_COMPLETABLE_STATUSES:
        error = DedicatedOperationRequired(S.FROZEN, dst, OrderOperation.FORCE_COMPLETE)
    else:
        error = IllegalOrderTransition(S.FROZEN, dst)
    _assert_refused(order, lambda: order.transition_to(dst, LATER), error)


@pytest.mark.parametrize("src", [s for s in NON_FROZEN if s is not S.CREATED])
def test_capture_is_refused_everywhere_but_created(src: OrderStatus) -> None:
    """Cancelled before capture, a capture is recorded (D116, ``test_capture.py``): here the
    cancelled order was captured first."""
    order = order_in(src, cancelled_from=S.PAID)
    error = OrderAlreadyCaptured(ORDER_ID) if order.captured else IllegalOrderTransition(src, S.PAID)
    _assert_refused(order, lambda: order.capture_payment(make_snapshot(), LATER), error)


@pytest.mark.parametrize("frozen_from", sorted(FREEZABLE_STATUSES - {S.CREATED}))
def test_capture_is_refused_while_frozen(frozen_from: OrderStatus) -> None:
    """Frozen from CREATED, a capture is recorded (D103, ``test_capture.py``)."""
    order = order_in(S.FROZEN, frozen_from=frozen_from)
    error = OrderAlreadyCaptured(ORDER_ID) if order.captured else IllegalOrderTransition(S.FROZEN, S.PAID)
    _assert_refused(order, lambda: order.capture_payment(make_snapshot(), LATER), error)


@pytest.mark.parametrize("src", sorted(set(OrderStatus) - FREEZABLE_STATUSES - {S.FROZEN}))
def test_freeze_is_refused_from_holds_and_final_statuses(src: OrderStatus) -> None:
    order = order_in(src)
    _assert_refused(order, lambda: order.freeze(LATER, INCIDENT), IllegalOrderTransition(src, S.FROZEN))


def test_a_frozen_order_cannot_be_frozen_by_another_incident() -> None:
    order = order_in(S.FROZEN)
    _assert_refused(order, lambda: order.freeze(LATER, "INC-2"), OrderAlreadyFrozen(INCIDENT))


@pytest.mark.parametrize("src", NON_FROZEN)
def test_unfreeze_is_refused_unless_frozen(src: OrderStatus) -> None:
    order = order_in(src)
    _assert_refused(order, lambda: order.unfreeze(LATER), OrderNotFrozen(src))


@pytest.mark.parametrize("src", sorted(set(NON_FROZEN) - FORCE_COMPLETABLE_STATUSES))
def test_force_complete_is_refused_from_other_statuses(src: OrderStatus) -> None:
    order = order_in(src)
    error = (
        OrderAlreadyForceCompleted(ORDER_ID)
        if src is S.FORCE_COMPLETED
        else IllegalOrderTransition(src, S.FORCE_COMPLETED)
    )
    _assert_refused(order, lambda: order.force_complete(LATER, REASON), error)


@pytest.mark.parametrize("frozen_from", sorted(FREEZABLE_STATUSES - FORCE_COMPLETABLE_STATUSES))
def test_force_complete_is_refused_when_frozen_before_dispatch(frozen_from: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=frozen_from)
    _assert_refused(order, lambda: order.force_complete(LATER, REASON), ForceCompleteNotEligible(frozen_from))


@pytest.mark.parametrize("src", sorted(FINAL_STATUSES))
def test_final_statuses_admit_no_change_at_all(src: OrderStatus) -> None:
    """Once captured: an order cancelled before its capture still records one (D116,
    ``test_capture.py``), its only change."""
    order = order_in(src, cancelled_from=S.PAID)
    assert order.is_final is True
    assert order.next_statuses == frozenset()
    before = state_of(order)
    for dst in OrderStatus:
        assert isinstance(order.transition_to(dst, LATER), Failure)
    assert isinstance(order.capture_payment(make_snapshot(), LATER), Failure)
    assert isinstance(order.freeze(LATER, INCIDENT), Failure)
    assert isinstance(order.unfreeze(LATER), Failure)
    assert isinstance(order.force_complete(LATER, REASON), Failure)
    assert state_of(order) == before


# -- time -----------------------------------------------------------------------------


NAIVE = datetime(2026, 3, 5, 12, 0)


@pytest.mark.parametrize("src", list(OrderStatus))
def test_naive_timestamps_are_refused_by_every_operation(src: OrderStatus) -> None:
    order = order_in(src)
    error = InvalidInput("at", "must be a timezone-aware datetime")
    _assert_refused(order, lambda: order.capture_payment(make_snapshot(), NAIVE), error)
    _assert_refused(order, lambda: order.freeze(NAIVE, INCIDENT), error)
    _assert_refused(order, lambda: order.unfreeze(NAIVE), error)
    _assert_refused(order, lambda: order.force_complete(NAIVE, REASON), error)
    for dst in OrderStatus:
        _assert_refused(order, partial(order.transition_to, dst, NAIVE), error)


def test_completion_waits_for_the_dispute_window_to_close() -> None:
    order = order_in(S.DELIVERED)
    just_before = WINDOW_CLOSES_AT - timedelta(microseconds=1)
    _assert_refused(
        order, lambda: order.transition_to(S.COMPLETED, just_before), DisputeWindowStillOpen(WINDOW_CLOSES_AT)
    )
    assert isinstance(order.transition_to(S.COMPLETED, WINDOW_CLOSES_AT), Success)


def test_disputes_open_only_while_the_window_is_open() -> None:
    order = order_in(S.DELIVERED)
    _assert_refused(
        order,
        lambda: order.transition_to(S.DISPUTED, WINDOW_CLOSES_AT),
        DisputeWindowClosed(window_closed_at=WINDOW_CLOSES_AT, attempted_at=WINDOW_CLOSES_AT),
    )
    just_before = WINDOW_CLOSES_AT - timedelta(microseconds=1)
    assert isinstance(order.transition_to(S.DISPUTED, just_before), Success)


def test_the_window_comes_from_the_snapshot_policy() -> None:
    order = order_in(S.DELIVERED, dispute_window=timedelta(hours=24))
    closes_at = DELIVERED_AT + timedelta(hours=24)
    assert order.dispute_window_closes_at == closes_at
    _assert_refused(
        order,
        lambda: order.transition_to(S.DISPUTED, closes_at),
        DisputeWindowClosed(window_closed_at=closes_at, attempted_at=closes_at),
    )
    assert isinstance(order.transition_to(S.COMPLETED, closes_at), Success)


@pytest.mark.parametrize("dst", [S.COMPLETED, S.REFUNDED, S.PARTIALLY_REFUNDED])
def test_a_dispute_resolves_whenever_it_is_decided(dst: OrderStatus) -> None:
    order = order_in(S.DISPUTED)
    assert isinstance(order.transition_to(dst, IN_WINDOW + timedelta(minutes=1)), Success)
    assert order.status is dst


def test_error_codes_and_messages() -> None:
    illegal = IllegalOrderTransition(S.COMPLETED, S.CREATED)
    assert illegal.code == "ILLEGAL_ORDER_TRANSITION"
    assert illegal.message == "an order cannot go from COMPLETED to CREATED"
    dedicated = DedicatedOperationRequired(S.CREATED, S.PAID, OrderOperation.CAPTURE_PAYMENT)
    assert dedicated.code == "DEDICATED_OPERATION_REQUIRED"
    assert dedicated.message == "CREATED -> PAID must be done with capture_payment"
    assert OrderAlreadyCaptured(ORDER_ID).code == "ORDER_ALREADY_CAPTURED"
    assert OrderAlreadyFrozen(INCIDENT).code == "ORDER_ALREADY_FROZEN"
    assert OrderNotFrozen(S.PAID).code == "ORDER_NOT_FROZEN"
    assert DisputeWindowStillOpen(WINDOW_CLOSES_AT).code == "DISPUTE_WINDOW_STILL_OPEN"
    closed = DisputeWindowClosed(window_closed_at=WINDOW_CLOSES_AT, attempted_at=WINDOW_CLOSES_AT)
    assert closed.code == "DISPUTE_WINDOW_CLOSED"
    assert closed.message == "the dispute window closed at 2026-03-05T12:50:00+00:00"
