"""Provider job kinds (``SagaRunner.job_kinds``): one provider call per job, outside any
dispute plan, with the same breaker, retries, dead letters, fencing and audit as a saga
step. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure, Result, Success

from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.integrations.breakers import CircuitBreakerGate
from application.ports.outbox import Job, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import ClosedCircuits, CompletionBatch, Providers, SagaRunner, StepOutcome
from domain.audit import AuditEntry
from domain.integrations import BreakerPolicy, CircuitState
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX

KIND = "partner.ping"
POLICY = BreakerPolicy(failure_threshold=2, open_for=timedelta(seconds=30))


class Ping:
    """Answers from a script: a list of outcomes, then OK."""

    def __init__(self) -> None:
        self.script: list[ProviderFailureKind | str] = []
        self.calls: list[str] = []

    async def __call__(self, job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
        self.calls.append(job.idempotency_key)
        answer = self.script.pop(0) if self.script else "ok"
        if isinstance(answer, ProviderFailureKind):
            return Failure(ProviderError("pinger", "ping", answer, "simulated"))
        return Success(ProviderReceipt("pinger", "ping", job.idempotency_key, f"p_{job.id}", answer == "ok"))


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    return Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())


async def enqueue(svc: Services, *keys: str, kind: str = KIND) -> None:
    now = svc.clock.now()
    async with svc.uow() as uow:
        for key in keys:
            await uow.outbox.enqueue(NewJob(MX, key, kind, "pinger", f"ping:{key}", {}, now), now=now)
        await uow.commit()


async def job(svc: Services, key: str) -> Job:
    async with svc.uow() as uow:
        found = await uow.outbox.by_key(key)
    assert found is not None
    return found


async def test_a_provider_job_kind_gets_breaker_retries_dead_letters_and_audit(svc: Services) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    await enqueue(svc, "a", "b", "c")
    await enqueue(svc, "x", kind="nobody.handles.this")

    # a transient failure is retried; a second one opens the breaker; the rest wait
    ping.script = [ProviderFailureKind.TRANSIENT, ProviderFailureKind.TRANSIENT]
    outcomes = await runner.run_once()
    assert outcomes == [
        StepOutcome.RETRY_SCHEDULED,
        StepOutcome.RETRY_SCHEDULED,
        StepOutcome.DEFERRED,
        StepOutcome.DEAD_LETTERED,  # the unknown kind
    ]
    assert ping.calls == ["a", "b"]
    assert (await job(svc, "x")).errors[-1].kind == "UNKNOWN_JOB_KIND"
    async with svc.uow() as uow:
        assert (await uow.circuits.get(MX, "pinger")).state is CircuitState.OPEN

    # after the open period one trial succeeds and closes it; everyone completes
    clock.advance(timedelta(seconds=30))
    assert await runner.run_once() == [StepOutcome.COMPLETED] * 3
    assert [(await job(svc, k)).status for k in "abc"] == [JobStatus.DONE] * 3
    assert [(await job(svc, k)).attempts for k in "abc"] == [2, 2, 1]
    async with svc.uow() as uow:
        circuit = await uow.circuits.get(MX, "pinger")
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    assert (circuit.state, circuit.consecutive_failures) == (CircuitState.CLOSED, 0)
    completed = [e for e in entries if e.action == "provider.call_completed"]
    assert sorted((e.target_type, e.after["idempotency_key"]) for e in completed if e.after) == [
        ("outbox_job", "a"),
        ("outbox_job", "b"),
        ("outbox_job", "c"),
    ]
    assert sum(e.action == "provider.call_failed" for e in entries) == 2

    # a permanent failure is not retried
    await enqueue(svc, "d")
    ping.script = [ProviderFailureKind.PERMANENT]
    assert await runner.run_once() == [StepOutcome.DEAD_LETTERED]
    assert ping.calls.count("d") == 1


async def test_a_success_through_a_closed_circuit_clears_its_failure_count(svc: Services) -> None:
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    await enqueue(svc, "a", "b")
    ping.script = [ProviderFailureKind.TRANSIENT]
    assert await runner.run_once() == [StepOutcome.RETRY_SCHEDULED, StepOutcome.COMPLETED]
    async with svc.uow() as uow:
        circuit = await uow.circuits.get(MX, "pinger")
    assert (circuit.state, circuit.consecutive_failures, circuit.version) == (CircuitState.CLOSED, 0, 2)


async def test_an_accepted_provider_job_waits_for_its_confirmation(svc: Services) -> None:
    ping = Ping()
    runner = SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), job_kinds={KIND: ping})
    await enqueue(svc, "a", "b")
    ping.script = ["accepted", "accepted"]
    assert await runner.run_once() == [StepOutcome.AWAITING_CONFIRMATION] * 2
    assert (await job(svc, "a")).status is JobStatus.WAITING
    assert await runner.confirm("a", succeeded=True, provider_reference="p_1") is StepOutcome.COMPLETED
    assert await runner.confirm("a", succeeded=True, provider_reference="p_1") is StepOutcome.ALREADY_SETTLED
    assert await runner.confirm("b", succeeded=False, provider_reference="p_2") is StepOutcome.DEAD_LETTERED
    assert [(await job(svc, k)).status for k in "ab"] == [JobStatus.DONE, JobStatus.DEAD]


async def test_a_batch_of_successes_is_recorded_in_one_transaction_and_a_lost_lease_gets_no_entry(
    svc: Services, migrated_url: str
) -> None:
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    await enqueue(svc, "a", "b", "c")
    async with svc.uow() as uow:
        jobs = await uow.outbox.claim(worker_id="w", now=svc.clock.now(), lease=runner.lease, limit=10)
        await uow.commit()
    batch = CompletionBatch()
    assert [await runner.execute_batched(j, batch) for j in jobs] == [None, None, None]
    assert len(batch) == 3 and ping.calls == ["a", "b", "c"]
    async with svc.uow() as uow:  # nothing recorded yet: the jobs are still RUNNING, no entry
        assert [(await uow.outbox.by_key(k)).status for k in "abc"] == [JobStatus.RUNNING] * 3  # type: ignore[union-attr]
        assert [e async for e in uow.audit.entries()] == []
    # "b" lost its lease meanwhile: someone else holds a newer token
    lost = jobs[1]
    async with svc.uow() as uow:
        assert await uow.outbox.defer(lost.id, lost.fencing_token, now=svc.clock.now(), until=svc.clock.now())
        await uow.commit()

    assert await runner.complete_batch(batch) == [
        StepOutcome.COMPLETED,
        StepOutcome.LEASE_LOST,
        StepOutcome.COMPLETED,
    ]
    assert len(batch) == 0
    assert [(await job(svc, k)).status for k in "abc"] == [JobStatus.DONE, JobStatus.PENDING, JobStatus.DONE]
    async with svc.uow() as uow:
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    assert [(e.sequence, e.action, e.after["idempotency_key"] if e.after else None) for e in entries] == [
        (1, "provider.call_completed", "a"),
        (2, "provider.call_completed", "c"),
    ]
    code, _ = await run_audit_verify(migrated_url)
    assert code == 0


async def test_a_batch_reads_a_clean_circuit_once_and_asks_again_after_a_failure(svc: Services) -> None:
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    await enqueue(svc, "a", "b", "c", "d")
    async with svc.uow() as uow:
        jobs = await uow.outbox.claim(worker_id="w", now=svc.clock.now(), lease=runner.lease, limit=10)
        await uow.commit()
    ping.script = ["ok", ProviderFailureKind.TRANSIENT]
    batch = CompletionBatch()
    outcomes = [await runner.execute_batched(j, batch) for j in jobs]
    assert outcomes == [None, StepOutcome.RETRY_SCHEDULED, None, None]
    # the failure was recorded and the next admission read it: the batch clears it at the end
    assert batch.to_clear == {(MX, "pinger")}
    assert await runner.complete_batch(batch) == [StepOutcome.COMPLETED] * 3
    async with svc.uow() as uow:
        circuit = await uow.circuits.get(MX, "pinger")
    assert (circuit.state, circuit.consecutive_failures) == (CircuitState.CLOSED, 0)


class Ticks:
    """A monotonic clock for ``ClosedCircuits`` that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def claim(svc: Services, runner: SagaRunner, limit: int) -> list[Job]:
    async with svc.uow() as uow:
        jobs = await uow.outbox.claim(worker_id="w", now=svc.clock.now(), lease=runner.lease, limit=limit)
        await uow.commit()
    return jobs


async def test_a_closed_verdict_is_kept_across_batches_for_at_most_the_refresh_period(svc: Services) -> None:
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    ticks = Ticks()
    circuits = ClosedCircuits(refresh=1.0, clock=ticks)
    await enqueue(svc, "a", "b", "c")

    first = CompletionBatch(circuits=circuits)
    assert [await runner.execute_batched(j, first) for j in await claim(svc, runner, 1)] == [None]
    assert await runner.complete_batch(first) == [StepOutcome.COMPLETED]
    assert circuits.get((MX, "pinger")) is not None

    # another process sees two transient failures and opens the shared circuit
    other = CircuitBreakerGate(svc, POLICY)
    await other.failed(MX, "pinger", caller="elsewhere")
    await other.failed(MX, "pinger", caller="elsewhere")
    async with svc.uow() as uow:
        assert (await uow.circuits.get(MX, "pinger")).state is CircuitState.OPEN

    # within the refresh period this process still trusts its closed verdict (the bound D59
    # documents): its call goes out, succeeds and is recorded
    ticks.now += 0.99
    second = CompletionBatch(circuits=circuits)
    assert [await runner.execute_batched(j, second) for j in await claim(svc, runner, 1)] == [None]
    assert await runner.complete_batch(second) == [StepOutcome.COMPLETED]
    assert ping.calls == ["a", "b"]

    # once it is a second old, the circuit is read again: open, the job waits, no call
    ticks.now += 0.01
    third = CompletionBatch(circuits=circuits)
    assert [await runner.execute_batched(j, third) for j in await claim(svc, runner, 1)] == [
        StepOutcome.DEFERRED
    ]
    assert ping.calls == ["a", "b"]
    assert (await job(svc, "c")).status is JobStatus.PENDING
    assert circuits.get((MX, "pinger")) is None


async def test_a_failure_makes_every_loop_of_the_process_read_the_circuit_again(svc: Services) -> None:
    ping = Ping()
    runner = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), breaker=POLICY, job_kinds={KIND: ping}
    )
    circuits = ClosedCircuits(refresh=3600.0, clock=Ticks())  # only an answer can drop the verdict
    await enqueue(svc, "a", "b", "c", "d")
    jobs = await claim(svc, runner, 4)
    one, two = CompletionBatch(circuits=circuits), CompletionBatch(circuits=circuits)  # two loops
    ping.script = ["ok", ProviderFailureKind.TRANSIENT]
    assert await runner.execute_batched(jobs[0], one) is None
    assert await runner.execute_batched(jobs[1], two) is StepOutcome.RETRY_SCHEDULED
    assert circuits.get((MX, "pinger")) is None  # dropped for both loops
    # the next admission reads the failure count, so the batch clears it after its success
    assert await runner.execute_batched(jobs[2], one) is None
    assert one.to_clear == {(MX, "pinger")}
    assert await runner.complete_batch(one) == [StepOutcome.COMPLETED, StepOutcome.COMPLETED]
    assert circuits.get((MX, "pinger")) is None  # cleared: read clean next time
    assert await runner.execute_batched(jobs[3], two) is None
    assert circuits.get((MX, "pinger")) is not None and not two.to_clear
    assert await runner.complete_batch(two) == [StepOutcome.COMPLETED]
    async with svc.uow() as uow:
        circuit = await uow.circuits.get(MX, "pinger")
    assert (circuit.state, circuit.consecutive_failures) == (CircuitState.CLOSED, 0)


class DiesMidCall:
    """A run that never answers: its worker dies during the call (raising stands in for the
    SIGKILL or the out-of-memory kill; nothing after the call is recorded either way)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
        self.calls += 1
        raise RuntimeError("the worker died mid-call")


async def test_a_job_whose_runs_keep_dying_is_dead_lettered_past_its_maximum(svc: Services) -> None:
    """D117: a job claimed again at every lease expiry was called without end, never reached
    the dead-letter queue and raised no alert; now the claim past its maximum dead-letters it,
    with its outcome unknown (a replay keeps its key)."""
    now = svc.clock.now()
    async with svc.uow() as uow:
        await uow.outbox.enqueue(
            NewJob(MX, "k1", KIND, "pinger", "ping:k1", {}, now, max_attempts=3), now=now
        )
        await uow.commit()
    dies = DiesMidCall()
    runner = SagaRunner(svc, Providers(FakePayments(), FakeNotifications()), job_kinds={KIND: dies})
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    outcomes: list[StepOutcome | None] = []
    for _ in range(6):
        async with svc.uow() as uow:
            claimed = await uow.outbox.claim(worker_id="w1", now=clock.now(), lease=runner.lease, limit=1)
            await uow.commit()
        for claimed_job in claimed:
            try:
                outcomes.append(await runner.execute(claimed_job))
            except RuntimeError:
                outcomes.append(None)  # the run died: nothing recorded, the lease runs out
        clock.advance(runner.lease + timedelta(seconds=1))

    assert dies.calls == 3  # one call per allowed attempt, then never again
    assert outcomes == [None, None, None, StepOutcome.DEAD_LETTERED]
    dead = await job(svc, "k1")
    assert (dead.status, dead.attempts) == (JobStatus.DEAD, 4)
    assert [error.kind for error in dead.errors] == ["LEASE_EXPIRED"]
    async with svc.uow() as uow:
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    assert [e.action for e in entries if e.target_id == str(dead.id)] == ["saga.dead_lettered"]
