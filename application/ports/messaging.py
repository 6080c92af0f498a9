"""Messaging ports: where conversations and their messages are kept, and phone detection.

The persistence adapter is ``adapters/persistence/conversations.py`` (tables
``conversations``, ``messages``, ``conversation_senders``, migration 0010; D25), bound as
``uow.conversations`` on every unit of work; unit tests use in-memory fakes.

Every method takes the country and filters by it; nothing here commits. Messages are
write-once: :meth:`ConversationRepository.append` inserts and nothing updates or deletes
them (the database refuses it). Concurrent sends into one conversation are serialised by
the conversation's optimistic version: the loser's ``save`` answers
``CONCURRENCY_CONFLICT`` and its unit of work rolls back, message included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from returns.result import Result

from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from domain.messaging import Conversation, Message, PhoneNumberFinder, WindowCount
from domain.shared import CountryCode
from domain.shared.ids import OrderId

PhoneNumberDetector = PhoneNumberFinder
"""The phone-number port of screening (``adapters/screening`` implements it with
``phonenumbers``); declared by the domain function that needs it, re-exported here."""


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> bool:
        """Insert a new conversation; ``False`` if its order already has one (unique
        ``(country_code, order_id)``), in which case nothing is written."""
        ...

    async def get(self, country: CountryCode, conversation_id: str) -> Conversation | None: ...

    async def for_order(self, country: CountryCode, order_id: OrderId) -> Conversation | None: ...

    async def save(self, conversation: Conversation) -> Result[None, ConcurrencyConflict]:
        """Write the conversation's head, status and sender counters if its stored
        version is the one that was read (``version - changes``); otherwise a conflict."""
        ...

    async def append(self, message: Message) -> None:
        """Insert a sealed message (write-once). Unique ``(conversation_id, sequence)`` and
        ``(conversation_id, client_message_id)``."""
        ...

    async def message(
        self, country: CountryCode, conversation_id: str, message_id: str
    ) -> Message | None: ...

    async def by_client_id(
        self, country: CountryCode, conversation_id: str, client_message_id: str
    ) -> Message | None: ...

    async def messages(
        self, country: CountryCode, conversation_id: str, *, after_sequence: int = 0, limit: int
    ) -> list[Message]:
        """Up to ``limit`` messages with a sequence above ``after_sequence``, in order."""
        ...

    async def sent_since(
        self, country: CountryCode, *, sender_id: str, since: datetime, conversation_id: str | None = None
    ) -> WindowCount:
        """How many messages (blocked ones too) ``sender_id`` sent at or after ``since``, in
        one conversation or (``None``) in all of the country's, and the oldest one's time."""
        ...

    async def take_sender_turn(self, country: CountryCode, sender_id: str) -> None:
        """Until the caller's transaction ends, no other transaction of ``sender_id`` gets past
        this point: a send counted after it counts this one (D121)."""
        ...


class MessagingUnitOfWork(UnitOfWork, Protocol):
    """The unit of work the messaging use cases ask for. Every ``UnitOfWork`` reaches
    ``conversations`` now (so dispute use cases read transcripts in their own transaction);
    the name stays so a fake need only provide what messaging uses."""

    @property
    def conversations(self) -> ConversationRepository: ...
