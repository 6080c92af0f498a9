"""Refund policy port: versioned policy data per country."""

from __future__ import annotations

from datetime import datetime
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
