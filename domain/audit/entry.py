"""Audit entries and the hash that chains each one to the entry before it (SPEC §9).

One log for the whole system: a single chain across every country (the country is a
field of the entry, not a separate chain). Each entry's hash covers its own content and
the previous entry's hash, so editing, removing or reordering any entry breaks the chain
at that entry.

Canonical serialisation (what is hashed), version 1:

- the entry's content fields as one JSON object with sorted keys, no insignificant
  whitespace, ASCII only (``json.dumps(sort_keys=True, separators=(",", ":"))``);
- datetimes as ISO-8601 in UTC with microseconds (``2024-05-01T12:00:00.000000+00:00``);
- ``chain_hash = sha256(previous_hash + "\\n" + canonical_json(fields))`` as lowercase hex;
- the first entry's previous hash is :data:`GENESIS_HASH` (64 zeros).

``before`` / ``after`` are JSON objects of strings, integers, booleans, nulls, lists
and objects. Floats are refused when an entry is drafted: money is integers, and a
float's text could differ between databases and so break a hash that was correct.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeAlias

from domain.shared.country import CountryCode
from domain.shared.errors import InvariantViolation
from domain.shared.ids import ActorId

JsonValue: TypeAlias = str | int | bool | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None
JsonObject: TypeAlias = Mapping[str, JsonValue]

GENESIS_HASH: Final = "0" * 64
_HEX_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO-8601 in UTC with microseconds; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvariantViolation(f"naive datetime in the audit log: {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value: object) -> str:
    """The one serialisation that is hashed: sorted keys, compact, ASCII, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def chain_hash(previous_hash: str, fields: Mapping[str, object]) -> str:
    """sha256 (hex) of the previous entry's hash and this entry's canonical content."""
    payload = f"{previous_hash}\n{canonical_json(fields)}"
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    return _HEX_SHA256.fullmatch(value) is not None


def normalise_json_object(value: JsonObject | None, *, field: str) -> dict[str, JsonValue] | None:
    """A plain ``dict``/``list`` copy of ``value``; refuses floats, non-string keys, other types."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvariantViolation(f"audit {field} must be a JSON object, got {type(value).__name__}")
    normalised = _normalise(value, path=field)
    assert isinstance(normalised, dict)
    return normalised


def _normalise(value: object, *, path: str) -> JsonValue:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        raise InvariantViolation(f"audit {path}: floats are not allowed (use integers or strings)")
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvariantViolation(f"audit {path}: object keys must be strings, got {key!r}")
            result[key] = _normalise(item, path=f"{path}.{key}")
        return result
    if isinstance(value, list | tuple):
        return [_normalise(item, path=f"{path}[{index}]") for index, item in enumerate(value)]
    raise InvariantViolation(f"audit {path}: {type(value).__name__} is not JSON (convert it first)")


def _require_text(value: str, field: str, *, max_length: int = 200) -> None:
    if not value.strip():
        raise InvariantViolation(f"audit {field} must be a non-empty string")
    if len(value) > max_length:
        raise InvariantViolation(f"audit {field} longer than {max_length} characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditDraft:
    """What a use case wants recorded; the log gives it a sequence number and hashes.

    ``occurred_at`` comes from the ``Clock`` port (no clock in the domain).
    """

    actor_id: ActorId
    actor_role: str
    country: CountryCode
    action: str
    target_type: str
    target_id: str
    request_id: str
    occurred_at: datetime
    before: JsonObject | None = None
    after: JsonObject | None = None

    def __post_init__(self) -> None:
        _require_text(self.actor_id, "actor_id")
        _require_text(self.actor_role, "actor_role", max_length=32)
        _require_text(self.action, "action")
        _require_text(self.target_type, "target_type", max_length=64)
        _require_text(self.target_id, "target_id")
        _require_text(self.request_id, "request_id")
        if not isinstance(self.country, CountryCode):
            raise InvariantViolation("audit country must be a CountryCode")
        iso_utc(self.occurred_at)  # refuses naive datetimes
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        object.__setattr__(self, "before", normalise_json_object(self.before, field="before"))
        object.__setattr__(self, "after", normalise_json_object(self.after, field="after"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One sealed link of the chain, as stored.

    Built without validation on purpose: entries read back from the database are
    checked by :func:`domain.audit.chain.verify_chain`, which must report a tampered
    entry rather than fail to build it.
    """

    sequence: int
    actor_id: ActorId
    actor_role: str
    country: CountryCode
    action: str
    target_type: str
    target_id: str
    before: JsonObject | None
    after: JsonObject | None
    request_id: str
    occurred_at: datetime
    previous_hash: str
    entry_hash: str

    def hashed_fields(self) -> dict[str, object]:
        return hashed_fields(
            sequence=self.sequence,
            actor_id=self.actor_id,
            actor_role=self.actor_role,
            country=self.country,
            action=self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            before=self.before,
            after=self.after,
            request_id=self.request_id,
            occurred_at=self.occurred_at,
        )

    def recomputed_hash(self) -> str:
        """The hash this entry's content and previous hash should have."""
        return chain_hash(self.previous_hash, self.hashed_fields())


def hashed_fields(
    *,
    sequence: int,
    actor_id: str,
    actor_role: str,
    country: CountryCode,
    action: str,
    target_type: str,
    target_id: str,
    before: JsonObject | None,
    after: JsonObject | None,
    request_id: str,
    occurred_at: datetime,
) -> dict[str, object]:
    """Every content field of an entry (all but the two hashes), ready for :func:`canonical_json`."""
    return {
        "sequence": sequence,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "country_code": country.value,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "before": before,
        "after": after,
        "request_id": request_id,
        "occurred_at": iso_utc(occurred_at),
    }


def seal(draft: AuditDraft, *, sequence: int, previous_hash: str) -> AuditEntry:
    """The entry that follows ``previous_hash`` at ``sequence`` (1 for the first entry)."""
    if type(sequence) is not int or sequence < 1:
        raise InvariantViolation(f"audit sequence must be a positive integer, got {sequence!r}")
    if not is_sha256_hex(previous_hash):
        raise InvariantViolation(f"previous hash is not a sha256 hex digest: {previous_hash!r}")
    if (sequence == 1) != (previous_hash == GENESIS_HASH):
        raise InvariantViolation("only the first entry (sequence 1) follows the genesis hash")
    fields = hashed_fields(
        sequence=sequence,
        actor_id=draft.actor_id,
        actor_role=draft.actor_role,
        country=draft.country,
        action=draft.action,
        target_type=draft.target_type,
        target_id=draft.target_id,
        before=draft.before,
        after=draft.after,
        request_id=draft.request_id,
        occurred_at=draft.occurred_at,
    )
    return AuditEntry(
        sequence=sequence,
        actor_id=draft.actor_id,
        actor_role=draft.actor_role,
        country=draft.country,
        action=draft.action,
        target_type=draft.target_type,
        target_id=draft.target_id,
        before=draft.before,
        after=draft.after,
        request_id=draft.request_id,
        occurred_at=draft.occurred_at,
        previous_hash=previous_hash,
        entry_hash=chain_hash(previous_hash, fields),
    )
