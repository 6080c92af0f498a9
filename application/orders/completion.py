"""The scheduler's completion task: DELIVERED orders complete when their window closes.

SPEC §3: ``COMPLETED`` "happens automatically when the dispute window (policy, default
72 h after delivery) closes with no dispute open"; completing releases the escrow to the
seller's payable and the platform's commission (SPEC §4). Each tick runs
:func:`application.orders.use_cases.complete_due_orders` for every country that has a
refund policy (an order can only have been captured under one), as the system's own
principal, at most ``limit`` orders per country per tick (the rest waits for the next).

Any number of ticks may run side by side (several schedulers, workers' maintenance): an
order is completed in one transaction that saves it with its version check, so a second
attempt finds it COMPLETED (or loses the version race) and changes nothing; the release
posting's idempotency key is the order's own as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure

from application.context import RequestContext, Services
from application.orders.use_cases import CompleteDueOrders, complete_due_orders
from application.security.principal import Principal, Role
from application.security.scope import system_scope

COMPLETER_ID: Final = "order-completion"
DEFAULT_LIMIT: Final = 500


@dataclass(frozen=True, slots=True)
class CompleteDueOrdersTask:
    """The tick task: ``await task(svc, now)`` completes the due orders of every country
    with a refund policy and returns how many it completed."""

    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if type(self.limit) is not int or self.limit < 1:
            raise ValueError(f"CompleteDueOrdersTask.limit must be an integer >= 1, not {self.limit!r}")

    @system_scope
    async def __call__(self, svc: Services, now: datetime) -> int:
        async with svc.uow() as uow:
            countries = sorted((await uow.policies.shortest_dispute_windows()).keys(), key=lambda c: c.value)
        if not countries:
            return 0
        ctx = RequestContext(
            Principal(COMPLETER_ID, Role.SYSTEM, frozenset(countries)), svc.ids.new_id("sched")
        )
        completed = 0
        for country in countries:
            done = await complete_due_orders(svc, ctx, CompleteDueOrders(country, limit=self.limit), now=now)
            if isinstance(done, Failure):  # the system principal may complete in every country
                raise RuntimeError(f"order completion refused in {country.value}: {done.failure()}")
            completed += len(done.unwrap())
        return completed


__all__ = ["COMPLETER_ID", "CompleteDueOrdersTask"]
