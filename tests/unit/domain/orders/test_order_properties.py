"""Property-based tests: no sequence of operations escapes the transition table.

A hypothesis state machine applies random operations (legal, illegal, with bad input,
at random times, with reloads from storage in between) and checks after every step:

- a status change is always a pair the table allows, and names both ends in its event;
- the version goes up by exactly one per change, and not at all otherwise;
- a refused operation (or an idempotent no-op) changes nothing, pending events included;
- a final status admits no further change;
- the order can always be stored and rehydrated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from returns.result import Failure, Result, Success

from domain.orders import (
    FINAL_STATUSES,
    FREEZABLE_STATUSES,
    MAX_REASON_LENGTH,
    Order,
    OrderEvent,
    OrderOperation,
    OrderStatus,
    OrderTransitioned,
    PaymentCaptured,
    can_transition,
    operation_for,
)
from domain.shared.ids import OrderId
from domain.snapshots import OrderSnapshot
from tests.unit.domain.orders.factories import (
    CREATED_AT,
    IN_WINDOW,
    REASON,
    fields_of,
    make_snapshot,
    new_order,
    order_in,
    rehydrate_like,
    state_of,
)

S = OrderStatus

SNAPSHOTS: tuple[OrderSnapshot, ...] = (
    make_snapshot(),
    make_snapshot(order_id=OrderId("ord_other")),
    make_snapshot(country="CO", currency="COP"),
    make_snapshot(dispute_window=timedelta(hours=1)),
)
INCIDENTS = st.sampled_from(["INC-1", "INC-2", "  INC-1 ", "", "   "])
REASONS = st.one_of(
    st.sampled_from([REASON, "", "  "]),
    st.integers(min_value=MAX_REASON_LENGTH - 1, max_value=MAX_REASON_LENGTH + 1).map(lambda n: "r" * n),
)
STEPS = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
    st.sampled_from([timedelta(hours=1), timedelta(hours=72)]),  # the two dispute windows in SNAPSHOTS
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=100)),
)

Attempt = Callable[[Order, datetime], Result[Any, Any]]


def _legal_move(order: Order, target: OrderStatus, reason: str, incident: str) -> Attempt:
    """The operation that performs ``order.status -> target``."""
    operation = operation_for(order.status, target)
    if operation is OrderOperation.CAPTURE_PAYMENT:
        return lambda o, at: o.capture_payment(SNAPSHOTS[0], at)
    if operation is OrderOperation.FREEZE:
        return lambda o, at: o.freeze(at, incident)
    if operation is OrderOperation.UNFREEZE:
        return lambda o, at: o.unfreeze(at)
    if operation is OrderOperation.FORCE_COMPLETE:
        return lambda o, at: o.force_complete(at, reason)
    return lambda o, at: o.transition_to(target, at)


class OrderLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.start = self.order.status
        self.start_version = self.order.version
        self.history: list[OrderEvent] = []
        self.now = CREATED_AT

    @initialize(
        start=st.sampled_from(sorted(set(OrderStatus) - FINAL_STATUSES)),
        frozen_from=st.sampled_from(sorted(FREEZABLE_STATUSES)),
    )
    def begin_somewhere_on_the_map(self, start: OrderStatus, frozen_from: OrderStatus) -> None:
        """Start from any live status (reached through the real operations), so that runs go deep."""
        self.order = order_in(start, frozen_from=frozen_from)
        self.start = self.order.status
        self.start_version = self.order.version
        self.now = IN_WINDOW if self.order.delivered_at is not None else CREATED_AT

    def _apply(self, attempt: Attempt) -> None:
        before_fields, before_events = state_of(self.order)
        before_status = self.order.status
        uncaptured = not self.order.captured
        result = attempt(self.order, self.now)
        match result:
            case Success(OrderTransitioned() as event):
                # or a capture recorded while a live incident holds a CREATED order (D103), or
                # after its cancellation (D116): the status stays, the money is recorded
                kept = isinstance(event, PaymentCaptured) and uncaptured and event.to_status is before_status
                assert before_status not in FINAL_STATUSES or (kept and before_status is S.CANCELLED)
                assert can_transition(before_status, self.order.status) or (
                    kept and before_status in (S.FROZEN, S.CANCELLED)
                )
                if kept and before_status is S.FROZEN:
                    assert self.order.frozen_from is S.PAID
                assert (event.from_status, event.to_status) == (before_status, self.order.status)
                assert event.occurred_at == self.now
                assert event.order_id == self.order.id
                assert event.country == self.order.country
                assert self.order.version == before_fields["version"] + 1
                assert self.order.pending_events == (*before_events, event)
            case Success(None) | Failure(_):
                assert state_of(self.order) == (before_fields, before_events)
            case _:
                raise AssertionError(f"unexpected result {result!r}")

    @rule(step=STEPS)
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    @rule(index=st.integers(min_value=0, max_value=len(SNAPSHOTS) - 1))
    def capture_payment(self, index: int) -> None:
        self._apply(lambda o, at: o.capture_payment(SNAPSHOTS[index], at))

    @rule(status=st.sampled_from(OrderStatus))
    def transition_to(self, status: OrderStatus) -> None:
        self._apply(lambda o, at: o.transition_to(status, at))

    @rule(incident=INCIDENTS)
    def freeze(self, incident: str) -> None:
        self._apply(lambda o, at: o.freeze(at, incident))

    @rule()
    def unfreeze(self) -> None:
        self._apply(lambda o, at: o.unfreeze(at))

    @rule(reason=REASONS)
    def force_complete(self, reason: str) -> None:
        self._apply(lambda o, at: o.force_complete(at, reason))

    @rule(data=st.data(), reason=REASONS, incident=INCIDENTS)
    def move_along_the_table(self, data: st.DataObject, reason: str, incident: str) -> None:
        """Pick a move this order allows, so that runs reach deep into the machine."""
        targets = sorted(self.order.next_statuses)
        ongoing = [t for t in targets if t not in FINAL_STATUSES]
        if ongoing and data.draw(st.integers(min_value=0, max_value=4)) > 0:
            targets = ongoing  # mostly keep the order alive, so that runs get far
        if targets:
            target = data.draw(st.sampled_from(targets))
            self._apply(_legal_move(self.order, target, reason, incident))

    @rule()
    def store_and_reload(self) -> None:
        self.history.extend(self.order.pull_events())
        self.order = rehydrate_like(self.order)
        assert self.order.pending_events == ()

    @invariant()
    def version_counts_the_changes(self) -> None:
        assert self.order.version == self.start_version + len(self.history) + len(self.order.pending_events)

    @invariant()
    def holds_and_flags_are_consistent(self) -> None:
        order = self.order
        assert (order.status is S.FROZEN) == (order.frozen_from is not None)
        assert order.is_on_payout_hold == (order.status in {S.FROZEN, S.DISPUTED})
        assert order.is_final == (order.status in FINAL_STATUSES)
        assert order.force_completed == (order.status is S.FORCE_COMPLETED)
        assert order.is_final or order.next_statuses
        if order.status is not S.CREATED and order.frozen_from is not S.CREATED:
            assert order.captured or order.status is S.CANCELLED
        assert fields_of(rehydrate_like(order)) == fields_of(order)

    @invariant()
    def events_chain_from_the_start(self) -> None:
        status = self.start
        for event in [*self.history, *self.order.pending_events]:
            assert isinstance(event, OrderTransitioned)
            assert event.from_status is status
            kept = isinstance(event, PaymentCaptured) and event.from_status is event.to_status  # D103, D116
            assert can_transition(event.from_status, event.to_status) or (
                kept and event.to_status in (S.FROZEN, S.CANCELLED)
            )
            status = event.to_status
        assert status is self.order.status


OrderLifecycle.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrderLifecycle = OrderLifecycle.TestCase


OPERATIONS = st.one_of(
    st.tuples(st.just("capture"), st.integers(min_value=0, max_value=len(SNAPSHOTS) - 1)),
    st.tuples(st.just("transition"), st.sampled_from(OrderStatus)),
    st.tuples(st.just("freeze"), INCIDENTS),
    st.tuples(st.just("unfreeze"), st.none()),
    st.tuples(st.just("force"), REASONS),
)


def _run(order: Order, name: str, argument: Any, at: datetime) -> Result[Any, Any]:
    if name == "capture":
        return order.capture_payment(SNAPSHOTS[argument], at)
    if name == "transition":
        return order.transition_to(argument, at)
    if name == "freeze":
        return order.freeze(at, argument)
    if name == "unfreeze":
        return order.unfreeze(at)
    return order.force_complete(at, argument)


@settings(max_examples=300, deadline=None)
@given(operations=st.lists(st.tuples(OPERATIONS, STEPS), max_size=60))
def test_random_sequences_stay_on_the_table_and_stop_at_final_states(
    operations: list[tuple[tuple[str, Any], timedelta]],
) -> None:
    order = new_order()
    now = CREATED_AT
    for (name, argument), step in operations:
        now += step
        before, version = order.status, order.version
        uncaptured = not order.captured
        result = _run(order, name, argument, now)
        changed = isinstance(result, Success) and result.unwrap() is not None
        # a capture keeps a FROZEN (D103) or CANCELLED (D116) order's status, and records it
        kept = name == "capture" and uncaptured and before is order.status and changed
        if before in FINAL_STATUSES:
            assert isinstance(result, Failure) or (kept and before is S.CANCELLED)
        if changed:
            assert can_transition(before, order.status) or (kept and before in (S.FROZEN, S.CANCELLED))
            assert order.version == version + 1
        else:
            assert (order.status, order.version) == (before, version)
