"""Order persistence port (orders with their snapshots)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from returns.result import Result

from application.ports.concurrency import ConcurrencyConflict
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import OrderId


class OrderRepository(Protocol):
    """Every method takes the country and filters by it; nothing here commits.

    ``save`` writes the order only if its stored version is still the one that was read
    (or, for an order never stored, inserts it); otherwise it returns a
    ``ConcurrencyConflict`` and writes nothing.
    """

    async def add(self, order: Order) -> None: ...

    async def get(self, country: CountryCode, order_id: OrderId) -> Order | None: ...

    async def save(self, order: Order) -> Result[None, ConcurrencyConflict]: ...

    async def delivered_before(
        self,
        country: CountryCode,
        delivered_before: datetime,
        *,
        limit: int,
        after: tuple[datetime, OrderId] | None = None,
        paused: bool = False,
    ) -> list[Order]:
        """DELIVERED orders delivered at or before the given instant, oldest delivery first
        (ties by id), at most ``limit``; with ``after``, only those that come after that
        ``(delivered_at, id)`` in that order (the next page). ``paused``: only the orders whose
        dispute window a live incident paused (D127), else only the others (D139)."""
        ...

    async def count_by_status(self, country: CountryCode) -> dict[OrderStatus, int]: ...
