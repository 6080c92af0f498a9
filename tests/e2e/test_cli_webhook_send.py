"""``supportos webhook-send`` signs events as a provider would and the endpoint verifies them."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from returns.result import Failure, Result, Success
from typer.testing import CliRunner

from application.integrations.order_feed import OrderNotYetKnown
from application.integrations.webhooks import VerifiedWebhook, WebhookReceipt, WebhookRefusal
from domain.shared import CountryCode
from interfaces.cli.main import app as cli
from interfaces.http.app import create_app
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings, get_settings
from tests.integration.local_server import serve

SECRET = "whsec_" + base64.b64encode(b"the-marketplace-secret-32-bytes!").decode()
EVENTS = [
    {
        "type": "order.created",
        "data": {"country": "MX", "order_id": "o1", "buyer_id": "b1", "seller_id": "s1"},
    },
    {"type": "order.payment_captured", "data": {"country": "MX", "order_id": "o9"}},
]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SUPPORTOS_WEBHOOK_SECRETS", json.dumps({"marketplace": [SECRET]}))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_events_are_signed_sent_one_webhook_each_and_answers_printed(
    secrets: None, tmp_path: Path
) -> None:
    received: list[VerifiedWebhook] = []

    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        received.append(webhook)
        if webhook.payload["type"] == "order.created":  # type: ignore[index]
            return Success(
                WebhookReceipt("marketplace", webhook.webhook_id, CountryCode("MX"), False, True, "APPLIED")
            )
        return Failure(OrderNotYetKnown("o9"))

    app = create_app(
        Settings(), webhooks=WebhookDependencies(secrets={"marketplace": [SECRET]}, receive=receive)
    )
    events = tmp_path / "events.json"
    events.write_text(json.dumps(EVENTS))
    async with serve(app) as base:
        url = f"{base}/webhooks/marketplace"
        args = ["webhook-send", "marketplace", str(events), "--url", url, "--id", "msg_1"]
        sent = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert sent.exit_code == 1, sent.output  # the capture overtook its order: 409
    lines = sent.output.splitlines()
    assert lines[0].startswith("msg_1 order.created: 200 ") and '"outcome":"APPLIED"' in lines[0]
    assert lines[1].startswith("msg_1-2 order.payment_captured: 409 ") and "ORDER_NOT_YET_KNOWN" in lines[1]
    assert [(w.webhook_id, w.provider, w.payload) for w in received] == [
        ("msg_1", "marketplace", EVENTS[0]),
        ("msg_1-2", "marketplace", EVENTS[1]),
    ]


def test_no_secret_or_no_events_is_a_usage_error(secrets: None, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["webhook-send", "courier-tracking", "-"], input="{}")
    assert missing.exit_code == 2 and "no secret for 'courier-tracking'" in missing.output
    for content in ("not json", "[]", "[1, 2]"):
        bad = runner.invoke(cli, ["webhook-send", "marketplace", "-"], input=content)
        assert bad.exit_code == 2, (content, bad.output)
    unreadable = runner.invoke(cli, ["webhook-send", "marketplace", str(tmp_path / "nope.json")])
    assert unreadable.exit_code == 2 and "cannot read events" in unreadable.output
