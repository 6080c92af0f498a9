"""Partner API keys: shown once, stored only as a hash, one partner and one country each.

A key reads ``sos_<key id>_<secret>``; the database keeps the key id and the sha256 of
the whole key. Authenticating looks the row up by key id and compares hashes in
constant time, so neither a database leak nor a timing probe reveals a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from returns.result import Failure, Result, Success

from application.security.principal import Principal, Role
from domain.shared import CountryCode, DomainError

PREFIX = "sos"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    partner_id: str
    country: CountryCode
    key_sha256: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyRepository(Protocol):
    async def add(self, record: ApiKeyRecord) -> None: ...

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        """By key id across countries: the key itself says which country it serves."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class InvalidApiKey(DomainError):
    code: ClassVar[str] = "INVALID_API_KEY"

    @property
    def message(self) -> str:
        return "the API key is unknown, malformed or revoked"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key(key_id: str) -> str:
    return f"{PREFIX}_{key_id}_{secrets.token_hex(32)}"  # hex: no "_" inside the secret


def key_id_of(raw: str) -> str | None:
    parts = raw.split("_")
    # "sos_<id with underscores>_<secret>": the id may contain "_" (e.g. "key_01H...").
    if len(parts) < 3 or parts[0] != PREFIX or len(raw) > 300:
        return None
    return "_".join(parts[1:-1]) or None


def record_for(
    raw: str, *, key_id: str, partner_id: str, country: CountryCode, label: str, now: datetime
) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, partner_id, country, hash_key(raw), label, now)


def principal_for(record: ApiKeyRecord, raw: str) -> Result[Principal, InvalidApiKey]:
    if record.revoked_at is not None or not hmac.compare_digest(record.key_sha256, hash_key(raw)):
        return Failure(InvalidApiKey())
    return Success(
        Principal(
            actor_id=f"partner:{record.partner_id}",
            role=Role.PARTNER,
            countries=frozenset({record.country}),
            partner_id=record.partner_id,
        )
    )


async def authenticate(keys: ApiKeyRepository, raw: str) -> Result[Principal, InvalidApiKey]:
    key_id = key_id_of(raw)
    record = None if key_id is None else await keys.get(key_id)
    if record is None:
        hmac.compare_digest(hash_key(raw), hash_key(raw[::-1]))  # same work on a miss
        return Failure(InvalidApiKey())
    return principal_for(record, raw)
