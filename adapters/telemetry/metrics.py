"""The ``Metrics`` port on ``prometheus_client`` (SPEC §11).

Series (label values are bounded: countries, provider names, fixed outcome codes):

- ``supportos_outbox_jobs_total{country,provider,outcome}``: job runs by ``StepOutcome``
  (COMPLETED, RESOLVED, RETRY_SCHEDULED, DEFERRED, DEAD_LETTERED, LEASE_LOST, ...);
- ``supportos_dead_letters_total{country,provider}``: jobs sent to the dead-letter queue
  (alert on ``increase(...) > 0``). A labelled counter is only exported from its first
  increment, and ``increase()`` cannot see a series' first sample, so the series of the
  known job providers (``job_providers``) are created at 0 for every country the process
  learns of from the shared state (the outbox depth and the circuit breakers, read at
  every gauge refresh, i.e. when a worker starts and before the API's first scrape) and
  from ``prime_dead_letters``: the first dead letter after a restart is an increase from 0;
- ``supportos_webhook_processing_failures_total{country,provider}``: stored webhooks given up
  after their maximum of processing attempts (inbox outcome ``PROCESSING_FAILED``; alert on
  a new series or an increase, like the dead letters); ``provider`` is the webhook provider;
- ``supportos_payouts_returned_total{country,currency}``: seller payouts the provider reported
  failed after it had confirmed them (a bank return), their posting reversed (D130);
- ``supportos_provider_late_failures_total{country,provider,kind}``: jobs already DONE that
  their provider reported failed, with nothing reversed (an operator acts, D130); ``kind``
  is the job kind (``dispute.step``, ...);
- ``supportos_provider_late_successes_total{country,provider,outcome}``: jobs that had left
  the queue for good, confirmed succeeded by their provider afterwards (D131): ``RECOVERED``
  (a dead letter recorded as the success it was, out of the queue) or
  ``CONFIRMED_AFTER_DISCARD`` (a discarded job: nothing recorded, an operator acts);
- ``supportos_provider_calls_total{country,provider,outcome}`` and
  ``supportos_provider_call_seconds{provider}``: provider calls (OK, ACCEPTED, TRANSIENT,
  PERMANENT) and their latency;
- ``supportos_circuit_state{country,provider}``: 0 closed, 1 half-open, 2 open;
- ``supportos_outbox_depth{country,provider,status}``: live jobs (PENDING, RUNNING,
  WAITING, DEAD); ``status="DEAD"`` is the dead-letter queue's size;
- ``supportos_outbox_oldest_age_seconds{country,provider}``: how long the oldest PENDING
  job has waited since it was enqueued (0 with none), refreshed with the depth;
- ``supportos_sla_breaches_total{country,severity,clock}``: SLA clocks breached;
- ``supportos_conversation_freezes_total{country,scope}``: conversation / sender freezes;
- ``supportos_ledger_transactions_total`` and ``supportos_ledger_postings_total``
  ``{country,currency}``: ledger writes;
- ``supportos_idempotent_replays_total{country,operation}``: requests answered from
  their stored first result.

Each process keeps its own numbers (the workers refresh the gauges from the database,
so every worker reports the same shared depth and breaker states; counters are per
process and add up across processes in PromQL with ``sum``). Exposing ``/metrics`` is
the HTTP layer's job: ``prometheus_client.generate_latest(registry)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from application.ports.outbox import JobStatus, QueueDepth
from domain.integrations import Circuit, CircuitState
from domain.shared import CountryCode

CIRCUIT_STATE_VALUE: Final = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class PrometheusMetrics:
    """Satisfies ``application.ports.metrics.Metrics``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        job_providers: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        self._now = now
        self._job_providers: set[str] = set(job_providers)
        self._countries: set[str] = set()  # countries whose dead-letter series exist
        self._primed: set[tuple[str, str]] = set()
        self._jobs = Counter(
            "supportos_outbox_jobs",
            "Outbox job runs by outcome.",
            ["country", "provider", "outcome"],
            registry=registry,
        )
        self._dead_letters = Counter(
            "supportos_dead_letters",
            "Jobs moved to the dead-letter queue.",
            ["country", "provider"],
            registry=registry,
        )
        self._webhook_failures = Counter(
            "supportos_webhook_processing_failures",
            "Stored webhooks given up after their maximum of processing attempts (PROCESSING_FAILED).",
            ["country", "provider"],
            registry=registry,
        )
        self._payouts_returned = Counter(
            "supportos_payouts_returned",
            "Seller payouts returned after the provider had confirmed them; their posting reversed.",
            ["country", "currency"],
            registry=registry,
        )
        self._late_failures = Counter(
            "supportos_provider_late_failures",
            "Jobs already DONE that their provider reported failed, nothing reversed (an operator acts).",
            ["country", "provider", "kind"],
            registry=registry,
        )
        self._late_successes = Counter(
            "supportos_provider_late_successes",
            "Jobs dead-lettered or discarded that their provider confirmed succeeded afterwards.",
            ["country", "provider", "outcome"],
            registry=registry,
        )
        self._calls = Counter(
            "supportos_provider_calls",
            "Provider calls by outcome.",
            ["country", "provider", "outcome"],
            registry=registry,
        )
        self._latency = Histogram(
            "supportos_provider_call_seconds",
            "Provider call latency.",
            ["provider"],
            registry=registry,
        )
        self._circuit = Gauge(
            "supportos_circuit_state",
            "Circuit breaker state per country and provider: 0 closed, 1 half-open, 2 open.",
            ["country", "provider"],
            registry=registry,
        )
        self._depth = Gauge(
            "supportos_outbox_depth",
            "Live outbox jobs per country, provider and status (DEAD: the dead-letter queue).",
            ["country", "provider", "status"],
            registry=registry,
        )
        self._depth_labels: set[tuple[str, str, str]] = set()
        self._oldest = Gauge(
            "supportos_outbox_oldest_age_seconds",
            "Seconds the oldest PENDING job per country and provider has waited since it was enqueued.",
            ["country", "provider"],
            registry=registry,
        )
        self._oldest_labels: set[tuple[str, str]] = set()
        self._sla_breaches = Counter(
            "supportos_sla_breaches",
            "SLA clocks that breached their target, per country, severity and clock.",
            ["country", "severity", "clock"],
            registry=registry,
        )
        self._unrecorded = Gauge(
            "supportos_sla_unrecorded_breach_age_seconds",
            "Seconds since the oldest running SLA clock per country passed its deadline without"
            " its breach being recorded (0: none; growing: no scheduler or worker is ticking).",
            ["country"],
            registry=registry,
        )
        self._unrecorded_labels: set[str] = set()
        self._freezes = Counter(
            "supportos_conversation_freezes",
            "Conversations (scope=conversation) or senders in one (scope=sender) frozen.",
            ["country", "scope"],
            registry=registry,
        )
        self._postings = Counter(
            "supportos_ledger_postings",
            "Ledger postings recorded, per country and currency.",
            ["country", "currency"],
            registry=registry,
        )
        self._transactions = Counter(
            "supportos_ledger_transactions",
            "Ledger transactions recorded, per country and currency.",
            ["country", "currency"],
            registry=registry,
        )
        self._replays = Counter(
            "supportos_idempotent_replays",
            "Requests answered from their stored first result.",
            ["country", "operation"],
            registry=registry,
        )

    def add_job_providers(self, providers: Iterable[str]) -> None:
        """Job providers (``payments``, ``notifications``, ...) whose dead-letter series are
        created at 0 in every country this process knows of."""
        new = set(providers) - self._job_providers
        self._job_providers |= new
        for country in self._countries:
            self._prime(country, new)

    def prime_dead_letters(self, countries: Iterable[CountryCode], providers: Iterable[str] = ()) -> None:
        """Create the dead-letter series of ``countries`` at 0 (for the known job providers
        and ``providers``), so that an alert on ``increase()`` sees their first dead letter."""
        for country in countries:
            self._know(country.value, providers)

    def _know(self, country: str, providers: Iterable[str] = ()) -> None:
        if country not in self._countries:
            self._countries.add(country)
            self._prime(country, self._job_providers)
        self._prime(country, providers)

    def _prime(self, country: str, providers: Iterable[str]) -> None:
        for provider in providers:
            if (country, provider) not in self._primed:
                self._dead_letters.labels(country, provider)  # exported at 0 from now on
                self._primed.add((country, provider))

    def job_finished(self, country: CountryCode, provider: str, outcome: str) -> None:
        if country.value not in self._countries:
            self._know(country.value)
        self._jobs.labels(country.value, provider, outcome).inc()

    def dead_lettered(self, country: CountryCode, provider: str) -> None:
        if country.value not in self._countries:
            self._know(country.value)
        self._dead_letters.labels(country.value, provider).inc()

    def webhook_processing_failed(self, country: CountryCode, provider: str) -> None:
        self._webhook_failures.labels(country.value, provider).inc()

    def payout_returned(self, country: CountryCode, currency: str) -> None:
        self._payouts_returned.labels(country.value, currency).inc()

    def late_failure(self, country: CountryCode, provider: str, kind: str) -> None:
        self._late_failures.labels(country.value, provider, kind).inc()

    def late_success(self, country: CountryCode, provider: str, outcome: str) -> None:
        self._late_successes.labels(country.value, provider, outcome).inc()

    def provider_called(self, country: CountryCode, provider: str, outcome: str, seconds: float) -> None:
        if country.value not in self._countries:
            self._know(country.value)
        self._calls.labels(country.value, provider, outcome).inc()
        self._latency.labels(provider).observe(max(0.0, seconds))

    def circuits(self, circuits: Sequence[Circuit]) -> None:
        for circuit in circuits:
            self._circuit.labels(circuit.country.value, circuit.provider).set(
                CIRCUIT_STATE_VALUE[circuit.state]
            )
            self._know(circuit.country.value, (circuit.provider,))

    def queue_depth(self, depths: Sequence[QueueDepth]) -> None:
        current = {(d.country.value, d.provider, d.status.value): d.jobs for d in depths}
        for country, provider, _ in current:
            self._know(country, (provider,))
        for labels in self._depth_labels - set(current):
            self._depth.labels(*labels).set(0)  # emptied since the last refresh
        for labels, jobs in current.items():
            self._depth.labels(*labels).set(jobs)
        self._depth_labels |= set(current)
        now = self._now()
        ages = {
            (d.country.value, d.provider): max(0.0, (now - d.oldest_created_at).total_seconds())
            for d in depths
            if d.status is JobStatus.PENDING and d.oldest_created_at is not None
        }
        for pair in self._oldest_labels - set(ages):
            self._oldest.labels(*pair).set(0)
        for pair, age in ages.items():
            self._oldest.labels(*pair).set(age)
        self._oldest_labels |= set(ages)

    def sla_breached(self, country: CountryCode, severity: str, clock: str) -> None:
        self._sla_breaches.labels(country.value, severity, clock).inc()

    def sla_unrecorded(self, ages: Mapping[CountryCode, float]) -> None:
        current = {country.value: max(0.0, age) for country, age in ages.items()}
        for country in self._unrecorded_labels - set(current):
            self._unrecorded.labels(country).set(0)  # recorded since the last refresh
        for country, age in current.items():
            self._unrecorded.labels(country).set(age)
        self._unrecorded_labels |= set(current)

    def conversation_frozen(self, country: CountryCode, scope: str) -> None:
        self._freezes.labels(country.value, scope).inc()

    def ledger_posted(self, country: CountryCode, currency: str, postings: int) -> None:
        self._transactions.labels(country.value, currency).inc()
        self._postings.labels(country.value, currency).inc(postings)

    def idempotent_replay(self, country: CountryCode, operation: str) -> None:
        self._replays.labels(country.value, operation).inc()


@lru_cache(maxsize=1)
def process_metrics() -> PrometheusMetrics:
    """The process's metrics, in ``prometheus_client``'s default registry (what a
    ``/metrics`` endpoint serves by default). The composition root adds the job providers
    (``add_job_providers``)."""
    return PrometheusMetrics(REGISTRY)
