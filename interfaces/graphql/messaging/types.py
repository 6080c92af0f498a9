"""GraphQL types of messaging, built from the domain's ``Conversation`` and ``Message``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from application.messaging.common import party_of
from application.security.principal import Principal
from domain.messaging import Conversation as DomainConversation
from domain.messaging import ConversationStatus as DomainConversationStatus
from domain.messaging import Finding, Message, MessageStatus
from domain.messaging import OpeningGround as DomainOpeningGround
from domain.messaging import Party as DomainParty
from interfaces.graphql.common import PageInfo


@strawberry.enum(description="OPEN, or FROZEN by an L2+ (parties cannot write; support can).")
class ConversationStatus(Enum):
    OPEN = DomainConversationStatus.OPEN.value
    FROZEN = DomainConversationStatus.FROZEN.value


@strawberry.enum(description="Why the conversation exists (it is silent by default).")
class OpeningGround(Enum):
    INCIDENT = DomainOpeningGround.INCIDENT.value
    DISPUTE = DomainOpeningGround.DISPUTE.value
    PARTY_REQUEST = DomainOpeningGround.PARTY_REQUEST.value


@strawberry.enum(description="Who writes: the order's buyer, seller, courier, or support.")
class Party(Enum):
    BUYER = DomainParty.BUYER.value
    SELLER = DomainParty.SELLER.value
    COURIER = DomainParty.COURIER.value
    SUPPORT = DomainParty.SUPPORT.value


@strawberry.enum(description="DELIVERED, or BLOCKED by screening (kept as evidence, never delivered).")
class ConversationMessageStatus(Enum):
    DELIVERED = MessageStatus.DELIVERED.value
    BLOCKED = MessageStatus.BLOCKED.value


@strawberry.type(description="What screening found in a blocked message: body[start:end] is a `kind`.")
class ScreeningFinding:
    kind: str = strawberry.field(description="PHONE, EMAIL, LINK, HANDLE, PAYMENT, CONTACT_REQUEST, ABUSE.")
    start: int
    end: int
    rule: str

    @staticmethod
    def from_domain(finding: Finding) -> ScreeningFinding:
        return ScreeningFinding(
            kind=finding.kind.value, start=finding.start, end=finding.end, rule=finding.rule
        )


@strawberry.type(
    description="One immutable, hash-chained message. A correction is a new message (`corrects`)."
)
class ConversationMessage:
    id: str
    conversation_id: str
    sequence: int = strawberry.field(description="Its place in the chain (1, 2, ...).")
    client_message_id: str | None = strawberry.field(
        description=(
            "The sender's idempotency key: shown to the sender, support and auditors; null for the"
            " other parties."
        )
    )
    sender_id: str
    sender_role: str
    party: Party
    body: str
    sent_at: datetime
    status: ConversationMessageStatus
    blocked: bool = strawberry.field(
        description="Blocked by screening: shown to support and auditors (and to its own sender), marked."
    )
    findings: list[ScreeningFinding]
    corrects: str | None = strawberry.field(description="The id of the message this one corrects.")
    previous_hash: str
    chain_hash: str = strawberry.field(description="sha256 chaining this message to the previous one.")

    @staticmethod
    def from_domain(message: Message, reader: Principal) -> ConversationMessage:
        """``message`` as ``reader`` may see it (another party's client message id is hidden)."""
        return ConversationMessage(
            id=message.message_id,
            conversation_id=message.conversation_id,
            sequence=message.sequence,
            client_message_id=message.client_message_id_for(reader.actor_id, party_of(reader)),
            sender_id=message.sender.actor_id,
            sender_role=message.sender.role,
            party=Party(message.party.value),
            body=message.body,
            sent_at=message.sent_at,
            status=ConversationMessageStatus(message.status.value),
            blocked=message.blocked,
            findings=[ScreeningFinding.from_domain(finding) for finding in message.findings],
            corrects=message.corrects,
            previous_hash=message.previous_hash,
            chain_hash=message.chain_hash,
        )


@strawberry.type(description="A message and the cursor just after it.")
class ConversationMessageEdge:
    cursor: str
    node: ConversationMessage


@strawberry.type(description="A page of a conversation's messages, in chain order (oldest first).")
class ConversationMessageConnection:
    edges: list[ConversationMessageEdge]
    nodes: list[ConversationMessage]
    page_info: PageInfo


def message_cursor(sequence: int) -> str:
    return f"seq:{sequence}"


def message_connection(
    messages: tuple[Message, ...], next_after: int | None, reader: Principal
) -> ConversationMessageConnection:
    nodes = [ConversationMessage.from_domain(message, reader) for message in messages]
    edges = [ConversationMessageEdge(cursor=message_cursor(node.sequence), node=node) for node in nodes]
    end = None if next_after is None else message_cursor(next_after)
    return ConversationMessageConnection(
        edges=edges,
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=next_after is not None, end_cursor=end or (edges[-1].cursor if edges else None)
        ),
    )


@strawberry.type(
    description="An order's conversation: its parties, status and the head of its message chain."
)
class Conversation:
    id: str
    country_code: str
    order_id: str
    status: ConversationStatus
    opening_ground: OpeningGround
    opening_reference: str | None = strawberry.field(description="The incident or dispute it was opened for.")
    opening_reason: str | None
    opened_at: datetime
    opened_by_role: str
    frozen_at: datetime | None
    frozen_reason: str | None
    frozen_sender_ids: list[str] = strawberry.field(description="Senders frozen for repeated violations.")
    head_sequence: int
    head_hash: str
    messages: ConversationMessageConnection | None = strawberry.field(
        description="On `conversation`: the requested page (`first`, `after`). Null in mutation answers."
    )

    @staticmethod
    def from_domain(
        conversation: DomainConversation, messages: ConversationMessageConnection | None = None
    ) -> Conversation:
        freeze = conversation.freeze_record
        return Conversation(
            id=conversation.id,
            country_code=conversation.country.value,
            order_id=conversation.order_id,
            status=ConversationStatus(conversation.status.value),
            opening_ground=OpeningGround(conversation.opening.ground.value),
            opening_reference=conversation.opening.reference,
            opening_reason=conversation.opening.reason,
            opened_at=conversation.opening.opened_at,
            opened_by_role=conversation.opening.opened_by.role,
            frozen_at=None if freeze is None else freeze.at,
            frozen_reason=None if freeze is None else freeze.reason,
            frozen_sender_ids=sorted(s.sender_id for s in conversation.senders.values() if s.frozen),
            head_sequence=conversation.head_sequence,
            head_hash=conversation.head_hash,
            messages=messages,
        )
