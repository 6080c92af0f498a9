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
        port.provider_called(MX, "payments", "OK", 0.2)
        port.circuits([Circuit.closed(MX, "payments")])
        port.queue_depth([])


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
