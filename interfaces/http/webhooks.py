"""``POST /webhooks/{provider}``: provider confirmations, verified (Standard Webhooks).

Verification, before anything else is done with the request:

- the three headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` are
  required, each exactly once: a repeated one is refused, and the webhook id stored is the
  one the signature covers (a signed request resent with another ``webhook-id`` in front
  would otherwise pass as a new event and defeat the inbox's deduplication);
- the timestamp must be within ``tolerance`` (5 minutes) of now, neither older nor in the
  future (replays of old captured requests are refused);
- the signature is HMAC-SHA256 over ``"{id}.{timestamp}.{raw body bytes}"``, verified by
  the ``standardwebhooks`` package with a constant-time compare. The header may carry
  several signatures (``v1,<b64> v1,<b64>``) and a provider may have several secrets
  configured (rotation: old and new side by side): the request passes if any secret
  verifies any signature. The raw bytes are what is signed: the same JSON re-serialised
  differently does not verify.

A request that fails any of these gets **401** and is not processed at all: nothing is
parsed, stored or audited (a warning is logged, without the secrets). An unknown
provider (no secrets configured) gets 404. A verified request goes to the application
(``receive_webhook``), which stores it in the inbox, deduplicated by webhook id, and
processes it once: 200 ``{"status": "processed"}``, or 200 ``{"status": "duplicate"}``
for an event already stored; 400 for a verified event that cannot be routed (or, for the
tracking and order feeds, applied); 409 for a marketplace report about an order not known yet,
or a step the order cannot take yet (the sender retries it).

Secrets come from ``SUPPORTOS_WEBHOOK_SECRETS`` (``interfaces/settings.py``); the handler
comes from the composition root, typed by the application (this module knows no adapter).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from returns.result import Failure, Result
from standardwebhooks import Webhook, WebhookVerificationError

from application.integrations.order_feed import OrderNotYetKnown, OrderStepTooEarly
from application.integrations.webhooks import VerifiedWebhook, WebhookReceipt, WebhookRefusal

logger = logging.getLogger("supportos.webhooks")

TOLERANCE: Final = timedelta(minutes=5)
REQUIRED_HEADERS: Final = ("webhook-id", "webhook-timestamp", "webhook-signature")

WebhookHandler = Callable[[VerifiedWebhook], Awaitable[Result[WebhookReceipt, WebhookRefusal]]]
"""Stores and processes a verified event (``application.integrations.webhooks.receive_webhook``)."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WebhookDependencies:
    """What the composition root hands the webhook endpoint."""

    secrets: Mapping[str, Sequence[str]]  # provider -> its secrets (``whsec_...``)
    receive: WebhookHandler
    tolerance: timedelta = TOLERANCE
    now: Callable[[], datetime] = field(default=_wall_clock)


class WebhookRejected(Exception):
    """Why a request was refused (logged; the caller only sees 401)."""


@dataclass(frozen=True, slots=True)
class VerifiedHeaders:
    """What the signature covers: the webhook id and the timestamp."""

    webhook_id: str
    signed_at: datetime


class WebhookVerifier:
    """Standard Webhooks verification against every configured secret of one provider."""

    def __init__(self, secrets: Sequence[str], *, tolerance: timedelta, now: Callable[[], datetime]) -> None:
        if not secrets:
            raise ValueError("a provider needs at least one webhook secret")
        self._webhooks = [Webhook(secret) for secret in secrets]  # refuses malformed secrets now
        self._tolerance = tolerance
        self._now = now

    def verify(self, body: bytes, headers: Iterable[tuple[str, str]]) -> VerifiedHeaders:
        """The signed id and timestamp of a request whose ``headers`` (every pair, repeats
        included) verify; raises ``WebhookRejected`` otherwise."""
        lowered: dict[str, str] = {}
        repeated: list[str] = []
        for name, value in headers:
            key = name.lower()
            if key in lowered and key in REQUIRED_HEADERS:
                repeated.append(key)
            lowered[key] = value
        if repeated:
            raise WebhookRejected(f"repeated header(s): {', '.join(sorted(set(repeated)))}")
        missing = [name for name in REQUIRED_HEADERS if not lowered.get(name)]
        if missing:
            raise WebhookRejected(f"missing header(s): {', '.join(missing)}")
        raw_timestamp = lowered["webhook-timestamp"]
        if not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
            raise WebhookRejected("malformed webhook-timestamp")
        signed_at = datetime.fromtimestamp(int(raw_timestamp), tz=UTC)
        now = self._now()
        if signed_at < now - self._tolerance:
            raise WebhookRejected("timestamp too old")
        if signed_at > now + self._tolerance:
            raise WebhookRejected("timestamp in the future")
        wanted = {name: lowered[name] for name in REQUIRED_HEADERS}
        for webhook in self._webhooks:
            try:
                webhook.verify(body, wanted, json_parse=False)
            except WebhookVerificationError:
                continue
            except ValueError as error:  # a malformed signature list, bad base64, non-UTF-8 body
                raise WebhookRejected(f"malformed request: {type(error).__name__}") from None
            return VerifiedHeaders(webhook_id=wanted["webhook-id"], signed_at=signed_at)
        raise WebhookRejected("no signature matches any secret")


def webhook_router(deps: WebhookDependencies | None) -> APIRouter:
    """The ``/webhooks/{provider}`` route; without ``deps`` every provider is unknown (404)."""
    router = APIRouter()
    verifiers: dict[str, WebhookVerifier] = {}
    if deps is not None:
        verifiers = {
            provider: WebhookVerifier(secrets, tolerance=deps.tolerance, now=deps.now)
            for provider, secrets in deps.secrets.items()
            if secrets
        }

    @router.post("/webhooks/{provider}", include_in_schema=False)
    async def receive(provider: str, request: Request) -> JSONResponse:
        verifier = verifiers.get(provider)
        if verifier is None or deps is None:
            return JSONResponse({"detail": "unknown webhook provider"}, status_code=404)
        body = await request.body()
        try:
            verified = verifier.verify(body, request.headers.items())
        except WebhookRejected as rejected:
            logger.warning(
                "webhook refused",
                extra={
                    "provider": provider,
                    "webhook_id": request.headers.get("webhook-id", "")[:255],
                    "reason": str(rejected),
                },
            )
            return JSONResponse({"detail": "invalid webhook signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
        request_id = getattr(request.state, "request_id", None) or "webhook"
        received = await deps.receive(
            VerifiedWebhook(
                provider=provider,
                webhook_id=verified.webhook_id,
                signed_at=verified.signed_at,
                payload=payload,
                request_id=str(request_id),
            )
        )
        if isinstance(received, Failure):
            error = received.failure()
            status = (
                409 if isinstance(error, OrderNotYetKnown | OrderStepTooEarly) else 400
            )  # 409: retry later
            return JSONResponse({"error": error.code, "detail": error.message}, status_code=status)
        receipt = received.unwrap()
        return JSONResponse(
            {
                "status": _status(receipt),
                "webhook_id": receipt.webhook_id,
                "outcome": receipt.outcome,
            }
        )

    return router


def _status(receipt: WebhookReceipt) -> str:
    """``duplicate``: stored before, nothing done now; ``pending``: stored now and left for
    the recovery sweep (its order kept changing under it, D138); else ``processed``."""
    if receipt.processed:
        return "processed"
    return "pending" if receipt.pending else "duplicate"
