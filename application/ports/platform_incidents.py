"""Platform-incident persistence: incidents with their links and updates, their reviews,
and the cases a monthly report reads (D46, D47)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from returns.result import Result

from application.ports.concurrency import ConcurrencyConflict
from domain.cases.case import CaseState
from domain.cases.platform import PlatformIncident
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode, Money


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A live incident whose status update was due at ``due_at`` and not yet reminded about."""

    country: CountryCode
    incident_id: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class StoredReview:
    """A post-incident review as stored when the incident closed."""

    country: CountryCode
    incident_id: str
    written_at: datetime
    written_by: ActorRef
    markdown: str
    orders_affected: int
    cases_affected: int
    disputes: int
    refunded: Mapping[str, Money]
    credited: Mapping[str, Money]


class PlatformIncidentRepository(Protocol):
    """Country in every method but ``reminders_due`` (the bound scope's countries); nothing
    commits. ``save`` is optimistic, as for cases."""

    async def add(self, incident: PlatformIncident) -> None: ...

    async def get(self, country: CountryCode, incident_id: str) -> PlatformIncident | None: ...

    async def save(self, incident: PlatformIncident) -> Result[None, ConcurrencyConflict]: ...

    async def reminders_due(self, now: datetime, *, limit: int) -> list[DueReminder]:
        """Live incidents whose update was due at or before ``now`` and not yet reminded
        about, oldest due first, at most ``limit``."""
        ...

    async def add_review(self, review: StoredReview) -> bool:
        """Store an incident's review; ``False`` (nothing written) if it already has one."""
        ...

    async def review(self, country: CountryCode, incident_id: str) -> StoredReview | None: ...


class CaseHistory(Protocol):
    """Cases as recorded, for reports (read-only)."""

    async def opened_between(self, country: CountryCode, start: datetime, end: datetime) -> list[CaseState]:
        """Every case of ``country`` opened in ``[start, end)``, oldest first."""
        ...
