"""What the messaging use cases share: their services, who writes as which party, and
finding an order the caller may see (an order hidden from them is audited as a denial, by
``application.audit.denials.audit_hidden``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from application.context import Services
from application.ports.clock import Clock
from application.ports.events import NO_CHANGES, Change, ChangeFeed, topic
from application.ports.ids import IdGenerator
from application.ports.messaging import MessagingUnitOfWork
from application.ports.metrics import NO_METRICS, Metrics
from application.security.principal import Principal, Role
from application.security.visibility import may_see_order
from domain.disputes.evidence import ActorRef
from domain.messaging import (
    DEFAULT_MESSAGING_POLICY,
    Conversation,
    Message,
    MessagingPolicy,
    Party,
    Screener,
)
from domain.orders import Order
from domain.shared import CountryCode
from domain.shared.ids import ActorId, OrderId

_PARTY_OF_ROLE: Final = {
    Role.BUYER: Party.BUYER,
    Role.SELLER: Party.SELLER,
    Role.COURIER: Party.COURIER,
    Role.L0: Party.SUPPORT,
    Role.L1: Party.SUPPORT,
    Role.L2: Party.SUPPORT,
    Role.L3: Party.SUPPORT,
    Role.SYSTEM: Party.SUPPORT,
}


@dataclass(frozen=True, slots=True)
class MessagingServices:
    """The ports the messaging use cases use: transactions (with conversations), time,
    identifiers, screening (with its phone-number port), the spam policy, the metrics
    freezes are counted on (after commit) and where new messages are announced."""

    uow: Callable[[], MessagingUnitOfWork]
    clock: Clock
    ids: IdGenerator
    screener: Screener
    policy: MessagingPolicy = field(default=DEFAULT_MESSAGING_POLICY)
    metrics: Metrics = NO_METRICS
    changes: ChangeFeed = NO_CHANGES

    async def announce(self, conversation: Conversation, kind: str, **data: str | int | None) -> None:
        """Tell the conversation's live subscribers (after the commit) that ``kind`` happened."""
        ids: dict[str, str | int | None] = {
            "conversation_id": conversation.id,
            "order_id": conversation.order_id,
        }
        await self.changes.publish(
            Change(conversation_topic(conversation.country, conversation.id), kind, ids | data)
        )

    @property
    def base(self) -> Services:
        return Services(uow=self.uow, clock=self.clock, ids=self.ids)


def conversation_topic(country: CountryCode, conversation_id: str) -> str:
    """The change-feed topic of one conversation (new messages, freezes)."""
    return topic("conversation", country, conversation_id)


def party_of(principal: Principal) -> Party | None:
    """The party a principal writes as: buyer, seller or courier, or support for staff.
    Auditors and partners never write (``None``)."""
    return _PARTY_OF_ROLE.get(principal.role)


def actor_of(principal: Principal) -> ActorRef:
    return ActorRef(ActorId(principal.actor_id), principal.role.value)


def sees_message(principal: Principal, message: Message) -> bool:
    """Staff see everything; a party sees delivered messages and their own blocked ones
    (so they know what was refused), never someone else's blocked message."""
    if party_of(principal) in (Party.SUPPORT, None):
        return True
    return not message.blocked or message.sender.actor_id == principal.actor_id


@dataclass(slots=True)
class OrderLookup:
    """The order if the caller may see it; ``hidden`` if it exists but is not theirs."""

    order: Order | None
    hidden: bool = False


async def visible_order(
    uow: MessagingUnitOfWork, principal: Principal, country: CountryCode, order_id: OrderId
) -> OrderLookup:
    order = await uow.orders.get(country, order_id)
    if order is None:
        return OrderLookup(None)
    if not may_see_order(principal, order):
        return OrderLookup(None, hidden=True)
    return OrderLookup(order)
