"""Refund policy port: versioned policy data per country."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from domain.shared import CountryCode
from domain.snapshots import RefundPolicy


class PolicyRepository(Protocol):
    async def add(self, policy: RefundPolicy, *, effective_from: datetime) -> None:
        """Store a new version (versions are never edited)."""
        ...

    async def in_force(self, country: CountryCode, at: datetime) -> RefundPolicy | None:
        """The version with the latest ``effective_from`` at or before ``at``."""
        ...

    async def get(self, country: CountryCode, version: str) -> RefundPolicy | None: ...

    async def shortest_dispute_windows(self) -> dict[CountryCode, timedelta]:
        """Per country with any policy version, the shortest dispute window of its
        versions: no order of that country can leave DELIVERED for COMPLETED sooner."""
        ...
