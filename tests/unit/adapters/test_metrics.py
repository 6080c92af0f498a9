"""The Prometheus metrics adapter: what the workers report becomes real series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from adapters.telemetry.metrics import PrometheusMetrics
from application.ports.metrics import NO_METRICS, Metrics
from application.ports.outbox import JobStatus, QueueDepth
from domain.integrations import Circuit, CircuitState
from domain.shared import CountryCode

MX, CO = CountryCode("MX"), CountryCode("CO")
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def value(metrics: PrometheusMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_the_adapter_and_the_null_object_satisfy_the_port() -> None:
    ports: list[Metrics] = [PrometheusMetrics(CollectorRegistry()), NO_METRICS]
    for port in ports:
        port.job_finished(MX, "payments", "COMPLETED")
        port.dead_lettered(MX, "payments")
        port.webhook_processing_failed(MX, "sandbox-payments")
        port.payout_returned(MX, "MXN")
        port.late_failure(MX, "payments", "dispute.step")
        port.late_success(MX, "payments", "RECOVERED")
        port.provider_called(MX, "payments", "OK", 0.2)
        port.circuits([Circuit.closed(MX, "payments")])
        port.queue_depth([])
        port.sla_unrecorded({MX: 1.0})


def test_counters_count_and_gauges_follow_the_shared_state() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    for outcome in ("COMPLETED", "COMPLETED", "DEFERRED", "DEAD_LETTERED"):
        metrics.job_finished(MX, "payments", outcome)
    metrics.dead_lettered(MX, "payments")
    metrics.provider_called(MX, "payments", "TRANSIENT", 0.5)
    metrics.provider_called(CO, "payments", "OK", 0.01)
    assert (
        value(metrics, "supportos_outbox_jobs_total", country="MX", provider="payments", outcome="COMPLETED")
        == 2
    )
    assert value(metrics, "supportos_dead_letters_total", country="MX", provider="payments") == 1
    assert (
        value(metrics, "supportos_provider_calls_total", country="CO", provider="payments", outcome="OK") == 1
    )
    assert value(metrics, "supportos_provider_call_seconds_count", provider="payments") == 2

    opened = Circuit(MX, "payments", state=CircuitState.OPEN, consecutive_failures=5, opened_at=T0)
    metrics.circuits([opened, Circuit.closed(CO, "payments")])
    assert value(metrics, "supportos_circuit_state", country="MX", provider="payments") == 2
    assert value(metrics, "supportos_circuit_state", country="CO", provider="payments") == 0

    metrics.queue_depth(
        [QueueDepth(MX, "payments", JobStatus.PENDING, 7), QueueDepth(MX, "payments", JobStatus.DEAD, 2)]
    )
    assert value(metrics, "supportos_outbox_depth", country="MX", provider="payments", status="DEAD") == 2
    metrics.queue_depth([QueueDepth(MX, "payments", JobStatus.PENDING, 3)])  # the DLQ was emptied
    assert value(metrics, "supportos_outbox_depth", country="MX", provider="payments", status="DEAD") == 0
    assert value(metrics, "supportos_outbox_depth", country="MX", provider="payments", status="PENDING") == 3
    exposition = generate_latest(metrics.registry).decode()
    assert 'supportos_circuit_state{country="MX",provider="payments"} 2.0' in exposition


def test_the_oldest_pending_job_age_per_country_and_provider() -> None:
    now = T0 + timedelta(minutes=10)
    metrics = PrometheusMetrics(CollectorRegistry(), now=lambda: now)
    metrics.queue_depth(
        [
            QueueDepth(MX, "payments", JobStatus.PENDING, 3, oldest_created_at=T0),
            QueueDepth(MX, "payments", JobStatus.DEAD, 1, oldest_created_at=T0 - timedelta(days=1)),
            QueueDepth(
                CO, "notifications", JobStatus.PENDING, 1, oldest_created_at=now - timedelta(seconds=5)
            ),
        ]
    )
    age = "supportos_outbox_oldest_age_seconds"
    assert value(metrics, age, country="MX", provider="payments") == 600.0  # DEAD jobs do not count
    assert value(metrics, age, country="CO", provider="notifications") == 5.0
    metrics.queue_depth([QueueDepth(CO, "notifications", JobStatus.RUNNING, 1, oldest_created_at=T0)])
    assert value(metrics, age, country="MX", provider="payments") == 0.0  # drained
    assert value(metrics, age, country="CO", provider="notifications") == 0.0


def test_the_unrecorded_breach_age_follows_the_backlog_and_falls_to_zero() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.sla_unrecorded({MX: 1_200.0, CO: -3.0})  # a clock skew never reads negative
    assert value(metrics, "supportos_sla_unrecorded_breach_age_seconds", country="MX") == 1_200.0
    assert value(metrics, "supportos_sla_unrecorded_breach_age_seconds", country="CO") == 0.0
    metrics.sla_unrecorded({CO: 30.0})  # MX's breaches were recorded meanwhile
    assert value(metrics, "supportos_sla_unrecorded_breach_age_seconds", country="MX") == 0.0
    assert value(metrics, "supportos_sla_unrecorded_breach_age_seconds", country="CO") == 30.0


def test_ledger_replay_sla_and_freeze_counters() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.ledger_posted(MX, "MXN", 2)
    metrics.ledger_posted(MX, "MXN", 4)
    metrics.idempotent_replay(MX, "dispute.decide")
    metrics.sla_breached(MX, "SEV1", "acknowledge")
    metrics.conversation_frozen(CO, "sender")
    assert value(metrics, "supportos_ledger_transactions_total", country="MX", currency="MXN") == 2
    assert value(metrics, "supportos_ledger_postings_total", country="MX", currency="MXN") == 6
    assert value(metrics, "supportos_idempotent_replays_total", country="MX", operation="dispute.decide") == 1
    assert (
        value(metrics, "supportos_sla_breaches_total", country="MX", severity="SEV1", clock="acknowledge")
        == 1
    )
    assert value(metrics, "supportos_conversation_freezes_total", country="CO", scope="sender") == 1


def test_webhooks_given_up_are_counted_per_country_and_webhook_provider() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.webhook_processing_failed(MX, "sandbox-payments")
    metrics.webhook_processing_failed(MX, "sandbox-payments")
    metrics.webhook_processing_failed(CO, "marketplace")
    total = "supportos_webhook_processing_failures_total"
    assert value(metrics, total, country="MX", provider="sandbox-payments") == 2
    assert value(metrics, total, country="CO", provider="marketplace") == 1
    assert value(metrics, "supportos_dead_letters_total", country="MX", provider="sandbox-payments") is None


def test_returned_payouts_and_late_failures_are_counted() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.payout_returned(MX, "MXN")
    metrics.payout_returned(MX, "MXN")
    metrics.late_failure(CO, "payments", "dispute.step")
    assert value(metrics, "supportos_payouts_returned_total", country="MX", currency="MXN") == 2
    assert (
        value(
            metrics,
            "supportos_provider_late_failures_total",
            country="CO",
            provider="payments",
            kind="dispute.step",
        )
        == 1
    )
    assert value(metrics, "supportos_dead_letters_total", country="MX", provider="payments") is None


def test_late_successes_are_counted_per_outcome() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.late_success(MX, "payments", "RECOVERED")
    metrics.late_success(MX, "payments", "RECOVERED")
    metrics.late_success(CO, "notifications", "CONFIRMED_AFTER_DISCARD")
    series = "supportos_provider_late_successes_total"
    assert value(metrics, series, country="MX", provider="payments", outcome="RECOVERED") == 2
    assert (
        value(metrics, series, country="CO", provider="notifications", outcome="CONFIRMED_AFTER_DISCARD") == 1
    )
    assert (
        value(metrics, series, country="MX", provider="payments", outcome="CONFIRMED_AFTER_DISCARD") is None
    )


def dead_letter_series(metrics: PrometheusMetrics) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["country"], sample.labels["provider"]): sample.value
        for family in metrics.registry.collect()
        if family.name == "supportos_dead_letters"
        for sample in family.samples
        if sample.name == "supportos_dead_letters_total"
    }


def test_dead_letter_series_start_at_zero_for_every_known_country_and_job_provider() -> None:
    """``increase()`` cannot see a series' first sample: the dead-letter series of the job
    providers are exported at 0 as soon as the process knows the country, so the alert
    sees the first dead letter after a (re)start as an increase from 0."""
    metrics = PrometheusMetrics(CollectorRegistry(), job_providers=("payments", "notifications"))
    assert dead_letter_series(metrics) == {}

    # the first gauge refresh: the shared queue and circuits name the countries
    metrics.queue_depth([QueueDepth(MX, "internal", JobStatus.PENDING, 1)])
    metrics.circuits([Circuit.closed(CO, "pinger")])
    assert dead_letter_series(metrics) == {
        ("MX", "payments"): 0.0,
        ("MX", "notifications"): 0.0,
        ("MX", "internal"): 0.0,  # seen in the depth
        ("CO", "payments"): 0.0,
        ("CO", "notifications"): 0.0,
        ("CO", "pinger"): 0.0,  # seen in the circuits
    }
    exposition = generate_latest(metrics.registry).decode()
    assert 'supportos_dead_letters_total{country="MX",provider="payments"} 0.0' in exposition

    metrics.dead_lettered(MX, "payments")
    assert dead_letter_series(metrics)[("MX", "payments")] == 1.0

    # explicitly, and for providers added later
    metrics.prime_dead_letters([CountryCode("BR")])
    metrics.add_job_providers(["internal"])
    series = dead_letter_series(metrics)
    assert {provider for country, provider in series if country == "BR"} == {
        "payments",
        "notifications",
        "internal",
    }
    assert series[("CO", "internal")] == 0.0
    assert series[("MX", "payments")] == 1.0  # priming never resets a count


def test_a_country_first_seen_in_a_job_outcome_gets_its_series() -> None:
    metrics = PrometheusMetrics(CollectorRegistry(), job_providers=("payments", "notifications"))
    metrics.job_finished(CO, "notifications", "COMPLETED")
    assert dead_letter_series(metrics) == {("CO", "payments"): 0.0, ("CO", "notifications"): 0.0}
