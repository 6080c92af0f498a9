"""What the tracking and order feed tests share (D90, D91): events handed to
``receive_webhook`` as the webhook endpoint hands them over, and the inbox's outcomes."""

from __future__ import annotations

from typing import Any

from returns.result import Result
from sqlalchemy import text

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.integrations.webhooks import (
    VerifiedWebhook,
    WebhookProcessing,
    WebhookReceipt,
    WebhookRefusal,
    receive_webhook,
)


class NoSteps:
    """A feed's events settle no saga step."""

    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> str:
        raise AssertionError("a feed's event settles no saga step")


class Feed:
    """Sends events of ``source`` (``evt_<n>`` ids unless given), in MX, signed now."""

    def __init__(self, processing: WebhookProcessing, source: str) -> None:
        self.processing = processing
        self.source = source
        self.sent = 0

    async def send(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        provider: str | None = None,
        webhook_id: str | None = None,
    ) -> Result[WebhookReceipt, WebhookRefusal]:
        self.sent += 1
        webhook = VerifiedWebhook(
            provider=provider or self.source,
            webhook_id=webhook_id or f"evt_{self.sent}",
            signed_at=self.processing.svc.clock.now(),
            payload={"type": event_type, "data": {"country": "MX", **data}},
        )
        return await receive_webhook(self.processing, webhook)

    async def outcome(self, event_type: str, data: dict[str, Any], **kwargs: Any) -> str | None:
        """The outcome of an event that must be stored and processed."""
        return (await self.send(event_type, data, **kwargs)).unwrap().outcome


async def inbox(svc: Services) -> dict[str, str | None]:
    """Webhook id -> outcome of every stored event."""
    async with svc.uow() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        rows = await uow.session.execute(text("SELECT webhook_id, outcome FROM webhook_inbox"))
        return {str(r[0]): r[1] for r in rows.all()}
