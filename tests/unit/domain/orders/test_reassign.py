"""Urgent replacement: the courier until delivery, the seller only before capture (D72)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from returns.result import Failure, Success

from domain.orders import (
    MAX_PARTY_ID_LENGTH,
    REASSIGNABLE_STATUSES,
    AlreadyAssigned,
    OrderStatus,
    PartyReassigned,
    ReassignNotAllowed,
    SellerFixedBySnapshot,
    StaleAssignment,
)
from domain.shared import InvalidInput
from tests.unit.domain.orders.factories import (
    ACCEPTED_AT,
    COUNTRY,
    COURIER,
    LATER,
    ORDER_ID,
    SELLER,
    fields_of,
    new_order,
    order_in,
    rehydrate_like,
    state_of,
)

S = OrderStatus
ON_ITS_WAY = sorted(REASSIGNABLE_STATUSES)
NOT_ON_ITS_WAY = sorted(set(S) - REASSIGNABLE_STATUSES - {S.FROZEN})


@pytest.mark.parametrize("status", ON_ITS_WAY)
def test_the_courier_is_replaced_while_the_order_is_on_its_way(status: OrderStatus) -> None:
    order = order_in(status)
    before = fields_of(order)
    result = order.reassign_courier(LATER, "  cou_2 ")
    assert result == Success(
        PartyReassigned(
            occurred_at=LATER,
            order_id=ORDER_ID,
            country=COUNTRY,
            party="COURIER",
            from_id=COURIER,
            to_id="cou_2",
        )
    )
    assert order.pending_events == (result.unwrap(),)
    # only the courier, when it was given, and the version change: the status and the snapshot stay
    assert fields_of(order) == {
        **before,
        "courier_id": "cou_2",
        "courier_assigned_at": LATER,
        "version": before["version"] + 1,
    }
    if order.snapshot is not None:
        assert order.snapshot.courier_id == COURIER


@pytest.mark.parametrize("frozen_from", ON_ITS_WAY)
def test_a_frozen_order_keeps_its_hold_when_its_courier_is_replaced(frozen_from: OrderStatus) -> None:
    order = order_in(S.FROZEN, frozen_from=frozen_from)
    assert isinstance(order.reassign_courier(LATER, "cou_2"), Success)
    assert (order.status, order.frozen_from, order.courier_id) == (S.FROZEN, frozen_from, "cou_2")


def test_an_order_without_a_courier_gets_its_first() -> None:
    order = new_order(courier_id=None)
    order.pull_events()
    event = order.reassign_courier(LATER, "cou_2").unwrap()
    assert (event.from_id, event.to_id, order.courier_id) == (None, "cou_2", "cou_2")


def test_the_seller_is_replaced_only_before_capture() -> None:
    order = new_order()
    order.pull_events()
    event = order.reassign_seller(LATER, "sel_2").unwrap()
    assert (event.party, event.from_id, event.to_id, order.seller_id) == ("SELLER", SELLER, "sel_2", "sel_2")
    frozen = order_in(S.FROZEN, frozen_from=S.CREATED)
    assert isinstance(frozen.reassign_seller(LATER, "sel_2"), Success)


@pytest.mark.parametrize("status", [s for s in ON_ITS_WAY if s is not S.CREATED])
def test_a_paid_order_keeps_the_seller_its_snapshot_pays(status: OrderStatus) -> None:
    order = order_in(status)
    before = state_of(order)
    assert order.reassign_seller(LATER, "sel_2") == Failure(SellerFixedBySnapshot(ORDER_ID))
    assert state_of(order) == before


@pytest.mark.parametrize("status", NOT_ON_ITS_WAY)
@pytest.mark.parametrize("party", ["COURIER", "SELLER"])
def test_a_delivered_or_final_order_keeps_its_parties(status: OrderStatus, party: str) -> None:
    order = order_in(status)
    before = state_of(order)
    reassign = order.reassign_courier if party == "COURIER" else order.reassign_seller
    assert reassign(LATER, "new_1") == Failure(ReassignNotAllowed(party, status))
    assert state_of(order) == before


def test_frozen_after_delivery_is_not_on_its_way() -> None:
    order = order_in(S.FROZEN, frozen_from=S.DELIVERED)
    assert order.reassign_courier(LATER, "cou_2") == Failure(ReassignNotAllowed("COURIER", S.FROZEN))


@pytest.mark.parametrize(
    ("new_id", "expected"),
    [
        ("", InvalidInput("courier_id", "must not be blank")),
        ("   ", InvalidInput("courier_id", "must not be blank")),
        ("c" * (MAX_PARTY_ID_LENGTH + 1), InvalidInput("courier_id", "must be at most 200 chars")),
        (COURIER, AlreadyAssigned("COURIER", COURIER)),
        (f" {COURIER} ", AlreadyAssigned("COURIER", COURIER)),
    ],
)
def test_bad_replacements_change_nothing(new_id: str, expected: object) -> None:
    order = order_in(S.IN_TRANSIT)
    before = state_of(order)
    assert order.reassign_courier(LATER, new_id) == Failure(expected)
    assert state_of(order) == before


def test_a_naive_time_is_refused() -> None:
    order = order_in(S.IN_TRANSIT)
    before = state_of(order)
    failure = order.reassign_courier(LATER.replace(tzinfo=None), "cou_2").failure()
    assert isinstance(failure, InvalidInput) and failure.field == "at"
    assert state_of(order) == before


def test_a_replaced_courier_survives_rehydration() -> None:
    order = order_in(S.IN_TRANSIT)
    order.reassign_courier(LATER, "cou_2").unwrap()
    again = rehydrate_like(order)
    assert (again.courier_id, again.version) == ("cou_2", order.version)


@pytest.mark.parametrize(
    ("new_id", "reason"),
    [
        ("acme:eu", "must not contain ':' (it names ledger accounts)"),
        ("s" * 129, "must be at most 128 characters"),  # accounts fit; the API's ids do not (D112)
        ("s" * 183, "must be at most 182 characters (it names ledger accounts)"),  # receivable too long
    ],
)
def test_a_seller_who_cannot_hold_ledger_accounts_is_not_assigned(new_id: str, reason: str) -> None:
    order = order_in(S.CREATED)
    before = state_of(order)
    assert order.reassign_seller(LATER, new_id) == Failure(InvalidInput("seller_id", reason))
    assert state_of(order) == before


def test_a_seller_exactly_at_the_limit_is_assigned_and_a_courier_may_hold_a_colon() -> None:
    order = order_in(S.CREATED)
    assert isinstance(order.reassign_seller(LATER, "s" * 128), Success)
    assert order.seller_id == "s" * 128
    assert isinstance(order.reassign_courier(LATER, "fleet:7"), Success)  # couriers hold no account
    assert order.courier_id == "fleet:7"


def test_a_courier_assignment_older_than_the_current_one_changes_nothing() -> None:
    """D137: the order remembers when its courier was given it; an older assignment is stale."""
    order = order_in(S.ACCEPTED)
    assert order.courier_assigned_at is None  # never reassigned: any assignment applies
    assert isinstance(order.reassign_courier(ACCEPTED_AT + timedelta(minutes=5), "cou_2"), Success)
    assert order.courier_assigned_at == ACCEPTED_AT + timedelta(minutes=5)
    before = state_of(order)
    stale = order.reassign_courier(ACCEPTED_AT + timedelta(minutes=1), "cou_3")
    assert stale == Failure(
        StaleAssignment(
            "COURIER", "cou_3", ACCEPTED_AT + timedelta(minutes=1), ACCEPTED_AT + timedelta(minutes=5)
        )
    )
    assert stale.failure().code == "STALE_ASSIGNMENT"
    assert state_of(order) == before
    # the same moment applies (the last one applied wins a tie); a later one too
    assert isinstance(order.reassign_courier(ACCEPTED_AT + timedelta(minutes=5), "cou_3"), Success)
    assert isinstance(order.reassign_courier(ACCEPTED_AT + timedelta(minutes=6), "cou_4"), Success)
    assert order.courier_id == "cou_4"
    assert order.courier_assigned_at == ACCEPTED_AT + timedelta(minutes=6)
    # it survives a round trip through storage; the seller's reassignments never set it
    assert rehydrate_like(order).courier_assigned_at == ACCEPTED_AT + timedelta(minutes=6)
    unpaid = order_in(S.CREATED)
    assert isinstance(unpaid.reassign_seller(LATER, "sel_2"), Success)
    assert unpaid.courier_assigned_at is None


def test_the_courier_reported_again_later_dates_it() -> None:
    """D137 review: the same courier reported again with a later time moves the time its
    courier dates from, so an assignment made in between is stale when it arrives after."""
    order = order_in(S.ACCEPTED)
    assert order.courier_assigned_at is None
    version = order.version
    assert order.courier_reported(ACCEPTED_AT + timedelta(minutes=3)) is True
    dated: tuple[object, ...] = (order.courier_id, order.courier_assigned_at, order.version)
    assert dated == (COURIER, ACCEPTED_AT + timedelta(minutes=3), version + 1)
    assert order.pending_events == ()  # nothing happened to the order itself
    # an earlier or equal report of it changes nothing
    assert order.courier_reported(ACCEPTED_AT + timedelta(minutes=3)) is False
    assert order.courier_reported(ACCEPTED_AT + timedelta(minutes=1)) is False
    assert order.courier_assigned_at == ACCEPTED_AT + timedelta(minutes=3)
    between = order.reassign_courier(ACCEPTED_AT + timedelta(minutes=2), "cou_9")
    assert isinstance(between, Failure) and isinstance(between.failure(), StaleAssignment)
    # an order without a courier has nothing to date
    assert new_order(courier_id=None).courier_reported(LATER) is False
