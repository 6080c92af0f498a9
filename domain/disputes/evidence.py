"""The evidence pack of a dispute: "the trident" (SPEC §5).

Three prongs, all immutable values:

1. :class:`PlatformFacts` - the order's event timeline and its delivery proof (courier
   GPS points in integer microdegrees, the delivery timestamp, photo hashes);
2. :class:`ConversationTranscript` - the order's message transcript, as the messaging
   module exports it (message ids, sender roles, body and chain hashes; §8);
3. party submissions - :class:`EvidenceSubmission` files and statements, stored by
   content hash (sha256) with who submitted them and when.

:meth:`EvidencePack.content_hash` is a sha256 over :meth:`EvidencePack.canonical_json`:
sorted keys, no insignificant whitespace, ASCII only (``\\uXXXX`` escapes), datetimes as
ISO-8601 UTC with microseconds, and every collection in a deterministic order. Where
order carries no meaning it is normalised when the value is built (timeline by ``(at,
kind, detail)``, GPS points by ``(at, lat, lon)``, photo hashes lexically, submissions by
``(submitted_at, evidence_id)``), so equal contents always hash alike whatever order they
were added in.
The transcript keeps its order: it is a hash chain, and its order is part of its content.

Platform facts and transcripts come from the platform's own modules, so a malformed one
is a bug and raises :class:`InvariantViolation`; submissions come from people and are
built through :meth:`EvidenceSubmission.of_file` / :meth:`EvidenceSubmission.of_statement`,
which return ``Result`` values.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from returns.result import Failure, Result, Success

from domain.shared import InvalidInput, InvariantViolation
from domain.shared.ids import ActorId, EvidenceId

PACK_FORMAT: Final = "supportos.evidence-pack/v1"
"""Written into the canonical JSON, so that a future format never collides with this one."""

MAX_STATEMENT_CHARS: Final = 5_000
MAX_FILENAME_CHARS: Final = 255
MAX_FILE_BYTES: Final = 25 * 1024 * 1024
MAX_ID_CHARS: Final = 128
MAX_TEXT_CHARS: Final = 2_000
MAX_LATITUDE_MICRODEG: Final = 90_000_000
MAX_LONGITUDE_MICRODEG: Final = 180_000_000

_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_ROLE: Final = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_MEDIA_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_CONTROL_OR_SEPARATOR: Final = re.compile(r"[\x00-\x1f\x7f/\\]")


# ----------------------------------------------------------------------------- helpers


def is_sha256_hex(value: str) -> bool:
    """64 lowercase hexadecimal characters: the only hash spelling the pack accepts."""
    return _SHA256_HEX.fullmatch(value) is not None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_iso(moment: datetime) -> str:
    """``2026-01-02T03:04:05.000006+00:00``: one spelling per instant, whatever its time zone
    (the same spelling as the audit log's)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _aware_problem(field: str, moment: datetime) -> InvalidInput | None:
    if not is_aware(moment):
        return InvalidInput(field, "must be timezone-aware")
    return None


def _hash_problem(field: str, value: str) -> InvalidInput | None:
    if not is_sha256_hex(value):
        return InvalidInput(field, "must be a sha256 digest: 64 lowercase hexadecimal characters")
    return None


def _text_problem(field: str, value: str, limit: int, *, allow_blank: bool = False) -> InvalidInput | None:
    if not allow_blank and not value.strip():
        return InvalidInput(field, "must not be blank")
    if len(value) > limit:
        return InvalidInput(field, f"must be at most {limit} characters")
    return None


def role_problem(field: str, role: str) -> InvalidInput | None:
    if _ROLE.fullmatch(role) is None:
        return InvalidInput(field, "must be an upper-case role name such as BUYER, SELLER or L2")
    return None


def _raise_if(problem: InvalidInput | None) -> None:
    if problem is not None:
        raise InvariantViolation(problem.message)


def _first(*problems: InvalidInput | None) -> InvalidInput | None:
    return next((problem for problem in problems if problem is not None), None)


# ----------------------------------------------------------------------------- who


@dataclass(frozen=True, slots=True, order=True)
class ActorRef:
    """Who did something, as which role (``BUYER``, ``SELLER``, ``COURIER``, ``L0``-``L3``...).

    The role is the one the actor acted as; what a role may do is the application's
    permission matrix, not the domain's business.
    """

    actor_id: ActorId
    role: str

    def __post_init__(self) -> None:
        _raise_if(ActorRef.problem(self.actor_id, self.role))

    @staticmethod
    def problem(actor_id: str, role: str, prefix: str = "actor") -> InvalidInput | None:
        return _first(
            _text_problem(f"{prefix}_id", actor_id, MAX_ID_CHARS),
            role_problem(f"{prefix}_role", role),
        )

    @staticmethod
    def create(actor_id: str, role: str, prefix: str = "actor") -> Result[ActorRef, InvalidInput]:
        problem = ActorRef.problem(actor_id, role, prefix)
        if problem is not None:
            return Failure(problem)
        return Success(ActorRef(ActorId(actor_id), role))

    def to_canonical(self) -> dict[str, object]:
        return {"actor_id": self.actor_id, "role": self.role}


# ----------------------------------------------------------------------------- prong 1: platform facts


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of the order's timeline: ``PAID``, ``IN_TRANSIT``, ``DELIVERED``..."""

    at: datetime
    kind: str
    detail: str = ""

    def __post_init__(self) -> None:
        _raise_if(
            _first(
                _aware_problem("timeline.at", self.at),
                _text_problem("timeline.kind", self.kind, MAX_ID_CHARS),
                _text_problem("timeline.detail", self.detail, MAX_TEXT_CHARS, allow_blank=True),
            )
        )

    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.at, self.kind, self.detail)

    def to_canonical(self) -> dict[str, object]:
        return {"at": utc_iso(self.at), "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class GpsPoint:
    """A courier position: integer microdegrees (no floats), with when it was taken."""

    at: datetime
    lat_microdeg: int
    lon_microdeg: int

    def __post_init__(self) -> None:
        _raise_if(_aware_problem("gps.at", self.at))
        for name, value, limit in (
            ("gps.lat_microdeg", self.lat_microdeg, MAX_LATITUDE_MICRODEG),
            ("gps.lon_microdeg", self.lon_microdeg, MAX_LONGITUDE_MICRODEG),
        ):
            if type(value) is not int or not -limit <= value <= limit:
                raise InvariantViolation(f"{name}: must be an int in [-{limit}, {limit}], got {value!r}")

    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.at, self.lat_microdeg, self.lon_microdeg)

    def to_canonical(self) -> dict[str, object]:
        return {"at": utc_iso(self.at), "lat_microdeg": self.lat_microdeg, "lon_microdeg": self.lon_microdeg}


@dataclass(frozen=True, slots=True)
class DeliveryProof:
    """What the courier recorded at delivery. Points and photos are kept in a canonical order."""

    delivered_at: datetime | None
    gps_points: tuple[GpsPoint, ...] = ()
    photo_sha256: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.delivered_at is not None:
            _raise_if(_aware_problem("delivery_proof.delivered_at", self.delivered_at))
        for photo in self.photo_sha256:
            _raise_if(_hash_problem("delivery_proof.photo_sha256", photo))
        object.__setattr__(self, "gps_points", tuple(sorted(self.gps_points, key=GpsPoint.sort_key)))
        object.__setattr__(self, "photo_sha256", tuple(sorted(self.photo_sha256)))

    def to_canonical(self) -> dict[str, object]:
        return {
            "delivered_at": None if self.delivered_at is None else utc_iso(self.delivered_at),
            "gps_points": [point.to_canonical() for point in self.gps_points],
            "photo_sha256": list(self.photo_sha256),
        }


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """Prong 1: the platform's own record of the order. ``delivery_proof`` is None if none exists."""

    timeline: tuple[TimelineEntry, ...] = ()
    delivery_proof: DeliveryProof | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeline", tuple(sorted(self.timeline, key=TimelineEntry.sort_key)))

    def to_canonical(self) -> dict[str, object]:
        return {
            "timeline": [entry.to_canonical() for entry in self.timeline],
            "delivery_proof": None if self.delivery_proof is None else self.delivery_proof.to_canonical(),
        }


# ----------------------------------------------------------------------------- prong 2: the conversation


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One message of the order's conversation as it goes into the pack (hashes, not bodies)."""

    message_id: str
    sender_role: str
    sent_at: datetime
    body_sha256: str
    blocked: bool
    chain_hash: str

    def __post_init__(self) -> None:
        _raise_if(
            _first(
                _text_problem("transcript.message_id", self.message_id, MAX_ID_CHARS),
                role_problem("transcript.sender_role", self.sender_role),
                _aware_problem("transcript.sent_at", self.sent_at),
                _hash_problem("transcript.body_sha256", self.body_sha256),
                _hash_problem("transcript.chain_hash", self.chain_hash),
            )
        )
        if type(self.blocked) is not bool:
            raise InvariantViolation("transcript.blocked: must be a bool")

    def to_canonical(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "sender_role": self.sender_role,
            "sent_at": utc_iso(self.sent_at),
            "body_sha256": self.body_sha256,
            "blocked": self.blocked,
            "chain_hash": self.chain_hash,
        }


@dataclass(frozen=True, slots=True)
class ConversationTranscript:
    """Prong 2: the transcript, in chain order (that order is content: it is not normalised).

    An empty transcript (no conversation was ever opened) is a valid, attached prong.
    """

    conversation_id: str | None = None
    entries: tuple[TranscriptEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.conversation_id is not None:
            _raise_if(_text_problem("transcript.conversation_id", self.conversation_id, MAX_ID_CHARS))
        ids = [entry.message_id for entry in self.entries]
        if len(set(ids)) != len(ids):
            raise InvariantViolation("transcript: message ids must be unique")

    def to_canonical(self) -> dict[str, object]:
        return {
            "conversation_id": self.conversation_id,
            "entries": [entry.to_canonical() for entry in self.entries],
        }


# ----------------------------------------------------------------------------- prong 3: party submissions


class EvidenceKind(StrEnum):
    FILE = "FILE"
    STATEMENT = "STATEMENT"


@dataclass(frozen=True, slots=True)
class EvidenceSubmission:
    """A file or a statement submitted by a party (or by support), identified by content hash.

    Files carry ``filename``, ``media_type`` and ``size_bytes`` and no ``statement``; the
    file itself lives in evidence storage under ``content_sha256``. Statements carry
    their (whitespace-trimmed) text, and ``content_sha256`` is the sha256 of its UTF-8 bytes.
    """

    evidence_id: EvidenceId
    submitted_by: ActorRef
    submitted_at: datetime
    kind: EvidenceKind
    content_sha256: str
    filename: str | None = None
    media_type: str | None = None
    size_bytes: int | None = None
    statement: str | None = None

    def __post_init__(self) -> None:
        _raise_if(self._problem())

    def _problem(self) -> InvalidInput | None:
        common = _first(
            _text_problem("evidence_id", self.evidence_id, MAX_ID_CHARS),
            _aware_problem("submitted_at", self.submitted_at),
            _hash_problem("content_sha256", self.content_sha256),
        )
        if common is not None:
            return common
        if self.kind is EvidenceKind.FILE:
            return _file_problem(self.filename, self.media_type, self.size_bytes, self.statement)
        # EvidenceKind.STATEMENT
        if self.filename is not None or self.media_type is not None or self.size_bytes is not None:
            return InvalidInput("kind", "a statement has no filename, media type or size")
        if self.statement is None:
            return InvalidInput("statement", "a statement needs its text")
        problem = _statement_problem(self.statement)
        if problem is not None:
            return problem
        if self.statement != self.statement.strip():
            return InvalidInput("statement", "must be stored trimmed")
        if sha256_hex(self.statement.encode("utf-8")) != self.content_sha256:
            return InvalidInput("content_sha256", "is not the sha256 of the statement text")
        return None

    @staticmethod
    def of_file(
        *,
        evidence_id: str,
        submitted_by_actor: str,
        submitted_by_role: str,
        submitted_at: datetime,
        content_sha256: str,
        filename: str,
        media_type: str,
        size_bytes: int,
    ) -> Result[EvidenceSubmission, InvalidInput]:
        """A file already stored under ``content_sha256``. The media type is lower-cased."""
        problem = _first(
            _text_problem("evidence_id", evidence_id, MAX_ID_CHARS),
            ActorRef.problem(submitted_by_actor, submitted_by_role, "submitted_by"),
            _aware_problem("submitted_at", submitted_at),
            _hash_problem("content_sha256", content_sha256),
            _file_problem(filename, media_type.strip().lower(), size_bytes),
        )
        if problem is not None:
            return Failure(problem)
        return Success(
            EvidenceSubmission(
                evidence_id=EvidenceId(evidence_id),
                submitted_by=ActorRef(ActorId(submitted_by_actor), submitted_by_role),
                submitted_at=submitted_at,
                kind=EvidenceKind.FILE,
                content_sha256=content_sha256,
                filename=filename,
                media_type=media_type.strip().lower(),
                size_bytes=size_bytes,
            )
        )

    @staticmethod
    def of_statement(
        *,
        evidence_id: str,
        submitted_by_actor: str,
        submitted_by_role: str,
        submitted_at: datetime,
        text: str,
    ) -> Result[EvidenceSubmission, InvalidInput]:
        """A written statement; surrounding whitespace is trimmed, then the text is hashed."""
        problem = _first(
            _text_problem("evidence_id", evidence_id, MAX_ID_CHARS),
            ActorRef.problem(submitted_by_actor, submitted_by_role, "submitted_by"),
            _aware_problem("submitted_at", submitted_at),
            _statement_problem(text),
        )
        if problem is not None:
            return Failure(problem)
        statement = text.strip()
        return Success(
            EvidenceSubmission(
                evidence_id=EvidenceId(evidence_id),
                submitted_by=ActorRef(ActorId(submitted_by_actor), submitted_by_role),
                submitted_at=submitted_at,
                kind=EvidenceKind.STATEMENT,
                content_sha256=sha256_hex(statement.encode("utf-8")),
                statement=statement,
            )
        )

    def sort_key(self) -> tuple[datetime, str]:
        return (self.submitted_at, self.evidence_id)

    def to_canonical(self) -> dict[str, object]:
        return {
            "evidence_id": self.evidence_id,
            "submitted_by": self.submitted_by.to_canonical(),
            "submitted_at": utc_iso(self.submitted_at),
            "kind": self.kind.value,
            "content_sha256": self.content_sha256,
            "filename": self.filename,
            "media_type": self.media_type,
            "size_bytes": self.size_bytes,
            "statement": self.statement,
        }


def _statement_problem(text: str) -> InvalidInput | None:
    return _text_problem("statement", text.strip(), MAX_STATEMENT_CHARS)


def _file_problem(
    filename: str | None, media_type: str | None, size_bytes: int | None, statement: str | None = None
) -> InvalidInput | None:
    if statement is not None:
        return InvalidInput("statement", "a file carries no statement text")
    if filename is None:
        return InvalidInput("filename", "a file needs a filename")
    problem = _text_problem("filename", filename, MAX_FILENAME_CHARS)
    if problem is not None:
        return problem
    if filename != filename.strip() or _CONTROL_OR_SEPARATOR.search(filename) or filename in {".", ".."}:
        return InvalidInput("filename", "must be a bare file name without paths or control characters")
    if media_type is None or _MEDIA_TYPE.fullmatch(media_type) is None:
        return InvalidInput("media_type", "must be a lower-case type/subtype such as image/jpeg")
    if type(size_bytes) is not int or not 0 < size_bytes <= MAX_FILE_BYTES:
        return InvalidInput("size_bytes", f"must be an int in [1, {MAX_FILE_BYTES}]")
    return None


# ----------------------------------------------------------------------------- the pack


@dataclass(frozen=True, slots=True)
class EvidencePack:
    """The three prongs. ``None`` means a prong was never attached (an empty one is attached).

    The pack is a value: every change makes a new pack. Freezing is the dispute's business:
    once decided (or withdrawn) it refuses to replace its pack, and the decision records
    :meth:`content_hash`.
    """

    platform_facts: PlatformFacts | None = None
    transcript: ConversationTranscript | None = None
    submissions: tuple[EvidenceSubmission, ...] = ()
    # :meth:`content_hash`, computed once per pack (a value: it never changes); not a field
    # of the pack's identity, and ``replace`` starts a new pack without it
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.submissions, key=EvidenceSubmission.sort_key))
        ids = [submission.evidence_id for submission in ordered]
        if len(set(ids)) != len(ids):
            raise InvariantViolation("evidence pack: evidence ids must be unique")
        object.__setattr__(self, "submissions", ordered)

    @staticmethod
    def empty() -> EvidencePack:
        return EvidencePack()

    # -- changes (new values)

    def with_submission(self, submission: EvidenceSubmission) -> EvidencePack:
        return replace(self, submissions=(*self.submissions, submission))

    def with_platform_facts(self, facts: PlatformFacts) -> EvidencePack:
        return replace(self, platform_facts=facts)

    def with_transcript(self, transcript: ConversationTranscript) -> EvidencePack:
        return replace(self, transcript=transcript)

    # -- queries

    def submission(self, evidence_id: str) -> EvidenceSubmission | None:
        return next((s for s in self.submissions if s.evidence_id == evidence_id), None)

    def submission_by_content(self, actor_id: str, content_sha256: str) -> EvidenceSubmission | None:
        """The submission of this content by this actor, if any."""
        return next(
            (
                s
                for s in self.submissions
                if s.submitted_by.actor_id == actor_id and s.content_sha256 == content_sha256
            ),
            None,
        )

    @property
    def missing_prongs(self) -> tuple[str, ...]:
        """The prongs a decision still needs attached (submissions may legitimately be none)."""
        missing: list[str] = []
        if self.platform_facts is None:
            missing.append("platform_facts")
        if self.transcript is None:
            missing.append("transcript")
        return tuple(missing)

    # -- canonical form

    def to_canonical(self) -> dict[str, object]:
        return {
            "format": PACK_FORMAT,
            "platform_facts": None if self.platform_facts is None else self.platform_facts.to_canonical(),
            "transcript": None if self.transcript is None else self.transcript.to_canonical(),
            "submissions": [submission.to_canonical() for submission in self.submissions],
        }

    def canonical_json(self) -> str:
        """The one serialisation the hash is computed over (and the export is made from)."""
        return json.dumps(
            self.to_canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )

    def content_hash(self) -> str:
        """sha256 (64 lowercase hex) of the bytes of :meth:`canonical_json` (pure ASCII)."""
        if self._hash is None:
            object.__setattr__(self, "_hash", sha256_hex(self.canonical_json().encode("ascii")))
        assert self._hash is not None
        return self._hash
