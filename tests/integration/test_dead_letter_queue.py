"""Dead-letter queue use cases on SQLite and PostgreSQL: who may list, replay and discard,
in which country; what each changes; what is audited; and provider status. A dead letter
caused by a provider's webhook (an asynchronous decline) counts in the dead-letter metric
of the process that received it, whose series was exported at 0 beforehand."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from dependency_injector import providers
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from returns.result import Failure, Result, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxNotifications, SandboxPayments, SandboxWebhooks
from adapters.providers.webhook_delivery import HttpWebhookSender
from adapters.telemetry.metrics import PrometheusMetrics
from application.context import Services
from application.errors import NotFound
from application.integrations.dead_letters import (
    DiscardDeadLetter,
    JobNotDeadLettered,
    ListDeadLetters,
    ReadProviderStatus,
    ReplayDeadLetter,
    discard_dead_letter,
    list_dead_letters,
    provider_status,
    replay_dead_letter,
)
from application.ports.outbox import Job, JobStatus
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.ports.read_models import PageRequest
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Forbidden, Role
from domain.audit import AuditEntry
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.integrations import BreakerPolicy, CircuitState
from domain.orders import ReasonRequired
from domain.shared import CountryCode, InvalidInput, Money
from domain.shared.ids import DisputeId
from interfaces.container import JOB_PROVIDERS, build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, L2, L3, MX, MXN, add_policy, ctx, decide, dispute_under_review

CO = CountryCode("CO")
AUDITOR = ctx(Role.AUDITOR, "auditor-1")
L3_CO = ctx(Role.L3, "lead-co", countries=("CO",))


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


async def dead_refunds(svc: Services, payments: FakePayments, count: int) -> list[tuple[int, str]]:
    """``count`` FULL_REFUND disputes whose refund was declined: (job id, dispute id), oldest first."""
    dead: list[tuple[int, str]] = []
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1")
    payments.fail_always = ProviderFailureKind.PERMANENT
    for n in range(count):
        dispute = await dispute_under_review(svc, f"o{n}")
        await decide(svc, dispute, OutcomeCode.FULL_REFUND, key=f"k{n}")
        assert await runner.drain() == [StepOutcome.DEAD_LETTERED]
        async with svc.uow() as uow:
            job = await uow.outbox.by_key(f"dispute:{dispute.id}/FULL_REFUND/provider_refund")
        assert job is not None
        dead.append((job.id, dispute.id))
    payments.fail_always = None
    return dead


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def dispute_status(svc: Services, dispute_id: str) -> DisputeStatus:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
    assert dispute is not None
    return dispute.status


async def test_listing_is_keyset_paged_newest_first_and_country_scoped(svc: Services) -> None:
    dead = await dead_refunds(svc, FakePayments(), 3)
    ids = [job_id for job_id, _ in reversed(dead)]

    first = (await list_dead_letters(svc, L3, ListDeadLetters(MX, PageRequest(first=2)))).unwrap()
    assert [job.id for job in first.items] == ids[:2]
    assert first.has_next_page
    assert len(first.cursors) == 2
    assert first.end_cursor == first.cursors[-1]
    second = (
        await list_dead_letters(
            svc, AUDITOR, ListDeadLetters(MX, PageRequest(first=2, after=first.end_cursor))
        )
    ).unwrap()
    assert [job.id for job in second.items] == ids[2:]
    assert not second.has_next_page
    job = second.items[0]
    assert (job.status, job.attempts, job.errors[-1].kind) == (JobStatus.DEAD, 1, "PROVIDER_PERMANENT")

    bad = await list_dead_letters(svc, L3, ListDeadLetters(MX, PageRequest(after="bm90LWEtY3Vyc29y")))
    assert isinstance(bad, Failure)
    assert bad.failure() == InvalidInput("after", bad.failure().reason)
    assert (await list_dead_letters(svc, L3, ListDeadLetters(CO))).unwrap().items == []  # other country

    for who in (L1, L2, L3_CO):
        refused = await list_dead_letters(svc, who, ListDeadLetters(MX))
        assert isinstance(refused, Failure)
        assert isinstance(refused.failure(), Forbidden)


async def test_replay_gives_a_fresh_budget_and_resumes_the_dispute_once(svc: Services) -> None:
    payments = FakePayments()
    [(job_id, dispute_id), (other_job, _)] = await dead_refunds(svc, payments, 2)
    assert await dispute_status(svc, dispute_id) is DisputeStatus.EXECUTION_FAILED

    for who in (L1, L2, AUDITOR, L3_CO):
        refused = await replay_dead_letter(svc, who, ReplayDeadLetter(MX, job_id))
        assert isinstance(refused, Failure)
        assert isinstance(refused.failure(), Forbidden), who
    assert await replay_dead_letter(svc, L3, ReplayDeadLetter(CO, job_id)) == Failure(
        NotFound("outbox_job", str(job_id))
    )
    assert await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, 999_999)) == Failure(
        NotFound("outbox_job", "999999")
    )
    assert await audit(svc, "dead_letter.replayed") == []

    assert isinstance(svc.clock, FixedClock)
    svc.clock.advance(timedelta(minutes=5))
    replayed = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, job_id))).unwrap()
    assert (replayed.status, replayed.attempts, replayed.available_at) == (
        JobStatus.PENDING,
        0,
        svc.clock.now(),
    )
    assert len(replayed.errors) == 1  # the history is kept
    assert await dispute_status(svc, dispute_id) is DisputeStatus.EXECUTING
    again = await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, job_id))
    assert again == Failure(JobNotDeadLettered(job_id, "PENDING"))

    [entry] = await audit(svc, "dead_letter.replayed")
    assert (entry.actor_id, entry.actor_role, entry.country, entry.target_id) == (
        "l3-1",
        "L3",
        MX,
        str(job_id),
    )
    assert entry.after is not None
    assert entry.after["status"] == "PENDING"
    assert entry.after["dispute_status"] == "EXECUTING"
    [resumed] = await audit(svc, "dispute.replayed")
    assert (resumed.target_id, resumed.before, resumed.actor_role) == (
        dispute_id,
        {"status": "EXECUTION_FAILED"},
        "L3",
    )

    # the provider works again: the declined step runs with a fresh provider key (D83)
    # and the saga finishes
    assert replayed.provider_key == f"dispute:{dispute_id}/FULL_REFUND/provider_refund#r1"
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w2")
    await runner.drain()
    assert await dispute_status(svc, dispute_id) is DisputeStatus.RESOLVED
    assert payments.calls[f"dispute:{dispute_id}/FULL_REFUND/provider_refund"] == 1
    assert payments.calls[f"dispute:{dispute_id}/FULL_REFUND/provider_refund#r1"] == 1
    assert payments.total_refunded_minor == 123_000
    remaining = (await list_dead_letters(svc, L3, ListDeadLetters(MX))).unwrap().items
    assert [job.id for job in remaining] == [other_job]


async def test_discard_needs_l3_and_a_reason_and_is_audited(svc: Services) -> None:
    [(job_id, dispute_id)] = await dead_refunds(svc, FakePayments(), 1)
    for who in (L1, L2, AUDITOR, L3_CO):
        refused = await discard_dead_letter(svc, who, DiscardDeadLetter(MX, job_id, "duplicate"))
        assert isinstance(refused, Failure)
        assert isinstance(refused.failure(), Forbidden)
    assert await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, job_id, "  ")) == Failure(
        ReasonRequired()
    )

    discarded = (
        await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, job_id, " refunded by hand at the bank "))
    ).unwrap()
    assert discarded.status is JobStatus.DISCARDED
    assert await dispute_status(svc, dispute_id) is DisputeStatus.EXECUTION_FAILED  # unchanged
    assert await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, job_id, "again")) == Failure(
        JobNotDeadLettered(job_id, "DISCARDED")
    )
    assert await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, job_id)) == Failure(
        JobNotDeadLettered(job_id, "DISCARDED")
    )
    [entry] = await audit(svc, "dead_letter.discarded")
    assert entry.after is not None
    assert (entry.actor_role, entry.after["reason"], entry.after["status"]) == (
        "L3",
        "refunded by hand at the bank",
        "DISCARDED",
    )
    assert (await list_dead_letters(svc, L3, ListDeadLetters(MX))).unwrap().items == []


async def refund_dead_after(svc: Services, payments: FakePayments, rounds: int) -> tuple[Job, str]:
    """A FULL_REFUND decided and worked for ``rounds`` rounds, 11 minutes apart (past every
    retry's backoff and confirmation deadline): its dead refund job, and the dispute's id."""
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND, key="k1")
    assert isinstance(svc.clock, FixedClock)
    for _ in range(rounds):
        await runner.drain()
        svc.clock.advance(timedelta(minutes=11))
    async with svc.uow() as uow:
        dead = await uow.outbox.by_key(f"dispute:{dispute.id}/FULL_REFUND/provider_refund")
    assert dead is not None and dead.status is JobStatus.DEAD
    return dead, dispute.id


async def test_a_refund_dead_of_transient_failures_cannot_be_discarded_only_replayed(svc: Services) -> None:
    """D95: the provider may have refunded unseen; "refunded by hand" would refund twice."""
    payments = FakePayments(fail_always=ProviderFailureKind.TRANSIENT)
    dead, dispute_id = await refund_dead_after(svc, payments, rounds=20)
    key = dead.idempotency_key
    assert dead.errors[-1].kind == "PROVIDER_TRANSIENT"

    refused = await discard_dead_letter(
        svc, L3, DiscardDeadLetter(MX, dead.id, "refunded by hand at the bank")
    )
    assert isinstance(refused, Failure) and refused.failure().code == "PAYMENT_OUTCOME_UNKNOWN"
    async with svc.uow() as uow:
        still = await uow.outbox.by_key(key)
    assert still is not None and still.status is JobStatus.DEAD
    assert await audit(svc, "dead_letter.discarded") == []

    payments.fail_always = None  # the replay keeps the key; the refund is made once
    replayed = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert replayed.provider_key == key
    await SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w2").drain()
    assert await dispute_status(svc, dispute_id) is DisputeStatus.RESOLVED
    assert payments.total_refunded_minor == 123_000


class RefundsThenRefuses401(FakePayments):
    """The first call refunds, but its answer is lost (``accepted=False``: a timeout) or it
    is accepted with a confirmation to follow (``accepted=True``); every later call is
    refused with a 4xx before the key is looked at (an expired API key), until ``fixed``;
    then the key answers what it did."""

    accepted = False
    fixed = False

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        first = idempotency_key not in self.refunds
        if first:
            self.refunds[idempotency_key] = amount  # the money moved
            if self.accepted:
                return Success(ProviderReceipt(self.name, "refund", idempotency_key, "re_1", confirmed=False))
            return Failure(ProviderError(self.name, "refund", ProviderFailureKind.TRANSIENT, "timeout"))
        if not self.fixed:
            return Failure(ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "http_401"))
        return Success(ProviderReceipt(self.name, "refund", idempotency_key, "re_1"))


@pytest.mark.parametrize("accepted", [False, True], ids=["timeout-then-401", "accepted-then-401"])
async def test_a_refusal_after_a_call_that_may_have_refunded_keeps_the_key(
    svc: Services, accepted: bool
) -> None:
    """D99: a 4xx after a lost or accepted call says nothing about that call; a fresh key
    would refund the buyer twice. The replay keeps the key and the refund is made once."""
    payments = RefundsThenRefuses401()
    payments.accepted = accepted
    # the first call, then the re-check or retry that is refused
    dead, dispute_id = await refund_dead_after(svc, payments, rounds=3)
    key = dead.idempotency_key
    assert [e.kind for e in dead.errors] == [
        "PROVIDER_ACCEPTED" if accepted else "TRANSIENT",
        "PROVIDER_PERMANENT",
    ]
    refused = await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, dead.id, "refunded by hand"))
    assert isinstance(refused, Failure) and refused.failure().code == "PAYMENT_OUTCOME_UNKNOWN"

    payments.fixed = True  # the API key is renewed; L3 replays
    replayed = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert replayed.provider_key == key  # not key#r1
    await SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w2").drain()
    assert await dispute_status(svc, dispute_id) is DisputeStatus.RESOLVED
    assert payments.refunds == {key: Money(123_000, MXN)}  # once


async def test_provider_status_shows_breakers_and_queue_depth(svc: Services) -> None:
    await dead_refunds(svc, FakePayments(), 2)
    policy = BreakerPolicy(failure_threshold=1, open_for=timedelta(seconds=30))
    payments = FakePayments(fail_always=ProviderFailureKind.TRANSIENT)
    runner = SagaRunner(svc, Providers(payments, FakeNotifications()), worker_id="w3", breaker=policy)
    for n in (7, 8):
        dispute = await dispute_under_review(svc, f"o{n}")
        await decide(svc, dispute, OutcomeCode.FULL_REFUND, key=f"k{n}")
    assert await runner.run_once() == [StepOutcome.RETRY_SCHEDULED, StepOutcome.DEFERRED]

    statuses = (await provider_status(svc, AUDITOR, ReadProviderStatus(MX), policy=policy)).unwrap()
    assert [s.provider for s in statuses] == ["payments"]
    [pay] = statuses
    assert pay.state is CircuitState.OPEN
    assert pay.reopens_at == svc.clock.now() + timedelta(seconds=30)
    assert dict(pay.queue) == {
        JobStatus.PENDING: 2,
        JobStatus.RUNNING: 0,
        JobStatus.WAITING: 0,
        JobStatus.DEAD: 2,
    }
    assert (await provider_status(svc, L3, ReadProviderStatus(CO))).unwrap() == []
    for who in (L1, L2, L3_CO):
        refused = await provider_status(svc, who, ReadProviderStatus(MX))
        assert isinstance(refused, Failure)
        assert isinstance(refused.failure(), Forbidden)


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"dead-letter-metric-secret-32-byt").decode()


async def test_a_decline_by_webhook_counts_in_the_dead_letter_metric(app_url: str) -> None:
    """Production wiring: the container's app receives the sandbox's signed ``refund.failed``
    webhook; the container's webhook runner dead-letters the refund and counts it."""
    settings = Settings(
        database_url=app_url,
        environment="development",
        webhook_secrets={"sandbox-payments": [SecretStr(WEBHOOK_SECRET)]},
    )
    container = build_container(settings)
    container.clock.override(providers.Object(FixedClock()))
    container.ids.override(providers.Object(SequentialIds()))
    metrics = PrometheusMetrics(CollectorRegistry(), job_providers=JOB_PROVIDERS)
    container.metrics.override(providers.Object(metrics))

    def dead_letters(provider: str = "payments") -> float | None:
        labels = {"country": "MX", "provider": provider}
        return metrics.registry.get_sample_value("supportos_dead_letters_total", labels)

    try:
        svc = container.services()
        await add_policy(svc)
        transport = httpx.ASGITransport(app=container.http_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
            webhooks = SandboxWebhooks(
                HttpWebhookSender("http://supportos.test/webhooks/sandbox-payments", client=client),
                secrets=[WEBHOOK_SECRET],
                delay_s=None,
            )
            payments = SandboxPayments(fail_orders=frozenset({"o1"}), webhooks=webhooks)
            worker = SagaRunner(svc, Providers(payments, SandboxNotifications()), worker_id="w1")
            dispute = await dispute_under_review(svc, "o1")
            await decide(svc, dispute, OutcomeCode.FULL_REFUND)
            assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION]

            # before any dead letter: the scrape's gauge refresh exports the series at 0, so
            # an alert on increase() sees the first one
            assert dead_letters() is None
            scraped = (await client.get("/metrics")).text
            assert 'supportos_dead_letters_total{country="MX",provider="payments"} 0.0' in scraped
            assert [dead_letters(p) for p in JOB_PROVIDERS] == [0.0, 0.0, 0.0]

            [delivery] = await webhooks.deliver_pending()  # refund.failed, signed
            assert delivery.status == 200
            scraped = (await client.get("/metrics")).text
            assert 'supportos_dead_letters_total{country="MX",provider="payments"} 1.0' in scraped
        key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
        async with svc.uow() as uow:
            job = await uow.outbox.by_key(key)
        assert job is not None and job.status is JobStatus.DEAD
        assert job.errors[-1].kind == "PROVIDER_DECLINED"
        assert await dispute_status(svc, dispute.id) is DisputeStatus.EXECUTION_FAILED
        assert dead_letters() == 1.0
        assert dead_letters("notifications") == 0.0
    finally:
        await dispose_engines(container)
