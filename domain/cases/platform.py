"""The PlatformIncident aggregate: an outage or a degraded provider (SPEC §6, D46).

A platform incident links the orders and cases it affects, carries status updates on its
severity's cadence, and is closed with a root cause and action items, which is when its
post-incident review is written (:mod:`domain.cases.review`). Its SLA clocks are not
here: each platform incident has a :class:`~domain.cases.case.Case` of kind
``PLATFORM_INCIDENT`` (``subject_ref`` = the incident id) that the application opens,
updates and closes in the same transaction; the incident keeps the case's id and the
instant its next status update is due (the case's ``STATUS_UPDATE`` deadline).

Status edges (anything else is ``ILLEGAL_PLATFORM_INCIDENT_TRANSITION``)::

    OPEN -> MITIGATED -> RESOLVED -> CLOSED
    OPEN -> RESOLVED;  MITIGATED | RESOLVED -> CLOSED (closing resolves first)

Like the case, the incident wraps an immutable :class:`PlatformIncidentState`; every
successful command replaces it with one more ``version`` (optimistic concurrency) and one
more timeline entry. Failed commands change nothing. Time, ids and authors are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Final

from returns.result import Failure, Result, Success

from domain.cases.kinds import Severity
from domain.cases.validation import aware, checked_text
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode, DomainError, DomainEvent, InvalidInput, InvariantViolation

MAX_TITLE_CHARS: Final = 200
MAX_TEXT_CHARS: Final = 4_000
MAX_REF_CHARS: Final = 128
MAX_LINKS: Final = 10_000
MAX_UPDATES: Final = 2_000
MAX_ACTION_ITEMS: Final = 50


class PlatformIncidentStatus(StrEnum):
    OPEN = "OPEN"
    MITIGATED = "MITIGATED"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


_P = PlatformIncidentStatus
_EDGES: Final[Mapping[PlatformIncidentStatus, frozenset[PlatformIncidentStatus]]] = MappingProxyType(
    {
        _P.OPEN: frozenset({_P.MITIGATED, _P.RESOLVED}),
        _P.MITIGATED: frozenset({_P.RESOLVED}),
        _P.RESOLVED: frozenset({_P.CLOSED}),
        _P.CLOSED: frozenset(),
    }
)
LIVE_STATUSES: Final = frozenset({_P.OPEN, _P.MITIGATED})


class LinkKind(StrEnum):
    ORDER = "ORDER"
    CASE = "CASE"


class IncidentEntryKind(StrEnum):
    OPENED = "OPENED"
    LINKED = "LINKED"
    STATUS_UPDATE = "STATUS_UPDATE"
    MITIGATED = "MITIGATED"
    RESOLVED = "RESOLVED"
    UPDATE_REMINDER = "UPDATE_REMINDER"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class IllegalPlatformIncidentTransition(DomainError):
    code: ClassVar[str] = "ILLEGAL_PLATFORM_INCIDENT_TRANSITION"
    incident_id: str
    from_status: str
    to_status: str

    @property
    def message(self) -> str:
        return f"platform incident {self.incident_id} cannot go from {self.from_status} to {self.to_status}"


@dataclass(frozen=True, slots=True)
class PlatformIncidentClosed(DomainError):
    code: ClassVar[str] = "PLATFORM_INCIDENT_CLOSED"
    incident_id: str

    @property
    def message(self) -> str:
        return f"platform incident {self.incident_id} is closed; it takes no more changes"


PlatformIncidentError = IllegalPlatformIncidentTransition | PlatformIncidentClosed | InvalidInput


@dataclass(frozen=True, slots=True)
class IncidentLink:
    kind: LinkKind
    ref: str  # an order id or a case id
    linked_at: datetime
    linked_by: ActorRef


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    sequence: int  # 1, 2, ... within the incident
    at: datetime
    author: ActorRef
    text: str
    status: PlatformIncidentStatus  # the incident's status once this update was posted


@dataclass(frozen=True, slots=True)
class ActionItem:
    description: str
    owner: str

    @staticmethod
    def build(description: str, owner: str) -> Result[ActionItem, InvalidInput]:
        text = checked_text("action_items.description", description, MAX_TEXT_CHARS)
        if isinstance(text, Failure):
            return Failure(text.failure())
        who = checked_text("action_items.owner", owner, MAX_REF_CHARS)
        if isinstance(who, Failure):
            return Failure(who.failure())
        return Success(ActionItem(text.unwrap(), who.unwrap()))


@dataclass(frozen=True, slots=True)
class IncidentEntry:
    """One line of the incident's own timeline (the review merges it with its cases')."""

    sequence: int
    at: datetime
    kind: IncidentEntryKind
    actor: ActorRef
    summary: str
    data: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class PlatformIncidentState:
    """Everything a platform incident is; persisted as is and handed back to ``rehydrate``."""

    incident_id: str
    country: CountryCode
    severity: Severity
    title: str
    status: PlatformIncidentStatus
    opened_at: datetime
    opened_by: ActorRef
    case_id: str  # its PLATFORM_INCIDENT case (the SLA clocks)
    timeline: tuple[IncidentEntry, ...]
    links: tuple[IncidentLink, ...] = ()
    updates: tuple[StatusUpdate, ...] = ()
    version: int = 1
    update_due_at: datetime | None = None  # the case's STATUS_UPDATE deadline while live
    reminded_for: datetime | None = None  # the due instant last reminded about
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: ActorRef | None = None
    root_cause: str | None = None
    action_items: tuple[ActionItem, ...] = ()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(link.ref for link in self.links if link.kind is LinkKind.ORDER)

    @property
    def case_ids(self) -> tuple[str, ...]:
        """The linked cases (not the incident's own case)."""
        return tuple(link.ref for link in self.links if link.kind is LinkKind.CASE)

    @property
    def reminder_due_at(self) -> datetime | None:
        """When a reminder is owed: the update deadline, unless already reminded about it."""
        if not self.is_live or self.update_due_at is None or self.reminded_for == self.update_due_at:
            return None
        return self.update_due_at


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformIncidentChanged(DomainEvent):
    incident_id: str
    country: CountryCode
    version: int
    change: IncidentEntryKind


class PlatformIncident:
    __slots__ = ("_events", "_state")

    def __init__(self, state: PlatformIncidentState) -> None:
        self._state = state
        self._events: list[DomainEvent] = []

    @property
    def state(self) -> PlatformIncidentState:
        return self._state

    @property
    def incident_id(self) -> str:
        return self._state.incident_id

    @property
    def country(self) -> CountryCode:
        return self._state.country

    @property
    def version(self) -> int:
        return self._state.version

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    # ---- creating ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        incident_id: str,
        country: CountryCode,
        severity: Severity,
        title: str,
        opened_by: ActorRef,
        at: datetime,
        case_id: str,
        update_due_at: datetime | None,
    ) -> Result[PlatformIncident, InvalidInput]:
        """A new ``OPEN`` incident; ``update_due_at`` is its case's first status-update deadline."""
        for problem in (
            checked_text("incident_id", incident_id, MAX_REF_CHARS),
            checked_text("title", title, MAX_TITLE_CHARS),
            checked_text("case_id", case_id, MAX_REF_CHARS),
            aware("at", at),
        ):
            if isinstance(problem, Failure):
                return Failure(problem.failure())
        entry = IncidentEntry(
            1,
            at,
            IncidentEntryKind.OPENED,
            opened_by,
            f"{severity.value} platform incident opened: {title.strip()}",
            MappingProxyType({"severity": severity.value, "case_id": case_id.strip()}),
        )
        state = PlatformIncidentState(
            incident_id=incident_id.strip(),
            country=country,
            severity=severity,
            title=title.strip(),
            status=PlatformIncidentStatus.OPEN,
            opened_at=at,
            opened_by=opened_by,
            case_id=case_id.strip(),
            timeline=(entry,),
            update_due_at=update_due_at,
        )
        incident = cls(state)
        incident._events.append(
            PlatformIncidentChanged(
                occurred_at=at,
                incident_id=state.incident_id,
                country=country,
                version=1,
                change=IncidentEntryKind.OPENED,
            )
        )
        return Success(incident)

    @classmethod
    def rehydrate(cls, state: PlatformIncidentState) -> PlatformIncident:
        return cls(state)

    # ---- commands ------------------------------------------------------------------

    def link(
        self, at: datetime, actor: ActorRef, *, order_ids: Iterable[str] = (), case_ids: Iterable[str] = ()
    ) -> Result[tuple[IncidentLink, ...], PlatformIncidentError]:
        """Link affected orders and cases; already linked ones are skipped (the new links
        come back, possibly none). Allowed until the incident is closed."""
        if self._state.status is PlatformIncidentStatus.CLOSED:
            return Failure(PlatformIncidentClosed(self.incident_id))
        existing = {(link.kind, link.ref) for link in self._state.links}
        fresh: list[IncidentLink] = []
        for kind, refs in ((LinkKind.ORDER, order_ids), (LinkKind.CASE, case_ids)):
            for raw in refs:
                checked = checked_text(f"{kind.value.lower()}_ids", raw, MAX_REF_CHARS)
                if isinstance(checked, Failure):
                    return Failure(checked.failure())
                ref = checked.unwrap()
                if kind is LinkKind.CASE and ref == self._state.case_id:
                    return Failure(
                        InvalidInput("case_ids", "the incident's own case is not an affected case")
                    )
                if (kind, ref) not in existing:
                    existing.add((kind, ref))
                    fresh.append(IncidentLink(kind, ref, at, actor))
        if len(self._state.links) + len(fresh) > MAX_LINKS:
            return Failure(InvalidInput("links", f"an incident links at most {MAX_LINKS} orders and cases"))
        if not fresh:
            return Success(())
        orders = sum(1 for link in fresh if link.kind is LinkKind.ORDER)
        cases = len(fresh) - orders
        self._apply(
            at,
            actor,
            IncidentEntryKind.LINKED,
            f"linked {orders} order(s) and {cases} case(s)",
            {
                "orders": ",".join(link.ref for link in fresh if link.kind is LinkKind.ORDER),
                "cases": ",".join(link.ref for link in fresh if link.kind is LinkKind.CASE),
            },
            links=(*self._state.links, *fresh),
        )
        return Success(tuple(fresh))

    def post_update(
        self,
        at: datetime,
        author: ActorRef,
        text: str,
        *,
        status: PlatformIncidentStatus | None,
        update_due_at: datetime | None,
    ) -> Result[StatusUpdate, PlatformIncidentError]:
        """A status update for the people affected, optionally moving the incident to
        ``MITIGATED`` or ``RESOLVED``; ``update_due_at`` is the case's next update deadline
        (``None`` once resolved)."""
        checked = checked_text("text", text, MAX_TEXT_CHARS)
        if isinstance(checked, Failure):
            return Failure(checked.failure())
        current = self._state.status
        if current in (PlatformIncidentStatus.RESOLVED, PlatformIncidentStatus.CLOSED):
            return Failure(PlatformIncidentClosed(self.incident_id))
        target = status if status is not None and status is not current else None
        if target is not None and target not in _EDGES[current]:
            return Failure(IllegalPlatformIncidentTransition(self.incident_id, current.value, target.value))
        if len(self._state.updates) >= MAX_UPDATES:
            return Failure(InvalidInput("updates", f"an incident takes at most {MAX_UPDATES} status updates"))
        new_status = target or current
        update = StatusUpdate(len(self._state.updates) + 1, at, author, checked.unwrap(), new_status)
        changes: dict[str, object] = {
            "updates": (*self._state.updates, update),
            "update_due_at": update_due_at if new_status in LIVE_STATUSES else None,
            "status": new_status,
        }
        if target is PlatformIncidentStatus.MITIGATED:
            changes["mitigated_at"] = at
        if target is PlatformIncidentStatus.RESOLVED:
            changes["resolved_at"] = at
            changes["mitigated_at"] = self._state.mitigated_at or at
        self._apply(
            at,
            author,
            IncidentEntryKind.STATUS_UPDATE,
            checked.unwrap(),
            {"update": str(update.sequence), "status": new_status.value},
            **changes,
        )
        if target is PlatformIncidentStatus.MITIGATED:
            self._apply(at, author, IncidentEntryKind.MITIGATED, "mitigated", {})
        elif target is PlatformIncidentStatus.RESOLVED:
            self._apply(at, author, IncidentEntryKind.RESOLVED, "resolved", {})
        return Success(update)

    def remind(self, at: datetime, actor: ActorRef) -> datetime | None:
        """Record that the status update due at ``update_due_at`` is owed, once per due
        instant: ``None`` (nothing changes) when none is due at ``at`` or it was already
        reminded about — which makes a reminder happen once however many schedulers ask."""
        due = self._state.reminder_due_at
        if due is None or due > at:
            return None
        self._apply(
            at,
            actor,
            IncidentEntryKind.UPDATE_REMINDER,
            f"status update due at {due.isoformat()} has not been posted",
            {"due_at": due.isoformat()},
            reminded_for=due,
        )
        return due

    def close(
        self, at: datetime, actor: ActorRef, *, root_cause: str, action_items: Sequence[ActionItem]
    ) -> Result[None, PlatformIncidentError]:
        """``MITIGATED`` or ``RESOLVED`` -> ``CLOSED`` with the root cause and action items
        (resolving first if it was only mitigated)."""
        cause = checked_text("root_cause", root_cause, MAX_TEXT_CHARS)
        if isinstance(cause, Failure):
            return Failure(cause.failure())
        if len(action_items) > MAX_ACTION_ITEMS:
            return Failure(InvalidInput("action_items", f"at most {MAX_ACTION_ITEMS} action items"))
        current = self._state.status
        if current is PlatformIncidentStatus.CLOSED:
            return Failure(PlatformIncidentClosed(self.incident_id))
        if current is PlatformIncidentStatus.OPEN:
            return Failure(
                IllegalPlatformIncidentTransition(
                    self.incident_id, current.value, PlatformIncidentStatus.CLOSED.value
                )
            )
        if current is PlatformIncidentStatus.MITIGATED:
            self._apply(
                at,
                actor,
                IncidentEntryKind.RESOLVED,
                "resolved",
                {},
                status=PlatformIncidentStatus.RESOLVED,
                resolved_at=at,
                update_due_at=None,
            )
        self._apply(
            at,
            actor,
            IncidentEntryKind.CLOSED,
            f"closed; root cause: {cause.unwrap()}",
            {"action_items": str(len(action_items))},
            status=PlatformIncidentStatus.CLOSED,
            closed_at=at,
            closed_by=actor,
            root_cause=cause.unwrap(),
            action_items=tuple(action_items),
            update_due_at=None,
        )
        return Success(None)

    # ---- internals -----------------------------------------------------------------

    def _apply(
        self,
        at: datetime,
        actor: ActorRef,
        kind: IncidentEntryKind,
        summary: str,
        data: Mapping[str, str],
        **changes: object,
    ) -> None:
        if at.tzinfo is None:
            raise InvariantViolation("platform incident times must be timezone-aware")
        entry = IncidentEntry(
            len(self._state.timeline) + 1, at, kind, actor, summary, MappingProxyType(dict(data))
        )
        version = self._state.version + 1
        self._state = replace(
            self._state,
            timeline=(*self._state.timeline, entry),
            version=version,
            **changes,  # type: ignore[arg-type]
        )
        self._events.append(
            PlatformIncidentChanged(
                occurred_at=at,
                incident_id=self.incident_id,
                country=self.country,
                version=version,
                change=kind,
            )
        )
