"""The Conversation aggregate: one per order, silent by default.

A conversation belongs to one order and its parties (buyer, seller, courier) plus
support. It exists only by exception: it is opened for an open incident or dispute on
the order, or at a party's explicit request with a reason. Until then there is nothing
to send into (the application answers ``CONVERSATION_NOT_OPEN``).

The aggregate keeps the head of the message chain (last sequence and hash), its frozen
state and per-sender counters; the messages themselves are immutable values stored
apart (:class:`~domain.messaging.message.Message`). :meth:`Conversation.send` takes what
the application looked up - the earlier message with the same client id, the message
being corrected, the sender's recent message counts and the screening verdict - and
returns the new (or, for a retry, the first) message. Time and ids are passed in.

Rules of :meth:`send`, in order:

1. body and client message id are valid (non-blank, bounded; the client message id is an
   opaque token of ``A-Z a-z 0-9 . _ : -``, so it cannot carry a sentence past screening);
2. a retry with the same client message id and the same content returns the first
   message, whatever has happened since; different content is ``CLIENT_MESSAGE_ID_CONFLICT``;
3. the sender is a party of the order or support (``NOT_A_PARTICIPANT``);
4. a frozen conversation refuses parties, not support (``CONVERSATION_FROZEN``);
5. a frozen sender is refused (``SENDER_FROZEN``);
6. parties are rate-limited (``RATE_LIMITED``; nothing is stored);
7. a correction names an earlier delivered message of the same sender;
8. screening found something: the message is stored ``BLOCKED`` (evidence, never
   delivered), counted against the sender, and the ``violations_to_freeze``-th one
   freezes the sender in this conversation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final, TypedDict

from returns.result import Failure, Result, Success

from domain.disputes.evidence import ActorRef, is_aware
from domain.messaging.errors import (
    ClientMessageIdConflict,
    ConversationAlreadyFrozen,
    ConversationFrozen,
    ConversationNotFrozen,
    CorrectionNotAllowed,
    NoGroundsToOpen,
    NotAParticipant,
    RateLimited,
    SenderFrozen,
    SenderNotFrozen,
)
from domain.messaging.events import (
    ConversationEvent,
    ConversationFrozenBySupport,
    ConversationOpened,
    ConversationUnfrozenBySupport,
    MessageBlocked,
    MessageSent,
    ParticipantsChanged,
    SenderFrozenInConversation,
    SenderUnfrozenInConversation,
)
from domain.messaging.message import MARKETPLACE_PARTIES, Message, MessageStatus, Party, genesis_hash, seal
from domain.messaging.policy import MessagingPolicy, RateLimit, WindowCount
from domain.messaging.screening import Screening
from domain.orders.errors import ReasonRequired, ReasonTooLong
from domain.shared import CountryCode, InvalidInput, InvariantViolation
from domain.shared.ids import OrderId

MAX_ID_CHARS: Final = 128
MAX_REASON_CHARS: Final = 2_000
CLIENT_MESSAGE_ID: Final = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_ID_CHARS}}}")
"""A client message id is an opaque token (a UUID, a ULID, ``"phone-42"``): never text.
Screening reads bodies, not ids, so an id that could hold words or spaces would be a way
around it."""


class ConversationStatus(StrEnum):
    OPEN = "OPEN"
    FROZEN = "FROZEN"  # by an L2+: parties cannot write


class OpeningGround(StrEnum):
    INCIDENT = "INCIDENT"  # a live incident is open on the order
    DISPUTE = "DISPUTE"  # a dispute is open on the order
    PARTY_REQUEST = "PARTY_REQUEST"  # a party asked, with a reason


@dataclass(frozen=True, slots=True)
class Participants:
    buyer_id: str
    seller_id: str
    courier_id: str | None = None

    def id_of(self, party: Party) -> str | None:
        return {Party.BUYER: self.buyer_id, Party.SELLER: self.seller_id, Party.COURIER: self.courier_id}.get(
            party
        )

    def includes(self, party: Party, actor_id: str) -> bool:
        """Support always; a marketplace party only as the order's own buyer/seller/courier."""
        return party is Party.SUPPORT or (self.id_of(party) is not None and self.id_of(party) == actor_id)

    def recipients_of(self, sender_party: Party) -> tuple[tuple[Party, str], ...]:
        """Every marketplace party but the sender's (support reads the console, not push)."""
        return tuple(
            (party, party_id)
            for party in MARKETPLACE_PARTIES
            if party is not sender_party and (party_id := self.id_of(party)) is not None
        )


@dataclass(frozen=True, slots=True)
class Opening:
    """Why the conversation exists: the incident or dispute (``reference``), or a party's reason."""

    ground: OpeningGround
    reference: str | None
    reason: str | None
    opened_by: ActorRef
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class SupportAction:
    """A freeze, unfreeze or lifted sender freeze by support: who, when, why."""

    by: ActorRef
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class SenderRecord:
    """A sender's standing in one conversation."""

    sender_id: str
    party: Party
    sent: int = 0
    blocked: int = 0
    violations: int = 0  # blocked messages since the last lifted freeze
    frozen_at: datetime | None = None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None


@dataclass(frozen=True, slots=True)
class Sent:
    """What :meth:`Conversation.send` answers: the message, and whether it is a replay."""

    message: Message
    replayed: bool = False

    @property
    def delivered(self) -> bool:
        return not self.message.blocked


SendError = (
    InvalidInput
    | ClientMessageIdConflict
    | NotAParticipant
    | ConversationFrozen
    | SenderFrozen
    | RateLimited
    | CorrectionNotAllowed
)
OpenConversationError = InvalidInput | NoGroundsToOpen | ReasonRequired | ReasonTooLong
FreezeError = ConversationAlreadyFrozen | ReasonRequired | ReasonTooLong | InvalidInput
UnfreezeError = ConversationNotFrozen | ReasonRequired | ReasonTooLong | InvalidInput
UnfreezeSenderError = SenderNotFrozen | ReasonRequired | ReasonTooLong | InvalidInput


class _EventBase(TypedDict):
    occurred_at: datetime
    conversation_id: str
    order_id: OrderId
    country: CountryCode
    version: int


def _id_problem(field: str, value: str) -> InvalidInput | None:
    if not value or value != value.strip() or len(value) > MAX_ID_CHARS or not value.isprintable():
        return InvalidInput(
            field, f"must be 1-{MAX_ID_CHARS} printable characters without surrounding spaces"
        )
    return None


def client_message_id_problem(value: str, field: str = "client_message_id") -> InvalidInput | None:
    """Why ``value`` is not a client message id (``None`` if it is one)."""
    if CLIENT_MESSAGE_ID.fullmatch(value) is None:
        return InvalidInput(
            field,
            f"must be 1-{MAX_ID_CHARS} characters among A-Z a-z 0-9 . _ : - (an opaque token such as a UUID)",
        )
    return None


def reason_blocked(screening: Screening) -> InvalidInput:
    """A party's opening reason that screening blocked: refused, naming what and where
    (kinds and spans, never the text itself), like a blocked message's findings."""
    found = ", ".join(
        f"{finding.kind.value} at {finding.start}-{finding.end}" for finding in screening.findings
    )
    return InvalidInput(
        "reason",
        f"cannot carry contact details, links, handles, payments outside the platform or abuse ({found});"
        " nothing was opened",
    )


def _reason(reason: str | None) -> Result[str, ReasonRequired | ReasonTooLong]:
    text = (reason or "").strip()
    if not text:
        return Failure(ReasonRequired())
    if len(text) > MAX_REASON_CHARS:
        return Failure(ReasonTooLong(len(text), MAX_REASON_CHARS))
    return Success(text)


def _aware(field: str, moment: datetime) -> InvalidInput | None:
    return None if is_aware(moment) else InvalidInput(field, "must be timezone-aware")


class Conversation:
    """Build with :meth:`open` (new) or :meth:`rehydrate` (stored); change only by commands."""

    __slots__ = (
        "_country",
        "_events",
        "_freeze",
        "_head_hash",
        "_head_sequence",
        "_id",
        "_opening",
        "_order_id",
        "_participants",
        "_senders",
        "_status",
        "_updated_at",
        "_version",
    )

    def __init__(
        self,
        *,
        conversation_id: str,
        country: CountryCode,
        order_id: OrderId,
        participants: Participants,
        opening: Opening,
        status: ConversationStatus,
        freeze: SupportAction | None,
        senders: Mapping[str, SenderRecord],
        head_sequence: int,
        head_hash: str,
        updated_at: datetime,
        version: int,
    ) -> None:
        self._id = conversation_id
        self._country = country
        self._order_id = order_id
        self._participants = participants
        self._opening = opening
        self._status = status
        self._freeze = freeze
        self._senders = dict(senders)
        self._head_sequence = head_sequence
        self._head_hash = head_hash
        self._updated_at = updated_at
        self._version = version
        self._events: list[ConversationEvent] = []
        if (status is ConversationStatus.FROZEN) != (freeze is not None):
            raise InvariantViolation("a conversation is frozen exactly when it has a freeze record")
        if head_sequence < 0 or version < 1:
            raise InvariantViolation("head sequence must be >= 0 and version >= 1")
        if head_sequence == 0 and head_hash != genesis_hash(conversation_id):
            raise InvariantViolation("an empty conversation's head is its genesis hash")

    # ------------------------------------------------------------------ factories

    @classmethod
    def open(
        cls,
        *,
        conversation_id: str,
        country: CountryCode,
        order_id: OrderId,
        participants: Participants,
        ground: OpeningGround,
        reference: str | None,
        reason: str | None,
        reason_screening: Screening,
        opened_by: ActorRef,
        opened_by_party: Party,
        now: datetime,
    ) -> Result[Conversation, OpenConversationError]:
        """Open on its grounds: an incident or dispute (``reference`` is its id; the caller
        has checked it is open on the order), or a party's request, which needs a reason.

        The reason is shown to every party, so a party's reason is screened like a message
        (``reason_screening`` is the verdict on ``reason``): a blocked one is refused as
        ``INVALID_INPUT`` on ``reason`` and nothing is opened. Support's reason is not
        screened, as support's messages are not."""
        problem = _id_problem("conversation_id", conversation_id) or _id_problem("order_id", order_id)
        problem = problem or _aware("now", now)
        if problem is not None:
            return Failure(problem)
        if ground is OpeningGround.PARTY_REQUEST:
            if opened_by_party is Party.SUPPORT:
                return Failure(
                    NoGroundsToOpen(order_id, "support opens a conversation for an open incident or dispute")
                )
            checked = _reason(reason)
            if isinstance(checked, Failure):
                return Failure(checked.failure())
            reason, reference = checked.unwrap(), None
        else:
            if reference is None or _id_problem("reference", reference) is not None:
                return Failure(NoGroundsToOpen(order_id, f"an {ground.value.lower()} ground needs its id"))
            reason = (reason or "").strip() or None
        if not participants.includes(opened_by_party, opened_by.actor_id):
            return Failure(NoGroundsToOpen(order_id, "only the order's parties or support can open it"))
        if reason is not None and reason_screening.blocked and opened_by_party is not Party.SUPPORT:
            return Failure(reason_blocked(reason_screening))
        conversation = cls(
            conversation_id=conversation_id,
            country=country,
            order_id=order_id,
            participants=participants,
            opening=Opening(ground, reference, reason, opened_by, now),
            status=ConversationStatus.OPEN,
            freeze=None,
            senders={},
            head_sequence=0,
            head_hash=genesis_hash(conversation_id),
            updated_at=now,
            version=1,
        )
        conversation._events.append(
            ConversationOpened(
                **conversation._base(now), ground=ground.value, reference=reference, opened_by=opened_by
            )
        )
        return Success(conversation)

    @classmethod
    def rehydrate(
        cls,
        *,
        conversation_id: str,
        country: CountryCode,
        order_id: OrderId,
        participants: Participants,
        opening: Opening,
        status: ConversationStatus,
        freeze: SupportAction | None,
        senders: Mapping[str, SenderRecord],
        head_sequence: int,
        head_hash: str,
        updated_at: datetime,
        version: int,
    ) -> Conversation:
        return cls(
            conversation_id=conversation_id,
            country=country,
            order_id=order_id,
            participants=participants,
            opening=opening,
            status=status,
            freeze=freeze,
            senders=senders,
            head_sequence=head_sequence,
            head_hash=head_hash,
            updated_at=updated_at,
            version=version,
        )

    # ------------------------------------------------------------------ state

    @property
    def id(self) -> str:
        return self._id

    @property
    def country(self) -> CountryCode:
        return self._country

    @property
    def order_id(self) -> OrderId:
        return self._order_id

    @property
    def participants(self) -> Participants:
        return self._participants

    @property
    def opening(self) -> Opening:
        return self._opening

    @property
    def status(self) -> ConversationStatus:
        return self._status

    @property
    def frozen(self) -> bool:
        return self._status is ConversationStatus.FROZEN

    @property
    def freeze_record(self) -> SupportAction | None:
        return self._freeze

    @property
    def senders(self) -> Mapping[str, SenderRecord]:
        return dict(self._senders)

    def sender(self, sender_id: str) -> SenderRecord | None:
        return self._senders.get(sender_id)

    @property
    def head_sequence(self) -> int:
        return self._head_sequence

    @property
    def head_hash(self) -> str:
        return self._head_hash

    @property
    def updated_at(self) -> datetime:
        return self._updated_at

    @property
    def version(self) -> int:
        return self._version

    def pull_events(self) -> list[ConversationEvent]:
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ commands

    def send(
        self,
        *,
        message_id: str,
        client_message_id: str,
        sender: ActorRef,
        party: Party,
        body: str,
        sent_at: datetime,
        screening: Screening,
        policy: MessagingPolicy,
        prior: Message | None = None,
        corrects: Message | None = None,
        corrects_id: str | None = None,
        recent: Mapping[RateLimit, WindowCount] | None = None,
    ) -> Result[Sent, SendError]:
        """Send (see the module doc for the rules, in order). ``prior`` is the stored
        message with this ``client_message_id`` if any; ``corrects_id`` names the message
        corrected and ``corrects`` is it as stored (``None`` if not found)."""
        problem = (
            _id_problem("message_id", message_id)
            or client_message_id_problem(client_message_id)
            or _aware("sent_at", sent_at)
            or (None if body.strip() else InvalidInput("body", "must not be blank"))
            or (
                InvalidInput("body", f"must be at most {policy.max_body_chars} characters")
                if len(body) > policy.max_body_chars
                else None
            )
        )
        if problem is not None:
            return Failure(problem)
        if prior is not None:
            return self._replay(prior, sender=sender, body=body, corrects_id=corrects_id)
        if not self._participants.includes(party, sender.actor_id):
            return Failure(NotAParticipant(self._id, party.value))
        if self.frozen and party is not Party.SUPPORT:
            assert self._freeze is not None
            return Failure(ConversationFrozen(self._id, self._freeze.reason))
        record = self._senders.get(sender.actor_id, SenderRecord(sender.actor_id, party))
        if record.frozen:
            return Failure(SenderFrozen(self._id, sender.actor_id))
        if party is not Party.SUPPORT:
            breach = policy.rate_limit_breach(recent or {}, sent_at)
            if breach is not None:
                return Failure(breach)
        if corrects_id is not None:
            refused = self._correction_problem(corrects_id, corrects, sender)
            if refused is not None:
                return Failure(refused)
        status = MessageStatus.BLOCKED if screening.blocked else MessageStatus.DELIVERED
        sent_at = max(sent_at, self._updated_at)  # the chain's times never go backwards
        message = seal(
            message_id=message_id,
            conversation_id=self._id,
            country=self._country,
            order_id=self._order_id,
            sequence=self._head_sequence + 1,
            client_message_id=client_message_id,
            sender=sender,
            party=party,
            body=body,
            sent_at=sent_at,
            status=status,
            findings=screening.findings,
            corrects=corrects_id,
            previous_hash=self._head_hash,
        )
        self._head_sequence, self._head_hash = message.sequence, message.chain_hash
        self._touch(sent_at)
        if message.blocked:
            record = replace(
                record, sent=record.sent + 1, blocked=record.blocked + 1, violations=record.violations + 1
            )
            self._events.append(
                MessageBlocked(
                    **self._base(sent_at),
                    message_id=message.message_id,
                    sequence=message.sequence,
                    sender=sender,
                    party=party.value,
                    kinds=tuple(sorted(screening.kinds)),
                    violations=record.violations,
                )
            )
            if record.violations >= policy.violations_to_freeze:
                record = replace(record, frozen_at=sent_at)
                self._events.append(
                    SenderFrozenInConversation(
                        **self._base(sent_at),
                        sender_id=sender.actor_id,
                        party=party.value,
                        violations=record.violations,
                    )
                )
        else:
            record = replace(record, sent=record.sent + 1)
            self._events.append(
                MessageSent(
                    **self._base(sent_at),
                    message_id=message.message_id,
                    sequence=message.sequence,
                    sender=sender,
                    party=party.value,
                    recipients=tuple(p.value for p, _ in self._participants.recipients_of(party)),
                )
            )
        self._senders[sender.actor_id] = record
        return Success(Sent(message))

    def _replay(
        self, prior: Message, *, sender: ActorRef, body: str, corrects_id: str | None
    ) -> Result[Sent, SendError]:
        if prior.conversation_id != self._id:
            raise InvariantViolation("the prior message belongs to another conversation")
        same = (
            prior.sender.actor_id == sender.actor_id and prior.body == body and prior.corrects == corrects_id
        )
        if not same:
            return Failure(ClientMessageIdConflict(self._id, prior.client_message_id))
        return Success(Sent(prior, replayed=True))

    def _correction_problem(
        self, corrects_id: str, corrects: Message | None, sender: ActorRef
    ) -> CorrectionNotAllowed | None:
        if corrects is None or corrects.conversation_id != self._id or corrects.message_id != corrects_id:
            return CorrectionNotAllowed(corrects_id, "no such message in this conversation")
        if corrects.sender.actor_id != sender.actor_id:
            return CorrectionNotAllowed(corrects_id, "only its sender can correct a message")
        if corrects.blocked:
            return CorrectionNotAllowed(corrects_id, "a blocked message was never delivered; send a new one")
        return None

    def freeze(self, *, by: ActorRef, reason: str | None, now: datetime) -> Result[None, FreezeError]:
        """Freeze by support (the application checks the actor is L2+): parties cannot write."""
        if self.frozen:
            return Failure(ConversationAlreadyFrozen(self._id))
        checked = _reason(reason)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if (problem := _aware("now", now)) is not None:
            return Failure(problem)
        self._freeze = SupportAction(by, now, checked.unwrap())
        self._status = ConversationStatus.FROZEN
        self._touch(now)
        self._events.append(ConversationFrozenBySupport(**self._base(now), by=by, reason=checked.unwrap()))
        return Success(None)

    def unfreeze(self, *, by: ActorRef, reason: str | None, now: datetime) -> Result[None, UnfreezeError]:
        if not self.frozen:
            return Failure(ConversationNotFrozen(self._id))
        checked = _reason(reason)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if (problem := _aware("now", now)) is not None:
            return Failure(problem)
        self._freeze = None
        self._status = ConversationStatus.OPEN
        self._touch(now)
        self._events.append(ConversationUnfrozenBySupport(**self._base(now), by=by, reason=checked.unwrap()))
        return Success(None)

    def unfreeze_sender(
        self, *, sender_id: str, by: ActorRef, reason: str | None, now: datetime
    ) -> Result[None, UnfreezeSenderError]:
        """Lift a sender's automatic freeze; their strike count starts again from zero."""
        record = self._senders.get(sender_id)
        if record is None or not record.frozen:
            return Failure(SenderNotFrozen(self._id, sender_id))
        checked = _reason(reason)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if (problem := _aware("now", now)) is not None:
            return Failure(problem)
        self._senders[sender_id] = replace(record, frozen_at=None, violations=0)
        self._touch(now)
        self._events.append(
            SenderUnfrozenInConversation(
                **self._base(now), sender_id=sender_id, by=by, reason=checked.unwrap()
            )
        )
        return Success(None)

    def update_courier(self, courier_id: str | None, now: datetime) -> bool:
        """Follow the order's courier (assigned or reassigned after opening); ``True`` if it changed."""
        return self.follow_parties(self._participants.seller_id, courier_id, now)

    def follow_parties(self, seller_id: str, courier_id: str | None, now: datetime) -> bool:
        """Follow the order's seller and courier after an urgent replacement (the replaced party
        loses access, the new one gains it); ``True`` if either changed."""
        parties = self._participants
        if seller_id == parties.seller_id and courier_id == parties.courier_id:
            return False
        self._participants = replace(parties, seller_id=seller_id, courier_id=courier_id)
        self._touch(now)
        changed = ParticipantsChanged(**self._base(now), seller_id=seller_id, courier_id=courier_id)
        self._events.append(changed)
        return True

    # ------------------------------------------------------------------ internals

    def _touch(self, now: datetime) -> None:
        self._updated_at = max(self._updated_at, now)
        self._version += 1

    def _base(self, at: datetime) -> _EventBase:
        return {
            "occurred_at": at,
            "conversation_id": self._id,
            "order_id": self._order_id,
            "country": self._country,
            "version": self._version,
        }
