"""Use cases of the dead-letter queue (SPEC §7): list, replay, discard; and provider status.

- Listing dead letters and reading provider status: L3 and AUDITOR, in their countries.
- Replay and discard: L3 only (SPEC §2), in their countries, audited in the same
  transaction as the change.
- Replay gives the job a fresh attempt budget (DEAD -> PENDING, attempts 0, due now; its
  error history stays) and, if the job's dispute failed its execution, moves the dispute
  back to EXECUTING (``Dispute.replay``) in the same transaction. The step runs again with
  its own idempotency key, so whatever the provider already did is not done twice, with one
  exception (D83): a job dead-lettered by a *permanent* refusal of its provider (a decline,
  synchronous or by webhook) gets a fresh provider key, ``<key>#r<n>``, because a provider
  remembers its answer per key and would decline the replay again; a decline moved no
  money, so the new key cannot move it twice. Anything else (transient failures past the
  maximum, whose outcome at the provider is unknown; plan drift; a refused posting) keeps
  the key. Ledger postings always keep the step's key.
- Discard needs a reason (DEAD -> DISCARDED for good); the dispute keeps its status. A call
  to the payments provider (a refund, a seller payout) that did not die of a permanent
  refusal is never discarded (``PAYMENT_OUTCOME_UNKNOWN``, D95): the provider may have moved
  the money unseen. Discarded, a payout would be paid again by the next payout run, and a
  refund "made by hand" would be made twice. It is replayed instead: its unchanged key makes
  the provider answer what it did.

- A dead letter can also leave the queue without an L3 (D131): its provider's verified
  success for the key it last called with settles it as its replay would have
  (``SagaRunner.confirm``: DONE, the step recorded, the dispute back through
  ``resume_execution``, the same path as a replay). A replay or discard racing it finds the
  job no longer DEAD (``JOB_NOT_DEAD_LETTERED``), or goes first and the confirmation changes
  nothing. A success for a discarded job records nothing: it is audited for a person.

A job of another country is ``NOT_FOUND`` (never revealed); a job that is not in the
queue (already replayed, discarded, never dead) is ``JOB_NOT_DEAD_LETTERED``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Final

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.outbox import (
    LEASE_EXPIRED,
    LIVE_STATUSES,
    NOTES,
    PAYMENTS_PROVIDER,
    PROVIDER_ACCEPTED,
    Job,
    JobError,
    JobStatus,
)
from application.ports.read_models import Page, PageRequest
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.disputes import Dispute, TransitionError
from domain.disputes.status import DisputeStatus
from domain.integrations import BreakerPolicy, Circuit, CircuitState
from domain.orders import ReasonRequired, ReasonTooLong, required_reason
from domain.shared import CountryCode, DomainError, InvalidInput
from domain.shared.ids import ActorId, DisputeId

_CURSOR_KIND: Final = "dead_letters"
_BAD_CURSOR: Final = "is not a cursor of this list (use the endCursor of the previous page)"


@dataclass(frozen=True, slots=True)
class JobNotDeadLettered(DomainError):
    """The job exists but is not in the dead-letter queue (replayed or discarded already,
    or never dead)."""

    code: ClassVar[str] = "JOB_NOT_DEAD_LETTERED"
    job_id: int
    status: str

    @property
    def message(self) -> str:
        return f"job {self.job_id} is {self.status}, not in the dead-letter queue"


# ------------------------------------------------------------------------------ list


@dataclass(frozen=True, slots=True)
class ListDeadLetters:
    country: CountryCode
    page: PageRequest = field(default_factory=PageRequest)


async def list_dead_letters(
    svc: Services, ctx: RequestContext, query: ListDeadLetters
) -> Result[Page[Job], Forbidden | InvalidInput]:
    """The country's dead letters, newest first, a keyset page at a time."""
    allowed = authorize(ctx.principal, Operation.DEAD_LETTER_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    page = query.page.clamped()
    before_id: int | None = None
    if page.after is not None:
        before_id = _decode_cursor(page.after)
        if before_id is None:
            return Failure(InvalidInput("after", _BAD_CURSOR))
    async with svc.uow() as uow:  # read only: left without commit
        found = await uow.outbox.dead_letters(query.country, limit=page.first + 1, before_id=before_id)
    items = found[: page.first]
    cursors = tuple(encode_dead_letter_cursor(job.id) for job in items)
    return Success(
        Page(
            items=items,
            end_cursor=cursors[-1] if cursors else page.after,
            has_next_page=len(found) > page.first,
            cursors=cursors,
        )
    )


def encode_dead_letter_cursor(job_id: int) -> str:
    raw = json.dumps([_CURSOR_KIND, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    match decoded:
        case [str(kind), int(job_id)] if kind == _CURSOR_KIND and not isinstance(job_id, bool):
            return job_id
        case _:
            return None


# ---------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class ReplayDeadLetter:
    country: CountryCode
    job_id: int


ReplayFailure = Forbidden | NotFound | JobNotDeadLettered | TransitionError | ConcurrencyConflict


async def replay_dead_letter(
    svc: Services, ctx: RequestContext, cmd: ReplayDeadLetter
) -> Result[Job, ReplayFailure]:
    allowed = authorize(ctx.principal, Operation.DEAD_LETTER_REPLAY, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        dead = await uow.outbox.get(cmd.job_id)
        if dead is None or dead.country != cmd.country or dead.status is not JobStatus.DEAD:
            return Failure(await _why_not_dead(uow, cmd.country, cmd.job_id))
        fresh_key = needs_fresh_provider_key(dead)
        replayed = await uow.outbox.replay(
            cmd.job_id, cmd.country, now=now, fresh_provider_key=fresh_key, fencing_token=dead.fencing_token
        )
        if replayed is None:  # replayed (or replayed, run and dead again) meanwhile
            why = await _why_not_dead(uow, cmd.country, cmd.job_id)
            if isinstance(why, JobNotDeadLettered) and why.status == JobStatus.DEAD.value:
                return Failure(ConcurrencyConflict("outbox_job", str(cmd.job_id), dead.fencing_token))
            return Failure(why)
        dispute_before: str | None = None
        dispute_after: str | None = None
        dispute_id = replayed.payload.get("dispute_id")
        dispute = None if dispute_id is None else await uow.disputes.get(cmd.country, DisputeId(dispute_id))
        if dispute is not None:
            dispute_before = dispute.status.value
            resumed = await resume_execution(uow, ctx, dispute, job_id=replayed.id, now=now)
            if isinstance(resumed, Failure):
                return resumed
            dispute_after = dispute.status.value
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="dead_letter.replayed",
            target_type="outbox_job",
            target_id=str(replayed.id),
            at=now,
            before={"status": JobStatus.DEAD.value, "dispute_status": dispute_before},
            after={
                "status": replayed.status.value,
                "idempotency_key": replayed.idempotency_key,
                "provider_key": replayed.provider_key,
                "provider": replayed.provider,
                "errors": len(replayed.errors),
                "dispute_status": dispute_after,
            },
        )
        await uow.commit()
    return Success(replayed)


async def resume_execution(
    uow: UnitOfWork, ctx: RequestContext, dispute: Dispute, *, job_id: int, now: datetime
) -> Result[None, TransitionError | ConcurrencyConflict]:
    """The way a dispute leaves EXECUTION_FAILED: back to EXECUTING (``Dispute.replay``, by
    ``ctx``'s principal), saved and audited as ``dispute.replayed`` in the caller's
    transaction, because the dead letter ``job_id`` that failed it goes on: an L3 replays it,
    or its provider confirmed it succeeded after all (D131). A dispute in any other status is
    left as it is (a dead notice leaves a settled dispute RESOLVED, D83)."""
    if dispute.status is not DisputeStatus.EXECUTION_FAILED:
        return Success(None)
    before = dispute.status.value
    moved = dispute.replay(at=now, by_actor=ActorId(ctx.principal.actor_id), by_role=ctx.principal.role.value)
    if isinstance(moved, Failure):
        return moved
    saved = await uow.disputes.save(dispute)
    if isinstance(saved, Failure):
        return saved
    await record(
        uow,
        ctx,
        country=dispute.country,
        action="dispute.replayed",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        before={"status": before},
        after={"status": dispute.status.value, "job_id": job_id},
    )
    return Success(None)


PERMANENT_REFUSALS: Final = frozenset({"PROVIDER_PERMANENT", "PROVIDER_DECLINED"})
"""The dead-letter kinds of a provider's permanent refusal (an answer, not a lost call)."""
DECLINED: Final = "PROVIDER_DECLINED"
"""The provider's own asynchronous decline of the key (its webhook): the key moved nothing."""
OUTCOME_UNKNOWN: Final = frozenset({"TRANSIENT", "PROVIDER_TRANSIENT", PROVIDER_ACCEPTED, LEASE_EXPIRED})
"""History entries after which the key may have moved money: a lost or failed call, an
acceptance whose confirmation never came (D99), or runs that died mid-call (D117)."""


def failures_of(job: Job) -> list[JobError]:
    """The job's history without its notes (what providers said after it settled, D131)."""
    return [error for error in job.errors if error.kind not in NOTES]


def needs_fresh_provider_key(job: Job) -> bool:
    """Whether replaying ``job`` must call its provider with a new key (D83), which is only
    safe when the key is known to have moved nothing: it died of the provider's refusal, and
    either the refusal is the provider's own decline of the key (its webhook), or nothing in
    the job's history left the key's outcome open. A 4xx after a timeout or an acceptance (an
    expired API key answers 401 before the provider looks the key up) proves nothing about
    the earlier call, which may have succeeded unseen: the job keeps its key (D99), and only
    the same key is sure not to repeat it."""
    failures = failures_of(job)
    if not failures or failures[-1].kind not in PERMANENT_REFUSALS:
        return False
    return failures[-1].kind == DECLINED or not any(e.kind in OUTCOME_UNKNOWN for e in failures)


# --------------------------------------------------------------------------- discard


@dataclass(frozen=True, slots=True)
class PaymentOutcomeUnknown(DomainError):
    """A dead-lettered call to the payments provider whose outcome is unknown (it died of
    transient failures or a lost confirmation, not of a refusal): discarding it could move
    the money twice (D95)."""

    code: ClassVar[str] = "PAYMENT_OUTCOME_UNKNOWN"
    job_id: int

    @property
    def message(self) -> str:
        return (
            f"job {self.job_id} is a payment the provider may have made; replay it"
            " (same key: the provider answers what it did) instead of discarding it"
        )


@dataclass(frozen=True, slots=True)
class DiscardDeadLetter:
    country: CountryCode
    job_id: int
    reason: str


DiscardFailure = (
    Forbidden | NotFound | JobNotDeadLettered | ReasonRequired | ReasonTooLong | PaymentOutcomeUnknown
)


async def discard_dead_letter(
    svc: Services, ctx: RequestContext, cmd: DiscardDeadLetter
) -> Result[Job, DiscardFailure]:
    allowed = authorize(ctx.principal, Operation.DEAD_LETTER_DISCARD, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    checked = required_reason(cmd.reason)
    if isinstance(checked, Failure):
        return checked
    reason = checked.unwrap()
    now = svc.clock.now()
    async with svc.uow() as uow:
        job = await uow.outbox.get(cmd.job_id)
        if (
            job is not None
            and job.country == cmd.country
            and job.status is JobStatus.DEAD
            and job.provider == PAYMENTS_PROVIDER
            and not needs_fresh_provider_key(job)  # not a refusal: the money may have moved
        ):
            return Failure(PaymentOutcomeUnknown(job.id))
        discarded = await uow.outbox.discard(cmd.job_id, cmd.country, now=now)
        if discarded is None:
            return Failure(await _why_not_dead(uow, cmd.country, cmd.job_id))
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="dead_letter.discarded",
            target_type="outbox_job",
            target_id=str(discarded.id),
            at=now,
            before={"status": JobStatus.DEAD.value},
            after={
                "status": discarded.status.value,
                "idempotency_key": discarded.idempotency_key,
                "provider": discarded.provider,
                "reason": reason,
            },
        )
        await uow.commit()
    return Success(discarded)


async def _why_not_dead(uow: UnitOfWork, country: CountryCode, job_id: int) -> NotFound | JobNotDeadLettered:
    job = await uow.outbox.get(job_id)
    if job is None or job.country != country:
        return NotFound("outbox_job", str(job_id))
    return JobNotDeadLettered(job_id, job.status.value)


# -------------------------------------------------------------------- provider status


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One provider in one country: its circuit breaker and its queue."""

    provider: str
    circuit: Circuit  # closed with no history (version 0) if it never failed
    reopens_at: datetime | None  # OPEN only: when the next trial call may go out
    queue: tuple[tuple[JobStatus, int], ...]  # PENDING, RUNNING, WAITING, DEAD (zeros included)

    @property
    def state(self) -> CircuitState:
        return self.circuit.state

    def jobs(self, status: JobStatus) -> int:
        return dict(self.queue).get(status, 0)


@dataclass(frozen=True, slots=True)
class ReadProviderStatus:
    country: CountryCode


async def provider_status(
    svc: Services, ctx: RequestContext, query: ReadProviderStatus, *, policy: BreakerPolicy | None = None
) -> Result[list[ProviderStatus], Forbidden]:
    """Every provider of the country that has a circuit or a live job, by name."""
    allowed = authorize(ctx.principal, Operation.PROVIDER_STATUS_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    breaker = policy or BreakerPolicy()
    async with svc.uow() as uow:  # read only
        circuits = {c.provider: c for c in await uow.circuits.in_country(query.country)}
        depths = await uow.outbox.depth(query.country)
    counts: dict[str, dict[JobStatus, int]] = defaultdict(dict)
    for depth in depths:
        counts[depth.provider][depth.status] = depth.jobs
    statuses = []
    for provider in sorted(set(circuits) | set(counts)):
        circuit = circuits.get(provider) or Circuit.closed(query.country, provider)
        queue = tuple((status, counts[provider].get(status, 0)) for status in LIVE_STATUSES)
        statuses.append(ProviderStatus(provider, circuit, circuit.reopens_at(breaker), queue))
    return Success(statuses)
