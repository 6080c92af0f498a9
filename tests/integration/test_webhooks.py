"""``POST /webhooks/{provider}`` through the real ASGI app, on SQLite and PostgreSQL.

Verification (Standard Webhooks): bad or missing signatures, missing headers, stale and
future timestamps and re-serialised bodies are refused with 401 and leave nothing stored;
rotated secrets are accepted side by side. A provider settles only its own jobs: an event
verified with another provider's secret is refused, recorded and audited, and changes
nothing. Exactly once: the same event delivered twice,
one after the other or concurrently, is stored once and settles its saga step once; an
event stored but never processed (a crash in between) is recovered once. End to end: a
FULL_REFUND decided, the asynchronous sandbox accepts the refund, its signed webhook
comes in through the app and the saga finishes: RESOLVED, refunded once, buyer notified.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from returns.result import Result
from sqlalchemy import text

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import (
    SandboxFaults,
    SandboxNotifications,
    SandboxPayments,
    SandboxWebhooks,
)
from adapters.providers.webhook_delivery import HttpWebhookSender, sign_webhook
from application.context import Services
from application.integrations.dead_letters import ReplayDeadLetter, replay_dead_letter
from application.integrations.webhooks import (
    IGNORED,
    PROVIDER_MISMATCH,
    UNKNOWN_KEY,
    VerifiedWebhook,
    WebhookProcessing,
    WebhookProviderMismatch,
    WebhookReceipt,
    WebhookRefusal,
    parse_event,
    receive_webhook,
    reprocess_pending_webhooks,
)
from application.ports.outbox import JobStatus
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.saga.worker_pool import WorkerPool
from domain.audit import AuditEntry
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.shared import Money
from domain.shared.ids import DisputeId
from interfaces.cli.worker import worker_pool
from interfaces.container import WEBHOOK_JOB_PROVIDERS, build_container
from interfaces.http.app import create_app
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.local_server import serve
from tests.integration.scenario import L3, MX, MXN, add_policy, decide, dispute_under_review

PROVIDER = "sandbox-payments"
URL = f"http://testserver/webhooks/{PROVIDER}"
NEW_SECRET = "whsec_" + base64.b64encode(b"the-new-secret-of-32-bytes-long!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-old-secret-of-32-bytes-long!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"someone-else-entirely-32-bytes!!").decode()
NOTIFICATIONS = "sandbox-notifications"
NOTIFICATIONS_SECRET = "whsec_" + base64.b64encode(b"the-notifications-secret-32-byte").decode()
UNMAPPED = "partner-x"  # has a secret, but is mapped to no job provider
UNMAPPED_SECRET = "whsec_" + base64.b64encode(b"an-unmapped-providers-secret-32b").decode()
T = 123_000


@dataclass
class CountingConfirmer:
    """``SagaRunner.confirm``, counted; ``crash_next`` raises once (a crash mid-processing)."""

    runner: SagaRunner
    calls: list[str] = field(default_factory=list)
    crash_next: bool = False

    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> str:
        if self.crash_next:
            self.crash_next = False
            raise ConnectionError("the process died here")
        self.calls.append(idempotency_key)
        return await self.runner.confirm(
            idempotency_key, succeeded=succeeded, provider_reference=provider_reference, detail=detail
        )


class Recorder:
    """A webhook sender that keeps the signed requests instead of sending them."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append((body, dict(headers)))
        return 200


@dataclass
class Harness:
    svc: Services
    clock: FixedClock
    app: FastAPI
    client: httpx.AsyncClient
    processing: WebhookProcessing
    confirmer: CountingConfirmer
    runner: SagaRunner
    payments: SandboxPayments
    notifications: SandboxNotifications

    @property
    def webhooks(self) -> SandboxWebhooks:
        assert self.payments.webhooks is not None
        return self.payments.webhooks

    async def post(self, body: bytes, headers: Mapping[str, str], provider: str = PROVIDER) -> httpx.Response:
        return await self.client.post(f"/webhooks/{provider}", content=body, headers=dict(headers))

    async def inbox_rows(self) -> list[tuple[str, str, int, str | None]]:
        async with self.svc.uow() as uow:
            assert isinstance(uow, SqlAlchemyUnitOfWork)
            rows = await uow.session.execute(
                text(
                    "SELECT webhook_id, country_code, attempts, outcome FROM webhook_inbox"
                    " ORDER BY webhook_id"
                )
            )
            return [(r[0], r[1], int(r[2]), r[3]) for r in rows.all()]

    async def status_of(self, dispute_id: str) -> DisputeStatus:
        async with self.svc.uow() as uow:
            dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
            assert dispute is not None
            return dispute.status

    async def balance(self, account: Account) -> int:
        async with self.svc.uow() as uow:
            return (await uow.ledger.balance(MX, account, MXN)).normal.minor

    async def job_status(self, key: str) -> JobStatus:
        async with self.svc.uow() as uow:
            job = await uow.outbox.by_key(key)
        assert job is not None
        return job.status


@asynccontextmanager
async def _harness(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], *, record: bool
) -> AsyncIterator[tuple[Harness, Recorder]]:
    """The app with the webhook endpoint; the sandbox's webhooks go into it through an
    ``httpx.ASGITransport`` (or, with ``record``, are only recorded, to be replayed)."""
    clock = FixedClock()
    svc = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(svc)
    recorder = Recorder()
    processing: WebhookProcessing | None = None

    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        assert processing is not None
        return await receive_webhook(processing, webhook)

    app = create_app(
        Settings(),
        webhooks=WebhookDependencies(
            secrets={
                PROVIDER: [NEW_SECRET, OLD_SECRET],
                NOTIFICATIONS: [NOTIFICATIONS_SECRET],
                UNMAPPED: [UNMAPPED_SECRET],
            },
            receive=receive,
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        sender = recorder if record else HttpWebhookSender(URL, client=client)
        payments = SandboxPayments(webhooks=SandboxWebhooks(sender, secrets=[NEW_SECRET], delay_s=None))
        notifications = SandboxNotifications()
        runner = SagaRunner(svc, Providers(payments, notifications), worker_id="w1")
        confirmer = CountingConfirmer(runner)
        # the production mapping: sandbox-payments settles payments, sandbox-notifications
        # notifications
        processing = WebhookProcessing(
            svc, confirmer, hold=timedelta(seconds=60), settles=WEBHOOK_JOB_PROVIDERS
        )
        harness = Harness(svc, clock, app, client, processing, confirmer, runner, payments, notifications)
        yield harness, recorder


@pytest.fixture
async def h(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> AsyncIterator[Harness]:
    async with _harness(uow_factory, record=False) as (harness, _):
        yield harness


@pytest.fixture
async def recorded(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork],
) -> AsyncIterator[tuple[Harness, Recorder]]:
    async with _harness(uow_factory, record=True) as pair:
        yield pair


async def refund_waiting(h: Harness, order_id: str = "o1") -> tuple[str, str]:
    """A FULL_REFUND decided and its refund accepted by the provider: (dispute id, key)."""
    dispute = await dispute_under_review(h.svc, order_id)
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    assert await h.runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert await h.job_status(key) is JobStatus.WAITING
    return dispute.id, key


def event_body(key: str = "k", country: str = "MX", event_type: str = "refund.succeeded") -> bytes:
    data = {"id": "re_1", "idempotency_key": key, "country": country, "status": "succeeded"}
    return json.dumps({"type": event_type, "timestamp": "2026-03-02T12:00:00+00:00", "data": data}).encode()


def signed(
    body: bytes,
    *,
    secrets: tuple[str, ...] = (NEW_SECRET,),
    webhook_id: str = "msg_1",
    at: datetime | None = None,
) -> dict[str, str]:
    return sign_webhook(
        secrets=list(secrets), webhook_id=webhook_id, timestamp=at or datetime.now(UTC), body=body
    )


# ----------------------------------------------------------------------- end to end


async def test_a_full_refund_is_confirmed_by_the_sandbox_webhook_through_the_app(h: Harness) -> None:
    dispute_id, key = await refund_waiting(h)
    assert h.payments.refunded == {}  # accepted, not settled
    assert await h.balance(Account.escrow("o1")) == T

    [delivery] = await h.webhooks.deliver_pending()  # signed, POSTed into the ASGI app
    assert delivery.status == 200
    assert h.confirmer.calls == [key]
    assert await h.job_status(key) is JobStatus.DONE

    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    assert h.payments.refunded == {key: Money(T, MXN)}
    assert h.payments.calls == {key: 1}
    assert await h.balance(Account.escrow("o1")) == 0
    assert await h.balance(Account.psp_clearing()) == 0
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")) == 1
    assert sorted(role for role, _, _ in h.notifications.sent.values()) == ["BUYER", "SELLER"]
    assert ("BUYER", "buy_1", "outcome.full_refund.buyer") in h.notifications.sent.values()

    # the provider delivers the same event again: 2xx, nothing processed again
    again = await h.webhooks.redeliver(delivery.webhook_id)
    assert again.status == 200
    assert h.confirmer.calls == [key]
    [(webhook_id, country, attempts, outcome)] = await h.inbox_rows()
    assert (webhook_id, country, attempts, outcome) == (delivery.webhook_id, "MX", 1, "COMPLETED")
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")) == 1
        entries = [
            e
            async for e in uow.audit.entries()
            if isinstance(e, AuditEntry) and e.action == "webhook.processed"
        ]
    [audited] = entries
    assert audited.after is not None
    assert audited.after["idempotency_key"] == key
    assert audited.after["outcome"] == "COMPLETED"
    assert audited.after["provider"] == PROVIDER


async def test_background_delivery_after_a_latency_settles_the_saga(h: Harness) -> None:
    """As in production: the sandbox answers after its latency and sends its webhook from
    a background task, with no test hook in between."""
    webhooks = SandboxWebhooks(HttpWebhookSender(URL, client=h.client), secrets=[OLD_SECRET], delay_s=0.05)
    payments = SandboxPayments(
        faults=SandboxFaults(latency_s=0.01, jitter_s=0.01), rng=random.Random(11), webhooks=webhooks
    )
    runner = SagaRunner(h.svc, Providers(payments, h.notifications), worker_id="w2")
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    outcomes = await runner.drain()  # the webhook may already come in meanwhile
    await webhooks.wait_idle()
    assert [d.status for d in webhooks.deliveries] == [200]
    outcomes += await runner.drain()
    assert outcomes[0] in (StepOutcome.AWAITING_CONFIRMATION, StepOutcome.LEASE_LOST)
    assert outcomes[-1] is StepOutcome.RESOLVED
    assert await h.status_of(dispute.id) is DisputeStatus.RESOLVED
    assert payments.total_refunded_minor == T
    assert len(h.confirmer.calls) == 1
    assert ("BUYER", "buy_1", "outcome.full_refund.buyer") in h.notifications.sent.values()


async def test_over_a_real_socket_the_sandbox_confirms_through_the_served_app(h: Harness) -> None:
    """The app under uvicorn on 127.0.0.1; the sandbox POSTs its signed webhook over TCP
    with its own httpx client, as ``supportos worker`` does with SUPPORTOS_SANDBOX_WEBHOOK_URL."""
    async with serve(h.app) as base:
        webhooks = SandboxWebhooks(
            HttpWebhookSender(f"{base}/webhooks/{PROVIDER}"), secrets=[NEW_SECRET], delay_s=0.0
        )
        payments = SandboxPayments(webhooks=webhooks)
        runner = SagaRunner(h.svc, Providers(payments, h.notifications), worker_id="w3")
        dispute = await dispute_under_review(h.svc, "o1")
        await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
        # the webhook may come in while the worker still drains (it then settles the step
        # itself); either way the refund is confirmed once
        outcomes = await runner.drain()
        await webhooks.wait_idle()
    # One event, delivered (on a loaded machine the sender may have retried a slow POST:
    # that is its design; what matters is that it was processed once, below).
    [delivery] = webhooks.deliveries
    assert delivery.status == 200
    outcomes += await runner.drain()
    assert outcomes[0] in (StepOutcome.AWAITING_CONFIRMATION, StepOutcome.LEASE_LOST)
    assert outcomes[-1] is StepOutcome.RESOLVED
    assert await h.status_of(dispute.id) is DisputeStatus.RESOLVED
    assert payments.total_refunded_minor == T
    assert len(h.confirmer.calls) == 1


async def test_an_asynchronous_decline_dead_letters_the_refund(h: Harness) -> None:
    h.payments._fail_orders = frozenset({"o1"})  # the card issuer declines later
    dispute_id, key = await refund_waiting(h)
    [delivery] = await h.webhooks.deliver_pending()
    assert delivery.status == 200
    assert await h.status_of(dispute_id) is DisputeStatus.EXECUTION_FAILED
    assert await h.job_status(key) is JobStatus.DEAD
    assert h.payments.refunded == {}
    assert await h.balance(Account.escrow("o1")) == T


async def test_an_l3_replay_of_an_asynchronous_decline_is_confirmed_on_its_fresh_key(h: Harness) -> None:
    """The sandbox remembers the decline of the step's key (a real provider would answer it
    again); the replay asks on ``<key>#r1``, whose signed webhook settles the step (D83)."""
    h.payments._fail_orders = frozenset({"o1"})
    dispute_id, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    assert await h.job_status(key) is JobStatus.DEAD
    h.payments._fail_orders = frozenset()  # the issuer would take the refund now
    async with h.svc.uow() as uow:
        dead = await uow.outbox.by_key(key)
    assert dead is not None
    replayed = (await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert replayed.provider_key == f"{key}#r1"

    assert await h.runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    [delivery] = await h.webhooks.deliver_pending()  # refund.succeeded for <key>#r1
    assert (delivery.event_type, delivery.status) == ("refund.succeeded", 200)
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    assert h.payments.calls[key] == 1
    assert h.payments.refunded == {f"{key}#r1": Money(T, MXN)}
    assert await h.balance(Account.escrow("o1")) == 0
    assert await h.balance(Account.psp_clearing()) == 0
    # the first key's decline, delivered again, settles nothing
    first = h.webhooks.deliveries[0]
    assert first.event_type == "refund.failed"
    assert (await h.webhooks.redeliver(first.webhook_id)).status == 200
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED


# ------------------------------------------------------------------------ refusals


async def test_a_bad_signature_is_refused_and_nothing_is_stored(h: Harness) -> None:
    _, key = await refund_waiting(h)
    body = event_body(key)
    response = await h.post(body, signed(body, secrets=(OTHER_SECRET,)))
    assert response.status_code == 401
    tampered = signed(body)
    tampered["webhook-signature"] = "v1," + base64.b64encode(b"\0" * 32).decode()
    assert (await h.post(body, tampered)).status_code == 401
    garbage = signed(body)
    garbage["webhook-signature"] = "not a signature at all"
    assert (await h.post(body, garbage)).status_code == 401
    assert await h.inbox_rows() == []
    assert h.confirmer.calls == []
    assert await h.job_status(key) is JobStatus.WAITING


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_header_is_refused(h: Harness, header: str) -> None:
    body = event_body()
    headers = signed(body)
    del headers[header]
    assert (await h.post(body, headers)).status_code == 401
    headers = signed(body)
    headers[header] = ""
    assert (await h.post(body, headers)).status_code == 401
    assert await h.inbox_rows() == []


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_repeated_header_is_refused_so_a_signed_request_cannot_be_resent_as_a_new_event(
    h: Harness, header: str
) -> None:
    """A captured request resent with another ``webhook-id`` in front of the signed one: the
    framework reads the first, the signature covers the last. Refused, nothing stored."""
    _, key = await refund_waiting(h)
    body = event_body(key)
    headers = signed(body)
    forged = {"webhook-id": "replayed-1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    for order in ([(header, forged[header]), *headers.items()], [*headers.items(), (header, forged[header])]):
        response = await h.client.post(f"/webhooks/{PROVIDER}", content=body, headers=order)
        assert response.status_code == 401
    assert await h.inbox_rows() == []
    assert h.confirmer.calls == []
    # the request as signed still goes through, once
    assert (await h.post(body, headers)).status_code == 200
    assert [row[0] for row in await h.inbox_rows()] == [headers["webhook-id"]]


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-6), False),  # stale: a captured request replayed later
        (timedelta(minutes=6), False),  # from the future
        (timedelta(minutes=-4), True),
        (timedelta(minutes=4), True),
    ],
)
async def test_timestamps_must_be_within_five_minutes(h: Harness, offset: timedelta, accepted: bool) -> None:
    body = event_body()
    response = await h.post(body, signed(body, at=datetime.now(UTC) + offset))
    assert response.status_code == (200 if accepted else 401)
    assert len(await h.inbox_rows()) == (1 if accepted else 0)


async def test_a_re_serialised_body_is_refused(h: Harness) -> None:
    body = event_body()
    headers = signed(body)
    same_json = json.dumps(json.loads(body), indent=2, sort_keys=True).encode()
    assert json.loads(same_json) == json.loads(body)
    assert (await h.post(same_json, headers)).status_code == 401
    assert await h.inbox_rows() == []
    assert (await h.post(body, headers)).status_code == 200


async def test_rotated_secrets_old_and_new_are_both_accepted(h: Harness) -> None:
    for number, secrets in enumerate([(OLD_SECRET,), (NEW_SECRET,), (NEW_SECRET, OLD_SECRET)]):
        body = event_body(f"k{number}")
        response = await h.post(body, signed(body, secrets=secrets, webhook_id=f"msg_{number}"))
        assert response.status_code == 200, secrets
    body = event_body("k9")
    # an unknown signature next to a good one still verifies; alone it does not
    assert (
        await h.post(body, signed(body, secrets=(OTHER_SECRET, OLD_SECRET), webhook_id="m9"))
    ).status_code == 200
    assert (await h.post(body, signed(body, secrets=(OTHER_SECRET,), webhook_id="m10"))).status_code == 401
    assert len(await h.inbox_rows()) == 4


async def test_unknown_providers_and_unroutable_events(h: Harness) -> None:
    body = event_body()
    assert (await h.post(body, signed(body), provider="nobody")).status_code == 404
    no_country = json.dumps({"type": "refund.succeeded", "data": {"idempotency_key": "k"}}).encode()
    response = await h.post(no_country, signed(no_country))
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_INPUT"
    not_json = b"not json"
    assert (await h.post(not_json, signed(not_json))).status_code == 400
    assert await h.inbox_rows() == []


async def test_other_events_are_stored_and_ignored_and_unknown_keys_settle_nothing(h: Harness) -> None:
    updated = event_body("k", event_type="refund.updated")
    assert (await h.post(updated, signed(updated, webhook_id="m1"))).json()["outcome"] == IGNORED
    unknown = event_body("no-such-key")
    assert (await h.post(unknown, signed(unknown, webhook_id="m2"))).json()["outcome"] == UNKNOWN_KEY
    assert h.confirmer.calls == []
    assert [row[3] for row in await h.inbox_rows()] == [IGNORED, UNKNOWN_KEY]


async def test_an_event_of_another_country_does_not_settle_the_step(h: Harness) -> None:
    _, key = await refund_waiting(h)
    body = event_body(key, country="CO")
    assert (await h.post(body, signed(body))).json()["outcome"] == UNKNOWN_KEY
    assert await h.job_status(key) is JobStatus.WAITING


async def webhook_audit(h: Harness) -> list[AuditEntry]:
    async with h.svc.uow() as uow:
        return [
            e
            async for e in uow.audit.entries()
            if isinstance(e, AuditEntry) and e.action == "webhook.processed"
        ]


async def test_a_notifications_signed_webhook_cannot_settle_a_payments_job(h: Harness) -> None:
    dispute_id, key = await refund_waiting(h)
    succeeded = event_body(key)
    failed = event_body(key, event_type="refund.failed")

    # verified (the notifications provider's own secret), stored, refused: nothing settles
    first = await h.post(
        succeeded, signed(succeeded, secrets=(NOTIFICATIONS_SECRET,), webhook_id="n1"), provider=NOTIFICATIONS
    )
    assert first.status_code == 200
    assert first.json() == {"status": "processed", "webhook_id": "n1", "outcome": PROVIDER_MISMATCH}
    second = await h.post(
        failed, signed(failed, secrets=(NOTIFICATIONS_SECRET,), webhook_id="n2"), provider=NOTIFICATIONS
    )
    assert second.json()["outcome"] == PROVIDER_MISMATCH  # nor can it decline (dead-letter) it
    assert h.confirmer.calls == []
    assert await h.job_status(key) is JobStatus.WAITING
    assert await h.status_of(dispute_id) is DisputeStatus.DECIDED  # as it was: awaiting the refund
    assert h.payments.refunded == {}
    assert await h.balance(Account.escrow("o1")) == T
    assert await h.inbox_rows() == [("n1", "MX", 1, PROVIDER_MISMATCH), ("n2", "MX", 1, PROVIDER_MISMATCH)]
    refusals = await webhook_audit(h)
    assert [(e.country, e.actor_id, e.target_id) for e in refusals] == [
        (MX, f"webhook:{NOTIFICATIONS}", f"{NOTIFICATIONS}:n1"),
        (MX, f"webhook:{NOTIFICATIONS}", f"{NOTIFICATIONS}:n2"),
    ]
    assert refusals[0].after is not None
    assert {k: v for k, v in refusals[0].after.items() if k != "latency_ms"} == {
        "provider": NOTIFICATIONS,
        "webhook_id": "n1",
        "event_type": "refund.succeeded",
        "idempotency_key": key,
        "outcome": PROVIDER_MISMATCH,
        "job_provider": "payments",
        "detail": "webhooks of 'sandbox-notifications' may not settle jobs of the provider 'payments'",
    }

    # the payments provider still settles its own job
    [delivery] = await h.webhooks.deliver_pending()
    assert delivery.status == 200
    assert h.confirmer.calls == [key]
    assert await h.job_status(key) is JobStatus.DONE
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    assert h.payments.refunded == {key: Money(T, MXN)}
    assert [e.after["outcome"] for e in await webhook_audit(h) if e.after] == [
        PROVIDER_MISMATCH,
        PROVIDER_MISMATCH,
        "COMPLETED",
    ]


async def test_the_refusal_is_a_typed_error_and_an_unmapped_provider_settles_nothing(h: Harness) -> None:
    _, key = await refund_waiting(h)
    body = event_body(key)
    wrong = VerifiedWebhook(NOTIFICATIONS, "n1", datetime.now(UTC), json.loads(body))
    receipt = (await receive_webhook(h.processing, wrong)).unwrap()
    assert receipt == WebhookReceipt(
        NOTIFICATIONS,
        "n1",
        MX,
        duplicate=False,
        processed=True,
        outcome=PROVIDER_MISMATCH,
        refusal=WebhookProviderMismatch(NOTIFICATIONS, "payments"),
    )
    assert receipt.refusal is not None and receipt.refusal.code == "WEBHOOK_PROVIDER_MISMATCH"
    # the same delivery again: a duplicate, still nothing settled
    again = (await receive_webhook(h.processing, wrong)).unwrap()
    assert (again.duplicate, again.processed, again.refusal) == (True, False, None)

    unmapped = await h.post(
        body, signed(body, secrets=(UNMAPPED_SECRET,), webhook_id="u1"), provider=UNMAPPED
    )
    assert unmapped.json()["outcome"] == PROVIDER_MISMATCH
    assert h.confirmer.calls == []
    assert await h.job_status(key) is JobStatus.WAITING
    assert [row[3] for row in await h.inbox_rows()] == [PROVIDER_MISMATCH, PROVIDER_MISMATCH]


async def test_a_refused_event_recovered_after_a_crash_is_refused_again(
    recorded: tuple[Harness, Recorder],
) -> None:
    h, _ = recorded
    _, key = await refund_waiting(h)
    body = event_body(key)
    wrong = VerifiedWebhook(NOTIFICATIONS, "n1", datetime.now(UTC), json.loads(body))
    async with h.svc.uow() as uow:  # stored by an attempt that died before processing it
        stored = await uow.webhook_inbox.store(
            parse_event(wrong).unwrap(), now=h.clock.now(), hold=timedelta(seconds=60)
        )
        await uow.commit()
    assert stored
    h.clock.advance(timedelta(minutes=2))
    [receipt] = await reprocess_pending_webhooks(h.processing)
    assert receipt.outcome == PROVIDER_MISMATCH
    assert receipt.refusal == WebhookProviderMismatch(NOTIFICATIONS, "payments")
    assert h.confirmer.calls == []
    assert await h.job_status(key) is JobStatus.WAITING


# --------------------------------------------------------------------- exactly once


async def test_the_same_event_delivered_twice_in_a_row_is_processed_once(
    recorded: tuple[Harness, Recorder],
) -> None:
    h, recorder = recorded
    dispute_id, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    [(body, headers)] = recorder.requests
    first = await h.post(body, headers)
    second = await h.post(body, headers)
    assert first.json()["status"] == "processed"
    assert first.json()["outcome"] == "COMPLETED"
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert h.confirmer.calls == [key]
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")) == 1
    assert h.payments.refunded == {key: Money(T, MXN)}


async def test_the_same_event_delivered_concurrently_is_processed_once(
    recorded: tuple[Harness, Recorder],
) -> None:
    h, recorder = recorded
    dispute_id, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    [(body, headers)] = recorder.requests
    responses = await asyncio.gather(*(h.post(body, headers) for _ in range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * 5 + ["processed"]
    assert h.confirmer.calls == [key]
    [(_, _, attempts, outcome)] = await h.inbox_rows()
    assert (attempts, outcome) == (1, "COMPLETED")
    assert await h.job_status(key) is JobStatus.DONE
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")) == 1
    assert await h.balance(Account.escrow("o1")) == 0


async def test_an_event_stored_but_never_processed_is_recovered_once(
    recorded: tuple[Harness, Recorder],
) -> None:
    h, recorder = recorded
    dispute_id, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    [(body, headers)] = recorder.requests
    verified = VerifiedWebhook(PROVIDER, headers["webhook-id"], datetime.now(UTC), json.loads(body))

    h.confirmer.crash_next = True  # stored, then the process dies before processing it
    with pytest.raises(ConnectionError):
        await receive_webhook(h.processing, verified)
    [(_, _, attempts, outcome)] = await h.inbox_rows()
    assert (attempts, outcome) == (1, None)

    # a redelivery while the crashed attempt's hold lasts: 2xx, not processed
    assert (await h.post(body, headers)).json()["status"] == "duplicate"
    assert await reprocess_pending_webhooks(h.processing) == []  # still held
    assert h.confirmer.calls == []

    h.clock.advance(timedelta(minutes=2))  # the hold expires
    [receipt] = await reprocess_pending_webhooks(h.processing)
    assert receipt.processed
    assert receipt.outcome == "COMPLETED"
    assert await reprocess_pending_webhooks(h.processing) == []
    assert (await h.post(body, headers)).json()["status"] == "duplicate"
    assert h.confirmer.calls == [key]
    [(_, _, attempts, outcome)] = await h.inbox_rows()
    assert (attempts, outcome) == (2, "COMPLETED")
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")) == 1


async def test_a_late_redelivery_takes_over_an_abandoned_event(recorded: tuple[Harness, Recorder]) -> None:
    h, recorder = recorded
    _, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    [(body, headers)] = recorder.requests
    h.confirmer.crash_next = True
    with pytest.raises(ConnectionError):
        await receive_webhook(
            h.processing,
            VerifiedWebhook(PROVIDER, headers["webhook-id"], datetime.now(UTC), json.loads(body)),
        )
    h.clock.advance(timedelta(minutes=2))
    response = await h.post(body, headers)
    assert response.json()["status"] == "processed"
    assert response.json()["outcome"] == "COMPLETED"
    assert h.confirmer.calls == [key]
    assert await reprocess_pending_webhooks(h.processing) == []


async def test_the_worker_pools_maintenance_recovers_a_stored_unprocessed_event(
    recorded: tuple[Harness, Recorder],
) -> None:
    h, recorder = recorded
    dispute_id, key = await refund_waiting(h)
    await h.webhooks.deliver_pending()
    [(body, headers)] = recorder.requests
    verified = VerifiedWebhook(PROVIDER, headers["webhook-id"], datetime.now(UTC), json.loads(body))
    h.confirmer.crash_next = True
    with pytest.raises(ConnectionError):
        await receive_webhook(h.processing, verified)

    async def broken() -> object:
        raise RuntimeError("a failing task is logged, not fatal")

    async def recover() -> object:
        return await reprocess_pending_webhooks(h.processing)

    pool = WorkerPool(h.runner, maintenance=(broken, recover))
    h.clock.advance(timedelta(minutes=2))  # the crashed attempt's hold expires
    await pool.maintain()
    assert h.confirmer.calls == [key]
    await h.runner.drain()
    assert await h.status_of(dispute_id) is DisputeStatus.RESOLVED


def test_the_cli_worker_pool_recovers_webhooks() -> None:
    container = build_container(Settings())
    pool = worker_pool(container, concurrency=1, batch=1, poll_interval=1.0, only=None)
    # webhook recovery, and the SLA scheduler's tick (D41), on every maintenance round
    names = [getattr(task, "__name__", "") for task in pool.maintenance]
    assert names == ["recover_webhooks", "sla_scheduler"]
