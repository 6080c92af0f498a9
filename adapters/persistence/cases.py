"""``CaseRepository`` and ``SlaPolicyRepository`` on SQLAlchemy Core.

A case is three kinds of rows: its ``cases`` row (everything but clocks and timeline,
plus ``next_deadline``, the work queue's sort key), one ``case_clocks`` row per SLA clock
(with ``due_at``: the deadline while the clock runs unbreached) and its ``case_timeline``
entries (append-only: the database refuses UPDATE and DELETE).

Same rules as the order and dispute repositories: the country in every query, one object
per case in a unit of work (an identity map), and an optimistic ``save``: ``UPDATE cases
... WHERE version = :read`` first; no row matched means a ``ConcurrencyConflict`` and
nothing at all is written. Then only what changed since the case was read goes out: the
timeline entries after the ones stored (inserted, never rewritten) and the clocks that
are new or changed. On PostgreSQL a second writer's ``UPDATE`` waits for the first one's
row lock and, once that commits, matches no row: two racing schedulers cannot both record
a breach (D41).

``due_clocks`` is one range query on the partial index ``ix_case_clocks_due_at`` (only
running, unbreached clocks are in it), across the countries of the bound scope: row-level
security on PostgreSQL, and the same filter spelled out here (SQLite has no RLS).

Cursors of the work queue are opaque (``base64url`` of the last row's deadline and id);
a cursor this module did not make raises ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import IdentityMap, Key, insert_ignoring_conflict, key_of
from adapters.persistence.prepared import PreparedRead
from adapters.persistence.row_level_security import sees_nothing, within_scope
from adapters.persistence.tables import case_clocks, case_timeline, cases, sla_policies
from application.ports.cases import CaseFilter, CasePage, DueClock
from application.ports.concurrency import ConcurrencyConflict
from application.security.scope import CountryScope, current_scope
from domain.cases.case import Case, CaseState, Rating, SlaClock, TimelineEntry, TimelineKind
from domain.cases.kinds import OPEN_STATUSES, CaseKind, CaseStatus, ClockKind, IncidentType, Severity, Tier
from domain.cases.sla import SlaPolicy, Target, default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode
from domain.shared.ids import ActorId

Values = Mapping[Any, Any]
"""A row (``Row._mapping``) or a JSON object."""

AGGREGATE: Final = "case"
POLICY_AGGREGATE: Final = "sla_policy"

_OPEN: Final = tuple(sorted(status.value for status in OPEN_STATUSES))


# ----------------------------------------------------------------------------- mapping


def _actor(actor_id: object, role: object) -> ActorRef:
    return ActorRef(ActorId(str(actor_id)), str(role))


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def case_to_row(state: CaseState) -> dict[str, Any]:
    """The ``cases`` row of a case (without ``updated_at``)."""
    rating = state.rating
    return {
        "country_code": state.country.value,
        "id": state.case_id,
        "kind": state.kind.value,
        "severity": state.severity.value,
        "tier": state.tier.value,
        "status": state.status.value,
        "title": state.title,
        "opened_at": state.opened_at,
        "opened_by_id": str(state.opened_by.actor_id),
        "opened_by_role": state.opened_by.role,
        "policy_version": state.policy_version,
        "assignee": state.assignee,
        "order_id": state.order_id,
        "subject_ref": state.subject_ref,
        "incident_type": None if state.incident_type is None else state.incident_type.value,
        "status_before_wait": None if state.status_before_wait is None else state.status_before_wait.value,
        "acknowledged_at": state.acknowledged_at,
        "mitigated_at": state.mitigated_at,
        "resolved_at": state.resolved_at,
        "resolved_tier": None if state.resolved_tier is None else state.resolved_tier.value,
        "resolution": state.resolution,
        "closed_at": state.closed_at,
        "breaches": state.breaches,
        "rating_score": None if rating is None else rating.score,
        "rating_comment": None if rating is None else rating.comment,
        "rated_by_id": None if rating is None else str(rating.rated_by.actor_id),
        "rated_by_role": None if rating is None else rating.rated_by.role,
        "rated_at": None if rating is None else rating.rated_at,
        "next_deadline": state.next_deadline,
        "version": state.version,
    }


def clock_to_row(country: CountryCode, case_id: str, clock: SlaClock) -> dict[str, Any]:
    remaining = None if clock.remaining is None else clock.remaining // timedelta(microseconds=1)
    return {
        "country_code": country.value,
        "case_id": case_id,
        "clock": clock.kind.value,
        "state": clock.state.value,
        "target": clock.target.to_document(),
        "started_at": clock.started_at,
        "deadline": clock.deadline,
        "remaining_microseconds": remaining,
        "breached_at": clock.breached_at,
        "stopped_at": clock.stopped_at,
        "due_at": clock.due_at,
    }


def entry_to_row(country: CountryCode, case_id: str, entry: TimelineEntry) -> dict[str, Any]:
    return {
        "country_code": country.value,
        "case_id": case_id,
        "sequence": entry.sequence,
        "at": entry.at,
        "kind": entry.kind.value,
        "actor_id": str(entry.actor.actor_id),
        "actor_role": entry.actor.role,
        "summary": entry.summary,
        "data": dict(entry.data),
    }


def clock_from_row(row: Values) -> SlaClock:
    target = Target.from_document(row["target"], f"case_clocks.target ({row['case_id']}/{row['clock']})")
    if not isinstance(target, Success):
        raise ValueError(f"stored SLA target is malformed: {target.failure()}")
    remaining = row["remaining_microseconds"]
    return SlaClock(
        kind=ClockKind(row["clock"]),
        target=target.unwrap(),
        started_at=row["started_at"],
        deadline=row["deadline"],
        remaining=None if remaining is None else timedelta(microseconds=int(remaining)),
        breached_at=row["breached_at"],
        stopped_at=row["stopped_at"],
    )


def entry_from_row(row: Values) -> TimelineEntry:
    data = row["data"]
    if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"stored timeline data is not an object of strings: {data!r}")
    return TimelineEntry(
        sequence=int(row["sequence"]),
        at=row["at"],
        kind=TimelineKind(row["kind"]),
        actor=_actor(row["actor_id"], row["actor_role"]),
        summary=str(row["summary"]),
        data=MappingProxyType({str(k): str(v) for k, v in data.items()}),
    )


def case_from_rows(row: Values, clocks: Iterable[Values], timeline: Iterable[Values]) -> CaseState:
    entries = tuple(entry_from_row(entry) for entry in timeline)
    if [entry.sequence for entry in entries] != list(range(1, len(entries) + 1)):
        raise ValueError(f"case {row['id']}: the stored timeline is not 1..n")
    rating = None
    if row["rating_score"] is not None:
        rating = Rating(
            score=int(row["rating_score"]),
            comment=str(row["rating_comment"] or ""),
            rated_by=_actor(row["rated_by_id"], row["rated_by_role"]),
            rated_at=row["rated_at"],
        )
    by_kind = {clock.kind: clock for clock in map(clock_from_row, clocks)}
    ordered = {kind: by_kind[kind] for kind in ClockKind if kind in by_kind}
    return CaseState(
        case_id=str(row["id"]),
        country=CountryCode(str(row["country_code"])),
        kind=CaseKind(row["kind"]),
        severity=Severity(row["severity"]),
        tier=Tier(row["tier"]),
        status=CaseStatus(row["status"]),
        title=str(row["title"]),
        opened_at=row["opened_at"],
        opened_by=_actor(row["opened_by_id"], row["opened_by_role"]),
        policy_version=int(row["policy_version"]),
        clocks=MappingProxyType(ordered),
        timeline=entries,
        version=int(row["version"]),
        assignee=_optional(row["assignee"]),
        order_id=_optional(row["order_id"]),
        subject_ref=_optional(row["subject_ref"]),
        incident_type=None if row["incident_type"] is None else IncidentType(row["incident_type"]),
        status_before_wait=None
        if row["status_before_wait"] is None
        else CaseStatus(row["status_before_wait"]),
        acknowledged_at=row["acknowledged_at"],
        mitigated_at=row["mitigated_at"],
        resolved_at=row["resolved_at"],
        resolved_tier=None if row["resolved_tier"] is None else Tier(row["resolved_tier"]),
        resolution=_optional(row["resolution"]),
        closed_at=row["closed_at"],
        breaches=int(row["breaches"]),
        rating=rating,
    )


def _updated_at(state: CaseState) -> datetime:
    return state.timeline[-1].at if state.timeline else state.opened_at


# ----------------------------------------------------------------------------- cursors


def encode_cursor(deadline: datetime | None, case_id: str) -> str:
    raw = json.dumps(
        {"d": None if deadline is None else deadline.isoformat(), "i": case_id}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, str]:
    """``(deadline, case id)`` of a cursor made by :func:`encode_cursor`; ``ValueError`` otherwise."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a case cursor: {cursor!r}") from error
    if not isinstance(raw, dict) or set(raw) != {"d", "i"} or not isinstance(raw["i"], str):
        raise ValueError(f"not a case cursor: {cursor!r}")
    deadline = raw["d"]
    if deadline is None:
        return None, raw["i"]
    if not isinstance(deadline, str):
        raise ValueError(f"not a case cursor: {cursor!r}")
    parsed = datetime.fromisoformat(deadline)
    if parsed.tzinfo is None:
        raise ValueError(f"not a case cursor: {cursor!r}")
    return parsed, raw["i"]


def _after(cursor: str) -> ColumnElement[bool]:
    deadline, case_id = decode_cursor(cursor)
    if deadline is None:
        return and_(cases.c.next_deadline.is_(None), cases.c.id > case_id)
    return or_(
        cases.c.next_deadline > deadline,
        and_(cases.c.next_deadline == deadline, cases.c.id > case_id),
        cases.c.next_deadline.is_(None),
    )


def _filters(where: CaseFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.kinds:
        conditions.append(cases.c.kind.in_(sorted(kind.value for kind in where.kinds)))
    if where.severities:
        conditions.append(cases.c.severity.in_(sorted(severity.value for severity in where.severities)))
    if where.tiers:
        conditions.append(cases.c.tier.in_(sorted(tier.value for tier in where.tiers)))
    if where.statuses:
        conditions.append(cases.c.status.in_(sorted(status.value for status in where.statuses)))
    if where.assignee is not None:
        conditions.append(cases.c.assignee == where.assignee)
    if where.breached is True:
        conditions.extend([cases.c.breaches > 0, cases.c.status.in_(_OPEN)])
    elif where.breached is False:
        conditions.append(cases.c.breaches == 0)
    if where.at_risk_before is not None:
        conditions.append(cases.c.next_deadline < where.at_risk_before)
    if where.order_id is not None:
        conditions.append(cases.c.order_id == where.order_id)
    return conditions


# ----------------------------------------------------------------------------- cases


def due_clocks_query(now: datetime, *, limit: int, scope: CountryScope) -> Select[Any]:
    """The scheduler's question: running, unbreached clocks due by ``now``, oldest first.
    A range scan of the partial index ``ix_case_clocks_due_at`` (already in deadline order)."""
    query = (
        select(case_clocks.c.country_code, case_clocks.c.case_id, case_clocks.c.clock, case_clocks.c.due_at)
        .where(case_clocks.c.due_at.is_not(None), case_clocks.c.due_at <= now)
        .order_by(case_clocks.c.due_at)
        .limit(limit)
    )
    return within_scope(query, case_clocks.c.country_code, scope)


class SqlAlchemyCaseRepository:
    """``CaseRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identity: IdentityMap[Case] = IdentityMap()
        self._stored: dict[Key, CaseState] = {}  # what the database holds for each tracked case

    @property
    def seen(self) -> tuple[Case, ...]:
        """Every case loaded or added in this unit of work, in the order first seen."""
        return self._identity.seen

    async def add(self, case: Case) -> None:
        """Insert a new case with its clocks and timeline (an id already stored raises
        ``IntegrityError``: a bug)."""
        state = case.state
        await self._execute(insert(cases).values({**case_to_row(state), "updated_at": _updated_at(state)}))
        await self._insert_children(state, state.clocks.values(), state.timeline)
        key = key_of(case.country, case.case_id)
        self._identity.remember(key, case, case.version)
        self._stored[key] = state

    async def get(self, country: CountryCode, case_id: str) -> Case | None:
        tracked = self._identity.get(key_of(country, case_id))
        if tracked is not None:
            return tracked
        query = select(cases).where(cases.c.country_code == country.value, cases.c.id == case_id)
        loaded = await self._load_all(country, (await self._execute(query)).mappings().all())
        return loaded[0] if loaded else None

    async def save(self, case: Case) -> Result[None, ConcurrencyConflict]:
        key = key_of(case.country, case.case_id)
        expected = self._identity.expected_version(key, case)
        if expected is None:
            return await self._insert_untracked(case)
        state, stored = case.state, self._stored[key]
        if state is stored:
            return Success(None)
        if state.timeline[: len(stored.timeline)] != stored.timeline:
            raise ValueError(f"case {case.case_id}: stored timeline entries were rewritten")
        values = case_to_row(state)
        del values["country_code"], values["id"]
        values["updated_at"] = _updated_at(state)
        statement = (
            update(cases)
            .where(
                cases.c.country_code == case.country.value,
                cases.c.id == case.case_id,
                cases.c.version == expected,
            )
            .values(values)
        )
        if (await self._execute(statement)).rowcount != 1:
            return Failure(ConcurrencyConflict(AGGREGATE, case.case_id, expected))
        new_clocks = [clock for kind, clock in state.clocks.items() if kind not in stored.clocks]
        await self._insert_children(state, new_clocks, state.timeline[len(stored.timeline) :])
        for kind, clock in state.clocks.items():
            if kind in stored.clocks and clock != stored.clocks[kind]:
                row = clock_to_row(case.country, case.case_id, clock)
                await self._execute(
                    update(case_clocks)
                    .where(
                        case_clocks.c.country_code == case.country.value,
                        case_clocks.c.case_id == case.case_id,
                        case_clocks.c.clock == kind.value,
                    )
                    .values({k: v for k, v in row.items() if k not in ("country_code", "case_id", "clock")})
                )
        self._identity.saved(key, state.version)
        self._stored[key] = state
        return Success(None)

    async def for_order(self, country: CountryCode, order_id: str) -> list[Case]:
        """Every case about the order, oldest first."""
        connection = await self._session.connection()
        rows = await _FOR_ORDER.rows(connection, {"w_country": country.value, "w_order": order_id})
        return await self._load_all(country, rows)

    async def for_subject(self, country: CountryCode, kind: CaseKind, subject_ref: str) -> list[Case]:
        """Every case of ``kind`` about ``subject_ref`` (a dispute id, ...), oldest first."""
        query = (
            select(cases)
            .where(
                cases.c.country_code == country.value,
                cases.c.kind == kind.value,
                cases.c.subject_ref == subject_ref,
            )
            .order_by(cases.c.opened_at, cases.c.id)
        )
        return await self._load_all(country, (await self._execute(query)).mappings().all())

    async def list(
        self, country: CountryCode, where: CaseFilter, *, first: int, after: str | None = None
    ) -> CasePage:
        """The work queue: nearest running deadline first (cases with none last), then by id."""
        if first < 1:
            return CasePage(cases=(), next_cursor=None)
        conditions = [cases.c.country_code == country.value, *_filters(where)]
        if after is not None:
            conditions.append(_after(after))
        query = (
            select(cases)
            .where(*conditions)
            .order_by(cases.c.next_deadline.asc().nulls_last(), cases.c.id)
            .limit(first + 1)
        )
        rows = (await self._execute(query)).mappings().all()
        page = rows[:first]
        loaded = await self._load_all(country, page)
        next_cursor = None
        if len(rows) > first:
            last = page[-1]
            next_cursor = encode_cursor(last["next_deadline"], str(last["id"]))
        return CasePage(cases=tuple(loaded), next_cursor=next_cursor)

    async def due_clocks(self, now: datetime, *, limit: int) -> builtins.list[DueClock]:
        scope = current_scope()
        if limit < 1 or sees_nothing(scope):
            return []
        return [
            DueClock(
                country=CountryCode(str(row.country_code)),
                case_id=str(row.case_id),
                clock=ClockKind(row.clock),
                deadline=row.due_at,
            )
            for row in (await self._execute(due_clocks_query(now, limit=limit, scope=scope))).all()
        ]

    async def oldest_due(self, now: datetime) -> dict[CountryCode, datetime]:
        scope = current_scope()
        if sees_nothing(scope):
            return {}
        c = case_clocks.c
        query = within_scope(
            select(c.country_code, func.min(c.due_at).label("oldest"))
            .where(c.due_at.is_not(None), c.due_at <= now)
            .group_by(c.country_code),
            c.country_code,
            scope,
        )
        return {CountryCode(str(row.country_code)): row.oldest for row in (await self._execute(query)).all()}

    # -- internals --------------------------------------------------------------------

    async def _insert_children(
        self, state: CaseState, clocks: Iterable[SlaClock], entries: Sequence[TimelineEntry]
    ) -> None:
        clock_rows = [clock_to_row(state.country, state.case_id, clock) for clock in clocks]
        if clock_rows:
            await self._execute_many(insert(case_clocks), clock_rows)
        if entries:
            await self._execute_many(
                insert(case_timeline),
                [entry_to_row(state.country, state.case_id, entry) for entry in entries],
            )

    async def _load_all(self, country: CountryCode, rows: Sequence[Values]) -> builtins.list[Case]:
        """Cases of ``rows`` (tracked instances win), their clocks and timelines in two queries."""
        missing = [
            str(row["id"]) for row in rows if self._identity.get(key_of(country, str(row["id"]))) is None
        ]
        clocks: dict[str, builtins.list[Values]] = {case_id: [] for case_id in missing}
        timelines: dict[str, builtins.list[Values]] = {case_id: [] for case_id in missing}
        if missing:
            clock_query = select(case_clocks).where(
                case_clocks.c.country_code == country.value, case_clocks.c.case_id.in_(missing)
            )
            for clock_row in (await self._execute(clock_query)).all():
                clocks[str(clock_row.case_id)].append(clock_row._mapping)
            timeline_query = (
                select(case_timeline)
                .where(case_timeline.c.country_code == country.value, case_timeline.c.case_id.in_(missing))
                .order_by(case_timeline.c.case_id, case_timeline.c.sequence)
            )
            for entry_row in (await self._execute(timeline_query)).all():
                timelines[str(entry_row.case_id)].append(entry_row._mapping)
        loaded: builtins.list[Case] = []
        for row in rows:
            case_id = str(row["id"])
            key = key_of(country, case_id)
            tracked = self._identity.get(key)
            if tracked is None:
                state = case_from_rows(row, clocks[case_id], timelines[case_id])
                tracked = self._identity.remember(key, Case.rehydrate(state), state.version)
                self._stored[key] = state
            loaded.append(tracked)
        return loaded

    async def _insert_untracked(self, case: Case) -> Result[None, ConcurrencyConflict]:
        """``save`` of a case this unit of work never loaded: insert it if it is not stored
        yet; if it is, its stored version cannot be checked, so it is a conflict."""
        state = case.state
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            cases,
            {**case_to_row(state), "updated_at": _updated_at(state)},
            index_elements=("country_code", "id"),
        )
        if (await connection.execute(statement)).first() is None:
            return Failure(ConcurrencyConflict(AGGREGATE, case.case_id, case.version))
        await self._insert_children(state, state.clocks.values(), state.timeline)
        key = key_of(case.country, case.case_id)
        self._identity.remember(key, case, case.version)
        self._stored[key] = state
        return Success(None)

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)

    async def _execute_many(self, statement: Executable, rows: builtins.list[dict[str, Any]]) -> None:
        connection = await self._session.connection()
        await connection.execute(statement, rows)


# Built once (D150): a dispute decision reads the order's cases (its recorded timeline).
_FOR_ORDER: Final = PreparedRead(
    select(cases)
    .where(cases.c.country_code == bindparam("w_country"), cases.c.order_id == bindparam("w_order"))
    .order_by(cases.c.opened_at, cases.c.id)
)


# ----------------------------------------------------------------------------- SLA policies


def _policy_from_document(document: object) -> SlaPolicy:
    if not isinstance(document, Mapping):
        raise ValueError("stored SLA policy is not an object")
    parsed = SlaPolicy.from_document(document)
    if not isinstance(parsed, Success):
        raise ValueError(f"stored SLA policy is malformed: {parsed.failure()}")
    policy: SlaPolicy = parsed.unwrap()
    return policy


class SqlAlchemySlaPolicyRepository:
    """``SlaPolicyRepository`` port: versions are inserted, never edited; with nothing
    stored, version 1 is the built-in default (``default_sla_policy``). Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def current(self, country: CountryCode, kind: CaseKind) -> SlaPolicy:
        query = (
            select(sla_policies.c.document)
            .where(sla_policies.c.country_code == country.value, sla_policies.c.case_kind == kind.value)
            .order_by(sla_policies.c.version.desc())
            .limit(1)
        )
        document = (await self._execute(query)).scalar_one_or_none()
        return default_sla_policy(country, kind) if document is None else _policy_from_document(document)

    async def version(self, country: CountryCode, kind: CaseKind, version: int) -> SlaPolicy | None:
        if version == 1:
            return default_sla_policy(country, kind)  # never stored: publishing starts at 2
        query = select(sla_policies.c.document).where(
            sla_policies.c.country_code == country.value,
            sla_policies.c.case_kind == kind.value,
            sla_policies.c.version == version,
        )
        document = (await self._execute(query)).scalar_one_or_none()
        return None if document is None else _policy_from_document(document)

    async def publish(self, policy: SlaPolicy) -> Result[SlaPolicy, ConcurrencyConflict]:
        current = await self.current(policy.country, policy.case_kind)
        aggregate_id = f"{policy.country.value}/{policy.case_kind.value}"
        if policy.version != current.version + 1:
            return Failure(ConcurrencyConflict(POLICY_AGGREGATE, aggregate_id, current.version))
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            sla_policies,
            {
                "country_code": policy.country.value,
                "case_kind": policy.case_kind.value,
                "version": policy.version,
                "document": policy.to_document(),
            },
            index_elements=("country_code", "case_kind", "version"),
        )
        if (await connection.execute(statement)).first() is None:  # published meanwhile
            return Failure(ConcurrencyConflict(POLICY_AGGREGATE, aggregate_id, current.version))
        return Success(policy)

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)
