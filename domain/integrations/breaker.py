"""The circuit breaker of one provider in one country: a pure state machine (SPEC §7).

::

    CLOSED ──(failure_threshold consecutive transient failures)──> OPEN
    OPEN ──(open_for has passed; the next caller takes the one trial)──> HALF_OPEN
    HALF_OPEN ──(the trial call succeeds)──> CLOSED
    HALF_OPEN ──(the trial call fails)──> OPEN (a new open period from now)
    HALF_OPEN, trial not reported by trial_until (its worker died) ──> the next caller
        takes a new trial

While OPEN, and while HALF_OPEN with the trial taken, callers are told to WAIT until a
given instant: jobs wait, they do not hammer the provider. Only the caller holding the
trial can close or re-open a half-open circuit; late answers of calls admitted before the
circuit opened change nothing once it is open (the trial decides).

No clock here: every transition takes ``now``. A ``Circuit`` is a value; each transition
returns the next value (equal to the old one when nothing changes), so the persistence
adapter can store it with a compare-and-set and two workers cannot both take the trial.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.shared import CountryCode
from domain.shared.errors import InvariantViolation

MAX_PROVIDER_NAME_LENGTH = 64


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """``failure_threshold`` consecutive transient failures open the circuit for
    ``open_for``; a half-open trial not reported within ``trial_timeout`` is given up."""

    failure_threshold: int = 5
    open_for: timedelta = timedelta(seconds=30)
    trial_timeout: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise InvariantViolation("failure_threshold must be at least 1")
        if self.open_for <= timedelta(0) or self.trial_timeout <= timedelta(0):
            raise InvariantViolation("open_for and trial_timeout must be positive")


class Verdict(StrEnum):
    CALL = "CALL"  # closed: call the provider
    TRIAL = "TRIAL"  # half-open: this caller makes the one trial call
    WAIT = "WAIT"  # open, or the trial is someone else's: do not call before ``retry_at``


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    circuit: Circuit  # the circuit after asking (changed only when a trial was taken)
    retry_at: datetime | None = None  # WAIT only

    @property
    def may_call(self) -> bool:
        return self.verdict is not Verdict.WAIT


@dataclass(frozen=True, slots=True)
class Circuit:
    country: CountryCode
    provider: str
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    trial_owner: str | None = None
    trial_until: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0  # 0: never stored (a closed circuit with no history); bumped by storage

    def __post_init__(self) -> None:
        if not self.provider or len(self.provider) > MAX_PROVIDER_NAME_LENGTH:
            raise InvariantViolation(f"provider name must be 1-{MAX_PROVIDER_NAME_LENGTH} characters")
        if self.consecutive_failures < 0:
            raise InvariantViolation("consecutive_failures must not be negative")
        if self.state is not CircuitState.CLOSED and self.opened_at is None:
            raise InvariantViolation(f"a {self.state} circuit has an opened_at")
        has_trial = self.trial_owner is not None and self.trial_until is not None
        if (self.state is CircuitState.HALF_OPEN) != has_trial:
            raise InvariantViolation("a trial owner and deadline exist exactly while HALF_OPEN")

    @staticmethod
    def closed(country: CountryCode, provider: str) -> Circuit:
        return Circuit(country, provider)

    def reopens_at(self, policy: BreakerPolicy) -> datetime | None:
        """When an OPEN circuit lets a trial through (``None`` unless OPEN)."""
        if self.state is not CircuitState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + policy.open_for

    # ------------------------------------------------------------------ transitions

    def admit(self, policy: BreakerPolicy, *, now: datetime, caller: str) -> Admission:
        """May ``caller`` call the provider now?"""
        match self.state:
            case CircuitState.CLOSED:
                return Admission(Verdict.CALL, self)
            case CircuitState.OPEN:
                reopens_at = self.reopens_at(policy)
                assert reopens_at is not None
                if now < reopens_at:
                    return Admission(Verdict.WAIT, self, retry_at=reopens_at)
                return Admission(Verdict.TRIAL, self._trial_for(caller, policy, now))
            case CircuitState.HALF_OPEN:
                assert self.trial_until is not None
                if self.trial_owner == caller:
                    return Admission(Verdict.TRIAL, self)
                if now < self.trial_until:
                    return Admission(Verdict.WAIT, self, retry_at=self.trial_until)
                return Admission(Verdict.TRIAL, self._trial_for(caller, policy, now))

    def record_success(self, policy: BreakerPolicy, *, now: datetime, caller: str) -> Circuit:
        """The provider answered (a success, or a permanent refusal: it is up)."""
        del policy  # the same signature as record_failure; nothing here depends on it
        match self.state:
            case CircuitState.CLOSED:
                if self.consecutive_failures == 0:
                    return self
                return replace(self, consecutive_failures=0, updated_at=now)
            case CircuitState.HALF_OPEN if self.trial_owner == caller:
                return replace(
                    self,
                    state=CircuitState.CLOSED,
                    consecutive_failures=0,
                    opened_at=None,
                    trial_owner=None,
                    trial_until=None,
                    updated_at=now,
                )
            case _:
                return self  # a late answer of a call made before the circuit opened

    def record_failure(self, policy: BreakerPolicy, *, now: datetime, caller: str) -> Circuit:
        """A transient failure (5xx, timeout)."""
        match self.state:
            case CircuitState.CLOSED:
                failures = self.consecutive_failures + 1
                if failures >= policy.failure_threshold:
                    return replace(
                        self,
                        state=CircuitState.OPEN,
                        consecutive_failures=failures,
                        opened_at=now,
                        updated_at=now,
                    )
                return replace(self, consecutive_failures=failures, updated_at=now)
            case CircuitState.HALF_OPEN if self.trial_owner == caller:
                return replace(
                    self,
                    state=CircuitState.OPEN,
                    consecutive_failures=self.consecutive_failures + 1,
                    opened_at=now,
                    trial_owner=None,
                    trial_until=None,
                    updated_at=now,
                )
            case _:
                return self

    # ------------------------------------------------------------------ internals

    def _trial_for(self, caller: str, policy: BreakerPolicy, now: datetime) -> Circuit:
        return replace(
            self,
            state=CircuitState.HALF_OPEN,
            trial_owner=caller,
            trial_until=now + policy.trial_timeout,
            updated_at=now,
        )
