"""Transcripts: the conversation as evidence, and checking it has not been altered.

- :func:`transcript_of` is prong 2 of a dispute's evidence pack
  (:class:`~domain.disputes.evidence.ConversationTranscript`): every message in chain
  order, with its hashes and whether it was blocked, but not its body.
- :func:`verify_chain` recomputes a conversation's chain from its stored messages and
  reports the first broken link (a missing or repeated sequence, a wrong link to the
  previous message, content that does not hash to the stored hash).
- :class:`TranscriptExport` is the file auditors get: the whole conversation, bodies and
  screening findings included, as canonical JSON. :func:`verify_export` checks such a
  file on its own - every body against its sha256, every link of the chain from the
  conversation's genesis hash, and the head hash it declares - so it is verifiable by
  anyone holding the file, without access to the platform.

What a chain cannot show by itself: messages removed from the *end*. The export states
the head hash and the message count; compare them with the platform's (or with the
transcript in a dispute's frozen evidence pack) to detect a truncated tail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure, Result, Success

from domain.audit.entry import canonical_json
from domain.disputes.evidence import (
    ActorRef,
    ConversationTranscript,
    is_aware,
    is_sha256_hex,
    sha256_hex,
    utc_iso,
)
from domain.messaging.errors import BrokenMessageChain
from domain.messaging.message import Message, chain_hash, genesis_hash
from domain.shared import InvalidInput

EXPORT_FORMAT: Final = "supportos.conversation-export/v1"


def transcript_of(conversation_id: str, messages: Iterable[Message]) -> ConversationTranscript:
    """Prong 2 of the evidence pack: the messages in chain order, hashes and blocked flags."""
    ordered = sorted(messages, key=lambda message: message.sequence)
    if any(message.conversation_id != conversation_id for message in ordered):
        raise ValueError("every message must belong to the conversation")
    return ConversationTranscript(
        conversation_id=conversation_id, entries=tuple(message.transcript_entry() for message in ordered)
    )


class ChainVerifier:
    """Feed messages in sequence order; the first broken link is returned (and kept)."""

    __slots__ = ("_broken", "_conversation_id", "_count", "_head_hash")

    def __init__(self, conversation_id: str) -> None:
        self._conversation_id = conversation_id
        self._head_hash = genesis_hash(conversation_id)
        self._count = 0
        self._broken: BrokenMessageChain | None = None

    @property
    def verified(self) -> int:
        return self._count

    @property
    def head_hash(self) -> str:
        return self._head_hash

    def feed(self, message: Message) -> BrokenMessageChain | None:
        if self._broken is None:
            self._broken = self._check(message)
            if self._broken is None:
                self._count += 1
                self._head_hash = message.chain_hash
        return self._broken

    def _check(self, message: Message) -> BrokenMessageChain | None:
        expected = self._count + 1

        def broken(reason: str) -> BrokenMessageChain:
            return BrokenMessageChain(self._conversation_id, expected, reason)

        if message.conversation_id != self._conversation_id:
            return broken(f"message {message.message_id} belongs to {message.conversation_id}")
        if message.sequence != expected:
            return broken(f"expected sequence {expected}, found {message.sequence}")
        if message.previous_hash != self._head_hash:
            return broken("does not link to the previous message")
        if message.recomputed_hash() != message.chain_hash:
            return broken("content does not match its hash")
        return None


def verify_chain(conversation_id: str, messages: Iterable[Message]) -> BrokenMessageChain | None:
    """The first broken link of ``messages`` (given in sequence order), or ``None``."""
    verifier = ChainVerifier(conversation_id)
    for message in messages:
        broken = verifier.feed(message)
        if broken is not None:
            return broken
    return None


# ----------------------------------------------------------------------------- the auditors' file


@dataclass(frozen=True, slots=True)
class TranscriptExport:
    """The whole conversation as a file for auditors (canonical JSON, self-verifying)."""

    conversation_id: str
    country: str
    order_id: str
    exported_at: datetime
    exported_by: ActorRef
    messages: tuple[Message, ...]

    @property
    def head_hash(self) -> str:
        return self.messages[-1].chain_hash if self.messages else genesis_hash(self.conversation_id)

    def to_canonical(self) -> dict[str, object]:
        return {
            "format": EXPORT_FORMAT,
            "conversation_id": self.conversation_id,
            "country_code": self.country,
            "order_id": self.order_id,
            "exported_at": utc_iso(self.exported_at),
            "exported_by": self.exported_by.to_canonical(),
            "genesis_hash": genesis_hash(self.conversation_id),
            "head_hash": self.head_hash,
            "message_count": len(self.messages),
            "messages": [_exported(message) for message in self.messages],
        }

    def to_json(self) -> str:
        return canonical_json(self.to_canonical())

    def content_hash(self) -> str:
        """sha256 of the file's bytes (recorded in the audit entry of the export)."""
        return sha256_hex(self.to_json().encode("ascii"))


def export_transcript(
    *,
    conversation_id: str,
    country: str,
    order_id: str,
    messages: Sequence[Message],
    exported_at: datetime,
    exported_by: ActorRef,
) -> TranscriptExport:
    if not is_aware(exported_at):
        raise ValueError("exported_at must be timezone-aware")
    return TranscriptExport(
        conversation_id=conversation_id,
        country=country,
        order_id=order_id,
        exported_at=exported_at,
        exported_by=exported_by,
        messages=tuple(sorted(messages, key=lambda message: message.sequence)),
    )


def _exported(message: Message) -> dict[str, object]:
    return {
        **message.hashed_fields(),
        "body": message.body,
        "previous_hash": message.previous_hash,
        "chain_hash": message.chain_hash,
    }


@dataclass(frozen=True, slots=True)
class ExportCheck:
    """What :func:`verify_export` established about an intact file."""

    conversation_id: str
    message_count: int
    head_hash: str


def verify_export(text: str) -> Result[ExportCheck, InvalidInput | BrokenMessageChain]:
    """Check an exported transcript on its own: bodies, links, hashes and declared head.

    ``INVALID_INPUT`` if the file is not an export of this format at all; the first
    ``MESSAGE_CHAIN_BROKEN`` link if anything in it was altered."""
    try:
        document = json.loads(text)
    except ValueError as error:
        return Failure(InvalidInput("export", f"not JSON: {error}"))
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        return Failure(InvalidInput("export", f"not a {EXPORT_FORMAT} document"))
    conversation_id = document.get("conversation_id")
    raw_messages = document.get("messages")
    if not isinstance(conversation_id, str) or not isinstance(raw_messages, list):
        return Failure(InvalidInput("export", "needs a conversation_id and a list of messages"))
    if document.get("genesis_hash") != genesis_hash(conversation_id):
        return Failure(BrokenMessageChain(conversation_id, 1, "the genesis hash is not this conversation's"))
    previous = genesis_hash(conversation_id)
    for index, raw in enumerate(raw_messages, start=1):
        problem = _check_exported(conversation_id, index, previous, raw)
        if problem is not None:
            return Failure(BrokenMessageChain(conversation_id, index, problem))
        previous = raw["chain_hash"]
    if document.get("message_count") != len(raw_messages):
        return Failure(
            BrokenMessageChain(conversation_id, len(raw_messages) + 1, "the message count does not match")
        )
    if document.get("head_hash") != previous:
        return Failure(
            BrokenMessageChain(conversation_id, len(raw_messages), "the declared head hash differs")
        )
    return Success(ExportCheck(conversation_id, len(raw_messages), previous))


_EXPORTED_KEYS: Final = frozenset(
    {
        "format",
        "conversation_id",
        "sequence",
        "message_id",
        "client_message_id",
        "sender_id",
        "sender_role",
        "party",
        "sent_at",
        "body_sha256",
        "status",
        "findings",
        "corrects",
        "body",
        "previous_hash",
        "chain_hash",
    }
)


def _check_exported(conversation_id: str, sequence: int, previous: str, raw: object) -> str | None:
    """Why the exported message ``raw`` does not continue the chain at ``sequence``, or None."""
    if not isinstance(raw, dict) or set(raw) != _EXPORTED_KEYS:
        return "not an exported message"
    if raw["sequence"] != sequence or raw["conversation_id"] != conversation_id:
        return f"expected sequence {sequence} of {conversation_id}"
    if raw["previous_hash"] != previous:
        return "does not link to the previous message"
    body = raw["body"]
    if not isinstance(body, str) or sha256_hex(body.encode("utf-8")) != raw["body_sha256"]:
        return "the body does not match its sha256"
    if not isinstance(raw["chain_hash"], str) or not is_sha256_hex(raw["chain_hash"]):
        return "the chain hash is not a sha256 digest"
    fields = {key: raw[key] for key in _EXPORTED_KEYS - {"body", "previous_hash", "chain_hash"}}
    try:
        recomputed = chain_hash(previous, fields)
    except (TypeError, ValueError):
        return "content is not canonical JSON"
    if recomputed != raw["chain_hash"]:
        return "content does not match its hash"
    return None
