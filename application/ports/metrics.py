"""What the workers report for monitoring (SPEC §11), kept free of any metrics library.

The adapter (``adapters/telemetry/metrics.py``) turns these calls into Prometheus
counters and gauges; ``NO_METRICS`` ignores them (tests, one-off tools). Calls must be
cheap and must never raise: they run on the workers' hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class _NoMetrics:
    def job_finished(self, country: CountryCode, provider: str, outcome: str) -> None:
        pass

    def dead_lettered(self, country: CountryCode, provider: str) -> None:
        pass

    def provider_called(self, country: CountryCode, provider: str, outcome: str, seconds: float) -> None:
        pass

    def circuits(self, circuits: Sequence[Circuit]) -> None:
        pass

    def queue_depth(self, depths: Sequence[QueueDepth]) -> None:
        pass


NO_METRICS: Final[Metrics] = _NoMetrics()
