"""Sending signed webhooks the way a provider does (Standard Webhooks).

A provider signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 under a
shared secret (``whsec_`` + base64) and sends three headers with the JSON body:
``webhook-id`` (the event's id: the same on every redelivery), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature`` (``v1,<base64>``; several,
space-separated, while the provider rotates its secret). The signature is made by the
``standardwebhooks`` package, the reference implementation the receiver verifies with.

``WebhookSender`` is how the sandbox providers hand a signed request to our endpoint:
``HttpWebhookSender`` POSTs it over HTTP (to a URL in production-like runs, or through an
``httpx.ASGITransport`` straight into the ASGI app in tests); any other async callable
(an in-process recorder) will do.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

import httpx
from standardwebhooks import Webhook

WebhookSender = Callable[[bytes, Mapping[str, str]], Awaitable[int]]
"""``(body, headers) -> HTTP status`` of one delivery attempt (raise on a network error)."""

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_webhook_secret() -> str:
    """A fresh secret in the Standard Webhooks format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def sign_webhook(
    *, secrets: Sequence[str], webhook_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``: one ``v1`` signature per secret."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    seconds = int(timestamp.astimezone(UTC).timestamp())
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    text = body.decode("utf-8")
    signatures = [Webhook(secret).sign(webhook_id, moment, text) for secret in secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


class HttpWebhookSender:
    """POSTs each delivery to ``url`` with httpx; answers the HTTP status.

    Pass ``client`` to reuse a connection pool or to route the request elsewhere (an
    ``httpx.ASGITransport`` delivers into an ASGI app in-process). Without one, a client
    is made per delivery.
    """

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, timeout_s: float = 10.0) -> None:
        self._url = url
        self._client = client
        self._timeout = httpx.Timeout(timeout_s)

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        if self._client is not None:
            response = await self._client.post(self._url, content=body, headers=dict(headers))
            return response.status_code
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._url, content=body, headers=dict(headers))
            return response.status_code
