"""The webhook inbox on SQLAlchemy Core (see ``application/ports/webhook_inbox.py``).

Store
    ``INSERT ... ON CONFLICT (country_code, provider, webhook_id) DO NOTHING RETURNING``:
    of two deliveries of one event racing each other, exactly one inserts (and holds the
    row); the other sees no returned row. Part of the caller's unit of work.

Claim
    Conditional updates ``WHERE processed_at IS NULL AND (held_until IS NULL OR held_until
    < :now)``: of two claimers, one updates the row and the other matches nothing. The
    recovery sweep selects candidates ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's
    writer holds the database lock).

Mark processed
    ``WHERE processed_at IS NULL``: the outcome is written once.

Rows never leave this module: every method returns ``InboxEntry`` values. Nothing here
commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adapters.persistence.tables import webhook_inbox
from application.ports.webhook_inbox import InboxEntry, WebhookEvent
from domain.shared import CountryCode

_INBOX: Final = webhook_inbox.c


class SqlAlchemyWebhookInbox:
    """``WebhookInbox`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(self, event: WebhookEvent, *, now: datetime, hold: timedelta) -> bool:
        connection = await self._session.connection()
        inserted = (
            await connection.execute(
                _insert(connection)
                .values(
                    country_code=event.country.value,
                    provider=event.provider,
                    webhook_id=event.webhook_id,
                    event_type=event.event_type,
                    idempotency_key=event.idempotency_key,
                    payload=event.payload,
                    signed_at=event.signed_at,
                    received_at=now,
                    attempts=1,
                    held_until=now + hold,
                    processed_at=None,
                    outcome=None,
                )
                .on_conflict_do_nothing(index_elements=["country_code", "provider", "webhook_id"])
                .returning(_INBOX.webhook_id)
            )
        ).scalar_one_or_none()
        return inserted is not None

    async def claim(
        self, country: CountryCode, provider: str, webhook_id: str, *, now: datetime, hold: timedelta
    ) -> InboxEntry | None:
        connection = await self._session.connection()
        row = (
            await connection.execute(
                webhook_inbox.update()
                .where(*_key(country, provider, webhook_id), _claimable(now))
                .values(attempts=_INBOX.attempts + 1, held_until=now + hold)
                .returning(*webhook_inbox.columns)
            )
        ).first()
        return None if row is None else _entry(row)

    async def claim_unprocessed(self, *, now: datetime, hold: timedelta, limit: int) -> list[InboxEntry]:
        if limit < 1:
            return []
        connection = await self._session.connection()
        query = (
            select(_INBOX.country_code, _INBOX.provider, _INBOX.webhook_id)
            .where(_claimable(now))
            .order_by(_INBOX.received_at, _INBOX.webhook_id)
            .limit(limit)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates = (await connection.execute(query)).all()
        claimed: list[InboxEntry] = []
        for country_code, provider, webhook_id in candidates:
            entry = await self.claim(CountryCode(country_code), provider, webhook_id, now=now, hold=hold)
            if entry is not None:
                claimed.append(entry)
        return claimed

    async def mark_processed(
        self, country: CountryCode, provider: str, webhook_id: str, *, now: datetime, outcome: str
    ) -> bool:
        connection = await self._session.connection()
        result = await connection.execute(
            webhook_inbox.update()
            .where(*_key(country, provider, webhook_id), _INBOX.processed_at.is_(None))
            .values(processed_at=now, outcome=outcome, held_until=None)
        )
        return result.rowcount == 1

    async def get(self, country: CountryCode, provider: str, webhook_id: str) -> InboxEntry | None:
        connection = await self._session.connection()
        row = (
            await connection.execute(select(webhook_inbox).where(*_key(country, provider, webhook_id)))
        ).first()
        return None if row is None else _entry(row)


def _key(country: CountryCode, provider: str, webhook_id: str) -> list[ColumnElement[bool]]:
    return [
        _INBOX.country_code == country.value,
        _INBOX.provider == provider,
        _INBOX.webhook_id == webhook_id,
    ]


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        _INBOX.processed_at.is_(None),
        or_(_INBOX.held_until.is_(None), _INBOX.held_until < now),
    )


def _insert(connection: AsyncConnection) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(webhook_inbox)
    return sqlite.insert(webhook_inbox)


def _entry(row: Row[Any]) -> InboxEntry:
    values = row._mapping
    payload = values["payload"]
    if not isinstance(payload, dict):
        raise TypeError(f"webhook payload must be a JSON object, not {type(payload).__name__}")
    event = WebhookEvent(
        country=CountryCode(values["country_code"]),
        provider=values["provider"],
        webhook_id=values["webhook_id"],
        event_type=values["event_type"],
        idempotency_key=values["idempotency_key"],
        payload=payload,
        signed_at=values["signed_at"],
    )
    return InboxEntry(
        event=event,
        received_at=values["received_at"],
        attempts=int(values["attempts"]),
        held_until=values["held_until"],
        processed_at=values["processed_at"],
        outcome=values["outcome"],
    )
