"""The SLA scheduler: breaches every running clock past its deadline, once, and other periodic checks.

One *tick* runs the scheduler's tasks in order at one instant ``now`` (the clock port), in
the system's scope (every country). The first task, :class:`SlaBreaches`, asks
``uow.cases.due_clocks`` for the running, unbreached clocks whose deadline has passed
(one range query on a partial index, at most ``batch`` of them) and, for each, in a
transaction of its own:

1. loads the case and calls ``record_breach(clock, now, scheduler)``: the clock is marked
   breached and the case escalates one tier; ``None`` when the clock is no longer due
   (acknowledged, paused, breached by someone else meanwhile): nothing to do;
2. saves it optimistically; a ``ConcurrencyConflict`` means another writer (another
   scheduler, an agent) changed the case first: this one skips it, and the next tick sees
   the clock as it now is;
3. appends the audit entry ``case.sla_breached`` in the same transaction, commits;
4. after the commit: ``metrics.sla_breached`` and the case change on the change feed.

Exactly once, however many schedulers run (D41): the breach, its timeline entries, the
escalation and the audit entry are one transaction guarded by the case's version. On
PostgreSQL a second scheduler's ``UPDATE`` waits for the first one's row lock and then
matches no row; on SQLite writers are serialised, so the second one reads the breach
already recorded. A scheduler killed mid-tick leaves nothing half-written: its
transaction is rolled back and the next tick records the breach.

Extension point: any periodic check is a :data:`SchedulerTask` (``(svc, now) -> number of
things done``); the composition root lists the tasks a tick runs
(``interfaces/cli/scheduler.py``: ``scheduler_tasks``), e.g. the platform incidents'
"status update due" reminder. A task that raises is logged; the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from returns.result import Failure

from application.audit.trail import record
from application.context import RequestContext, Services
from application.ports.cases import DueClock
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Principal, Role
from application.security.scope import ALL, scoped_to
from domain.cases.case import SLA_MONITOR, Case, CaseSlaBreached
from domain.cases.kinds import ClockKind
from domain.shared import CountryCode, DomainEvent

log = logging.getLogger("supportos.scheduler")

SCHEDULER_ID: Final = "scheduler"
SCHEDULER: Final = SLA_MONITOR
"""Who records breaches (on the timeline and in the audit log)."""

BREACH_ACTION: Final = "case.sla_breached"

SchedulerTask = Callable[[Services, datetime], Awaitable[int]]
"""A periodic check: runs at ``now`` and says how many things it did."""

Publish = Callable[[Services, list[DomainEvent]], Awaitable[None]]
"""Announces committed case events (the change feed); called after commit only."""


async def publish_nothing(svc: Services, events: list[DomainEvent]) -> None:
    return None


_SCHEDULER_PRINCIPAL: Final = Principal(SCHEDULER_ID, Role.SYSTEM, frozenset())


def _context(svc: Services) -> RequestContext:
    return RequestContext(_SCHEDULER_PRINCIPAL, svc.ids.new_id("sched"))


@dataclass(frozen=True, slots=True)
class SlaBreaches:
    """The SLA task: records every due clock's breach, once. ``batch`` clocks per read; reads
    again while there may be more, at most ``max_rounds`` times per tick. A clock whose breach
    could not be recorded (its case changed meanwhile, or recording it failed) is left for the
    next tick and skipped for the rest of this one, so clocks that keep failing at the head of
    the queue never hold back the ones behind them (D107)."""

    batch: int = 100
    max_rounds: int = 20
    publish: Publish = publish_nothing

    def __post_init__(self) -> None:
        if self.batch < 1 or self.max_rounds < 1:
            raise ValueError("batch and max_rounds must be at least 1")

    async def __call__(self, svc: Services, now: datetime) -> int:
        breached = 0
        skipped: set[tuple[CountryCode, str, ClockKind]] = set()
        for _ in range(self.max_rounds):
            limit = self.batch + len(skipped)
            async with svc.uow() as uow:
                due = await uow.cases.due_clocks(now, limit=limit)
            fresh = [clock for clock in due if (clock.country, clock.case_id, clock.clock) not in skipped]
            for clock in fresh:
                try:
                    recorded = await self.breach(svc, clock, now)
                except Exception:  # one bad case must not stop the others
                    log.exception(
                        "recording the breach of %s/%s %s failed", clock.country, clock.case_id, clock.clock
                    )
                    recorded = False
                if recorded:
                    breached += 1
                else:
                    skipped.add((clock.country, clock.case_id, clock.clock))
            if len(due) < limit or not fresh:
                break
        return breached

    async def breach(self, svc: Services, due: DueClock, now: datetime) -> bool:
        """Record one clock's breach; ``False`` when there was nothing (left) to record."""
        async with svc.uow() as uow:
            case = await uow.cases.get(due.country, due.case_id)
            if case is None:
                return False
            tier_before = case.state.tier
            event = case.record_breach(due.clock, now, SCHEDULER)
            if event is None:
                return False
            if isinstance(await uow.cases.save(case), Failure):
                log.info(
                    "case %s/%s changed meanwhile; its %s breach is left to its writer",
                    due.country,
                    due.case_id,
                    due.clock,
                )
                return False
            await record(
                uow,
                _context(svc),
                country=due.country,
                action=BREACH_ACTION,
                target_type="case",
                target_id=due.case_id,
                at=now,
                before={"tier": tier_before.value, "version": case.version - 1},
                after={
                    **_breach_facts(event),
                    "tier": case.state.tier.value,
                    "breaches": case.state.breaches,
                    "version": case.version,
                },
            )
            events = uow.collect_events()
            await uow.commit()
        _count(svc, event)
        await self.publish(svc, events)
        return True


def _count(svc: Services, event: CaseSlaBreached) -> None:
    svc.metrics.sla_breached(event.country, event.severity.value, event.clock.value)


def _breach_facts(event: CaseSlaBreached) -> dict[str, str | None]:
    return {
        "clock": event.clock.value,
        "deadline": event.deadline.isoformat(),
        "severity": event.severity.value,
        "escalated_to": None if event.escalated_to is None else event.escalated_to.value,
    }


async def audit_late_breaches(uow: UnitOfWork, ctx: RequestContext, case: Case, at: datetime) -> None:
    """In the command's transaction: the ``case.sla_breached`` entries of the breaches the
    command found overdue (``Case.take_late_breaches``, D85), written as the scheduler's
    (``"late": true``) under the command's request id."""
    scheduler = RequestContext(_SCHEDULER_PRINCIPAL, ctx.request_id)
    for event in case.take_late_breaches():
        await record(
            uow,
            scheduler,
            country=case.country,
            action=BREACH_ACTION,
            target_type="case",
            target_id=case.case_id,
            at=at,
            before={"tier": None if event.tier is None else event.tier.value},
            after={**_breach_facts(event), "late": True, "breaches": case.state.breaches},
        )


def count_late_breaches(svc: Services, events: Sequence[DomainEvent]) -> None:
    """After commit: the SLA breach counter for breaches commands recorded (the scheduler
    counts its own); the breach alert fires on it (D79)."""
    for event in events:
        if isinstance(event, CaseSlaBreached) and event.late:
            _count(svc, event)


@dataclass
class TickReport:
    """What one tick did: per task (by its position and name), how many things."""

    at: datetime
    done: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def task_name(index: int, task: SchedulerTask) -> str:
    name = getattr(task, "__name__", None) or type(task).__name__
    return f"{index}:{name}"


async def run_tick(svc: Services, tasks: Sequence[SchedulerTask], now: datetime | None = None) -> TickReport:
    """Run every task once at ``now`` (default: the clock's now), in the system's scope."""
    with scoped_to(ALL):
        at = now or svc.clock.now()
        report = TickReport(at)
        for index, task in enumerate(tasks):
            name = task_name(index, task)
            try:
                report.done[name] = await task(svc, at)
            except Exception:
                log.exception("scheduler task %s failed; it runs again next tick", name)
                report.failed.append(name)
        return report


async def run_scheduler(
    svc: Services, tasks: Sequence[SchedulerTask], stop: asyncio.Event, *, interval: float, once: bool = False
) -> list[TickReport]:
    """Tick every ``interval`` seconds until ``stop`` is set (or once). The reports of the
    ticks that did something (all of them with ``once``)."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    reports: list[TickReport] = []
    while not stop.is_set():
        report = await run_tick(svc, tasks)
        if once or any(report.done.values()) or report.failed:
            reports.append(report)
        if once:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    return reports
