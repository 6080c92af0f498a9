"""Typed, expected failures of messaging (values, never raised; catalogued in docs/errors.md).

Blank or oversized text and malformed ids are the shared
:class:`~domain.shared.errors.InvalidInput`; a missing or oversized freeze reason is the
shared :class:`~domain.orders.errors.ReasonRequired` / ``ReasonTooLong``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from domain.shared.errors import DomainError


@dataclass(frozen=True, slots=True)
class ConversationNotOpen(DomainError):
    """Messaging is silent by default: there is no conversation on this order yet."""

    code: ClassVar[str] = "CONVERSATION_NOT_OPEN"
    order_id: str

    @property
    def message(self) -> str:
        return (
            f"no conversation is open on order {self.order_id}: a conversation opens only while an "
            "incident or a dispute is open on the order, or when a party asks for one with a reason"
        )


@dataclass(frozen=True, slots=True)
class NoGroundsToOpen(DomainError):
    """Opening was asked for without an open incident, an open dispute or a party's reason."""

    code: ClassVar[str] = "CONVERSATION_NO_GROUNDS"
    order_id: str
    why: str

    @property
    def message(self) -> str:
        return f"a conversation on order {self.order_id} cannot be opened: {self.why}"


@dataclass(frozen=True, slots=True)
class NotAParticipant(DomainError):
    """The sender is not one of the conversation's parties (nor support)."""

    code: ClassVar[str] = "NOT_A_PARTICIPANT"
    conversation_id: str
    party: str

    @property
    def message(self) -> str:
        return (
            f"a {self.party.lower()} who is not on the order cannot write in "
            f"conversation {self.conversation_id}"
        )


@dataclass(frozen=True, slots=True)
class ConversationFrozen(DomainError):
    """An L2+ froze the conversation: parties cannot write until it is unfrozen."""

    code: ClassVar[str] = "CONVERSATION_FROZEN"
    conversation_id: str
    reason: str

    @property
    def message(self) -> str:
        return f"conversation {self.conversation_id} is frozen by support: {self.reason}"


@dataclass(frozen=True, slots=True)
class ConversationAlreadyFrozen(DomainError):
    code: ClassVar[str] = "CONVERSATION_ALREADY_FROZEN"
    conversation_id: str

    @property
    def message(self) -> str:
        return f"conversation {self.conversation_id} is already frozen"


@dataclass(frozen=True, slots=True)
class ConversationNotFrozen(DomainError):
    code: ClassVar[str] = "CONVERSATION_NOT_FROZEN"
    conversation_id: str

    @property
    def message(self) -> str:
        return f"conversation {self.conversation_id} is not frozen"


@dataclass(frozen=True, slots=True)
class SenderFrozen(DomainError):
    """Repeated blocked messages froze this sender in this conversation."""

    code: ClassVar[str] = "SENDER_FROZEN"
    conversation_id: str
    sender_id: str

    @property
    def message(self) -> str:
        return (
            f"sender {self.sender_id} is frozen in conversation {self.conversation_id} after repeated "
            "blocked messages; support can lift it"
        )


@dataclass(frozen=True, slots=True)
class SenderNotFrozen(DomainError):
    code: ClassVar[str] = "SENDER_NOT_FROZEN"
    conversation_id: str
    sender_id: str

    @property
    def message(self) -> str:
        return f"sender {self.sender_id} is not frozen in conversation {self.conversation_id}"


@dataclass(frozen=True, slots=True)
class ClientMessageIdConflict(DomainError):
    """The client message id was already used in this conversation for another message."""

    code: ClassVar[str] = "CLIENT_MESSAGE_ID_CONFLICT"
    conversation_id: str
    client_message_id: str

    @property
    def message(self) -> str:
        return (
            f"client message id {self.client_message_id!r} was already used in conversation "
            f"{self.conversation_id} for a different message"
        )


@dataclass(frozen=True, slots=True)
class RateLimited(DomainError):
    """Too many messages too fast: nothing was stored."""

    code: ClassVar[str] = "RATE_LIMITED"
    scope: str
    max_messages: int
    window_seconds: int
    retry_after_seconds: int

    @property
    def message(self) -> str:
        return (
            f"at most {self.max_messages} messages per {self.window_seconds} s ({self.scope.lower()}); "
            f"retry in {self.retry_after_seconds} s"
        )


@dataclass(frozen=True, slots=True)
class CorrectionNotAllowed(DomainError):
    """A correction must reference an earlier, delivered message of the same sender."""

    code: ClassVar[str] = "CORRECTION_NOT_ALLOWED"
    message_id: str
    why: str

    @property
    def message(self) -> str:
        return f"cannot correct message {self.message_id}: {self.why}"


@dataclass(frozen=True, slots=True)
class BrokenMessageChain(DomainError):
    """The first broken link of a conversation's message chain (or of an exported transcript)."""

    code: ClassVar[str] = "MESSAGE_CHAIN_BROKEN"
    conversation_id: str
    sequence: int
    reason: str

    @property
    def message(self) -> str:
        return f"message chain of {self.conversation_id} broken at sequence {self.sequence}: {self.reason}"
