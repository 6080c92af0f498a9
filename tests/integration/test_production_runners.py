"""The saga runners production builds (``supportos worker`` and the webhook endpoint, both
from the composition root), on SQLite and PostgreSQL: retries back off with full jitter
(SPEC §7: "exponential backoff with full jitter up to a maximum"), dead letters and job
outcomes reach the process's metrics, and a webhook confirms a provider job (not only a
dispute step)."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dependency_injector import providers
from pydantic import SecretStr
from returns.result import Failure, Result, Success

from application.disputes.refund_returns import REISSUE_JOB_KIND, RefundReissueJob
from application.integrations.webhooks import VerifiedWebhook, receive_webhook
from application.messaging.notifications import NOTIFY_JOB_KIND, NOTIFY_PROVIDER
from application.ports.outbox import Job, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.saga.retry import RetryPolicy
from domain.integrations import BreakerPolicy
from interfaces.cli.worker import worker_pool
from interfaces.container import WEBHOOK_JOB_PROVIDERS, Container, build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX

KIND = "partner.ping"
JOBS = 40
NOTIFICATIONS_SECRET = "whsec_" + base64.b64encode(b"production-runner-notify-secret!").decode()


@pytest.fixture
async def container(app_url: str) -> AsyncIterator[Container]:
    settings = Settings(
        database_url=app_url,
        environment="development",
        webhook_secrets={"sandbox-notifications": [SecretStr(NOTIFICATIONS_SECRET)]},
    )
    built = build_container(settings)
    built.clock.override(providers.Object(FixedClock()))
    built.ids.override(providers.Object(SequentialIds()))
    try:
        yield built
    finally:
        await dispose_engines(built)


async def always_transient(job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
    return Failure(ProviderError("pinger", "ping", ProviderFailureKind.TRANSIENT, "503"))


async def accepted(job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
    return Success(ProviderReceipt(NOTIFY_PROVIDER, "push", job.idempotency_key, f"n_{job.id}", False))


async def enqueue(runner: SagaRunner, keys: list[str], *, kind: str, provider: str) -> None:
    now = runner.svc.clock.now()
    async with runner.svc.uow() as uow:
        for key in keys:
            await uow.outbox.enqueue(NewJob(MX, key, kind, provider, f"ref:{key}", {}, now), now=now)
        await uow.commit()


async def waits(runner: SagaRunner, keys: list[str]) -> list[timedelta]:
    """How long each job waits before its next attempt."""
    now = runner.svc.clock.now()
    found: list[timedelta] = []
    async with runner.svc.uow() as uow:
        for key in keys:
            job = await uow.outbox.by_key(key)
            assert job is not None and job.status is JobStatus.PENDING
            found.append(job.available_at - now)
    return found


async def test_the_worker_retries_with_full_jitter_up_to_the_cap(container: Container) -> None:
    pool = worker_pool(container, concurrency=1, batch=JOBS, poll_interval=1.0, only=None)
    assert pool.runner.rand is random.random
    # the production runner, with a handler that always fails transiently and a breaker
    # that never opens (so every job is attempted and scheduled again)
    runner = replace(
        pool.runner,
        job_kinds={KIND: always_transient},
        breaker=BreakerPolicy(failure_threshold=10_000),
        retry=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=3)),
    )
    keys = [f"j{n}" for n in range(JOBS)]
    await enqueue(runner, keys, kind=KIND, provider="pinger")
    clock = runner.svc.clock
    assert isinstance(clock, FixedClock)

    for attempt, ceiling in [(1, 1), (2, 2), (3, 3), (4, 3)]:  # min(cap, base * 2**(attempt-1))
        assert await runner.run_once(limit=JOBS) == [StepOutcome.RETRY_SCHEDULED] * JOBS, attempt
        waited = await waits(runner, keys)
        # full jitter: anywhere in [0, ceiling], drawn per job, not the ceiling every time
        assert all(timedelta(0) <= w <= timedelta(seconds=ceiling) for w in waited), (attempt, waited)
        assert len(set(waited)) > JOBS // 2, (attempt, waited)
        assert min(waited) < timedelta(seconds=ceiling) / 2 < max(waited), (attempt, waited)
        clock.advance(timedelta(seconds=ceiling))  # every job is due again


def test_the_webhook_runner_is_wired_like_a_worker(container: Container) -> None:
    processing = container.webhook_processing()
    runner = processing.steps
    assert isinstance(runner, SagaRunner)
    assert runner.rand is random.random
    assert runner.metrics is container.metrics()
    assert runner.job_kinds == container.job_kinds()
    # the refund re-issues (D136) run, post and are posted back like any provider job
    assert isinstance(container.job_kinds()[REISSUE_JOB_KIND], RefundReissueJob)
    assert processing.settles == WEBHOOK_JOB_PROVIDERS
    assert processing.settles["sandbox-payments"] == frozenset({"payments"})
    assert processing.settles["sandbox-notifications"] == frozenset({"notifications"})


async def test_a_webhook_confirms_an_accepted_notification_job(container: Container) -> None:
    """A provider job (``conversation.notify``) accepted by the provider is settled by its
    provider's webhook through the container's processing, like a dispute step."""
    worker = worker_pool(container, concurrency=1, batch=10, poll_interval=1.0, only=None).runner
    worker = replace(worker, job_kinds={NOTIFY_JOB_KIND: accepted})
    await enqueue(worker, ["m1:notify:BUYER:buy_1"], kind=NOTIFY_JOB_KIND, provider=NOTIFY_PROVIDER)
    assert await worker.run_once() == [StepOutcome.AWAITING_CONFIRMATION]

    event = {
        "type": "push.succeeded",
        "data": {"id": "n_1", "idempotency_key": "m1:notify:BUYER:buy_1", "country": "MX"},
    }
    verified = VerifiedWebhook("sandbox-notifications", "msg_1", datetime.now(UTC), event)
    receipt = (await receive_webhook(container.webhook_processing(), verified)).unwrap()
    assert (receipt.processed, receipt.outcome, receipt.refusal) == (True, "COMPLETED", None)
    async with worker.svc.uow() as uow:
        job = await uow.outbox.by_key("m1:notify:BUYER:buy_1")
    assert job is not None and job.status is JobStatus.DONE
