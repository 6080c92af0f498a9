"""What the workers report for monitoring (SPEC §11), kept free of any metrics library.

The adapter (``adapters/telemetry/metrics.py``) turns these calls into Prometheus
counters and gauges; ``NO_METRICS`` ignores them (tests, one-off tools). Calls must be
cheap and must never raise: they run on the workers' hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from application.ports.outbox import QueueDepth
from domain.integrations import Circuit
from domain.shared import CountryCode


class Metrics(Protocol):
    def job_finished(self, country: CountryCode, provider: str, outcome: str) -> None:
        """A job run ended with ``outcome`` (a ``StepOutcome`` value)."""
        ...

    def dead_lettered(self, country: CountryCode, provider: str) -> None:
        """A job went to the dead-letter queue (the alert's counter)."""
        ...

    def webhook_processing_failed(self, country: CountryCode, provider: str) -> None:
        """A stored webhook of ``provider`` was given up after its maximum of processing
        attempts (outcome ``PROCESSING_FAILED``: the alert's counter, like a dead letter)."""
        ...

    def payout_returned(self, country: CountryCode, currency: str) -> None:
        """A seller payout the provider had confirmed was returned (it failed afterwards) and
        its posting reversed: the money is owed to the seller again (D130; the alert's counter)."""
        ...

    def late_failure(self, country: CountryCode, provider: str, kind: str) -> None:
        """A job of ``provider`` and ``kind`` already DONE was reported failed by its provider
        and nothing was reversed (a refund returned after it succeeded...): an operator must
        act (D130; the alert's counter)."""
        ...

    def late_success(self, country: CountryCode, provider: str, outcome: str) -> None:
        """A job of ``provider`` that had left the queue for good was confirmed succeeded by its
        provider on the key it last called with (D131): ``outcome`` ``RECOVERED`` (a dead letter,
        recorded as the success it was) or ``CONFIRMED_AFTER_DISCARD`` (a discarded job, nothing
        recorded: the alert's counter for payments)."""
        ...

    def provider_called(self, country: CountryCode, provider: str, outcome: str, seconds: float) -> None:
        """A provider call answered ``outcome`` (``OK``, ``ACCEPTED``, ``TRANSIENT``, ``PERMANENT``)."""
        ...

    def circuits(self, circuits: Sequence[Circuit]) -> None:
        """The current state of these circuit breakers."""
        ...

    def queue_depth(self, depths: Sequence[QueueDepth]) -> None:
        """The complete current outbox depth (a country, provider and status missing from
        ``depths`` has no job)."""
        ...

    def sla_breached(self, country: CountryCode, severity: str, clock: str) -> None:
        """An SLA clock of a case of ``severity`` breached its ``clock`` target (the alert's counter)."""
        ...

    def sla_unrecorded(self, ages: Mapping[CountryCode, float]) -> None:
        """The complete current backlog of unrecorded breaches: per country, how many seconds
        ago its oldest running clock passed its deadline (a country missing has none)."""
        ...

    def conversation_frozen(self, country: CountryCode, scope: str) -> None:
        """A conversation (``scope="conversation"``) or one sender in it (``scope="sender"``) was
        frozen; a spike of these in a country raises an alert."""
        ...

    def ledger_posted(self, country: CountryCode, currency: str, postings: int) -> None:
        """A ledger transaction with ``postings`` postings was recorded."""
        ...

    def idempotent_replay(self, country: CountryCode, operation: str) -> None:
        """A request was answered from its stored first result (an idempotent replay)."""
        ...


class _NoMetrics:
    def job_finished(self, country: CountryCode, provider: str, outcome: str) -> None:
        pass

    def dead_lettered(self, country: CountryCode, provider: str) -> None:
        pass

    def webhook_processing_failed(self, country: CountryCode, provider: str) -> None:
        pass

    def payout_returned(self, country: CountryCode, currency: str) -> None:
        pass

    def late_failure(self, country: CountryCode, provider: str, kind: str) -> None:
        pass

    def late_success(self, country: CountryCode, provider: str, outcome: str) -> None:
        pass

    def provider_called(self, country: CountryCode, provider: str, outcome: str, seconds: float) -> None:
        pass

    def circuits(self, circuits: Sequence[Circuit]) -> None:
        pass

    def queue_depth(self, depths: Sequence[QueueDepth]) -> None:
        pass

    def sla_breached(self, country: CountryCode, severity: str, clock: str) -> None:
        pass

    def sla_unrecorded(self, ages: Mapping[CountryCode, float]) -> None:
        pass

    def conversation_frozen(self, country: CountryCode, scope: str) -> None:
        pass

    def ledger_posted(self, country: CountryCode, currency: str, postings: int) -> None:
        pass

    def idempotent_replay(self, country: CountryCode, operation: str) -> None:
        pass


NO_METRICS: Final[Metrics] = _NoMetrics()
