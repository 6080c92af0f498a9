"""SUPPORTOS_WEBHOOK_SECRETS and the webhook endpoint the composition root builds from it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from adapters.providers.sandbox import SandboxPayments
from adapters.providers.webhook_delivery import new_webhook_secret, sign_webhook
from interfaces.container import build_container
from interfaces.http.app import create_app
from interfaces.settings import Settings

GOOD = "whsec_" + base64.b64encode(b"x" * 32).decode()


def test_secrets_are_json_per_provider_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    old = new_webhook_secret()
    monkeypatch.setenv("SUPPORTOS_WEBHOOK_SECRETS", json.dumps({"sandbox-payments": [GOOD, old]}))
    settings = Settings()
    assert settings.webhook_secrets_by_provider() == {"sandbox-payments": [GOOD, old]}
    assert GOOD not in repr(settings)
    monkeypatch.delenv("SUPPORTOS_WEBHOOK_SECRETS")
    assert Settings().webhook_secrets_by_provider() == {}


@pytest.mark.parametrize(
    "secrets",
    [
        {"sandbox-payments": ["not base64 at all!"]},
        {"sandbox-payments": ["whsec_" + base64.b64encode(b"short").decode()]},
        {"Bad Name": [GOOD]},
    ],
)
def test_unusable_secrets_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, secrets: dict[str, list[str]]
) -> None:
    monkeypatch.setenv("SUPPORTOS_WEBHOOK_SECRETS", json.dumps(secrets))
    with pytest.raises(ValidationError, match="SUPPORTOS_WEBHOOK_SECRETS"):
        Settings()


async def test_without_webhook_dependencies_every_provider_is_unknown() -> None:
    app = create_app(Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/webhooks/sandbox-payments", content=b"{}")
    assert response.status_code == 404


async def test_the_container_wires_the_configured_secrets_into_the_endpoint() -> None:
    settings = Settings(webhook_secrets={"sandbox-payments": [GOOD]})
    app = build_container(settings).http_app()
    body = b'{"type":"refund.succeeded","data":{"country":"MX"}}'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        unknown = await client.post("/webhooks/other", content=body)
        forged = await client.post(
            "/webhooks/sandbox-payments",
            content=body,
            headers=sign_webhook(
                secrets=[new_webhook_secret()], webhook_id="m1", timestamp=datetime.now(UTC), body=body
            ),
        )
    assert unknown.status_code == 404
    assert forged.status_code == 401


def test_the_workers_sandbox_confirms_by_webhook_when_a_url_and_a_secret_are_set() -> None:
    plain = build_container(Settings()).saga_providers().payments
    assert isinstance(plain, SandboxPayments)
    assert plain.webhooks is None
    configured = Settings(
        webhook_secrets={"sandbox-payments": [GOOD]},
        sandbox_webhook_url="http://127.0.0.1:8000/webhooks/",
    )
    payments = build_container(configured).saga_providers().payments
    assert isinstance(payments, SandboxPayments)
    assert payments.webhooks is not None
    assert payments.webhooks.secrets == [GOOD]
