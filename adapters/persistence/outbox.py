"""The transactional outbox on SQLAlchemy Core (see ``application/ports/outbox.py``).

Enqueue
    ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING``: a step enqueued twice (a
    retried request, two workers finishing the same step) is written once. The insert is
    part of the caller's unit of work, so a transaction that rolls back enqueues nothing.

Claim
    Due jobs are PENDING ones whose ``available_at`` has passed, and RUNNING or WAITING
    ones whose lease expired (their worker crashed or stalled, or the provider's
    confirmation did not come by its deadline), oldest ``available_at`` first. On
    PostgreSQL they are selected ``FOR UPDATE SKIP LOCKED``, so concurrent claimers skip
    each other's rows instead of waiting, and at READ COMMITTED a row another claimer
    took and committed meanwhile is re-checked against the condition and dropped. On
    SQLite the claimer already holds the database's write lock (``BEGIN IMMEDIATE``). The
    selected jobs are then set RUNNING with a lease (``lease_owner``, ``lease_until = now
    + lease``), ``attempts + 1`` and ``fencing_token + 1``. Commit the claim at once:
    the lease, not an open transaction, is what protects the job while it runs. It is one
    statement, built once (D59): the selection is a ``MATERIALIZED`` CTE (run once, so the
    limit holds) inside the leasing ``UPDATE ... RETURNING``, which checks the condition again.

Fencing
    ``await_confirmation``, ``complete`` (and ``complete_many``, one prebuilt statement for a
    worker's batch: ``(id, fencing_token) IN (...)``), ``retry_later`` and ``dead_letter``
    are conditional updates ``WHERE id = :id AND fencing_token = :token AND status IN
    ('RUNNING', 'WAITING')``; ``False`` means the token is stale (the lease was lost and
    someone else claimed the job) and nothing was changed. ``retry_later`` and
    ``dead_letter`` append the error to the job's history (read, then written back under
    the same token condition: only the token holder writes it).

Late failures
    ``note_late_failure`` appends a ``PROVIDER_LATE_FAILURE`` to a DONE job's history once
    (D130): the row is read ``FOR UPDATE`` (SQLite's writers already take turns, ``BEGIN
    IMMEDIATE``), so a concurrent second caller waits, then finds the entry and changes nothing.
    ``note_late_success`` does the same, whatever the job's status, for a success its
    provider confirmed that the job's state contradicts (D131).

Late successes
    ``complete_dead_letter`` (D131) moves a DEAD job to DONE when its provider confirms, after
    it was dead-lettered, the call made with the job's current provider key: the row is read
    ``FOR UPDATE`` on the condition ``status = 'DEAD' AND provider_key_revision = :revision``
    and updated on it, so a concurrent ``replay`` or ``discard`` (conditional on DEAD) waits
    and then changes nothing, or went first and this changes nothing.

Defer, replay, discard
    ``defer`` puts a held RUNNING job back to PENDING at a later ``available_at`` and takes
    back the attempt its claim counted (a job held back by an open circuit breaker never
    reached its provider, so it must not creep towards the dead-letter queue).
    ``replay`` (DEAD -> PENDING, attempts 0; with ``fresh_provider_key`` it also bumps
    ``provider_key_revision``, D83) and ``discard`` (DEAD -> DISCARDED) are conditional on
    the job being DEAD in the caller's country (and, for a replay given the fencing token it
    read, still at that token), so two operators acting on the same job change it once.

Rows never leave this module: every method returns domain ``Job``s. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Row,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from adapters.persistence.tables import outbox_jobs
from application.ports.outbox import LIVE_STATUSES, Job, JobError, JobStatus, NewJob, QueueDepth
from domain.shared import CountryCode

_JOBS: Final = outbox_jobs.c
# Built once per dialect (D60): every decision enqueues through it.
_ENQUEUE: Final[dict[str, postgresql.Insert | sqlite.Insert]] = {
    name: dialect.insert(outbox_jobs)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(_JOBS.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


class SqlAlchemyOutbox:
    """``Outbox`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(self, job: NewJob, *, now: datetime) -> bool:
        connection = await self._session.connection()
        inserted = (
            await connection.execute(
                _ENQUEUE[connection.dialect.name],
                {
                    "country_code": job.country.value,
                    "idempotency_key": job.idempotency_key,
                    "kind": job.kind,
                    "provider": job.provider,
                    "reference": job.reference,
                    "payload": job.payload,
                    "status": JobStatus.PENDING.value,
                    "attempts": 0,
                    "max_attempts": job.max_attempts,
                    "available_at": job.available_at,
                    "lease_owner": None,
                    "lease_until": None,
                    "fencing_token": 0,
                    "errors": [],
                    "created_at": now,
                    "updated_at": now,
                    "completed_at": None,
                },
            )
        ).scalar_one_or_none()
        return inserted is not None

    async def claim(
        self,
        *,
        worker_id: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        providers: tuple[str, ...] | None = None,
    ) -> list[Job]:
        if limit < 1:
            return []
        if providers is not None and not providers:
            return []
        connection = await self._session.connection()
        params: dict[str, Any] = {
            "now": now,
            "lease_until": now + lease,
            "worker_id": worker_id,
            "limit": limit,
        }
        if providers is not None:
            params["providers"] = list(providers)
        statement = _claim_statement(connection.dialect.name == "postgresql", providers is not None)
        rows = (await connection.execute(statement, params)).all()
        jobs = [_job(row) for row in rows]
        return sorted(jobs, key=lambda job: (job.available_at, job.id))

    async def await_confirmation(
        self, job_id: int, fencing_token: int, *, now: datetime, until: datetime, accepted: JobError
    ) -> bool:
        connection = await self._session.connection()
        history = await self._history_with(connection, job_id, fencing_token, accepted, once=True)
        if history is None:
            return False
        result = await connection.execute(
            outbox_jobs.update()
            .where(*_held(job_id, fencing_token))
            # the provider answered (accepted, pending): the failure budget starts again (D98)
            .values(
                status=JobStatus.WAITING.value, lease_until=until, updated_at=now, attempts=0, errors=history
            )
        )
        return result.rowcount == 1

    async def complete(self, job_id: int, fencing_token: int, *, now: datetime) -> bool:
        connection = await self._session.connection()
        result = await connection.execute(
            outbox_jobs.update()
            .where(*_held(job_id, fencing_token))
            .values(status=JobStatus.DONE.value, lease_until=None, updated_at=now, completed_at=now)
        )
        return result.rowcount == 1

    async def note_late_failure(self, job_id: int, *, now: datetime, error: JobError) -> bool:
        return await self._note_once(job_id, JobStatus.DONE, now=now, error=error)

    async def note_late_success(self, job_id: int, *, now: datetime, error: JobError) -> bool:
        return await self._note_once(job_id, None, now=now, error=error, same_detail=True)

    async def note_dead_decline(
        self, job_id: int, *, provider_key_revision: int, now: datetime, error: JobError
    ) -> bool:
        return await self._note_once(
            job_id, JobStatus.DEAD, now=now, error=error, same_detail=True, revision=provider_key_revision
        )

    async def complete_dead_letter(
        self, job_id: int, *, provider_key_revision: int, now: datetime, note: JobError
    ) -> bool:
        connection = await self._session.connection()
        dead = and_(
            _JOBS.id == job_id,
            _JOBS.status == JobStatus.DEAD.value,
            _JOBS.provider_key_revision == provider_key_revision,
        )
        current = (
            await connection.execute(select(_JOBS.errors).where(dead).with_for_update())
        ).scalar_one_or_none()
        if current is None:
            return False
        result = await connection.execute(
            outbox_jobs.update()
            .where(dead)
            .values(
                status=JobStatus.DONE.value,
                lease_owner=None,
                lease_until=None,
                fencing_token=_JOBS.fencing_token + 1,
                errors=[*_error_list(current), _error_to_json(note)],
                updated_at=now,
                completed_at=now,
            )
        )
        return result.rowcount == 1

    async def _note_once(
        self,
        job_id: int,
        status: JobStatus | None,
        *,
        now: datetime,
        error: JobError,
        same_detail: bool = False,
        revision: int | None = None,
    ) -> bool:
        """Append ``error`` to the history of a job in ``status`` (``None``: any; and at the
        provider key ``revision``, when given), unless it has an entry of that kind
        (``same_detail``: of that kind and detail): the row is read ``FOR UPDATE``, so of two
        concurrent callers one appends."""
        connection = await self._session.connection()
        found = (
            _JOBS.id == job_id if status is None else and_(_JOBS.id == job_id, _JOBS.status == status.value)
        )
        if revision is not None:
            found = and_(found, _JOBS.provider_key_revision == revision)
        current = (
            await connection.execute(select(_JOBS.errors).where(found).with_for_update())
        ).scalar_one_or_none()
        if current is None:
            return False
        history = _error_list(current)
        if any(
            entry.get("kind") == error.kind and (not same_detail or entry.get("detail") == error.detail)
            for entry in history
        ):
            return False
        result = await connection.execute(
            outbox_jobs.update().where(found).values(errors=[*history, _error_to_json(error)], updated_at=now)
        )
        return result.rowcount == 1

    async def complete_many(self, held: Sequence[tuple[int, int]], *, now: datetime) -> set[int]:
        if not held:
            return set()
        connection = await self._session.connection()
        rows = await connection.execute(_COMPLETE_MANY, {"held": list(held), "now": now})
        return {int(job_id) for job_id in rows.scalars().all()}

    async def retry_later(
        self, job_id: int, fencing_token: int, *, now: datetime, error: JobError, available_at: datetime
    ) -> bool:
        return await self._fail(
            job_id,
            fencing_token,
            error,
            status=JobStatus.PENDING,
            values={"available_at": available_at, "updated_at": now},
        )

    async def dead_letter(self, job_id: int, fencing_token: int, *, now: datetime, error: JobError) -> bool:
        return await self._fail(
            job_id, fencing_token, error, status=JobStatus.DEAD, values={"updated_at": now}
        )

    async def dead_letter_pending(
        self, job_id: int, *, provider_key_revision: int, now: datetime, error: JobError
    ) -> bool:
        connection = await self._session.connection()
        pending = and_(
            _JOBS.id == job_id,
            _JOBS.status == JobStatus.PENDING.value,
            _JOBS.provider_key_revision == provider_key_revision,
        )
        current = (
            await connection.execute(select(_JOBS.errors).where(pending).with_for_update())
        ).scalar_one_or_none()
        if current is None:
            return False
        result = await connection.execute(
            outbox_jobs.update()
            .where(pending)
            .values(
                status=JobStatus.DEAD.value,
                fencing_token=_JOBS.fencing_token + 1,
                errors=[*_error_list(current), _error_to_json(error)],
                updated_at=now,
            )
        )
        return result.rowcount == 1

    async def defer(self, job_id: int, fencing_token: int, *, now: datetime, until: datetime) -> bool:
        connection = await self._session.connection()
        result = await connection.execute(
            outbox_jobs.update()
            .where(*_held(job_id, fencing_token), _JOBS.status == JobStatus.RUNNING.value)
            .values(
                status=JobStatus.PENDING.value,
                available_at=until,
                attempts=case((_JOBS.attempts > 0, _JOBS.attempts - 1), else_=0),
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    async def get(self, job_id: int) -> Job | None:
        row = (await self._session.execute(select(outbox_jobs).where(_JOBS.id == job_id))).first()
        return None if row is None else _job(row)

    async def by_key(self, idempotency_key: str) -> Job | None:
        row = (
            await self._session.execute(select(outbox_jobs).where(_JOBS.idempotency_key == idempotency_key))
        ).first()
        return None if row is None else _job(row)

    async def jobs_for(self, country: CountryCode, reference: str) -> list[Job]:
        rows = (
            await self._session.execute(
                select(outbox_jobs)
                .where(_JOBS.country_code == country.value, _JOBS.reference == reference)
                .order_by(_JOBS.id)
            )
        ).all()
        return [_job(row) for row in rows]

    async def dead_letters(
        self, country: CountryCode, *, limit: int, before_id: int | None = None
    ) -> list[Job]:
        if limit < 1:
            return []
        query = select(outbox_jobs).where(
            _JOBS.country_code == country.value, _JOBS.status == JobStatus.DEAD.value
        )
        if before_id is not None:
            query = query.where(_JOBS.id < before_id)
        rows = (await self._session.execute(query.order_by(_JOBS.id.desc()).limit(limit))).all()
        return [_job(row) for row in rows]

    async def replay(
        self,
        job_id: int,
        country: CountryCode,
        *,
        now: datetime,
        fresh_provider_key: bool = False,
        fencing_token: int | None = None,
    ) -> Job | None:
        values: dict[str, Any] = {"attempts": 0, "available_at": now, "updated_at": now}
        if fresh_provider_key:
            values["provider_key_revision"] = _JOBS.provider_key_revision + 1
        return await self._from_dead(
            job_id, country, status=JobStatus.PENDING, values=values, fencing_token=fencing_token
        )

    async def discard(self, job_id: int, country: CountryCode, *, now: datetime) -> Job | None:
        return await self._from_dead(
            job_id, country, status=JobStatus.DISCARDED, values={"updated_at": now, "completed_at": now}
        )

    async def depth(self, country: CountryCode | None = None) -> list[QueueDepth]:
        query = select(
            _JOBS.country_code, _JOBS.provider, _JOBS.status, func.count(), func.min(_JOBS.created_at)
        ).where(_JOBS.status.in_([status.value for status in LIVE_STATUSES]))
        if country is not None:
            query = query.where(_JOBS.country_code == country.value)
        rows = (
            await self._session.execute(
                query.group_by(_JOBS.country_code, _JOBS.provider, _JOBS.status).order_by(
                    _JOBS.country_code, _JOBS.provider, _JOBS.status
                )
            )
        ).all()
        return [
            QueueDepth(CountryCode(row[0]), str(row[1]), JobStatus(row[2]), int(row[3]), row[4])
            for row in rows
        ]

    async def _from_dead(
        self,
        job_id: int,
        country: CountryCode,
        *,
        status: JobStatus,
        values: dict[str, Any],
        fencing_token: int | None = None,
    ) -> Job | None:
        connection = await self._session.connection()
        as_read = [] if fencing_token is None else [_JOBS.fencing_token == fencing_token]
        row = (
            await connection.execute(
                outbox_jobs.update()
                .where(
                    _JOBS.id == job_id,
                    _JOBS.country_code == country.value,
                    _JOBS.status == JobStatus.DEAD.value,
                    *as_read,
                )
                .values(status=status.value, lease_owner=None, lease_until=None, **values)
                .returning(*outbox_jobs.columns)
            )
        ).first()
        return None if row is None else _job(row)

    @staticmethod
    async def _history_with(
        connection: AsyncConnection, job_id: int, fencing_token: int, entry: JobError, *, once: bool = False
    ) -> list[Any] | None:
        """The held job's history with ``entry`` appended (``once``: not after an entry of its
        kind); ``None`` if the token is stale."""
        # locked as it is read: a note appended meanwhile (a provider's contradiction, which
        # may land on a held job, D131) is not written over with the history read before it
        current = (
            await connection.execute(
                select(_JOBS.errors).where(*_held(job_id, fencing_token)).with_for_update()
            )
        ).scalar_one_or_none()
        if current is None:
            return None
        history = _error_list(current)
        if once and history and history[-1].get("kind") == entry.kind:
            return history
        return [*history, _error_to_json(entry)]

    async def _fail(
        self, job_id: int, fencing_token: int, error: JobError, *, status: JobStatus, values: dict[str, Any]
    ) -> bool:
        connection = await self._session.connection()
        history = await self._history_with(connection, job_id, fencing_token, error)
        if history is None:
            return False
        result = await connection.execute(
            outbox_jobs.update()
            .where(*_held(job_id, fencing_token))
            .values(status=status.value, lease_until=None, errors=history, **values)
        )
        return result.rowcount == 1


_LEASED = (JobStatus.RUNNING.value, JobStatus.WAITING.value)


def _due(now: BindParameter[datetime], *, by_provider: bool) -> ColumnElement[bool]:
    condition = or_(
        and_(_JOBS.status == JobStatus.PENDING.value, _JOBS.available_at <= now),
        and_(_JOBS.status.in_(_LEASED), _JOBS.lease_until < now),
    )
    if by_provider:
        condition = and_(condition, _JOBS.provider.in_(bindparam("providers", expanding=True)))
    return condition


def _build_claim(*, postgres: bool, by_provider: bool) -> ReturningUpdate[Any]:
    """The claim as one statement, built once (so SQLAlchemy compiles it once): the due jobs
    are chosen in a materialised CTE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
    transaction already holds the write lock), then leased by the UPDATE around it, which
    checks them again and returns them."""
    now = bindparam("now", type_=_JOBS.available_at.type)
    due = _due(now, by_provider=by_provider)
    limit: BindParameter[Any] = bindparam("limit")
    if postgres:
        claimable = _postgres_claimable(now, limit, by_provider=by_provider)
    else:  # SQLite's transaction already holds the write lock
        chosen = select(_JOBS.id).where(due).order_by(_JOBS.available_at, _JOBS.id).limit(limit)
        claimable = chosen.cte("claimable").prefix_with("MATERIALIZED")
    return (
        outbox_jobs.update()
        .where(_JOBS.id.in_(select(claimable.c.id)), due)
        .values(
            status=JobStatus.RUNNING.value,
            lease_owner=bindparam("worker_id", type_=_JOBS.lease_owner.type),
            lease_until=bindparam("lease_until", type_=_JOBS.lease_until.type),
            attempts=_JOBS.attempts + 1,
            fencing_token=_JOBS.fencing_token + 1,
            updated_at=now,
        )
        .returning(*outbox_jobs.columns)
    )


def _postgres_claimable(now: BindParameter[datetime], limit: BindParameter[Any], *, by_provider: bool) -> CTE:
    """The due jobs, oldest first, locked with ``SKIP LOCKED``, without sorting the whole due
    set: "due" is an OR (pending and available, or leased with an expired lease), which no
    index can return in ``available_at`` order, so each side is its own locked, ordered and
    limited scan - the pending side walks ``ix_outbox_jobs_status_available_at`` and stops
    after ``limit`` rows however deep the queue - and the oldest ``limit`` of the two are
    leased. A job of the side that lost is locked until the claim commits (a moment), then
    left as it was."""
    sides = []
    for name, condition in (
        ("pending", and_(_JOBS.status == JobStatus.PENDING.value, _JOBS.available_at <= now)),
        ("expired", and_(_JOBS.status.in_(_LEASED), _JOBS.lease_until < now)),
    ):
        providers = [_JOBS.provider.in_(bindparam("providers", expanding=True))] if by_provider else []
        side = (
            select(_JOBS.id, _JOBS.available_at)
            .where(condition, *providers)
            .order_by(_JOBS.available_at, _JOBS.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte(name)
            .prefix_with("MATERIALIZED")
        )
        sides.append(select(side.c.id, side.c.available_at))
    both = union_all(*sides).subquery("due")
    chosen = select(both.c.id).order_by(both.c.available_at, both.c.id).limit(limit)
    return chosen.cte("claimable").prefix_with("MATERIALIZED")


_CLAIMS: Final = {
    (postgres, by_provider): _build_claim(postgres=postgres, by_provider=by_provider)
    for postgres in (False, True)
    for by_provider in (False, True)
}


def _claim_statement(postgres: bool, by_provider: bool) -> ReturningUpdate[Any]:
    return _CLAIMS[postgres, by_provider]


_COMPLETED_AT: Final = bindparam("now", type_=_JOBS.completed_at.type)
_COMPLETE_MANY: Final = (
    outbox_jobs.update()
    .where(
        tuple_(_JOBS.id, _JOBS.fencing_token).in_(bindparam("held", expanding=True)),
        _JOBS.status.in_(_LEASED),
    )
    .values(
        status=JobStatus.DONE.value, lease_until=None, updated_at=_COMPLETED_AT, completed_at=_COMPLETED_AT
    )
    .returning(_JOBS.id)
)
"""Every held job of a batch DONE under its own fencing token, one statement (built once)."""


def _held(job_id: int, fencing_token: int) -> list[ColumnElement[bool]]:
    """The job, only while ``fencing_token`` is its current token and it is running or
    waiting for its provider's confirmation."""
    return [
        _JOBS.id == job_id,
        _JOBS.fencing_token == fencing_token,
        _JOBS.status.in_(_LEASED),
    ]


def _insert(connection: AsyncConnection) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(outbox_jobs)
    return sqlite.insert(outbox_jobs)


def _error_to_json(error: JobError) -> dict[str, Any]:
    return {
        "at": error.at.isoformat(timespec="microseconds"),
        "attempt": error.attempt,
        "kind": error.kind,
        "detail": error.detail,
    }


def _error_from_json(raw: dict[str, Any]) -> JobError:
    return JobError(
        at=datetime.fromisoformat(raw["at"]),
        attempt=int(raw["attempt"]),
        kind=str(raw["kind"]),
        detail=str(raw["detail"]),
    )


def _error_list(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise TypeError(f"outbox job errors must be a JSON list, not {type(raw).__name__}")
    return [dict(item) for item in raw]


def _job(row: Row[Any]) -> Job:
    values = row._mapping
    payload = values["payload"]
    if not isinstance(payload, dict):
        raise TypeError(f"outbox job payload must be a JSON object, not {type(payload).__name__}")
    return Job(
        id=int(values["id"]),
        country=CountryCode(values["country_code"]),
        idempotency_key=values["idempotency_key"],
        kind=values["kind"],
        provider=values["provider"],
        reference=values["reference"],
        payload=payload,
        status=JobStatus(values["status"]),
        attempts=int(values["attempts"]),
        max_attempts=int(values["max_attempts"]),
        available_at=values["available_at"],
        created_at=values["created_at"],
        lease_owner=values["lease_owner"],
        lease_until=values["lease_until"],
        fencing_token=int(values["fencing_token"]),
        errors=tuple(_error_from_json(item) for item in _error_list(values["errors"])),
        provider_key_revision=int(values["provider_key_revision"]),
    )
