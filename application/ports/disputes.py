"""Dispute persistence port (disputes with their evidence pack and decision)."""

from __future__ import annotations

from typing import Protocol

from returns.result import Result

from application.ports.concurrency import ConcurrencyConflict
from domain.disputes import Dispute
from domain.shared import CountryCode
from domain.shared.ids import DisputeId, OrderId


class DisputeRepository(Protocol):
    """Every method takes the country and filters by it; nothing here commits.

    ``save`` is optimistic like ``OrderRepository.save``. A second open (non-final)
    dispute for the same order is refused by a unique index; ``add`` reports it as
    ``False``.
    """

    async def add(self, dispute: Dispute) -> bool: ...

    async def get(self, country: CountryCode, dispute_id: DisputeId) -> Dispute | None: ...

    async def save(self, dispute: Dispute) -> Result[None, ConcurrencyConflict]: ...

    async def for_order(self, country: CountryCode, order_id: OrderId) -> list[Dispute]: ...
