"""``ConversationRepository`` on SQLAlchemy Core: conversations, their write-once messages
and each sender's standing (tables ``conversations``, ``messages``, ``conversation_senders``).

Same rules as the other aggregate repositories: the country in every query, one object
per conversation in a unit of work (identity map), optimistic ``save`` (``... AND version
= :read``; no row matched means ``ConcurrencyConflict`` and the unit of work rolls back).

- ``add`` inserts with ``ON CONFLICT (country_code, order_id) DO NOTHING``: a second
  conversation for the order answers ``False`` without spoiling the transaction.
- ``append`` inserts a sealed message with ``ON CONFLICT DO NOTHING`` on every unique key
  (its sequence, its client message id, its message id). Two concurrent sends into one
  conversation both read head *n* and both seal *n + 1*; on PostgreSQL the second insert
  waits for the first transaction and then inserts nothing; on SQLite the write lock
  serialises them the same way. A message that was not inserted marks its conversation,
  and the following ``save`` answers ``ConcurrencyConflict``, so the loser rolls back
  instead of failing with an integrity error; its retry replays or re-sends cleanly.
- Messages are never updated or deleted (the database refuses it: WORM triggers).
- Sender rows are written by ``save``: only those that changed since they were read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import Executable, Row, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from adapters.persistence.aggregates import IdentityMap, Key, insert_ignoring_conflict, key_of
from adapters.persistence.prepared import PreparedRead
from adapters.persistence.tables import conversation_senders, conversations, messages
from application.ports.concurrency import ConcurrencyConflict
from domain.disputes.evidence import ActorRef
from domain.messaging import (
    Conversation,
    ConversationStatus,
    Finding,
    FindingKind,
    Message,
    MessageStatus,
    Opening,
    OpeningGround,
    Participants,
    Party,
    SenderRecord,
    SupportAction,
    WindowCount,
)
from domain.shared import CountryCode
from domain.shared.ids import ActorId, OrderId

AGGREGATE = "conversation"
Row_ = Mapping[Any, Any]
_SENDER_STATE = ("party", "sent", "blocked", "violations", "frozen_at")


# ----------------------------------------------------------------------------- mapping


def conversation_to_row(conversation: Conversation) -> dict[str, Any]:
    opening, freeze, parties = conversation.opening, conversation.freeze_record, conversation.participants
    return {
        "country_code": conversation.country.value,
        "id": conversation.id,
        "order_id": conversation.order_id,
        "buyer_id": parties.buyer_id,
        "seller_id": parties.seller_id,
        "courier_id": parties.courier_id,
        "opening_ground": opening.ground.value,
        "opening_reference": opening.reference,
        "opening_reason": opening.reason,
        "opened_by_id": opening.opened_by.actor_id,
        "opened_by_role": opening.opened_by.role,
        "opened_at": opening.opened_at,
        "status": conversation.status.value,
        "frozen_by_id": None if freeze is None else freeze.by.actor_id,
        "frozen_by_role": None if freeze is None else freeze.by.role,
        "frozen_at": None if freeze is None else freeze.at,
        "frozen_reason": None if freeze is None else freeze.reason,
        "head_sequence": conversation.head_sequence,
        "head_hash": conversation.head_hash,
        "updated_at": conversation.updated_at,
        "version": conversation.version,
    }


def sender_to_row(conversation: Conversation, record: SenderRecord) -> dict[str, Any]:
    return {
        "country_code": conversation.country.value,
        "conversation_id": conversation.id,
        "sender_id": record.sender_id,
        "party": record.party.value,
        "sent": record.sent,
        "blocked": record.blocked,
        "violations": record.violations,
        "frozen_at": record.frozen_at,
    }


def _sender_from_row(row: Row_) -> SenderRecord:
    return SenderRecord(
        sender_id=str(row["sender_id"]),
        party=Party(row["party"]),
        sent=int(row["sent"]),
        blocked=int(row["blocked"]),
        violations=int(row["violations"]),
        frozen_at=row["frozen_at"],
    )


def conversation_from_row(row: Row_, senders: Mapping[str, SenderRecord]) -> Conversation:
    freeze = None
    if row["frozen_at"] is not None:
        freeze = SupportAction(
            by=ActorRef(ActorId(str(row["frozen_by_id"])), str(row["frozen_by_role"])),
            at=row["frozen_at"],
            reason=str(row["frozen_reason"]),
        )
    return Conversation.rehydrate(
        conversation_id=str(row["id"]),
        country=CountryCode(str(row["country_code"])),
        order_id=OrderId(str(row["order_id"])),
        participants=Participants(
            buyer_id=str(row["buyer_id"]), seller_id=str(row["seller_id"]), courier_id=row["courier_id"]
        ),
        opening=Opening(
            ground=OpeningGround(row["opening_ground"]),
            reference=row["opening_reference"],
            reason=row["opening_reason"],
            opened_by=ActorRef(ActorId(str(row["opened_by_id"])), str(row["opened_by_role"])),
            opened_at=row["opened_at"],
        ),
        status=ConversationStatus(row["status"]),
        freeze=freeze,
        senders=senders,
        head_sequence=int(row["head_sequence"]),
        head_hash=str(row["head_hash"]),
        updated_at=row["updated_at"],
        version=int(row["version"]),
    )


def message_to_row(message: Message) -> dict[str, Any]:
    return {
        "country_code": message.country.value,
        "conversation_id": message.conversation_id,
        "sequence": message.sequence,
        "message_id": message.message_id,
        "order_id": message.order_id,
        "client_message_id": message.client_message_id,
        "sender_id": message.sender.actor_id,
        "sender_role": message.sender.role,
        "party": message.party.value,
        "body": message.body,
        "body_sha256": message.body_sha256,
        "sent_at": message.sent_at,
        "status": message.status.value,
        "findings": [finding.to_canonical() for finding in message.findings],
        "corrects": message.corrects,
        "previous_hash": message.previous_hash,
        "chain_hash": message.chain_hash,
    }


def message_from_row(row: Row_) -> Message:
    """The message exactly as stored (a tampered row is reported by ``verify_chain``, not here)."""
    return Message(
        message_id=str(row["message_id"]),
        conversation_id=str(row["conversation_id"]),
        country=CountryCode(str(row["country_code"])),
        order_id=OrderId(str(row["order_id"])),
        sequence=int(row["sequence"]),
        client_message_id=str(row["client_message_id"]),
        sender=ActorRef(ActorId(str(row["sender_id"])), str(row["sender_role"])),
        party=Party(row["party"]),
        body=str(row["body"]),
        sent_at=row["sent_at"],
        status=MessageStatus(row["status"]),
        findings=tuple(
            Finding(
                start=int(finding["start"]),
                end=int(finding["end"]),
                kind=FindingKind(finding["kind"]),
                rule=str(finding["rule"]),
            )
            for finding in row["findings"]
        ),
        corrects=row["corrects"],
        previous_hash=str(row["previous_hash"]),
        chain_hash=str(row["chain_hash"]),
    )


def sender_lock_key(country: CountryCode, sender_id: str) -> int:
    """A stable signed 64-bit advisory lock key for one sender of one country (SHA-256's first
    8 bytes, as the ledger's keys)."""
    digest = hashlib.sha256(f"sender\x1f{country.value}\x1f{sender_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no ON CONFLICT support for {dialect}")


# ----------------------------------------------------------------------------- repository


class SqlAlchemyConversationRepository:
    """``ConversationRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identity: IdentityMap[Conversation] = IdentityMap()
        self._stored_senders: dict[Key, dict[str, SenderRecord]] = {}
        self._lost_appends: set[Key] = set()

    @property
    def seen(self) -> tuple[Conversation, ...]:
        """Every conversation loaded or added in this unit of work, in the order first seen."""
        return self._identity.seen

    async def add(self, conversation: Conversation) -> bool:
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            conversations,
            conversation_to_row(conversation),
            index_elements=("country_code", "order_id"),
        )
        if (await connection.execute(statement)).first() is None:
            return False
        key = key_of(conversation.country, conversation.id)
        self._identity.remember(key, conversation, conversation.version)
        self._stored_senders[key] = {}
        await self._write_senders(conversation)
        return True

    async def get(self, country: CountryCode, conversation_id: str) -> Conversation | None:
        tracked = self._identity.get(key_of(country, conversation_id))
        if tracked is not None:
            return tracked
        query = select(conversations).where(
            conversations.c.country_code == country.value, conversations.c.id == conversation_id
        )
        row = (await self._execute(query)).first()
        return None if row is None else await self._load(row)

    async def for_order(self, country: CountryCode, order_id: OrderId) -> Conversation | None:
        connection = await self._session.connection()
        row = await _FOR_ORDER.first(connection, {"w_country": country.value, "w_order": order_id})
        return None if row is None else await self._remember(row)

    async def save(self, conversation: Conversation) -> Result[None, ConcurrencyConflict]:
        key = key_of(conversation.country, conversation.id)
        expected = self._identity.expected_version(key, conversation)
        if expected is None:
            if await self.get(conversation.country, conversation.id) is None and await self.add(conversation):
                return Success(None)
            return Failure(ConcurrencyConflict(AGGREGATE, conversation.id, conversation.version))
        if key in self._lost_appends:
            return Failure(ConcurrencyConflict(AGGREGATE, conversation.id, expected))
        values = conversation_to_row(conversation)
        del values["country_code"], values["id"]
        statement = (
            update(conversations)
            .where(
                conversations.c.country_code == conversation.country.value,
                conversations.c.id == conversation.id,
                conversations.c.version == expected,
            )
            .values(values)
        )
        if (await self._execute(statement)).rowcount != 1:
            return Failure(ConcurrencyConflict(AGGREGATE, conversation.id, expected))
        await self._write_senders(conversation)
        self._identity.saved(key, conversation.version)
        return Success(None)

    async def append(self, message: Message) -> None:
        connection = await self._session.connection()
        statement: Insert = (
            _insert(connection.dialect.name)(messages)
            .values(message_to_row(message))
            .on_conflict_do_nothing()
            .returning(messages.c.sequence)
        )
        if (await connection.execute(statement)).first() is None:
            self._lost_appends.add(key_of(message.country, message.conversation_id))

    async def message(self, country: CountryCode, conversation_id: str, message_id: str) -> Message | None:
        query = select(messages).where(
            messages.c.country_code == country.value,
            messages.c.message_id == message_id,
            messages.c.conversation_id == conversation_id,
        )
        row = (await self._execute(query)).first()
        return None if row is None else message_from_row(row._mapping)

    async def by_client_id(
        self, country: CountryCode, conversation_id: str, client_message_id: str
    ) -> Message | None:
        query = select(messages).where(
            messages.c.country_code == country.value,
            messages.c.conversation_id == conversation_id,
            messages.c.client_message_id == client_message_id,
        )
        row = (await self._execute(query)).first()
        return None if row is None else message_from_row(row._mapping)

    async def messages(
        self, country: CountryCode, conversation_id: str, *, after_sequence: int = 0, limit: int
    ) -> list[Message]:
        query = (
            select(messages)
            .where(
                messages.c.country_code == country.value,
                messages.c.conversation_id == conversation_id,
                messages.c.sequence > after_sequence,
            )
            .order_by(messages.c.sequence)
            .limit(max(0, limit))
        )
        return [message_from_row(row._mapping) for row in (await self._execute(query)).all()]

    async def sent_since(
        self,
        country: CountryCode,
        *,
        sender_id: str,
        since: datetime,
        conversation_id: str | None = None,
    ) -> WindowCount:
        query = select(func.count().label("sent"), func.min(messages.c.sent_at).label("oldest")).where(
            messages.c.country_code == country.value,
            messages.c.sender_id == sender_id,
            messages.c.sent_at >= since,
        )
        if conversation_id is not None:
            query = query.where(messages.c.conversation_id == conversation_id)
        counted = (await self._execute(query)).one()
        return WindowCount(int(counted.sent), counted.oldest)

    async def take_sender_turn(self, country: CountryCode, sender_id: str) -> None:
        # PostgreSQL: a transaction-level advisory lock on (country, sender), held to the
        # commit (D121); SQLite's writers already take turns (BEGIN IMMEDIATE)
        connection = await self._session.connection()
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": sender_lock_key(country, sender_id)}
            )

    # -- internals --------------------------------------------------------------------

    async def _load(self, row: Row[Any]) -> Conversation:
        return await self._remember(row._mapping)

    async def _remember(self, values: Mapping[Any, Any]) -> Conversation:
        key = (str(values["country_code"]), str(values["id"]))
        tracked = self._identity.get(key)
        if tracked is not None:
            return tracked
        query = select(conversation_senders).where(
            conversation_senders.c.country_code == values["country_code"],
            conversation_senders.c.conversation_id == values["id"],
        )
        senders = {
            str(sender.sender_id): _sender_from_row(sender._mapping)
            for sender in (await self._execute(query)).all()
        }
        conversation = conversation_from_row(values, senders)
        self._stored_senders[key] = dict(senders)
        return self._identity.remember(key, conversation, conversation.version)

    async def _write_senders(self, conversation: Conversation) -> None:
        key = key_of(conversation.country, conversation.id)
        stored = self._stored_senders.setdefault(key, {})
        connection = await self._session.connection()
        for sender_id, record in sorted(conversation.senders.items()):
            if stored.get(sender_id) == record:
                continue
            row = sender_to_row(conversation, record)
            statement = (
                _insert(connection.dialect.name)(conversation_senders)
                .values(row)
                .on_conflict_do_update(
                    index_elements=["country_code", "conversation_id", "sender_id"],
                    set_={
                        name: row[name] for name in ("party", "sent", "blocked", "violations", "frozen_at")
                    },
                )
            )
            await connection.execute(statement)
            stored[sender_id] = record

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)


# Built once (D60): read on every dispute decision (the evidence pack's transcript); inside
# the unit of work's transaction it runs on the driver (D61).
_FOR_ORDER: Final = PreparedRead(
    select(conversations).where(
        conversations.c.country_code == bindparam("w_country"),
        conversations.c.order_id == bindparam("w_order"),
    )
)
