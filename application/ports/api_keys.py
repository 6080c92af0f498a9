"""Partner API key storage port: records keep the key's hash, never the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.security.principal import PartnerKind
from domain.shared import CountryCode


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    partner_id: str
    country: CountryCode
    key_sha256: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    partner_kind: PartnerKind = PartnerKind.SELLER_ORG  # what the partner id names (D88)


class ApiKeyLookup(Protocol):
    """What authenticating a key needs: the record by key id (a repository, or a request's reads)."""

    async def get(self, key_id: str) -> ApiKeyRecord | None: ...


class ApiKeyRepository(Protocol):
    """Inside a unit of work (or a read-only session for authentication); never commits."""

    async def add(self, record: ApiKeyRecord) -> None: ...

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        """By key id across countries: the key itself says which country it serves."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """Mark an active key revoked; ``False`` if there is no such active key."""
        ...
