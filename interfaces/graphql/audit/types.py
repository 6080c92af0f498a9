"""GraphQL type of audit entries, built from domain ``AuditEntry`` objects with ``from_domain``."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.audit import AuditEntry as DomainEntry
from interfaces.graphql.common import BigInt


@strawberry.type(description="One link of the append-only, hash-chained audit log.")
class AuditEntry:
    sequence: BigInt
    actor_id: str
    actor_role: str
    country_code: str
    action: str
    target_type: str
    target_id: str
    request_id: str
    occurred_at: datetime
    before: JSON | None
    after: JSON | None
    previous_hash: str
    entry_hash: str

    @staticmethod
    def from_domain(entry: DomainEntry) -> AuditEntry:
        return AuditEntry(
            sequence=BigInt(entry.sequence),
            actor_id=entry.actor_id,
            actor_role=entry.actor_role,
            country_code=entry.country.value,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            request_id=entry.request_id,
            occurred_at=entry.occurred_at,
            before=None if entry.before is None else JSON(dict(entry.before)),
            after=None if entry.after is None else JSON(dict(entry.after)),
            previous_hash=entry.previous_hash,
            entry_hash=entry.entry_hash,
        )
