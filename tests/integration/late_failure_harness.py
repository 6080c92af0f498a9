"""The harness of the late-failure tests (D130, D136): the app's webhook endpoint, the
asynchronous sandbox payments provider whose signed events go into it through an
``httpx.ASGITransport`` when a test delivers them (``deliver_pending``), a saga runner with
the job kinds that move money (seller payouts, refund re-issues), and what the tests read
back (balances, jobs, audit entries, the webhook inbox's outcomes, ledger transactions)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from returns.result import Result
from sqlalchemy import text

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxNotifications, SandboxPayments, SandboxWebhooks
from adapters.providers.webhook_delivery import HttpWebhookSender, sign_webhook
from application.context import Services
from application.disputes.refund_returns import (
    REISSUE_JOB_KIND,
    REISSUE_NOTICE_JOB_KIND,
    RefundReissueJob,
    RefundReissueNoticeJob,
)
from application.integrations.webhooks import (
    VerifiedWebhook,
    WebhookProcessing,
    WebhookReceipt,
    WebhookRefusal,
    receive_webhook,
)
from application.ledger.payouts import PAYOUT_JOB_KIND, SellerPayoutJob
from application.ports.outbox import Job
from application.ports.providers import PayoutsProvider, RefundsProvider
from application.saga.executor import Providers, SagaRunner
from domain.audit import AuditEntry
from domain.ledger import Account, TransactionKind
from interfaces.container import WEBHOOK_JOB_PROVIDERS
from interfaces.http.app import create_app
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, MXN, add_policy


class RefundsAndPayouts(RefundsProvider, PayoutsProvider, Protocol):
    """What the workers call for refunds and payouts."""


PROVIDER = "sandbox-payments"
SECRET = "whsec_dGhlLXBheW91dC1yZXR1cm4tc2VjcmV0LTMyYnl0ZXM="


@dataclass
class Harness:
    svc: Services
    clock: FixedClock
    client: httpx.AsyncClient
    runner: SagaRunner
    payments: SandboxPayments
    notifications: SandboxNotifications
    metrics: RecordingMetrics
    secret: str

    @property
    def webhooks(self) -> SandboxWebhooks:
        assert self.payments.webhooks is not None
        return self.payments.webhooks

    async def post(self, body: bytes, webhook_id: str) -> httpx.Response:
        headers = sign_webhook(
            secrets=[self.secret], webhook_id=webhook_id, timestamp=datetime.now(UTC), body=body
        )
        return await self.client.post(f"/webhooks/{PROVIDER}", content=body, headers=headers)


@asynccontextmanager
async def late_failure_harness(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork],
    *,
    secret: str = SECRET,
    between: Callable[[SandboxPayments], RefundsAndPayouts] | None = None,
) -> AsyncIterator[Harness]:
    """``between``: what stands between the workers and the sandbox (a network that loses
    answers, say); the webhooks come from the sandbox itself either way."""
    clock = FixedClock()
    svc = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(svc)
    processing: WebhookProcessing | None = None

    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        assert processing is not None
        return await receive_webhook(processing, webhook)

    app = create_app(Settings(), webhooks=WebhookDependencies(secrets={PROVIDER: [secret]}, receive=receive))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        sender = HttpWebhookSender(f"http://testserver/webhooks/{PROVIDER}", client=client)
        payments = SandboxPayments(webhooks=SandboxWebhooks(sender, secrets=[secret], delay_s=None))
        through: RefundsAndPayouts = payments if between is None else between(payments)
        notifications = SandboxNotifications()
        metrics = RecordingMetrics()
        runner = SagaRunner(
            svc,
            Providers(through, notifications, payouts=through),
            worker_id="w1",
            metrics=metrics,
            job_kinds={
                PAYOUT_JOB_KIND: SellerPayoutJob(),
                REISSUE_JOB_KIND: RefundReissueJob(),
                REISSUE_NOTICE_JOB_KIND: RefundReissueNoticeJob(),
            },
        )
        processing = WebhookProcessing(svc, runner, settles=WEBHOOK_JOB_PROVIDERS)
        yield Harness(svc, clock, client, runner, payments, notifications, metrics, secret)


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def unbalanced(svc: Services) -> dict[tuple[str, str], int]:
    """The sum of every account's balance per (country, currency) that is not zero: empty
    when the ledger balances (SPEC §4)."""
    totals: dict[tuple[str, str], int] = {}
    async with svc.uow() as uow:
        for key in await uow.ledger.accounts("", limit=10_000):
            found = await uow.ledger.balance(key.country, key.account, key.currency)
            pair = (key.country.value, key.currency.code)
            totals[pair] = totals.get(pair, 0) + found.amount.minor
    return {pair: total for pair, total in totals.items() if total != 0}


async def job(svc: Services, key: str) -> Job:
    async with svc.uow() as uow:
        found = await uow.outbox.by_key(key)
    assert found is not None
    return found


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def inbox_outcomes(svc: Services) -> list[str]:
    """The outcomes of the stored webhooks, sorted (the clock stands still: no order)."""
    async with svc.uow() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        rows = await uow.session.execute(text("SELECT outcome FROM webhook_inbox"))
        return sorted(str(row[0]) for row in rows.all())


async def ledger_of(svc: Services, key: str) -> list[tuple[str, TransactionKind, str | None, int]]:
    """The transactions whose key starts with ``key``: (key, kind, reverses, amount)."""
    async with svc.uow() as uow:
        found = await uow.ledger.transactions_for(MX, key)
    return sorted((t.idempotency_key, t.kind, t.reverses, t.amount.minor) for t in found)
