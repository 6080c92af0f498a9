"""The circuit breaker's state machine: examples, then properties over random histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.integrations import BreakerPolicy, Circuit, CircuitState, Verdict
from domain.shared import CountryCode
from domain.shared.errors import InvariantViolation

MX = CountryCode("MX")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=3, open_for=timedelta(seconds=30), trial_timeout=timedelta(seconds=10)
)


def fail(circuit: Circuit, times: int, at: datetime = T0, caller: str = "w") -> Circuit:
    for _ in range(times):
        circuit = circuit.record_failure(POLICY, now=at, caller=caller)
    return circuit


def test_a_new_circuit_is_closed_and_lets_calls_through() -> None:
    circuit = Circuit.closed(MX, "payments")
    admission = circuit.admit(POLICY, now=T0, caller="w")
    assert admission.verdict is Verdict.CALL
    assert admission.circuit is circuit  # asking a closed circuit changes nothing
    assert admission.may_call


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    circuit = fail(Circuit.closed(MX, "payments"), 2)
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 2
    opened = fail(circuit, 1)
    assert opened.state is CircuitState.OPEN
    assert opened.opened_at == T0
    assert opened.reopens_at(POLICY) == T0 + timedelta(seconds=30)


def test_a_success_resets_the_count() -> None:
    circuit = fail(Circuit.closed(MX, "payments"), 2)
    circuit = circuit.record_success(POLICY, now=T0, caller="w")
    assert circuit.consecutive_failures == 0
    assert fail(circuit, 2).state is CircuitState.CLOSED


def test_a_success_on_a_clean_circuit_is_no_change_at_all() -> None:
    circuit = Circuit.closed(MX, "payments")
    assert circuit.record_success(POLICY, now=T0, caller="w") is circuit


def test_while_open_everyone_waits_until_the_open_period_ends() -> None:
    opened = fail(Circuit.closed(MX, "payments"), 3)
    for seconds in (0, 1, 29):
        admission = opened.admit(POLICY, now=T0 + timedelta(seconds=seconds), caller="w")
        assert admission.verdict is Verdict.WAIT
        assert admission.retry_at == T0 + timedelta(seconds=30)
        assert admission.circuit == opened
        assert not admission.may_call


def test_after_the_open_period_exactly_one_caller_gets_the_trial() -> None:
    opened = fail(Circuit.closed(MX, "payments"), 3)
    later = T0 + timedelta(seconds=30)
    first = opened.admit(POLICY, now=later, caller="a")
    assert first.verdict is Verdict.TRIAL
    half_open = first.circuit
    assert half_open.state is CircuitState.HALF_OPEN
    assert half_open.trial_owner == "a"
    assert half_open.trial_until == later + timedelta(seconds=10)
    second = half_open.admit(POLICY, now=later, caller="b")
    assert second.verdict is Verdict.WAIT
    assert second.retry_at == half_open.trial_until
    assert half_open.admit(POLICY, now=later, caller="a").verdict is Verdict.TRIAL  # asking again


def test_a_successful_trial_closes_the_circuit() -> None:
    half_open = fail(Circuit.closed(MX, "payments"), 3).admit(
        POLICY, now=T0 + timedelta(minutes=1), caller="a"
    )
    closed = half_open.circuit.record_success(POLICY, now=T0 + timedelta(minutes=1), caller="a")
    assert closed.state is CircuitState.CLOSED
    assert closed.consecutive_failures == 0
    assert closed.trial_owner is None
    assert closed.admit(POLICY, now=T0 + timedelta(minutes=1), caller="b").verdict is Verdict.CALL


def test_a_failed_trial_reopens_for_a_new_period() -> None:
    at = T0 + timedelta(minutes=1)
    half_open = fail(Circuit.closed(MX, "payments"), 3).admit(POLICY, now=at, caller="a").circuit
    reopened = half_open.record_failure(POLICY, now=at + timedelta(seconds=2), caller="a")
    assert reopened.state is CircuitState.OPEN
    assert reopened.opened_at == at + timedelta(seconds=2)
    assert reopened.admit(POLICY, now=at + timedelta(seconds=3), caller="b").verdict is Verdict.WAIT


def test_only_the_trial_owner_decides_a_half_open_circuit() -> None:
    at = T0 + timedelta(minutes=1)
    half_open = fail(Circuit.closed(MX, "payments"), 3).admit(POLICY, now=at, caller="a").circuit
    assert half_open.record_success(POLICY, now=at, caller="late") == half_open
    assert half_open.record_failure(POLICY, now=at, caller="late") == half_open


def test_late_answers_do_not_change_an_open_circuit() -> None:
    opened = fail(Circuit.closed(MX, "payments"), 3)
    assert opened.record_success(POLICY, now=T0, caller="w") == opened
    assert opened.record_failure(POLICY, now=T0, caller="w") == opened


def test_an_abandoned_trial_is_given_to_the_next_caller_after_its_deadline() -> None:
    at = T0 + timedelta(minutes=1)
    half_open = fail(Circuit.closed(MX, "payments"), 3).admit(POLICY, now=at, caller="dead").circuit
    assert half_open.admit(POLICY, now=at + timedelta(seconds=9), caller="b").verdict is Verdict.WAIT
    taken = half_open.admit(POLICY, now=at + timedelta(seconds=10), caller="b")
    assert taken.verdict is Verdict.TRIAL
    assert taken.circuit.trial_owner == "b"
    # the first owner's late answer no longer decides anything
    assert taken.circuit.record_success(POLICY, now=at, caller="dead") == taken.circuit


def test_invariants_are_enforced() -> None:
    with pytest.raises(InvariantViolation):
        Circuit(MX, "payments", state=CircuitState.OPEN)
    with pytest.raises(InvariantViolation):
        Circuit(MX, "payments", state=CircuitState.HALF_OPEN, opened_at=T0)
    with pytest.raises(InvariantViolation):
        Circuit(MX, "")
    with pytest.raises(InvariantViolation):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(InvariantViolation):
        BreakerPolicy(open_for=timedelta(0))


# ------------------------------------------------------------------------ properties

CALLERS = ("a", "b", "c")


class BreakerMachine(RuleBasedStateMachine):
    """Random interleavings of callers asking, succeeding and failing as time moves on.

    Checked against a small model: who holds admitted calls, and what the breaker may do.
    """

    def __init__(self) -> None:
        super().__init__()
        self.policy = BreakerPolicy(
            failure_threshold=3, open_for=timedelta(seconds=30), trial_timeout=timedelta(seconds=10)
        )
        self.circuit = Circuit.closed(MX, "payments")
        self.now = T0
        self.in_flight: set[str] = set()  # callers admitted and not yet answered
        self.trials_granted_in_this_half_open: list[str] = []

    @rule(seconds=st.integers(min_value=0, max_value=40))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(caller=st.sampled_from(CALLERS))
    def ask(self, caller: str) -> None:
        before = self.circuit
        admission = before.admit(self.policy, now=self.now, caller=caller)
        after = admission.circuit
        if before.state is CircuitState.CLOSED:
            assert admission.verdict is Verdict.CALL
        if before.state is CircuitState.OPEN:
            reopens_at = before.reopens_at(self.policy)
            assert reopens_at is not None
            assert (admission.verdict is Verdict.WAIT) == (self.now < reopens_at)
        if admission.verdict is Verdict.WAIT:
            assert after == before
            assert admission.retry_at is not None
            assert admission.retry_at > self.now
            return
        if admission.verdict is Verdict.TRIAL:
            assert after.state is CircuitState.HALF_OPEN
            assert after.trial_owner == caller
            if before.state is CircuitState.HALF_OPEN and before.trial_owner != caller:
                # a trial changes hands only once its holder's deadline has passed
                assert before.trial_until is not None
                assert self.now >= before.trial_until
            return  # not stored: as if this caller lost the compare-and-set, so it does not call
        self.in_flight.add(caller)

    @rule(caller=st.sampled_from(CALLERS), ok=st.booleans())
    def answer(self, caller: str, ok: bool) -> None:
        if caller not in self.in_flight:
            return
        self.in_flight.discard(caller)
        before = self.circuit
        if ok:
            after = before.record_success(self.policy, now=self.now, caller=caller)
        else:
            after = before.record_failure(self.policy, now=self.now, caller=caller)
        owner = before.state is CircuitState.HALF_OPEN and before.trial_owner == caller
        if before.state is CircuitState.OPEN or (before.state is CircuitState.HALF_OPEN and not owner):
            assert after == before
        if owner:
            assert after.state is (CircuitState.CLOSED if ok else CircuitState.OPEN)
        if before.state is CircuitState.CLOSED and not ok:
            expected = before.consecutive_failures + 1
            assert after.consecutive_failures == expected
            assert (after.state is CircuitState.OPEN) == (expected >= self.policy.failure_threshold)
        if before.state is CircuitState.CLOSED and ok:
            assert after.consecutive_failures == 0
        self.circuit = after

    @rule(caller=st.sampled_from(CALLERS))
    def ask_and_keep(self, caller: str) -> None:
        """Like ``ask``, but the state after asking is stored (as the adapter does)."""
        admission = self.circuit.admit(self.policy, now=self.now, caller=caller)
        if admission.may_call:
            self.in_flight.add(caller)
        self.circuit = admission.circuit

    @invariant()
    def shape(self) -> None:
        circuit = self.circuit
        if circuit.state is CircuitState.CLOSED:
            assert circuit.consecutive_failures < self.policy.failure_threshold
            assert circuit.trial_owner is None
            assert circuit.opened_at is None
        if circuit.state is CircuitState.OPEN:
            assert circuit.opened_at is not None
            assert circuit.trial_owner is None
        if circuit.state is CircuitState.HALF_OPEN:
            assert circuit.trial_owner is not None

    @invariant()
    def at_most_one_caller_may_call_while_not_closed(self) -> None:
        if self.circuit.state is CircuitState.CLOSED:
            return
        may_call = [c for c in CALLERS if self.circuit.admit(self.policy, now=self.now, caller=c).may_call]
        if self.circuit.state is CircuitState.HALF_OPEN:
            assert self.circuit.trial_until is not None
            if self.now < self.circuit.trial_until:
                assert may_call == [self.circuit.trial_owner]


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase


@given(
    failures=st.lists(st.booleans(), min_size=1, max_size=30),
    threshold=st.integers(min_value=1, max_value=6),
)
def test_it_opens_exactly_when_threshold_consecutive_failures_happen(
    failures: list[bool], threshold: int
) -> None:
    policy = BreakerPolicy(failure_threshold=threshold)
    circuit = Circuit.closed(MX, "notifications")
    run = 0
    for failed in failures:
        if circuit.state is CircuitState.OPEN:
            break
        if failed:
            circuit = circuit.record_failure(policy, now=T0, caller="w")
            run += 1
        else:
            circuit = circuit.record_success(policy, now=T0, caller="w")
            run = 0
        assert (circuit.state is CircuitState.OPEN) == (run >= threshold)


@given(
    seconds=st.integers(min_value=0, max_value=3600), callers=st.lists(st.sampled_from(CALLERS), min_size=1)
)
def test_an_open_circuit_grants_at_most_one_trial_to_any_number_of_callers(
    seconds: int, callers: list[str]
) -> None:
    circuit = fail(Circuit.closed(MX, "payments"), 3)
    now = T0 + timedelta(seconds=seconds)
    granted: set[str] = set()
    for caller in callers:
        admission = circuit.admit(POLICY, now=now, caller=caller)
        circuit = admission.circuit
        if admission.may_call:
            granted.add(caller)
    assert len(granted) <= 1
    assert bool(granted) == (seconds >= 30)
