"""In-memory fakes of the ports the messaging use cases use.

One :class:`Db` is the committed state; each :class:`FakeUow` reads it (and its own
staged writes) and stages every write until ``commit``: leaving without committing
writes nothing, like the SQL unit of work. Conversations are stored as values and
rehydrated on every read, so no aggregate object is shared between units of work;
``save`` is optimistic on the version that unit of work read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from returns.result import Failure, Result, Success

from application.messaging.common import MessagingServices
from application.ports.concurrency import ConcurrencyConflict
from application.ports.messaging import MessagingUnitOfWork
from application.ports.metrics import Metrics
from application.ports.outbox import NewJob
from domain.audit import AuditDraft
from domain.audit.entry import GENESIS_HASH, AuditEntry, seal
from domain.disputes import Dispute
from domain.messaging import (
    Conversation,
    Message,
    MessagingPolicy,
    Screener,
    WindowCount,
)
from domain.orders import Order
from domain.shared import CountryCode
from domain.shared.ids import OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds


def row_of(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "country": conversation.country,
        "order_id": conversation.order_id,
        "participants": conversation.participants,
        "opening": conversation.opening,
        "status": conversation.status,
        "freeze": conversation.freeze_record,
        "senders": dict(conversation.senders),
        "head_sequence": conversation.head_sequence,
        "head_hash": conversation.head_hash,
        "updated_at": conversation.updated_at,
        "version": conversation.version,
    }


@dataclass
class Db:
    orders: dict[tuple[CountryCode, str], Order] = field(default_factory=dict)
    disputes: list[Dispute] = field(default_factory=list)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    jobs: list[NewJob] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    commits: int = 0
    fail_next_save: bool = False

    def add_order(self, order: Order) -> None:
        self.orders[(order.country, order.id)] = order

    def actions(self) -> list[str]:
        return [entry.action for entry in self.audit]


class FakeOrders:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, country: CountryCode, order_id: OrderId) -> Order | None:
        return self._db.orders.get((country, order_id))


class FakeDisputes:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def for_order(self, country: CountryCode, order_id: OrderId) -> list[Dispute]:
        return [d for d in self._db.disputes if d.country == country and d.order_id == order_id]


class FakeOutbox:
    def __init__(self) -> None:
        self.staged: list[NewJob] = []

    async def enqueue(self, job: NewJob, *, now: datetime) -> bool:
        self.staged.append(job)
        return True


class FakeAudit:
    def __init__(self, db: Db) -> None:
        self._db = db
        self.staged: list[AuditDraft] = []

    async def append(self, draft: AuditDraft) -> AuditEntry:
        self.staged.append(draft)
        sequence = len(self._db.audit) + len(self.staged)
        return seal(draft, sequence=sequence, previous_hash=GENESIS_HASH if sequence == 1 else "a" * 64)

    def stage(self, draft: AuditDraft) -> None:
        self.staged.append(draft)


class FakeConversations:
    def __init__(self, db: Db) -> None:
        self._db = db
        self.rows: dict[str, dict[str, Any]] = {}
        self.staged_messages: list[Message] = []
        self.read_versions: dict[str, int] = {}

    def _all_rows(self) -> dict[str, dict[str, Any]]:
        return {**self._db.conversations, **self.rows}

    def _all_messages(self) -> list[Message]:
        return [*self._db.messages, *self.staged_messages]

    def _load(self, row: dict[str, Any] | None) -> Conversation | None:
        if row is None:
            return None
        self.read_versions[row["conversation_id"]] = row["version"]
        return Conversation.rehydrate(**row)

    async def add(self, conversation: Conversation) -> bool:
        if any(
            r["country"] == conversation.country and r["order_id"] == conversation.order_id
            for r in self._all_rows().values()
        ):
            return False
        self.rows[conversation.id] = row_of(conversation)
        self.read_versions[conversation.id] = conversation.version
        return True

    async def get(self, country: CountryCode, conversation_id: str) -> Conversation | None:
        row = self._all_rows().get(conversation_id)
        return self._load(row if row is not None and row["country"] == country else None)

    async def for_order(self, country: CountryCode, order_id: OrderId) -> Conversation | None:
        rows = [r for r in self._all_rows().values() if r["country"] == country and r["order_id"] == order_id]
        return self._load(rows[0] if rows else None)

    async def save(self, conversation: Conversation) -> Result[None, ConcurrencyConflict]:
        read = self.read_versions.get(conversation.id, 0)
        stored = self._all_rows().get(conversation.id)
        if self._db.fail_next_save or stored is None or stored["version"] != read:
            self._db.fail_next_save = False
            return Failure(ConcurrencyConflict("conversation", conversation.id, read))
        self.rows[conversation.id] = row_of(conversation)
        self.read_versions[conversation.id] = conversation.version
        return Success(None)

    async def append(self, message: Message) -> None:
        for other in self._all_messages():
            if other.conversation_id == message.conversation_id and (
                other.sequence == message.sequence or other.client_message_id == message.client_message_id
            ):
                raise AssertionError("unique index violated")  # the database would refuse it
        self.staged_messages.append(message)

    async def message(self, country: CountryCode, conversation_id: str, message_id: str) -> Message | None:
        return next(
            (
                m
                for m in self._all_messages()
                if m.country == country
                and m.conversation_id == conversation_id
                and m.message_id == message_id
            ),
            None,
        )

    async def by_client_id(
        self, country: CountryCode, conversation_id: str, client_message_id: str
    ) -> Message | None:
        return next(
            (
                m
                for m in self._all_messages()
                if m.country == country
                and m.conversation_id == conversation_id
                and m.client_message_id == client_message_id
            ),
            None,
        )

    async def messages_of(self, conversation_id: str) -> list[Message]:
        mine = [m for m in self._all_messages() if m.conversation_id == conversation_id]
        return sorted(mine, key=lambda m: m.sequence)

    async def messages(
        self, country: CountryCode, conversation_id: str, *, after_sequence: int = 0, limit: int
    ) -> list[Message]:
        ordered = [
            m
            for m in await self.messages_of(conversation_id)
            if m.country == country and m.sequence > after_sequence
        ]
        return ordered[:limit]

    async def sent_since(
        self, country: CountryCode, *, sender_id: str, since: datetime, conversation_id: str | None = None
    ) -> WindowCount:
        times = sorted(
            m.sent_at
            for m in self._all_messages()
            if m.country == country
            and m.sender.actor_id == sender_id
            and m.sent_at >= since
            and (conversation_id is None or m.conversation_id == conversation_id)
        )
        return WindowCount(len(times), times[0] if times else None)

    async def take_sender_turn(self, country: CountryCode, sender_id: str) -> None:
        return None  # one process, one transaction at a time


class FakeUow:
    def __init__(self, db: Db) -> None:
        self._db = db
        self.orders = FakeOrders(db)
        self.disputes = FakeDisputes(db)
        self.conversations = FakeConversations(db)
        self.outbox = FakeOutbox()
        self.audit = FakeAudit(db)

    async def __aenter__(self) -> FakeUow:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None  # whatever was not committed is simply dropped

    async def commit(self) -> None:
        db = self._db
        db.conversations.update(self.conversations.rows)
        db.messages.extend(self.conversations.staged_messages)
        db.jobs.extend(self.outbox.staged)
        for draft in self.audit.staged:
            sequence = len(db.audit) + 1
            previous = db.audit[-1].entry_hash if db.audit else GENESIS_HASH
            db.audit.append(seal(draft, sequence=sequence, previous_hash=previous))
        db.commits += 1
        self.conversations.rows, self.conversations.staged_messages = {}, []
        self.outbox.staged, self.audit.staged = [], []

    async def rollback(self) -> None:
        self.conversations.rows, self.conversations.staged_messages = {}, []
        self.outbox.staged, self.audit.staged = [], []


def services(
    db: Db,
    screener: Screener,
    *,
    clock: FixedClock | None = None,
    policy: MessagingPolicy | None = None,
    metrics: Metrics | None = None,
) -> MessagingServices:
    factory = cast(Callable[[], MessagingUnitOfWork], lambda: FakeUow(db))
    kwargs: dict[str, Any] = {} if policy is None else {"policy": policy}
    if metrics is not None:
        kwargs["metrics"] = metrics
    return MessagingServices(
        uow=factory, clock=clock or FixedClock(), ids=SequentialIds(), screener=screener, **kwargs
    )
