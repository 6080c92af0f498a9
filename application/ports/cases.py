"""Case persistence ports: cases with their clocks and timeline, and SLA policies."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from returns.result import Result

from application.ports.concurrency import ConcurrencyConflict
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, Severity, Tier
from domain.cases.sla import SlaPolicy
from domain.shared import CountryCode


@dataclass(frozen=True, slots=True)
class DueClock:
    """A running, unbreached SLA clock whose deadline has passed (the scheduler's work)."""

    country: CountryCode
    case_id: str
    clock: ClockKind
    deadline: datetime


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """The console's work-queue filters; empty sets mean "any"."""

    kinds: frozenset[CaseKind] = field(default_factory=frozenset)
    severities: frozenset[Severity] = field(default_factory=frozenset)
    tiers: frozenset[Tier] = field(default_factory=frozenset)
    statuses: frozenset[CaseStatus] = field(default_factory=frozenset)
    assignee: str | None = None
    breached: bool | None = None  # True: at least one clock breached (and the case still open)
    at_risk_before: datetime | None = None  # a running clock's deadline falls before this instant
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CasePage:
    cases: Sequence[Case]
    next_cursor: str | None  # opaque; pass back as ``after``


class CaseRepository(Protocol):
    """Every method but ``due_clocks`` takes the country and filters by it; nothing commits.

    ``save`` is optimistic (the stored version must be ``case.version`` minus the
    number of version bumps since it was read, as for orders and disputes) and stores
    the new timeline entries and the clocks' current deadlines, so that ``due_clocks``
    is one indexed range query on the deadline, never a scan of the cases.
    """

    async def add(self, case: Case) -> None: ...

    async def get(self, country: CountryCode, case_id: str) -> Case | None: ...

    async def save(self, case: Case) -> Result[None, ConcurrencyConflict]: ...

    async def for_order(self, country: CountryCode, order_id: str) -> list[Case]: ...

    async def for_subject(self, country: CountryCode, kind: CaseKind, subject_ref: str) -> list[Case]: ...

    async def list(
        self, country: CountryCode, where: CaseFilter, *, first: int, after: str | None = None
    ) -> CasePage:
        """Ordered by the nearest running deadline (none last), then by case id."""
        ...

    async def due_clocks(self, now: datetime, *, limit: int) -> builtins.list[DueClock]:
        """Running, unbreached clocks with ``deadline <= now`` in the countries of the bound
        scope, oldest deadline first, at most ``limit``."""
        ...

    async def oldest_due(self, now: datetime) -> dict[CountryCode, datetime]:
        """Per country of the bound scope with any: the deadline of its oldest running clock
        due by ``now`` — a breach nobody has recorded yet (the scheduler's backlog)."""
        ...


class SlaPolicyRepository(Protocol):
    """Versioned SLA policies per country and case kind; the built-in default is version 1
    when nothing is stored."""

    async def current(self, country: CountryCode, kind: CaseKind) -> SlaPolicy: ...

    async def version(self, country: CountryCode, kind: CaseKind, version: int) -> SlaPolicy | None: ...

    async def publish(self, policy: SlaPolicy) -> Result[SlaPolicy, ConcurrencyConflict]:
        """Store ``policy`` as the next version (its ``version`` must be current + 1)."""
        ...
