"""Issue 5's end-to-end path: a dispute resolved with FULL_REFUND through GraphQL, the saga
run by a worker against the asynchronous sandbox, whose signed webhook comes back through
the same app's ``/webhooks/sandbox-payments``: RESOLVED, refunded once, buyer notified, and
the partner's ``disputeState`` shows the refund."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from dependency_injector import providers
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.providers.sandbox import SandboxNotifications, SandboxPayments, SandboxWebhooks
from adapters.providers.webhook_delivery import HttpWebhookSender
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Role
from domain.ledger import Account
from domain.shared import Money
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.api.conftest import CURRENCY, MX, START, Api, StatementCounter

PROVIDER = "sandbox-payments"
SECRET = "whsec_" + base64.b64encode(b"end-to-end-webhook-secret-32-byt").decode()
T = 123_000

RESOLVE = """
mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) {
    __typename
    ... on DisputeResolveSuccess { receipt { outcome refundToCard { minor currency } } dispute { status } }
    ... on Error { code message }
  }
}"""

STATE = """
query($id: String!) {
  disputeState(countryCode: "MX", id: $id) {
    __typename
    ... on DisputeState { status outcome amountRefunded { minor currency } }
    ... on Error { code message }
  }
}"""


@pytest.fixture
async def hub(app_url: str, engine: AsyncEngine) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=app_url, environment="development", webhook_secrets={PROVIDER: [SecretStr(SECRET)]}
    )
    container = build_container(settings)
    clock = FixedClock(START)
    container.clock.override(providers.Object(clock))
    container.ids.override(providers.Object(SequentialIds()))
    transport = httpx.ASGITransport(app=container.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
        api = Api(client, container, settings, clock, StatementCounter(), engine)
        await api.policy(MX)
        yield api
    await dispose_engines(container)


async def test_full_refund_through_graphql_workers_and_a_signed_webhook(hub: Api) -> None:
    dispute = await hub.dispute("o1", review=True)
    resolved = await hub.gql(
        RESOLVE,
        {
            "input": {
                "countryCode": "MX",
                "disputeId": dispute.id,
                "outcome": "FULL_REFUND",
                "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
                "idempotencyKey": "e2e-1",
            }
        },
        hub.bearer(Role.L2),
    )
    assert resolved["disputeResolve"]["__typename"] == "DisputeResolveSuccess"
    assert resolved["disputeResolve"]["receipt"]["refundToCard"] == {"minor": T, "currency": "MXN"}

    # The worker: the sandbox accepts the refund and will confirm by signed webhook,
    # POSTed into the service's own endpoint.
    webhooks = SandboxWebhooks(
        HttpWebhookSender(f"http://supportos.test/webhooks/{PROVIDER}", client=hub.client),
        secrets=[SECRET],
        delay_s=None,
    )
    payments = SandboxPayments(webhooks=webhooks)
    notifications = SandboxNotifications()
    worker = SagaRunner(hub.svc, Providers(payments, notifications), worker_id="e2e-worker")
    assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    assert payments.refunded == {}

    [delivery] = await webhooks.deliver_pending()
    assert delivery.status == 200
    assert (await webhooks.redeliver(delivery.webhook_id)).status == 200  # a duplicate: 2xx, ignored
    hub.clock.advance(timedelta(seconds=1))
    outcomes = await worker.drain()
    assert outcomes[-1] is StepOutcome.RESOLVED

    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert payments.refunded == {key: Money(T, CURRENCY[MX])}
    assert ("BUYER", "buy_1", "outcome.full_refund.buyer") in notifications.sent.values()
    async with hub.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")) == 1
        escrow = await uow.ledger.balance(MX, Account.escrow("o1"), CURRENCY[MX])
    assert escrow.amount.is_zero

    partner = await hub.partner_key("sel_1")
    state = await hub.gql(STATE, {"id": dispute.id}, partner)
    assert state["disputeState"] == {
        "__typename": "DisputeState",
        "status": "RESOLVED",
        "outcome": "FULL_REFUND",
        "amountRefunded": {"minor": T, "currency": "MXN"},
    }
