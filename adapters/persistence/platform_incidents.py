"""``PlatformIncidentRepository`` and ``CaseHistory`` on SQLAlchemy Core (D46, D47).

A platform incident is its ``platform_incidents`` row plus its links, status updates and
timeline entries (each inserted once, never rewritten). Same rules as the case
repository: the country in every query, one object per incident in a unit of work, and
an optimistic ``save`` (``UPDATE ... WHERE version = :read`` first; no row matched is a
``ConcurrencyConflict`` and nothing is written), then only the new child rows. Two
schedulers reminding about the same incident: the second ``UPDATE`` waits for the
first's row lock and then matches no row, so a reminder is recorded once.

``reminders_due`` is one range query on the partial index
``ix_platform_incidents_reminder_due_at`` across the bound scope's countries.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import Executable, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import IdentityMap, Key, insert_ignoring_conflict, key_of
from adapters.persistence.cases import case_from_rows
from adapters.persistence.row_level_security import sees_nothing, within_scope
from adapters.persistence.tables import (
    case_clocks,
    case_timeline,
    cases,
    platform_incident_links,
    platform_incident_reviews,
    platform_incident_timeline,
    platform_incident_updates,
    platform_incidents,
)
from application.ports.concurrency import ConcurrencyConflict
from application.ports.platform_incidents import DueReminder, StoredReview
from application.security.scope import current_scope
from domain.cases.case import CaseState
from domain.cases.kinds import CaseStatus, Severity
from domain.cases.platform import (
    ActionItem,
    IncidentEntry,
    IncidentEntryKind,
    IncidentLink,
    LinkKind,
    PlatformIncident,
    PlatformIncidentState,
    PlatformIncidentStatus,
    StatusUpdate,
)
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode, Currency, Money
from domain.shared.ids import ActorId

AGGREGATE: Final = "platform_incident"
Values = Mapping[Any, Any]


def _actor(actor_id: object, role: object) -> ActorRef:
    return ActorRef(ActorId(str(actor_id)), str(role))


def incident_to_row(state: PlatformIncidentState) -> dict[str, Any]:
    return {
        "country_code": state.country.value,
        "id": state.incident_id,
        "case_id": state.case_id,
        "severity": state.severity.value,
        "title": state.title,
        "status": state.status.value,
        "opened_at": state.opened_at,
        "opened_by_id": state.opened_by.actor_id,
        "opened_by_role": state.opened_by.role,
        "update_due_at": state.update_due_at,
        "reminded_for": state.reminded_for,
        "reminder_due_at": state.reminder_due_at,
        "mitigated_at": state.mitigated_at,
        "resolved_at": state.resolved_at,
        "closed_at": state.closed_at,
        "closed_by_id": state.closed_by.actor_id if state.closed_by else None,
        "closed_by_role": state.closed_by.role if state.closed_by else None,
        "root_cause": state.root_cause,
        "action_items": [{"description": i.description, "owner": i.owner} for i in state.action_items],
        "updated_at": state.timeline[-1].at,
        "version": state.version,
    }


def _link_row(state: PlatformIncidentState, link: IncidentLink) -> dict[str, Any]:
    return {
        "country_code": state.country.value,
        "incident_id": state.incident_id,
        "kind": link.kind.value,
        "ref": link.ref,
        "linked_at": link.linked_at,
        "linked_by_id": link.linked_by.actor_id,
        "linked_by_role": link.linked_by.role,
    }


def _update_row(state: PlatformIncidentState, item: StatusUpdate) -> dict[str, Any]:
    return {
        "country_code": state.country.value,
        "incident_id": state.incident_id,
        "sequence": item.sequence,
        "at": item.at,
        "author_id": item.author.actor_id,
        "author_role": item.author.role,
        "text": item.text,
        "status": item.status.value,
    }


def _entry_row(state: PlatformIncidentState, entry: IncidentEntry) -> dict[str, Any]:
    return {
        "country_code": state.country.value,
        "incident_id": state.incident_id,
        "sequence": entry.sequence,
        "at": entry.at,
        "kind": entry.kind.value,
        "actor_id": entry.actor.actor_id,
        "actor_role": entry.actor.role,
        "summary": entry.summary,
        "data": dict(entry.data),
    }


def incident_from_rows(
    row: Values, links: Sequence[Values], updates: Sequence[Values], timeline: Sequence[Values]
) -> PlatformIncidentState:
    closed_by = None if row["closed_by_id"] is None else _actor(row["closed_by_id"], row["closed_by_role"])
    return PlatformIncidentState(
        incident_id=str(row["id"]),
        country=CountryCode(str(row["country_code"])),
        severity=Severity(row["severity"]),
        title=str(row["title"]),
        status=PlatformIncidentStatus(row["status"]),
        opened_at=row["opened_at"],
        opened_by=_actor(row["opened_by_id"], row["opened_by_role"]),
        case_id=str(row["case_id"]),
        timeline=tuple(
            IncidentEntry(
                int(e["sequence"]),
                e["at"],
                IncidentEntryKind(e["kind"]),
                _actor(e["actor_id"], e["actor_role"]),
                str(e["summary"]),
                MappingProxyType({str(k): str(v) for k, v in dict(e["data"] or {}).items()}),
            )
            for e in timeline
        ),
        links=tuple(
            IncidentLink(
                LinkKind(link["kind"]),
                str(link["ref"]),
                link["linked_at"],
                _actor(link["linked_by_id"], link["linked_by_role"]),
            )
            for link in links
        ),
        updates=tuple(
            StatusUpdate(
                int(u["sequence"]),
                u["at"],
                _actor(u["author_id"], u["author_role"]),
                str(u["text"]),
                PlatformIncidentStatus(u["status"]),
            )
            for u in updates
        ),
        version=int(row["version"]),
        update_due_at=row["update_due_at"],
        reminded_for=row["reminded_for"],
        mitigated_at=row["mitigated_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        closed_by=closed_by,
        root_cause=row["root_cause"],
        action_items=tuple(
            ActionItem(str(item["description"]), str(item["owner"])) for item in (row["action_items"] or [])
        ),
    )


def _amounts(document: object) -> Mapping[str, Money]:
    if not isinstance(document, Mapping):
        return MappingProxyType({})
    return MappingProxyType(
        {str(code): Money(int(minor), Currency.of(str(code))) for code, minor in sorted(document.items())}
    )


class SqlAlchemyPlatformIncidentRepository:
    """``PlatformIncidentRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identity: IdentityMap[PlatformIncident] = IdentityMap()
        self._stored: dict[Key, PlatformIncidentState] = {}

    @property
    def seen(self) -> tuple[PlatformIncident, ...]:
        return self._identity.seen

    async def add(self, incident: PlatformIncident) -> None:
        state = incident.state
        await self._execute(insert(platform_incidents).values(incident_to_row(state)))
        await self._insert_children(state, state.links, state.updates, state.timeline)
        key = key_of(incident.country, incident.incident_id)
        self._identity.remember(key, incident, incident.version)
        self._stored[key] = state

    async def get(self, country: CountryCode, incident_id: str) -> PlatformIncident | None:
        key = key_of(country, incident_id)
        tracked = self._identity.get(key)
        if tracked is not None:
            return tracked
        row = (
            await self._execute(
                select(platform_incidents).where(
                    platform_incidents.c.country_code == country.value, platform_incidents.c.id == incident_id
                )
            )
        ).first()
        if row is None:
            return None
        children = []
        for table in (platform_incident_links, platform_incident_updates, platform_incident_timeline):
            query = select(table).where(
                table.c.country_code == country.value, table.c.incident_id == incident_id
            )
            if table is platform_incident_links:
                query = query.order_by(table.c.linked_at, table.c.kind, table.c.ref)
            else:
                query = query.order_by(table.c.sequence)
            children.append([r._mapping for r in (await self._execute(query)).all()])
        state = incident_from_rows(row._mapping, *children)
        incident = self._identity.remember(key, PlatformIncident.rehydrate(state), state.version)
        self._stored[key] = state
        return incident

    async def save(self, incident: PlatformIncident) -> Result[None, ConcurrencyConflict]:
        key = key_of(incident.country, incident.incident_id)
        expected = self._identity.expected_version(key, incident)
        if expected is None:
            return await self._insert_untracked(incident)
        state, stored = incident.state, self._stored[key]
        if state is stored:
            return Success(None)
        if state.timeline[: len(stored.timeline)] != stored.timeline:
            raise ValueError(
                f"platform incident {incident.incident_id}: stored timeline entries were rewritten"
            )
        values = incident_to_row(state)
        del values["country_code"], values["id"]
        statement = (
            update(platform_incidents)
            .where(
                platform_incidents.c.country_code == incident.country.value,
                platform_incidents.c.id == incident.incident_id,
                platform_incidents.c.version == expected,
            )
            .values(values)
        )
        if (await self._execute(statement)).rowcount != 1:
            return Failure(ConcurrencyConflict(AGGREGATE, incident.incident_id, expected))
        await self._insert_children(
            state,
            state.links[len(stored.links) :],
            state.updates[len(stored.updates) :],
            state.timeline[len(stored.timeline) :],
        )
        self._identity.saved(key, state.version)
        self._stored[key] = state
        return Success(None)

    async def reminders_due(self, now: datetime, *, limit: int) -> builtins.list[DueReminder]:
        if limit < 1:
            return []
        scope = current_scope()
        if sees_nothing(scope):
            return []
        query = (
            select(
                platform_incidents.c.country_code,
                platform_incidents.c.id,
                platform_incidents.c.reminder_due_at,
            )
            .where(
                platform_incidents.c.reminder_due_at.is_not(None), platform_incidents.c.reminder_due_at <= now
            )
            .order_by(platform_incidents.c.reminder_due_at)
            .limit(limit)
        )
        query = within_scope(query, platform_incidents.c.country_code, scope)
        return [
            DueReminder(CountryCode(str(row.country_code)), str(row.id), row.reminder_due_at)
            for row in (await self._execute(query)).all()
        ]

    async def add_review(self, review: StoredReview) -> bool:
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            platform_incident_reviews,
            {
                "country_code": review.country.value,
                "incident_id": review.incident_id,
                "written_at": review.written_at,
                "written_by_id": review.written_by.actor_id,
                "written_by_role": review.written_by.role,
                "markdown": review.markdown,
                "orders_affected": review.orders_affected,
                "cases_affected": review.cases_affected,
                "disputes": review.disputes,
                "refunded": {code: money.minor for code, money in review.refunded.items()},
                "credited": {code: money.minor for code, money in review.credited.items()},
            },
            index_elements=("country_code", "incident_id"),
        )
        return (await connection.execute(statement)).first() is not None

    async def review(self, country: CountryCode, incident_id: str) -> StoredReview | None:
        table = platform_incident_reviews
        query = select(table).where(table.c.country_code == country.value, table.c.incident_id == incident_id)
        row = (await self._execute(query)).first()
        if row is None:
            return None
        return StoredReview(
            country=CountryCode(str(row.country_code)),
            incident_id=str(row.incident_id),
            written_at=row.written_at,
            written_by=_actor(row.written_by_id, row.written_by_role),
            markdown=str(row.markdown),
            orders_affected=int(row.orders_affected),
            cases_affected=int(row.cases_affected),
            disputes=int(row.disputes),
            refunded=_amounts(row.refunded),
            credited=_amounts(row.credited),
        )

    # -- internals --------------------------------------------------------------------

    async def _insert_children(
        self,
        state: PlatformIncidentState,
        links: Sequence[IncidentLink],
        updates: Sequence[StatusUpdate],
        entries: Sequence[IncidentEntry],
    ) -> None:
        if links:
            await self._execute_many(
                insert(platform_incident_links), [_link_row(state, link) for link in links]
            )
        if updates:
            await self._execute_many(
                insert(platform_incident_updates), [_update_row(state, u) for u in updates]
            )
        if entries:
            await self._execute_many(
                insert(platform_incident_timeline), [_entry_row(state, e) for e in entries]
            )

    async def _insert_untracked(self, incident: PlatformIncident) -> Result[None, ConcurrencyConflict]:
        state = incident.state
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            platform_incidents,
            incident_to_row(state),
            index_elements=("country_code", "id"),
        )
        if (await connection.execute(statement)).first() is None:
            return Failure(ConcurrencyConflict(AGGREGATE, incident.incident_id, incident.version))
        await self._insert_children(state, state.links, state.updates, state.timeline)
        key = key_of(incident.country, incident.incident_id)
        self._identity.remember(key, incident, incident.version)
        self._stored[key] = state
        return Success(None)

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)

    async def _execute_many(self, statement: Executable, rows: builtins.list[dict[str, Any]]) -> None:
        connection = await self._session.connection()
        await connection.execute(statement, rows)


_ALL_STATUSES: Final = tuple(status.value for status in CaseStatus)


class SqlAlchemyCaseHistory:
    """``CaseHistory``: the cases of a country opened in a period, with clocks and timelines.

    The filter names every status so that ``ix_cases_country_code_status_opened_at`` serves
    it (one range per status on PostgreSQL)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def opened_between(
        self, country: CountryCode, start: datetime, end: datetime
    ) -> builtins.list[CaseState]:
        connection = await self._session.connection()
        rows = (
            await connection.execute(
                select(cases)
                .where(
                    cases.c.country_code == country.value,
                    cases.c.status.in_(_ALL_STATUSES),
                    cases.c.opened_at >= start,
                    cases.c.opened_at < end,
                )
                .order_by(cases.c.opened_at, cases.c.id)
            )
        ).all()
        if not rows:
            return []
        ids = [str(row.id) for row in rows]
        clocks: dict[str, builtins.list[Values]] = {case_id: [] for case_id in ids}
        timelines: dict[str, builtins.list[Values]] = {case_id: [] for case_id in ids}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            clock_rows = await connection.execute(
                select(case_clocks).where(
                    case_clocks.c.country_code == country.value, case_clocks.c.case_id.in_(chunk)
                )
            )
            for clock_row in clock_rows.all():
                clocks[str(clock_row.case_id)].append(clock_row._mapping)
            entry_rows = await connection.execute(
                select(case_timeline)
                .where(case_timeline.c.country_code == country.value, case_timeline.c.case_id.in_(chunk))
                .order_by(case_timeline.c.case_id, case_timeline.c.sequence)
            )
            for entry_row in entry_rows.all():
                timelines[str(entry_row.case_id)].append(entry_row._mapping)
        return [case_from_rows(row._mapping, clocks[str(row.id)], timelines[str(row.id)]) for row in rows]
