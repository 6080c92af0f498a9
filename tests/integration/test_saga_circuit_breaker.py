"""The saga runner behind the shared circuit breaker, on SQLite and PostgreSQL.

Five decided FULL_REFUND disputes put five refund jobs on the payments provider; the
breaker opens after 3 consecutive transient failures and stays open 30 s; a half-open
trial is given up after 10 s. The clock is a test clock (no sleeping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.ports.outbox import Job, JobStatus
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.integrations import BreakerPolicy, Circuit, CircuitState
from domain.shared.ids import DisputeId
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, add_policy, decide, dispute_under_review

POLICY = BreakerPolicy(
    failure_threshold=3, open_for=timedelta(seconds=30), trial_timeout=timedelta(seconds=10)
)
D, R, S, X = (
    StepOutcome.DEFERRED,
    StepOutcome.RETRY_SCHEDULED,
    StepOutcome.COMPLETED,
    StepOutcome.DEAD_LETTERED,
)


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def runner(svc: Services, payments: FakePayments, metrics: RecordingMetrics) -> SagaRunner:
    return SagaRunner(
        svc, Providers(payments, FakeNotifications()), worker_id="w1", breaker=POLICY, metrics=metrics
    )


def clock_of(svc: Services) -> FixedClock:
    assert isinstance(svc.clock, FixedClock)
    return svc.clock


async def refunds(svc: Services, count: int = 5) -> list[str]:
    """``count`` decided FULL_REFUND disputes: one refund job each on the payments provider."""
    ids: list[str] = []
    for n in range(count):
        dispute = await dispute_under_review(svc, f"o{n}")
        await decide(svc, dispute, OutcomeCode.FULL_REFUND, key=f"k{n}")
        ids.append(dispute.id)
    return ids


def refund_key(dispute_id: str) -> str:
    return f"dispute:{dispute_id}/FULL_REFUND/provider_refund"


async def refund_jobs(svc: Services, disputes: list[str]) -> list[Job]:
    async with svc.uow() as uow:
        jobs = [await uow.outbox.by_key(refund_key(d)) for d in disputes]
    assert all(job is not None for job in jobs)
    return [job for job in jobs if job is not None]


async def circuit(svc: Services, provider: str = "payments") -> Circuit:
    async with svc.uow() as uow:
        return await uow.circuits.get(MX, provider)


async def test_the_breaker_opens_waits_tries_once_and_closes(
    svc: Services, runner: SagaRunner, payments: FakePayments, metrics: RecordingMetrics
) -> None:
    clock = clock_of(svc)
    start = clock.now()
    disputes = await refunds(svc)
    payments.fail_always = ProviderFailureKind.TRANSIENT

    # three failures open it; the other two jobs wait without reaching the provider
    assert await runner.run_once() == [R, R, R, D, D]
    assert sum(payments.calls.values()) == 3
    opened = await circuit(svc)
    assert (opened.state, opened.opened_at, opened.consecutive_failures) == (CircuitState.OPEN, start, 3)
    jobs = await refund_jobs(svc, disputes)
    assert [j.attempts for j in jobs] == [1, 1, 1, 0, 0]  # a deferral spends no attempt
    assert [j.status for j in jobs] == [JobStatus.PENDING] * 5
    assert [j.available_at for j in jobs[3:]] == [start + POLICY.open_for] * 2
    assert [len(j.errors) for j in jobs] == [1, 1, 1, 0, 0]

    # while open: no calls at all, however often the workers come by
    for _ in range(5):
        clock.advance(timedelta(seconds=5))
        assert set(await runner.run_once()) <= {D}
    assert sum(payments.calls.values()) == 3
    assert [j.attempts for j in await refund_jobs(svc, disputes)] == [1, 1, 1, 0, 0]

    # half-open: exactly one trial call; it fails and the breaker re-opens for 30 s more
    clock.set(start + POLICY.open_for)
    assert await runner.run_once() == [R, D, D, D, D]
    assert sum(payments.calls.values()) == 4
    reopened = await circuit(svc)
    assert (reopened.state, reopened.opened_at) == (CircuitState.OPEN, start + POLICY.open_for)

    # the next trial goes to a worker that dies before reporting: everyone else waits
    # until its trial's deadline, then the trial passes on
    clock.set(start + 2 * POLICY.open_for)
    taken = await runner._breakers.admit(MX, "payments", caller="dead-worker")
    assert taken.verdict.value == "TRIAL"
    assert await runner.run_once() == [D] * 5
    assert sum(payments.calls.values()) == 4

    # the provider recovers: the next trial succeeds, the breaker closes, everyone goes
    payments.fail_always = None
    clock.advance(POLICY.trial_timeout)
    outcomes = await runner.run_once()
    assert outcomes == [S] * 5
    closed = await circuit(svc)
    assert (closed.state, closed.consecutive_failures, closed.trial_owner) == (CircuitState.CLOSED, 0, None)
    assert payments.total_refunded_minor == 5 * 123_000
    assert sum(payments.calls.values()) == 9
    await runner.drain()
    async with svc.uow() as uow:
        for dispute_id in disputes:
            dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
            assert dispute is not None
            assert dispute.status is DisputeStatus.RESOLVED

    assert metrics.calls[("MX", "payments", "TRANSIENT")] == 4
    assert metrics.calls[("MX", "payments", "OK")] == 5
    assert metrics.circuit_states[("MX", "payments")] == [
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,  # taken by the dead worker
        CircuitState.CLOSED,  # taken over by w1 (same state), then closed
    ]
    assert metrics.jobs[("MX", "payments", "DEFERRED")] >= 2 + 4


async def test_failing_for_ever_makes_exactly_max_attempts_calls_per_job_then_dead_letters(
    svc: Services, runner: SagaRunner, payments: FakePayments, metrics: RecordingMetrics
) -> None:
    """Deferrals by the open breaker never count: each job still gets its full budget of
    8 provider calls (and not one more) before the dead-letter queue."""
    clock = clock_of(svc)
    disputes = await refunds(svc, 3)
    payments.fail_always = ProviderFailureKind.TRANSIENT
    outcomes: list[StepOutcome] = []
    for _ in range(400):
        outcomes += await runner.run_once()
        live = [j for j in await refund_jobs(svc, disputes) if j.status is not JobStatus.DEAD]
        if not live:
            break
        clock.advance(timedelta(seconds=31))
    jobs = await refund_jobs(svc, disputes)
    assert [j.status for j in jobs] == [JobStatus.DEAD] * 3
    assert [payments.calls[refund_key(d)] for d in disputes] == [8] * 3
    assert [j.attempts for j in jobs] == [8] * 3
    assert [len(j.errors) for j in jobs] == [8] * 3  # 7 retries and the dead letter
    assert outcomes.count(X) == 3
    assert outcomes.count(R) == 3 * 7
    assert outcomes.count(D) > 0
    assert metrics.dead_letters[("MX", "payments")] == 3
    async with svc.uow() as uow:
        for dispute_id in disputes:
            dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
            assert dispute is not None
            assert dispute.status is DisputeStatus.EXECUTION_FAILED


async def test_permanent_failures_do_not_trip_it_and_provider_less_steps_ignore_it(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    disputes = await refunds(svc)
    payments.fail_always = ProviderFailureKind.PERMANENT
    assert await runner.run_once() == [X] * 5
    assert [payments.calls[refund_key(d)] for d in disputes] == [1] * 5
    breaker = await circuit(svc)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.version == 0  # not even a failure was counted

    # steps that call no provider (ledger postings) never ask a breaker, even an open one
    payments.fail_always = ProviderFailureKind.TRANSIENT
    opened = await circuit(svc)
    async with svc.uow() as uow:
        for _ in range(POLICY.failure_threshold):
            failed = opened.record_failure(POLICY, now=svc.clock.now(), caller="x")
            assert await uow.circuits.replace(opened, failed)
            opened = replace(failed, version=opened.version + 1)
        await uow.commit()
    assert (await circuit(svc)).state is CircuitState.OPEN
    rejected = await dispute_under_review(svc, "o-rejected")
    await decide(svc, rejected, OutcomeCode.REJECTED, key="k-rejected")
    assert (await runner.run_once())[0] is S  # the ledger release
    async with svc.uow() as uow:
        release = await uow.ledger.transactions_for(MX, f"dispute:{rejected.id}/")
    assert [t.kind for t in release] == ["RELEASE"]
