"""The shared state behind the queue gauges, read into the metrics (SPEC §11).

Outbox depth and the oldest pending job's age per country, provider and status, and every
circuit breaker's state: the same numbers for every process (they come from the
database), refreshed by the workers between claims and by the API before a ``/metrics``
scrape. A failure is the caller's to log; the metrics keep their last values.
"""

from __future__ import annotations

from application.context import Services
from application.ports.metrics import Metrics
from application.security.scope import ALL, scoped_to


async def refresh_queue_gauges(svc: Services, metrics: Metrics) -> None:
    now = svc.clock.now()
    with scoped_to(ALL):  # the system's own read: every country
        async with svc.uow() as uow:
            depths = await uow.outbox.depth()
            circuits = await uow.circuits.everywhere()
            overdue = await uow.cases.oldest_due(now)
    metrics.queue_depth(depths)
    metrics.circuits(circuits)
    # breaches past their deadline that no tick recorded yet: the scheduler's backlog (D87)
    metrics.sla_unrecorded({country: (now - due).total_seconds() for country, due in overdue.items()})
