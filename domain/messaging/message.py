"""Messages: immutable, and hash-chained per conversation.

Each message's ``chain_hash`` is ``sha256(previous_hash + "\\n" + canonical_json(fields))``
over every field that matters as evidence (who, as which role and party, when, the sha256
of the body, blocked or not and why, which message it corrects); ``previous_hash`` is the
chain hash of the message before it, and the first message follows the conversation's
genesis hash, ``sha256("supportos.conversation/v1\\n" + conversation_id)``, so a chain
cannot be passed off as another conversation's. Editing, removing or reordering any
message breaks the chain at that message. A correction is a new message that names the
message it corrects; nothing is ever edited.

Canonical JSON is the audit log's: sorted keys, compact, ASCII, datetimes as ISO-8601 UTC
with microseconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.audit.entry import canonical_json
from domain.disputes.evidence import ActorRef, TranscriptEntry, is_aware, is_sha256_hex, sha256_hex, utc_iso
from domain.messaging.screening import Finding
from domain.shared import CountryCode, InvariantViolation
from domain.shared.ids import OrderId

CHAIN_FORMAT: Final = "supportos.conversation/v1"


class Party(StrEnum):
    """Who writes in an order's conversation: its three parties, and support (any staff)."""

    BUYER = "BUYER"
    SELLER = "SELLER"
    COURIER = "COURIER"
    SUPPORT = "SUPPORT"


MARKETPLACE_PARTIES: Final = (Party.BUYER, Party.SELLER, Party.COURIER)


class MessageStatus(StrEnum):
    DELIVERED = "DELIVERED"
    BLOCKED = "BLOCKED"  # kept as evidence, never delivered


def genesis_hash(conversation_id: str) -> str:
    return hashlib.sha256(f"{CHAIN_FORMAT}\n{conversation_id}".encode()).hexdigest()


def chain_hash(previous_hash: str, fields: dict[str, object]) -> str:
    return hashlib.sha256(f"{previous_hash}\n{canonical_json(fields)}".encode("ascii")).hexdigest()


def hashed_fields(
    *,
    conversation_id: str,
    sequence: int,
    message_id: str,
    client_message_id: str,
    sender: ActorRef,
    party: Party,
    sent_at: datetime,
    body_sha256: str,
    status: MessageStatus,
    findings: tuple[Finding, ...],
    corrects: str | None,
) -> dict[str, object]:
    """Every content field of a message (all but the two hashes), ready for canonical JSON."""
    return {
        "format": CHAIN_FORMAT,
        "conversation_id": conversation_id,
        "sequence": sequence,
        "message_id": message_id,
        "client_message_id": client_message_id,
        "sender_id": sender.actor_id,
        "sender_role": sender.role,
        "party": party.value,
        "sent_at": utc_iso(sent_at),
        "body_sha256": body_sha256,
        "status": status.value,
        "findings": [finding.to_canonical() for finding in findings],
        "corrects": corrects,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One sealed message. Built by :meth:`Conversation.send`; read back as stored
    (:func:`domain.messaging.transcript.verify_chain` reports a tampered one)."""

    message_id: str
    conversation_id: str
    country: CountryCode
    order_id: OrderId
    sequence: int
    client_message_id: str
    sender: ActorRef
    party: Party
    body: str
    sent_at: datetime
    status: MessageStatus
    findings: tuple[Finding, ...]
    corrects: str | None
    previous_hash: str
    chain_hash: str

    @property
    def blocked(self) -> bool:
        return self.status is MessageStatus.BLOCKED

    @property
    def body_sha256(self) -> str:
        return sha256_hex(self.body.encode("utf-8"))

    def client_message_id_for(self, reader_id: str, reader_party: Party | None) -> str | None:
        """The client message id as ``reader`` may see it: the sender's own idempotency key,
        shown to the sender and to staff and auditors (``reader_party`` SUPPORT or ``None``),
        never to the other parties, who have no use for it (and must not receive through
        it what screening would have refused in a body)."""
        if reader_party in MARKETPLACE_PARTIES and reader_id != self.sender.actor_id:
            return None
        return self.client_message_id

    def hashed_fields(self) -> dict[str, object]:
        return hashed_fields(
            conversation_id=self.conversation_id,
            sequence=self.sequence,
            message_id=self.message_id,
            client_message_id=self.client_message_id,
            sender=self.sender,
            party=self.party,
            sent_at=self.sent_at,
            body_sha256=self.body_sha256,
            status=self.status,
            findings=self.findings,
            corrects=self.corrects,
        )

    def recomputed_hash(self) -> str:
        return chain_hash(self.previous_hash, self.hashed_fields())

    def transcript_entry(self) -> TranscriptEntry:
        """This message as the dispute's evidence pack holds it (hashes, not the body)."""
        return TranscriptEntry(
            message_id=self.message_id,
            sender_role=self.sender.role,
            sent_at=self.sent_at,
            body_sha256=self.body_sha256,
            blocked=self.blocked,
            chain_hash=self.chain_hash,
        )


def seal(
    *,
    message_id: str,
    conversation_id: str,
    country: CountryCode,
    order_id: OrderId,
    sequence: int,
    client_message_id: str,
    sender: ActorRef,
    party: Party,
    body: str,
    sent_at: datetime,
    status: MessageStatus,
    findings: tuple[Finding, ...],
    corrects: str | None,
    previous_hash: str,
) -> Message:
    """The message that follows ``previous_hash`` at ``sequence``."""
    if type(sequence) is not int or sequence < 1:
        raise InvariantViolation(f"message sequence must be a positive integer, got {sequence!r}")
    if not is_sha256_hex(previous_hash):
        raise InvariantViolation("previous hash is not a sha256 hex digest")
    if not is_aware(sent_at):
        raise InvariantViolation("sent_at must be timezone-aware")
    if (status is MessageStatus.BLOCKED) != bool(findings):
        raise InvariantViolation("a message is blocked exactly when screening found something")
    fields = hashed_fields(
        conversation_id=conversation_id,
        sequence=sequence,
        message_id=message_id,
        client_message_id=client_message_id,
        sender=sender,
        party=party,
        sent_at=sent_at,
        body_sha256=sha256_hex(body.encode("utf-8")),
        status=status,
        findings=findings,
        corrects=corrects,
    )
    return Message(
        message_id=message_id,
        conversation_id=conversation_id,
        country=country,
        order_id=order_id,
        sequence=sequence,
        client_message_id=client_message_id,
        sender=sender,
        party=party,
        body=body,
        sent_at=sent_at,
        status=status,
        findings=findings,
        corrects=corrects,
        previous_hash=previous_hash,
        chain_hash=chain_hash(previous_hash, fields),
    )
