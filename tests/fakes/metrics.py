"""A ``Metrics`` port that remembers what it was told."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from application.ports.outbox import QueueDepth
from domain.integrations import Circuit, CircuitState
from domain.shared import CountryCode


@dataclass
class RecordingMetrics:
    jobs: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    webhook_failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (country, webhook provider)
    payouts_returned: Counter[tuple[str, str]] = field(default_factory=Counter)  # (country, currency)
    late_failures: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (country, provider, kind)
    late_successes: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # (country, provider, outcome)
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    circuit_states: dict[tuple[str, str], list[CircuitState]] = field(default_factory=dict)
    depths: list[list[QueueDepth]] = field(default_factory=list)
    sla_breaches: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    freezes: Counter[tuple[str, str]] = field(default_factory=Counter)
    postings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (country, currency) -> postings
    transactions: Counter[tuple[str, str]] = field(default_factory=Counter)
    replays: Counter[tuple[str, str]] = field(default_factory=Counter)
    unrecorded: list[dict[str, float]] = field(default_factory=list)

    def job_finished(self, country: CountryCode, provider: str, outcome: str) -> None:
        self.jobs[(country.value, provider, outcome)] += 1

    def dead_lettered(self, country: CountryCode, provider: str) -> None:
        self.dead_letters[(country.value, provider)] += 1

    def webhook_processing_failed(self, country: CountryCode, provider: str) -> None:
        self.webhook_failures[(country.value, provider)] += 1

    def payout_returned(self, country: CountryCode, currency: str) -> None:
        self.payouts_returned[(country.value, currency)] += 1

    def late_failure(self, country: CountryCode, provider: str, kind: str) -> None:
        self.late_failures[(country.value, provider, kind)] += 1

    def late_success(self, country: CountryCode, provider: str, outcome: str) -> None:
        self.late_successes[(country.value, provider, outcome)] += 1

    def provider_called(self, country: CountryCode, provider: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls[(country.value, provider, outcome)] += 1

    def circuits(self, circuits: Sequence[Circuit]) -> None:
        for circuit in circuits:
            self.circuit_states.setdefault((circuit.country.value, circuit.provider), []).append(
                circuit.state
            )

    def queue_depth(self, depths: Sequence[QueueDepth]) -> None:
        self.depths.append(list(depths))

    def sla_breached(self, country: CountryCode, severity: str, clock: str) -> None:
        self.sla_breaches[(country.value, severity, clock)] += 1

    def sla_unrecorded(self, ages: Mapping[CountryCode, float]) -> None:
        self.unrecorded.append({country.value: age for country, age in ages.items()})

    def conversation_frozen(self, country: CountryCode, scope: str) -> None:
        self.freezes[(country.value, scope)] += 1

    def ledger_posted(self, country: CountryCode, currency: str, postings: int) -> None:
        self.transactions[(country.value, currency)] += 1
        self.postings[(country.value, currency)] += postings

    def idempotent_replay(self, country: CountryCode, operation: str) -> None:
        self.replays[(country.value, operation)] += 1
