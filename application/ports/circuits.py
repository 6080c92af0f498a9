"""The circuit breakers' shared state (one row per country and provider), for every worker.

A breaker is a ``domain.integrations.Circuit`` value. Changing one is a compare-and-set:
``replace(expected, new)`` writes ``new`` only if the stored circuit is still
``expected`` (same version), so of two workers racing for the one half-open trial only
one wins; the other re-reads and waits. Inside a unit of work; never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.integrations import Circuit
from domain.shared import CountryCode


class CircuitBreakers(Protocol):
    async def get(self, country: CountryCode, provider: str) -> Circuit:
        """The stored circuit, or a closed one with no history (version 0) if none is stored."""
        ...

    async def replace(self, expected: Circuit, new: Circuit) -> bool:
        """Store ``new`` if the stored circuit is still ``expected``; ``False`` if another
        worker changed it first (nothing written). The stored version goes up by one."""
        ...

    async def clear_failures(self, country: CountryCode, provider: str, *, now: datetime) -> bool:
        """A success of a call let through a *closed* circuit, as one conditional update:
        CLOSED with failures -> CLOSED with none (``Circuit.record_success`` for any caller
        but a half-open trial's owner); any other state is left alone. Cheap enough to run
        inside the transaction that records the call's result (no read, and no row lock
        unless there were failures to clear). ``True`` if a count was cleared."""
        ...

    async def in_country(self, country: CountryCode) -> list[Circuit]:
        """Every stored circuit of ``country``, by provider."""
        ...

    async def everywhere(self) -> list[Circuit]:
        """Every stored circuit (metrics), by country and provider."""
        ...
