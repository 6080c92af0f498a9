"""Transactional outbox: jobs written in the same transaction as the change that asks
for them, then claimed and carried out by workers.

A job is unique by its idempotency key: enqueuing the same step twice is a no-op. A
claimed job carries a lease and a fencing token; only the holder of the current token
can complete or fail it, so a worker that lost its lease cannot overwrite the result of
the worker that took over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from domain.shared import CountryCode

JsonObject = dict[str, Any]


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"  # the provider accepted; its confirmation (webhook) is awaited
    DONE = "DONE"
    DEAD = "DEAD"  # in the dead-letter queue
    DISCARDED = "DISCARDED"


@dataclass(frozen=True, slots=True)
class NewJob:
    country: CountryCode
    idempotency_key: str
    kind: str  # e.g. "dispute.step"
    provider: str  # "payments", "notifications", "internal"
    reference: str  # what it belongs to, e.g. "dispute:dsp_1"
    payload: JsonObject
    available_at: datetime
    max_attempts: int = 8


@dataclass(frozen=True, slots=True)
class JobError:
    """One entry of a job's call history: a failure (``TRANSIENT``, ``PROVIDER_PERMANENT``,
    ``PROVIDER_DECLINED``, ...) or the provider's acceptance (``PROVIDER_ACCEPTED``, D99)."""

    at: datetime
    attempt: int
    kind: str
    detail: str


PAYMENTS_PROVIDER: Final = "payments"
"""The job provider whose calls move money: refund steps and seller payouts (D95)."""

PROVIDER_ACCEPTED: Final = "PROVIDER_ACCEPTED"
"""The history entry of a call the provider accepted, its confirmation to follow (D99)."""

PROVIDER_LATE_FAILURE: Final = "PROVIDER_LATE_FAILURE"
"""The history entry of a DONE job whose provider reported the call failed after it had
confirmed it (a bank returned a payout days after paying it, D130): noted once per job."""

PROVIDER_LATE_SUCCESS: Final = "PROVIDER_LATE_SUCCESS"
"""The history entry of a job its provider confirmed succeeded after the job had left the
queue for good (D131): a dead letter settled by it (now DONE), or a discarded job (still
DISCARDED, noted once for an operator)."""

PROVIDER_SUCCESS_AFTER_REFUSAL: Final = "PROVIDER_SUCCESS_AFTER_REFUSAL"
"""The history entry of a job one of whose keys the provider had refused, then confirmed
succeeded (the provider contradicts itself, D131): the job's current key (a dead letter) or a
key a replay replaced; noted once per key for an operator."""

NOTES: Final = frozenset({PROVIDER_LATE_FAILURE, PROVIDER_LATE_SUCCESS, PROVIDER_SUCCESS_AFTER_REFUSAL})
"""History entries that note what a provider said after the fact: not failures of the job's
own calls (what its last failure was, and so how a replay calls, skips them)."""

LEASE_EXPIRED: Final = "LEASE_EXPIRED"
"""The dead-letter kind of a job claimed past its maximum with no run ever recording an answer
(its worker died mid-call each time, D117): the call's outcome is unknown."""


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    country: CountryCode
    idempotency_key: str
    kind: str
    provider: str
    reference: str
    payload: JsonObject
    status: JobStatus
    attempts: int
    max_attempts: int
    available_at: datetime
    created_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    fencing_token: int = 0
    errors: tuple[JobError, ...] = field(default_factory=tuple)
    provider_key_revision: int = 0  # bumped by an L3 replay after a permanent refusal (D83)

    @property
    def provider_key(self) -> str:
        """The idempotency key the provider is called with: the job's own key, or, after an
        L3 replayed a permanent refusal, ``<key>#r<n>`` (D83). Ledger postings keep the job's key."""
        return provider_key(self.idempotency_key, self.provider_key_revision)

    def audit_keys(self) -> dict[str, str]:
        """The job's key for audit entries, and the provider key it called with when an L3
        replay gave it a new one (D83)."""
        if self.provider_key_revision == 0:
            return {"idempotency_key": self.idempotency_key}
        return {"idempotency_key": self.idempotency_key, "provider_key": self.provider_key}


REPLAY_KEY_MARK: Final = "#r"


def provider_key(idempotency_key: str, revision: int) -> str:
    """``idempotency_key`` at ``revision`` 0, else ``<idempotency_key>#r<revision>``."""
    return idempotency_key if revision == 0 else f"{idempotency_key}{REPLAY_KEY_MARK}{revision}"


def split_provider_key(key: str) -> tuple[str, int] | None:
    """``(job key, revision)`` of a replayed provider key ``<job key>#r<n>`` (n >= 1), else ``None``."""
    base, mark, revision = key.rpartition(REPLAY_KEY_MARK)
    if not (mark and base and revision.isascii() and revision.isdigit()) or revision.startswith("0"):
        return None
    return base, int(revision)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    country: CountryCode
    provider: str
    status: JobStatus
    jobs: int
    oldest_created_at: datetime | None = None  # when the oldest of these jobs was enqueued


LIVE_STATUSES: Final = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.WAITING, JobStatus.DEAD)
"""The statuses a queue depth counts: every job not finished for good."""


class Outbox(Protocol):
    """Outbox repository (inside a unit of work; it never commits)."""

    async def enqueue(self, job: NewJob, *, now: datetime) -> bool:
        """Add a job; ``False`` if a job with the same idempotency key already exists."""
        ...

    async def claim(
        self,
        *,
        worker_id: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        providers: tuple[str, ...] | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` due jobs: PENDING ones whose ``available_at`` passed and
        RUNNING or WAITING ones whose lease expired. Each claim bumps the job's fencing token and
        attempt count. Uses ``FOR UPDATE SKIP LOCKED`` where the database has it."""
        ...

    async def await_confirmation(
        self, job_id: int, fencing_token: int, *, now: datetime, until: datetime, accepted: JobError
    ) -> bool:
        """RUNNING -> WAITING until ``until`` (the confirmation deadline, kept as the lease:
        a job still waiting then is claimed again and asks the provider again, with the
        same idempotency key). The provider answered, so ``attempts`` goes back to 0: a
        payment pending at a slow bank never spends the budget of transient failures on its
        re-checks (D98). ``accepted`` goes into the job's history (once for consecutive
        answers): the key may have moved money, which a later replay must know (D99).
        ``False`` if the token is stale."""
        ...

    async def complete(self, job_id: int, fencing_token: int, *, now: datetime) -> bool:
        """Mark DONE if the token is still current; ``False`` means the lease was lost."""
        ...

    async def note_late_failure(self, job_id: int, *, now: datetime, error: JobError) -> bool:
        """Append ``error`` (a ``PROVIDER_LATE_FAILURE``) to the history of a DONE job, once:
        ``False`` (nothing changed) if the job is not DONE or its history already has an entry
        of that kind. The row is locked while it is read, so of two concurrent callers one
        appends and the other sees it appended (D130)."""
        ...

    async def complete_dead_letter(
        self, job_id: int, *, provider_key_revision: int, now: datetime, note: JobError
    ) -> bool:
        """DEAD -> DONE, ``note`` (a ``PROVIDER_LATE_SUCCESS``) appended to its history: its
        provider confirmed the call it last made after the job was dead-lettered (D131).
        ``False`` (nothing changed) unless the job is DEAD and still at
        ``provider_key_revision`` (an L3 replay gave it no other key meanwhile). The row is
        locked first, so of this and a concurrent replay or discard (conditional on DEAD too)
        one changes the job and the other finds it no longer DEAD. The fencing token is
        bumped."""
        ...

    async def note_late_success(self, job_id: int, *, now: datetime, error: JobError) -> bool:
        """Append ``error`` (one of ``NOTES``: a success its provider confirmed that the job's
        state contradicts) to the history of the job whatever its status, once, like
        ``note_late_failure`` (D131): ``False`` if there is no such job or its history already
        has that entry (its kind and detail: the detail names the key, so a contradiction on
        another key of the job is noted too)."""
        ...

    async def dead_letter_pending(
        self, job_id: int, *, provider_key_revision: int, now: datetime, error: JobError
    ) -> bool:
        """PENDING -> DEAD, ``error`` (the provider's decline of the key, D136) appended: the
        provider's failure for the key a job waiting for its retry last called with. ``False``
        (nothing changed) unless the job is PENDING at ``provider_key_revision`` (a worker
        claimed it meanwhile, or an L3 replay gave it another key). The row is locked first;
        the fencing token is bumped."""
        ...

    async def note_dead_decline(
        self, job_id: int, *, provider_key_revision: int, now: datetime, error: JobError
    ) -> bool:
        """Append ``error`` (a ``PROVIDER_DECLINED``: the provider's failure for the key a
        dead letter last called with, D136) to the history of a DEAD job still at
        ``provider_key_revision``, once per detail (it names the key), like
        ``note_late_failure``: ``False`` if the job is no longer DEAD at that key (an L3
        replayed or discarded it, or a success recovered it) or the decline is noted already."""
        ...

    async def complete_many(self, held: Sequence[tuple[int, int]], *, now: datetime) -> set[int]:
        """``complete`` for several ``(job_id, fencing_token)`` pairs in one statement: the
        ids of the jobs marked DONE (a missing id's lease was lost)."""
        ...

    async def retry_later(
        self, job_id: int, fencing_token: int, *, now: datetime, error: JobError, available_at: datetime
    ) -> bool: ...

    async def dead_letter(
        self, job_id: int, fencing_token: int, *, now: datetime, error: JobError
    ) -> bool: ...

    async def defer(self, job_id: int, fencing_token: int, *, now: datetime, until: datetime) -> bool:
        """RUNNING -> PENDING, due at ``until``, *without* spending an attempt: the claim's
        attempt increment is undone (the job never reached its provider, e.g. its circuit
        breaker is open). No error is recorded. ``False`` if the token is stale."""
        ...

    async def get(self, job_id: int) -> Job | None: ...

    async def by_key(self, idempotency_key: str) -> Job | None: ...

    async def jobs_for(self, country: CountryCode, reference: str) -> list[Job]: ...

    # ------------------------------------------------------------ dead-letter queue

    async def dead_letters(
        self, country: CountryCode, *, limit: int, before_id: int | None = None
    ) -> list[Job]:
        """DEAD jobs of ``country``, newest first (keyset on the id: ids below ``before_id``)."""
        ...

    async def replay(
        self,
        job_id: int,
        country: CountryCode,
        *,
        now: datetime,
        fresh_provider_key: bool = False,
        fencing_token: int | None = None,
    ) -> Job | None:
        """DEAD -> PENDING, due now, with a fresh attempt budget (attempts back to 0; the
        error history is kept). ``fresh_provider_key`` bumps ``provider_key_revision`` (the
        provider is called with a new key, D83). ``None`` (nothing changed) unless the job is
        DEAD in ``country`` (and, if ``fencing_token`` is given, still at that token: the
        dead letter the caller read, not a later one)."""
        ...

    async def discard(self, job_id: int, country: CountryCode, *, now: datetime) -> Job | None:
        """DEAD -> DISCARDED for good. ``None`` (nothing changed) unless the job is DEAD in
        ``country``."""
        ...

    async def depth(self, country: CountryCode | None = None) -> list[QueueDepth]:
        """How many jobs are PENDING, RUNNING, WAITING and DEAD, per country, provider and
        status (of one country, or of all). Finished jobs (DONE, DISCARDED) are not counted."""
        ...


class _JobsByKey(Protocol):
    async def by_key(self, idempotency_key: str) -> Job | None: ...


async def job_by_provider_key(outbox: _JobsByKey, key: str) -> Job | None:
    """The job a provider's idempotency key belongs to: the job of that key, else, for a
    replayed key ``<job key>#r<n>`` (D83), the job of ``<job key>``. The key may be a former
    one of the job: compare it with ``job.provider_key`` before acting on what it says."""
    job = await outbox.by_key(key)
    if job is not None:
        return job
    split = split_provider_key(key)
    return None if split is None else await outbox.by_key(split[0])
