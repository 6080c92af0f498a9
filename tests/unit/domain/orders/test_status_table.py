"""The transition table is data, and exactly SPEC §3."""

from __future__ import annotations

from itertools import product

import pytest

from domain.orders import (
    FINAL_STATUSES,
    FORCE_COMPLETABLE_STATUSES,
    FREEZABLE_STATUSES,
    HOLD_STATUSES,
    TRANSITIONS,
    OrderOperation,
    OrderStatus,
    can_transition,
    is_final,
    operation_for,
)

S = OrderStatus

# Written out by hand from SPEC §3, independently of the table under test.
SPEC_EDGES: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        # the happy path
        (S.CREATED, S.PAID),
        (S.PAID, S.ACCEPTED),
        (S.ACCEPTED, S.IN_PREPARATION),
        (S.IN_PREPARATION, S.IN_TRANSIT),
        (S.IN_TRANSIT, S.DELIVERED),
        (S.DELIVERED, S.COMPLETED),
        # cancellation
        (S.CREATED, S.CANCELLED),
        (S.PAID, S.CANCELLED),
        (S.ACCEPTED, S.CANCELLED),
        (S.IN_PREPARATION, S.CANCELLED),
        (S.IN_TRANSIT, S.CANCELLED),
        # disputes
        (S.DELIVERED, S.DISPUTED),
        (S.DISPUTED, S.COMPLETED),
        (S.DISPUTED, S.REFUNDED),
        (S.DISPUTED, S.PARTIALLY_REFUNDED),
        # live-incident hold and back
        (S.CREATED, S.FROZEN),
        (S.PAID, S.FROZEN),
        (S.ACCEPTED, S.FROZEN),
        (S.IN_PREPARATION, S.FROZEN),
        (S.IN_TRANSIT, S.FROZEN),
        (S.DELIVERED, S.FROZEN),
        (S.FROZEN, S.CREATED),
        (S.FROZEN, S.PAID),
        (S.FROZEN, S.ACCEPTED),
        (S.FROZEN, S.IN_PREPARATION),
        (S.FROZEN, S.IN_TRANSIT),
        (S.FROZEN, S.DELIVERED),
        # force-complete
        (S.IN_TRANSIT, S.FORCE_COMPLETED),
        (S.DELIVERED, S.FORCE_COMPLETED),
        (S.FROZEN, S.FORCE_COMPLETED),
    }
)

ALL_PAIRS = list(product(OrderStatus, OrderStatus))


def test_statuses_are_the_thirteen_of_the_spec() -> None:
    assert [s.value for s in OrderStatus] == [
        "CREATED",
        "PAID",
        "ACCEPTED",
        "IN_PREPARATION",
        "IN_TRANSIT",
        "DELIVERED",
        "COMPLETED",
        "CANCELLED",
        "DISPUTED",
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "FROZEN",
        "FORCE_COMPLETED",
    ]
    assert OrderStatus("PAID") is OrderStatus.PAID
    assert str(OrderStatus.IN_TRANSIT) == "IN_TRANSIT"


def test_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


def test_table_is_exactly_the_spec() -> None:
    edges = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert edges == SPEC_EDGES
    assert len(edges) == 30


def test_table_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[S.COMPLETED] = frozenset({S.CREATED})  # type: ignore[index]


@pytest.mark.parametrize(("src", "dst"), ALL_PAIRS)
def test_can_transition_over_the_full_product(src: OrderStatus, dst: OrderStatus) -> None:
    assert can_transition(src, dst) is ((src, dst) in SPEC_EDGES)


def test_no_status_transitions_to_itself() -> None:
    assert not any(can_transition(s, s) for s in OrderStatus)


def test_status_families() -> None:
    assert {S.COMPLETED, S.CANCELLED, S.REFUNDED, S.PARTIALLY_REFUNDED, S.FORCE_COMPLETED} == FINAL_STATUSES
    assert {S.DISPUTED, S.FROZEN} == HOLD_STATUSES
    assert set(OrderStatus) - FINAL_STATUSES - HOLD_STATUSES == FREEZABLE_STATUSES
    assert {S.IN_TRANSIT, S.DELIVERED} == FORCE_COMPLETABLE_STATUSES


@pytest.mark.parametrize("status", list(OrderStatus))
def test_final_statuses_have_no_way_out(status: OrderStatus) -> None:
    assert is_final(status) is (status in FINAL_STATUSES)
    assert (TRANSITIONS[status] == frozenset()) is (status in FINAL_STATUSES)


@pytest.mark.parametrize(("src", "dst"), sorted(SPEC_EDGES))
def test_each_edge_names_its_operation(src: OrderStatus, dst: OrderStatus) -> None:
    if dst is S.PAID and src is S.CREATED:
        expected = OrderOperation.CAPTURE_PAYMENT
    elif dst is S.FROZEN:
        expected = OrderOperation.FREEZE
    elif dst is S.FORCE_COMPLETED:
        expected = OrderOperation.FORCE_COMPLETE
    elif src is S.FROZEN:
        expected = OrderOperation.UNFREEZE
    else:
        expected = OrderOperation.TRANSITION_TO
    assert operation_for(src, dst) is expected


def test_plain_edges_are_the_forward_cancel_and_dispute_ones() -> None:
    plain = {(src, dst) for src, dst in SPEC_EDGES if operation_for(src, dst) is OrderOperation.TRANSITION_TO}
    assert plain == {
        (S.PAID, S.ACCEPTED),
        (S.ACCEPTED, S.IN_PREPARATION),
        (S.IN_PREPARATION, S.IN_TRANSIT),
        (S.IN_TRANSIT, S.DELIVERED),
        (S.DELIVERED, S.COMPLETED),
        (S.CREATED, S.CANCELLED),
        (S.PAID, S.CANCELLED),
        (S.ACCEPTED, S.CANCELLED),
        (S.IN_PREPARATION, S.CANCELLED),
        (S.IN_TRANSIT, S.CANCELLED),
        (S.DELIVERED, S.DISPUTED),
        (S.DISPUTED, S.COMPLETED),
        (S.DISPUTED, S.REFUNDED),
        (S.DISPUTED, S.PARTIALLY_REFUNDED),
    }
