"""Webhook inbox port: verified provider events, stored once, processed once (SPEC §7).

An event is identified by ``(country, provider, webhook_id)``; the webhook id is the
provider's ``webhook-id`` header, the same on every redelivery of the event, and the
country comes from the signed event itself. Storing is insert-or-ignore: the one call
that stores an event also *holds* it (until ``held_until``) and processes it; a
duplicate finds it stored and does nothing. An event stored but never marked processed
(a crash between the two) is claimed again once its hold has expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.shared import CountryCode

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A provider's event whose signature was verified, parsed enough to route it."""

    country: CountryCode
    provider: str
    webhook_id: str
    event_type: str  # e.g. "refund.succeeded"
    idempotency_key: str | None  # of the call the event is about, if any
    payload: JsonObject  # the whole event as the provider sent it
    signed_at: datetime  # the ``webhook-timestamp`` it was verified with


@dataclass(frozen=True, slots=True)
class InboxEntry:
    event: WebhookEvent
    received_at: datetime
    attempts: int  # how many times processing was started
    held_until: datetime | None
    processed_at: datetime | None
    outcome: str | None

    @property
    def processed(self) -> bool:
        return self.processed_at is not None


class WebhookInbox(Protocol):
    async def store(self, event: WebhookEvent, *, now: datetime, hold: timedelta) -> bool:
        """Insert the event unless it is already stored (``INSERT ... ON CONFLICT DO
        NOTHING``). ``True``: this call stored it and holds it for processing until
        ``now + hold``; ``False``: a duplicate, nothing changed."""
        ...

    async def claim(
        self, country: CountryCode, provider: str, webhook_id: str, *, now: datetime, hold: timedelta
    ) -> InboxEntry | None:
        """Take over one stored event that is not processed and not held (its hold expired):
        hold it until ``now + hold`` and count the attempt. ``None`` if processed or held."""
        ...

    async def claim_unprocessed(self, *, now: datetime, hold: timedelta, limit: int) -> list[InboxEntry]:
        """Up to ``limit`` unprocessed events whose hold has expired, oldest first, each
        claimed as by ``claim`` (``FOR UPDATE SKIP LOCKED`` where the database has it)."""
        ...

    async def mark_processed(
        self, country: CountryCode, provider: str, webhook_id: str, *, now: datetime, outcome: str
    ) -> bool:
        """Record the processing's outcome, once: ``False`` if it was already processed."""
        ...

    async def get(self, country: CountryCode, provider: str, webhook_id: str) -> InboxEntry | None: ...
