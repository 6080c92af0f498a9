"""Past-tense facts recorded by the :class:`~domain.messaging.conversation.Conversation`.

Every event names the conversation, its order and country, and the conversation's
``version`` after the change. Freezes are counted per country by telemetry (a spike of
them raises an alert: :func:`domain.messaging.policy.freeze_spike`).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.disputes.evidence import ActorRef
from domain.messaging.screening import FindingKind
from domain.shared.country import CountryCode
from domain.shared.events import DomainEvent
from domain.shared.ids import OrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationEvent(DomainEvent):
    conversation_id: str
    order_id: OrderId
    country: CountryCode
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationOpened(ConversationEvent):
    ground: str
    reference: str | None
    opened_by: ActorRef


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSent(ConversationEvent):
    """A message was accepted and is delivered to the other parties."""

    message_id: str
    sequence: int
    sender: ActorRef
    party: str
    recipients: tuple[str, ...]  # parties: BUYER, SELLER, COURIER


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBlocked(ConversationEvent):
    """A message was screened out: kept as evidence, not delivered, counted against the sender."""

    message_id: str
    sequence: int
    sender: ActorRef
    party: str
    kinds: tuple[FindingKind, ...]
    violations: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderFrozenInConversation(ConversationEvent):
    sender_id: str
    party: str
    violations: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderUnfrozenInConversation(ConversationEvent):
    sender_id: str
    by: ActorRef
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationFrozenBySupport(ConversationEvent):
    by: ActorRef
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationUnfrozenBySupport(ConversationEvent):
    by: ActorRef
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantsChanged(ConversationEvent):
    seller_id: str
    courier_id: str | None
