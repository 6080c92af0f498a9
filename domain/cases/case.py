"""The Case aggregate: what support works on, its status, tier, SLA clocks and timeline.

A case wraps an immutable :class:`CaseState`; every successful command replaces the
state (one more ``version``, optimistic concurrency), appends to the timeline and
records a :class:`CaseChanged` event. Failed commands change nothing. Time, ids and the
country's :class:`BusinessCalendar` are passed in; nothing here reads a clock.

Status edges (anything else is ``ILLEGAL_CASE_TRANSITION``)::

    NEW          -> ACKNOWLEDGED | MITIGATED | RESOLVED
    ACKNOWLEDGED -> MITIGATED | WAITING_ON_CUSTOMER | RESOLVED
    MITIGATED    -> WAITING_ON_CUSTOMER | RESOLVED
    WAITING_ON_CUSTOMER -> RESOLVED, or back to the status it left when the customer answers
    RESOLVED     -> CLOSED

SLA clocks (targets from the :class:`SlaPolicy` in force when the case opened):

- ``ACKNOWLEDGE`` and ``MITIGATE`` start when the case opens; acknowledging stops the
  first, mitigating (or resolving) stops both;
- ``STATUS_UPDATE`` starts at acknowledgement and restarts with every status update;
- waiting on the customer pauses every running clock, keeping the time it had left
  (in the target's basis: continuous or business time); the customer's answer resumes it;
- a running clock past its deadline *breaches* once: :meth:`Case.record_breach` marks
  it, escalates the case one tier (L1 -> L2 -> L3) and writes the timeline. A breached
  clock is never breached again; a status update starts a fresh ``STATUS_UPDATE`` clock.
- a command that stops, pauses or replaces clocks (acknowledge, mitigate, resolve, wait on
  the customer, a status update) first records the breach of every running clock already
  past its deadline, as the scheduler would have (timeline, escalation, a
  :class:`CaseSlaBreached` event with ``late=True``): a clock stopped between its deadline
  and the scheduler's next tick still breached (D85).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from returns.result import Failure, Result, Success

from domain.cases.calendar import BusinessCalendar
from domain.cases.errors import (
    AlreadyAtTopTier,
    AlreadyRated,
    CaseClosed,
    CaseError,
    CaseNotResolved,
    IllegalCaseTransition,
    RateError,
)
from domain.cases.kinds import OPEN_STATUSES, CaseKind, CaseStatus, ClockKind, IncidentType, Severity, Tier
from domain.cases.sla import SeverityTargets, SlaPolicy, Target
from domain.cases.validation import aware, checked_text
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode, DomainEvent, InvalidInput, InvariantViolation
from domain.shared.ids import ActorId

MAX_TEXT_CHARS: Final = 4_000
MAX_TITLE_CHARS: Final = 200
MAX_REF_CHARS: Final = 128
MAX_TIMELINE_ENTRIES: Final = 5_000

SLA_MONITOR: Final = ActorRef(ActorId("scheduler"), "SYSTEM")
"""Who records a breach on the timeline: the scheduler, or a command that finds one overdue."""

_S = CaseStatus
_EDGES: Final[Mapping[CaseStatus, frozenset[CaseStatus]]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.ACKNOWLEDGED, _S.MITIGATED, _S.RESOLVED}),
        _S.ACKNOWLEDGED: frozenset({_S.MITIGATED, _S.WAITING_ON_CUSTOMER, _S.RESOLVED}),
        _S.MITIGATED: frozenset({_S.WAITING_ON_CUSTOMER, _S.RESOLVED}),
        _S.WAITING_ON_CUSTOMER: frozenset({_S.RESOLVED}),  # back to the status it left: customer_replied
        _S.RESOLVED: frozenset({_S.CLOSED}),
        _S.CLOSED: frozenset(),
    }
)

_TIERS_BY_ROLE: Final = {tier.value: tier for tier in Tier}


class TimelineKind(StrEnum):
    OPENED = "OPENED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSIGNED = "ASSIGNED"
    ESCALATED = "ESCALATED"
    STATUS_UPDATE = "STATUS_UPDATE"
    MITIGATED = "MITIGATED"
    WAITING_ON_CUSTOMER = "WAITING_ON_CUSTOMER"
    CUSTOMER_REPLIED = "CUSTOMER_REPLIED"
    SLA_BREACHED = "SLA_BREACHED"
    ACTION = "ACTION"
    NOTE = "NOTE"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    RATED = "RATED"


class ClockState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    BREACHED = "BREACHED"  # past its deadline, breach recorded, not yet stopped
    STOPPED = "STOPPED"  # met (on time or late: see ``breached_at``)


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One SLA target of a case. Exactly one of ``deadline``/``remaining`` is set until it stops."""

    kind: ClockKind
    target: Target
    started_at: datetime
    deadline: datetime | None
    remaining: timedelta | None = None  # set while paused
    breached_at: datetime | None = None
    stopped_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.stopped_at is None and (self.deadline is None) == (self.remaining is None):
            raise InvariantViolation("a live clock has either a deadline or, paused, the time it had left")

    @property
    def state(self) -> ClockState:
        if self.stopped_at is not None:
            return ClockState.STOPPED
        if self.remaining is not None:
            return ClockState.PAUSED
        if self.breached_at is not None:
            return ClockState.BREACHED
        return ClockState.RUNNING

    @property
    def due_at(self) -> datetime | None:
        """The deadline a scheduler watches: set only while the clock runs unbreached."""
        return self.deadline if self.state is ClockState.RUNNING else None

    def met_on_time(self) -> bool | None:
        """``None`` while the clock is live; then whether it stopped before breaching."""
        if self.stopped_at is None:
            return None
        return self.breached_at is None

    @staticmethod
    def start(kind: ClockKind, target: Target, at: datetime, calendar: BusinessCalendar) -> SlaClock:
        return SlaClock(kind, target, at, target.deadline(at, calendar))

    def stop(self, at: datetime) -> SlaClock:
        if self.stopped_at is not None:
            return self
        return replace(self, stopped_at=at, remaining=None, deadline=self.deadline or at)

    def pause(self, at: datetime, calendar: BusinessCalendar) -> SlaClock:
        if self.state is not ClockState.RUNNING or self.deadline is None:
            return self
        return replace(self, deadline=None, remaining=self.target.remaining(self.deadline, at, calendar))

    def resume(self, at: datetime, calendar: BusinessCalendar) -> SlaClock:
        if self.state is not ClockState.PAUSED or self.remaining is None:
            return self
        return replace(self, deadline=self.target.resume(self.remaining, at, calendar), remaining=None)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    sequence: int  # 1, 2, ... within the case
    at: datetime
    kind: TimelineKind
    actor: ActorRef
    summary: str
    data: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Rating:
    score: int  # 1..5
    comment: str
    rated_by: ActorRef
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class CaseState:
    """Everything a case is; persisted as is and handed back to :meth:`Case.rehydrate`."""

    case_id: str
    country: CountryCode
    kind: CaseKind
    severity: Severity
    tier: Tier
    status: CaseStatus
    title: str
    opened_at: datetime
    opened_by: ActorRef
    policy_version: int
    clocks: Mapping[ClockKind, SlaClock]
    timeline: tuple[TimelineEntry, ...]
    version: int = 1
    assignee: str | None = None
    order_id: str | None = None  # the order an incident or dispute is about
    subject_ref: str | None = None  # dispute id, platform incident id or bundle name
    incident_type: IncidentType | None = None
    status_before_wait: CaseStatus | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_tier: Tier | None = None  # who resolved it: L0 (the rules) or a human tier
    resolution: str | None = None
    closed_at: datetime | None = None
    breaches: int = 0
    rating: Rating | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def next_deadline(self) -> datetime | None:
        """The work queue's sort key: the nearest deadline of a live clock — running, or
        breached and still not met — so overdue cases come first and a breach never sinks a
        case to the bottom with the finished ones. ``None`` when no clock is live."""
        live = (ClockState.RUNNING, ClockState.BREACHED)
        due = [c.deadline for c in self.clocks.values() if c.state in live and c.deadline is not None]
        return min(due) if due else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseChanged(DomainEvent):
    """Something happened to a case (the live queue's feed); ``change`` is the timeline kind."""

    case_id: str
    country: CountryCode
    version: int
    change: TimelineKind


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseSlaBreached(DomainEvent):
    case_id: str
    country: CountryCode
    severity: Severity
    clock: ClockKind
    deadline: datetime
    escalated_to: Tier | None
    tier: Tier | None = None
    """The tier the case was at when the clock breached (before the escalation)."""
    late: bool = False
    """Recorded by a command that stopped, paused or replaced the overdue clock (before the
    scheduler saw it); the application audits these itself (``take_late_breaches``)."""


class Case:
    __slots__ = ("_events", "_late", "_state")

    def __init__(self, state: CaseState) -> None:
        self._state = state
        self._events: list[DomainEvent] = []
        self._late: list[CaseSlaBreached] = []

    # ---- reading -------------------------------------------------------------------

    @property
    def state(self) -> CaseState:
        return self._state

    @property
    def case_id(self) -> str:
        return self._state.case_id

    @property
    def country(self) -> CountryCode:
        return self._state.country

    @property
    def version(self) -> int:
        return self._state.version

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    def take_late_breaches(self) -> list[CaseSlaBreached]:
        """The breaches commands recorded since the last call (they stay in the events)."""
        late, self._late = self._late, []
        return late

    # ---- creating ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        case_id: str,
        country: CountryCode,
        kind: CaseKind,
        severity: Severity,
        title: str,
        opened_by: ActorRef,
        at: datetime,
        policy: SlaPolicy,
        calendar: BusinessCalendar,
        tier: Tier = Tier.L1,
        order_id: str | None = None,
        subject_ref: str | None = None,
        incident_type: IncidentType | None = None,
    ) -> Result[Case, InvalidInput]:
        """A new case in ``NEW`` with its acknowledge and mitigate clocks running."""
        if policy.country != country or policy.case_kind is not kind:
            return Failure(InvalidInput("policy", f"the SLA policy is not {kind.value} in {country.value}"))
        checks: list[Result[object, InvalidInput]] = [
            checked_text("case_id", case_id, MAX_REF_CHARS),
            checked_text("title", title, MAX_TITLE_CHARS),
            aware("at", at),
            checked_text("order_id", order_id or "", MAX_REF_CHARS, required=False),
            checked_text("subject_ref", subject_ref or "", MAX_REF_CHARS, required=False),
        ]
        problems = [check.swap().value_or(None) for check in checks]
        for problem in problems:
            if isinstance(problem, InvalidInput):
                return Failure(problem)
        if (kind is CaseKind.ORDER_INCIDENT) != (incident_type is not None):
            return Failure(
                InvalidInput("incident_type", "an order incident has a type, and only an incident")
            )
        if kind in (CaseKind.ORDER_INCIDENT, CaseKind.DISPUTE) and not order_id:
            return Failure(InvalidInput("order_id", f"a {kind.value} case is about an order"))
        targets = policy.targets_for(severity)
        if not isinstance(targets.value_or(None), SeverityTargets):
            return Failure(
                InvalidInput("severity", f"{severity.value} is not covered for {kind.value} cases")
            )
        severity_targets = targets.unwrap()
        clocks = {
            clock: SlaClock.start(clock, severity_targets.for_clock(clock), at, calendar)
            for clock in (ClockKind.ACKNOWLEDGE, ClockKind.MITIGATE)
        }
        opened = TimelineEntry(
            1,
            at,
            TimelineKind.OPENED,
            opened_by,
            f"{kind.value} {severity.value} opened at {tier.value}: {title.strip()}",
            MappingProxyType(
                {"severity": severity.value, "tier": tier.value, "policy_version": str(policy.version)}
            ),
        )
        state = CaseState(
            case_id=case_id.strip(),
            country=country,
            kind=kind,
            severity=severity,
            tier=tier,
            status=CaseStatus.NEW,
            title=title.strip(),
            opened_at=at,
            opened_by=opened_by,
            policy_version=policy.version,
            clocks=MappingProxyType(clocks),
            timeline=(opened,),
            order_id=order_id or None,
            subject_ref=subject_ref or None,
            incident_type=incident_type,
        )
        case = cls(state)
        case._events.append(
            CaseChanged(
                occurred_at=at, case_id=state.case_id, country=country, version=1, change=TimelineKind.OPENED
            )
        )
        return Success(case)

    @classmethod
    def rehydrate(cls, state: CaseState) -> Case:
        """A case as stored (no events)."""
        return cls(state)

    # ---- commands ------------------------------------------------------------------

    def acknowledge(
        self, at: datetime, actor: ActorRef, calendar: BusinessCalendar, policy: SlaPolicy
    ) -> Result[None, CaseError]:
        """NEW -> ACKNOWLEDGED: stops the acknowledge clock, starts the status-update clock."""
        return self._move(
            at,
            actor,
            to=CaseStatus.ACKNOWLEDGED,
            kind=TimelineKind.ACKNOWLEDGED,
            summary="acknowledged",
            calendar=calendar,
            policy=policy,
        )

    def mitigate(
        self, at: datetime, actor: ActorRef, note: str, calendar: BusinessCalendar, policy: SlaPolicy
    ) -> Result[None, CaseError]:
        """-> MITIGATED: stops the acknowledge and mitigate clocks."""
        return self._move(
            at,
            actor,
            to=CaseStatus.MITIGATED,
            kind=TimelineKind.MITIGATED,
            summary=note or "mitigated",
            calendar=calendar,
            policy=policy,
        )

    def resolve(self, at: datetime, actor: ActorRef, resolution: str) -> Result[None, CaseError]:
        """-> RESOLVED: every clock stops; records which tier resolved it (L0 for the rules)."""
        text = checked_text("resolution", resolution, MAX_TEXT_CHARS)
        if isinstance(text, Failure):
            return Failure(text.failure())
        edge = self._edge(CaseStatus.RESOLVED)
        if isinstance(edge, Failure):
            return edge
        self._breach_overdue(at)
        resolved_tier = _TIERS_BY_ROLE.get(actor.role, self._state.tier)
        clocks = {kind: clock.stop(at) for kind, clock in self._state.clocks.items()}
        self._apply(
            at,
            actor,
            TimelineKind.RESOLVED,
            text.unwrap(),
            {"resolved_tier": resolved_tier.value},
            status=CaseStatus.RESOLVED,
            clocks=MappingProxyType(clocks),
            resolved_at=at,
            resolved_tier=resolved_tier,
            resolution=text.unwrap(),
            status_before_wait=None,
            acknowledged_at=self._state.acknowledged_at or at,
            mitigated_at=self._state.mitigated_at or at,
        )
        return Success(None)

    def close(self, at: datetime, actor: ActorRef) -> Result[None, CaseError]:
        edge = self._edge(CaseStatus.CLOSED)
        if isinstance(edge, Failure):
            return edge
        self._apply(at, actor, TimelineKind.CLOSED, "closed", {}, status=CaseStatus.CLOSED, closed_at=at)
        return Success(None)

    def assign(self, at: datetime, actor: ActorRef, assignee: str | None) -> Result[None, CaseError]:
        """Give the case to an agent (``None``: back to the tier's queue)."""
        if not self._state.is_open:
            return Failure(CaseClosed(self.case_id, self._state.status.value))
        if assignee is not None:
            checked = checked_text("assignee", assignee, MAX_REF_CHARS)
            if isinstance(checked, Failure):
                return Failure(checked.failure())
            assignee = checked.unwrap()
        summary = f"assigned to {assignee}" if assignee else "unassigned"
        self._apply(
            at, actor, TimelineKind.ASSIGNED, summary, {"assignee": assignee or ""}, assignee=assignee
        )
        return Success(None)

    def escalate(self, at: datetime, actor: ActorRef, reason: str) -> Result[None, CaseError]:
        """One tier up (L0 -> L1 -> L2 -> L3); the case goes back to that tier's queue."""
        text = checked_text("reason", reason, MAX_TEXT_CHARS)
        if isinstance(text, Failure):
            return Failure(text.failure())
        if not self._state.is_open:
            return Failure(CaseClosed(self.case_id, self._state.status.value))
        target = self._state.tier.next()
        if target is None:
            return Failure(AlreadyAtTopTier(self.case_id))
        self._apply(
            at,
            actor,
            TimelineKind.ESCALATED,
            f"escalated {self._state.tier.value} -> {target.value}: {text.unwrap()}",
            {"from": self._state.tier.value, "to": target.value},
            tier=target,
            assignee=None,
        )
        return Success(None)

    def post_status_update(
        self, at: datetime, actor: ActorRef, text: str, calendar: BusinessCalendar, policy: SlaPolicy
    ) -> Result[None, CaseError]:
        """A status update for the people affected; restarts the status-update clock."""
        checked = checked_text("text", text, MAX_TEXT_CHARS)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if not self._state.is_open:
            return Failure(CaseClosed(self.case_id, self._state.status.value))
        self._breach_overdue(at)
        clocks = dict(self._state.clocks)
        if self._state.status is not CaseStatus.NEW:
            target = self._targets(policy).for_clock(ClockKind.STATUS_UPDATE)
            fresh = SlaClock.start(ClockKind.STATUS_UPDATE, target, at, calendar)
            if self._state.status is CaseStatus.WAITING_ON_CUSTOMER:
                fresh = fresh.pause(at, calendar)
            clocks[ClockKind.STATUS_UPDATE] = fresh
        self._apply(
            at, actor, TimelineKind.STATUS_UPDATE, checked.unwrap(), {}, clocks=MappingProxyType(clocks)
        )
        return Success(None)

    def wait_on_customer(
        self, at: datetime, actor: ActorRef, reason: str, calendar: BusinessCalendar
    ) -> Result[None, CaseError]:
        """-> WAITING_ON_CUSTOMER: every running clock pauses."""
        text = checked_text("reason", reason, MAX_TEXT_CHARS)
        if isinstance(text, Failure):
            return Failure(text.failure())
        edge = self._edge(CaseStatus.WAITING_ON_CUSTOMER)
        if isinstance(edge, Failure):
            return edge
        self._breach_overdue(at)
        clocks = {kind: clock.pause(at, calendar) for kind, clock in self._state.clocks.items()}
        self._apply(
            at,
            actor,
            TimelineKind.WAITING_ON_CUSTOMER,
            text.unwrap(),
            {},
            status=CaseStatus.WAITING_ON_CUSTOMER,
            status_before_wait=self._state.status,
            clocks=MappingProxyType(clocks),
        )
        return Success(None)

    def customer_replied(
        self, at: datetime, actor: ActorRef, calendar: BusinessCalendar
    ) -> Result[None, CaseError]:
        """WAITING_ON_CUSTOMER -> the status it left; paused clocks resume with the time they had left."""
        if self._state.status is not CaseStatus.WAITING_ON_CUSTOMER or self._state.status_before_wait is None:
            return Failure(IllegalCaseTransition(self._state.status.value, "(customer replied)"))
        clocks = {kind: clock.resume(at, calendar) for kind, clock in self._state.clocks.items()}
        self._apply(
            at,
            actor,
            TimelineKind.CUSTOMER_REPLIED,
            "the customer answered; clocks resumed",
            {},
            status=self._state.status_before_wait,
            status_before_wait=None,
            clocks=MappingProxyType(clocks),
        )
        return Success(None)

    def record_action(
        self, at: datetime, actor: ActorRef, action: str, summary: str, data: Mapping[str, str] | None = None
    ) -> Result[None, CaseError]:
        """An action taken on the case's subject (an incident action, an L0 decision, an
        attached bundle...), kept on the timeline."""
        checked = checked_text("summary", summary, MAX_TEXT_CHARS)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        if not self._state.is_open:
            return Failure(CaseClosed(self.case_id, self._state.status.value))
        self._apply(at, actor, TimelineKind.ACTION, checked.unwrap(), {"action": action, **(data or {})})
        return Success(None)

    def add_note(self, at: datetime, actor: ActorRef, text: str) -> Result[None, CaseError]:
        """A note on the timeline; allowed on closed cases too (e.g. a late finding)."""
        checked = checked_text("text", text, MAX_TEXT_CHARS)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        self._apply(at, actor, TimelineKind.NOTE, checked.unwrap(), {})
        return Success(None)

    def record_breach(
        self, clock: ClockKind, at: datetime, actor: ActorRef, *, late: bool = False
    ) -> CaseSlaBreached | None:
        """Mark ``clock`` breached if it runs past its deadline at ``at`` and escalate one
        tier. ``None`` (nothing changes) when it is not due, already breached, paused or stopped —
        which is what makes a breach happen once however often a scheduler asks."""
        current = self._state.clocks.get(clock)
        if current is None or current.due_at is None or current.due_at > at or not self._state.is_open:
            return None
        deadline, tier = current.due_at, self._state.tier
        clocks = dict(self._state.clocks)
        clocks[clock] = replace(current, breached_at=at)
        escalated_to = self._state.tier.next()
        self._apply(
            at,
            actor,
            TimelineKind.SLA_BREACHED,
            f"{clock.value} target ({current.target.describe()}) breached; "
            f"deadline was {deadline.isoformat()}",
            {"clock": clock.value, "deadline": deadline.isoformat()},
            clocks=MappingProxyType(clocks),
            breaches=self._state.breaches + 1,
        )
        if escalated_to is not None:
            self._apply(
                at,
                actor,
                TimelineKind.ESCALATED,
                f"escalated {self._state.tier.value} -> {escalated_to.value}: {clock.value} SLA breached",
                {"from": self._state.tier.value, "to": escalated_to.value, "cause": "SLA_BREACH"},
                tier=escalated_to,
                assignee=None,
                bump=False,
            )
        event = CaseSlaBreached(
            occurred_at=at,
            case_id=self.case_id,
            country=self.country,
            severity=self._state.severity,
            clock=clock,
            deadline=deadline,
            escalated_to=escalated_to,
            tier=tier,
            late=late,
        )
        self._events.append(event)
        if late:
            self._late.append(event)
        return event

    def rate(self, at: datetime, by: ActorRef, score: int, comment: str) -> Result[Rating, RateError]:
        """The customer's rating (1-5 and a comment), once, after the case is resolved."""
        if self._state.status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
            return Failure(CaseNotResolved(self.case_id, self._state.status.value))
        if self._state.rating is not None:
            return Failure(AlreadyRated(self.case_id))
        if isinstance(score, bool) or not 1 <= score <= 5:
            return Failure(InvalidInput("score", "must be an integer from 1 to 5"))
        checked = checked_text("comment", comment, MAX_TEXT_CHARS, required=False)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        rating = Rating(score, checked.unwrap(), by, at)
        self._apply(at, by, TimelineKind.RATED, f"rated {score}/5", {"score": str(score)}, rating=rating)
        return Success(rating)

    # ---- internals -----------------------------------------------------------------

    def _breach_overdue(self, at: datetime) -> None:
        """Before a command stops, pauses or replaces clocks: record the breach of every
        running clock whose deadline passed before ``at`` (a clock met exactly at its
        deadline is on time), as the scheduler's next tick would have."""
        for kind in ClockKind:
            clock = self._state.clocks.get(kind)
            if clock is not None and clock.due_at is not None and clock.due_at < at:
                self.record_breach(kind, at, SLA_MONITOR, late=True)

    def _targets(self, policy: SlaPolicy) -> SeverityTargets:
        targets = policy.targets_for(self._state.severity).value_or(None)
        if not isinstance(targets, SeverityTargets):
            raise InvariantViolation(f"policy v{policy.version} does not cover {self._state.severity.value}")
        return targets

    def _edge(self, to: CaseStatus) -> Result[None, CaseError]:
        current = self._state.status
        if current is CaseStatus.CLOSED or (current is CaseStatus.RESOLVED and to is not CaseStatus.CLOSED):
            return Failure(CaseClosed(self.case_id, current.value))
        if to not in _EDGES[current]:
            return Failure(IllegalCaseTransition(current.value, to.value))
        return Success(None)

    def _move(
        self,
        at: datetime,
        actor: ActorRef,
        *,
        to: CaseStatus,
        kind: TimelineKind,
        summary: str,
        calendar: BusinessCalendar,
        policy: SlaPolicy,
    ) -> Result[None, CaseError]:
        checked = checked_text("note", summary, MAX_TEXT_CHARS)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        edge = self._edge(to)
        if isinstance(edge, Failure):
            return edge
        self._breach_overdue(at)
        clocks = dict(self._state.clocks)
        clocks[ClockKind.ACKNOWLEDGE] = clocks[ClockKind.ACKNOWLEDGE].stop(at)
        if to is CaseStatus.MITIGATED:
            clocks[ClockKind.MITIGATE] = clocks[ClockKind.MITIGATE].stop(at)
        if ClockKind.STATUS_UPDATE not in clocks:
            target = self._targets(policy).for_clock(ClockKind.STATUS_UPDATE)
            clocks[ClockKind.STATUS_UPDATE] = SlaClock.start(ClockKind.STATUS_UPDATE, target, at, calendar)
        self._apply(
            at,
            actor,
            kind,
            checked.unwrap(),
            {},
            status=to,
            clocks=MappingProxyType(clocks),
            acknowledged_at=self._state.acknowledged_at or at,
            mitigated_at=at if to is CaseStatus.MITIGATED else self._state.mitigated_at,
        )
        return Success(None)

    def _apply(
        self,
        at: datetime,
        actor: ActorRef,
        kind: TimelineKind,
        summary: str,
        data: Mapping[str, str],
        *,
        bump: bool = True,
        **changes: Any,
    ) -> None:
        if len(self._state.timeline) >= MAX_TIMELINE_ENTRIES:
            raise InvariantViolation(
                f"case {self.case_id} has reached {MAX_TIMELINE_ENTRIES} timeline entries"
            )
        entry = TimelineEntry(
            len(self._state.timeline) + 1, at, kind, actor, summary, MappingProxyType(dict(data))
        )
        version = self._state.version + 1 if bump else self._state.version
        self._state = replace(
            self._state, timeline=(*self._state.timeline, entry), version=version, **changes
        )
        if bump:
            self._events.append(
                CaseChanged(
                    occurred_at=at, case_id=self.case_id, country=self.country, version=version, change=kind
                )
            )
