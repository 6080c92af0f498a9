"""Carrying out one saga job, exactly once in effect (SPEC §5, issue 3).

For a job (one step of a decided dispute's plan) the executor:

1. reloads the dispute and the order and recomputes the plan — a pure function — and
   refuses to act if its fingerprint differs from the one decided (``PlanDrift``);
2. for a provider step, calls the provider with the step's idempotency key *outside* any
   database transaction (a repeated key returns the provider's first answer and moves no
   money twice);
3. in one transaction: posts the step's ledger transaction (unique by key), completes the
   job if its fencing token is still current, enqueues the next step, and — with the last
   step that is not a notification (the last one that moves money or creates the
   replacement) — resolves the dispute, moves the order to its final status and enqueues
   every remaining notification at once; plus the audit entries (D83).

A notification that fails for good after that is dead-lettered (an alert) but leaves the
settled dispute RESOLVED and the order in its final status: the money has moved, and an
L3 replays or discards the notice. After an L3 replays a job that died of a permanent
refusal, the provider is called with ``job.provider_key`` (``<key>#r<n>``, D83); the
ledger posting keeps the step's key.

A failure the provider reports for a job already DONE, on the key it completed with (a bank
returned a seller payout days after it was paid), is a *late failure* (D130): it is noted
once in the job's history; a job kind that ``ReversesWhenReturned`` (the seller payout, a
refund's re-issue to the card) posts the money back and audits the return in the same
transaction, and so does a dispute's ``provider_refund`` step (D136: ``refund.returned``, the
amount awaiting an L3's re-issue); any other kind (a notice) is audited as
``provider.late_failure`` and counted for an operator, nothing reversed.

A success the provider confirms for a job already dead-lettered (transient failures past the
maximum: one of the calls went through unseen), on the key it last called with, settles it as
its replay would have (D131): in one transaction the job leaves the queue (DEAD -> DONE, the
row locked, so an L3's concurrent replay or discard finds it no longer DEAD, or went first and
this changes nothing), its dispute leaves EXECUTION_FAILED the way a replay makes it leave
(``resume_execution``), the step is recorded as a synchronous success is, and it is audited
as ``saga.recovered_by_confirmation``. A success for a DISCARDED job records nothing: an L3
decided to drop it, so it is noted once, audited and counted for a person.

A crash anywhere leaves either nothing recorded (the job's lease expires and it runs
again; the provider sees the same key) or everything recorded. A worker that lost its
lease records nothing (the token check fails and the transaction rolls back).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol, TypedDict, runtime_checkable

from returns.result import Failure, Result, Success

from application.audit.redaction import without_personal_data
from application.audit.trail import record
from application.cases.use_cases import publish_changes, resolve_cases_for_dispute
from application.context import RequestContext, Services
from application.disputes.refund_returns import RefundReissueJob, post_refund_return
from application.errors import PlanDrift
from application.integrations.breakers import CircuitBreakerGate
from application.integrations.dead_letters import (
    DECLINED,
    failures_of,
    needs_fresh_provider_key,
    resume_execution,
)
from application.ports.metrics import NO_METRICS, Metrics
from application.ports.outbox import (
    LEASE_EXPIRED,
    PROVIDER_ACCEPTED,
    PROVIDER_LATE_FAILURE,
    PROVIDER_LATE_SUCCESS,
    PROVIDER_SUCCESS_AFTER_REFUSAL,
    Job,
    JobError,
    JobStatus,
    NewJob,
    job_by_provider_key,
)
from application.ports.providers import (
    PartyNotifier,
    PayoutsProvider,
    ProviderError,
    ProviderFailureKind,
    ProviderReceipt,
    RefundsProvider,
)
from application.ports.unit_of_work import UnitOfWork
from application.saga.retry import RetryPolicy
from application.saga.scheduling import JOB_KIND, new_step_job
from application.security.principal import Principal, Role
from application.security.scope import system_scope
from domain.cases.case import Case
from domain.disputes import Dispute
from domain.disputes.outcomes import (
    CreateReplacementOrder,
    EscrowState,
    ExecutionPlan,
    ExecutionStep,
    Notify,
    OrderResolution,
    PostLedger,
    ProviderRefund,
    StepTrigger,
    plan_execution,
)
from domain.disputes.status import DisputeStatus
from domain.integrations import Admission, BreakerPolicy, Verdict
from domain.ledger import LedgerTransaction
from domain.orders import Order, OrderStatus, ReplacementError, ReplacementNotAllowed, replacement_id
from domain.shared import CountryCode, Money

_FINAL_ORDER_STATUS: dict[OrderResolution, OrderStatus] = {
    OrderResolution.REFUNDED: OrderStatus.REFUNDED,
    OrderResolution.PARTIALLY_REFUNDED: OrderStatus.PARTIALLY_REFUNDED,
    OrderResolution.COMPLETED: OrderStatus.COMPLETED,
}


replacement_order_id: Final = replacement_id
"""The replacement of an order has a deterministic id (the domain's rule), so creating it is idempotent."""


@dataclass(frozen=True, slots=True)
class Providers:
    payments: RefundsProvider
    notifications: PartyNotifier
    payouts: PayoutsProvider | None = None  # the seller payout run's provider (D89)


class StepOutcome(StrEnum):
    COMPLETED = "COMPLETED"  # recorded; the next step (if any) is enqueued
    RESOLVED = "RESOLVED"  # the last step: the dispute is resolved
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"  # accepted; the provider's webhook will settle it
    RETRY_SCHEDULED = "RETRY_SCHEDULED"
    DEAD_LETTERED = "DEAD_LETTERED"
    LEASE_LOST = "LEASE_LOST"  # another worker owns the job now: nothing recorded
    ALREADY_SETTLED = "ALREADY_SETTLED"  # a confirmation for a step already done (a duplicate)
    DEFERRED = "DEFERRED"  # the provider's circuit breaker is open: the job waits, no attempt spent
    # a failure reported for a DONE job (D130): a payout's posting reversed, the money owed
    # again; or a refund's money posted back, awaiting re-issue (D136)
    RETURNED = "RETURNED"
    # a failure reported for a DONE job of any other kind: audited and counted, nothing reversed
    LATE_FAILURE = "LATE_FAILURE"
    # a success confirmed for a DEAD job on the key it last called with (D131): recorded as the
    # success it was (out of the dead-letter queue, the saga goes on)
    RECOVERED = "RECOVERED"
    # a failure confirmed for a DEAD job on the key it last called with (D136): noted as the
    # provider's decline (a later success for the key is a contradiction), audited
    DECLINED_AFTER_DEAD_LETTER = "DECLINED_AFTER_DEAD_LETTER"
    # a success confirmed for a DISCARDED job (D131): audited and counted, nothing recorded
    CONFIRMED_AFTER_DISCARD = "CONFIRMED_AFTER_DISCARD"
    # a success confirmed for a DEAD job whose key the provider had refused (its decline, a
    # permanent error that proved the key moved nothing), or for a key a replay replaced after
    # such a refusal: the provider contradicts itself; audited and counted, nothing recorded
    CONFIRMED_AFTER_REFUSAL = "CONFIRMED_AFTER_REFUSAL"
    CONFIRMED_FOR_REPLACED_KEY = "CONFIRMED_FOR_REPLACED_KEY"


_CONTRADICTIONS: Final[dict[StepOutcome, tuple[str, str, str]]] = {
    StepOutcome.CONFIRMED_AFTER_DISCARD: (
        "provider.success_after_discard",
        PROVIDER_LATE_SUCCESS,
        "after it was discarded",
    ),
    StepOutcome.CONFIRMED_AFTER_REFUSAL: (
        "provider.success_after_refusal",
        PROVIDER_SUCCESS_AFTER_REFUSAL,
        "after the provider refused it",
    ),
    # the same fact as the one above, for a key a replay replaced: one note a key
    StepOutcome.CONFIRMED_FOR_REPLACED_KEY: (
        "provider.success_for_replaced_key",
        PROVIDER_SUCCESS_AFTER_REFUSAL,
        "after the provider refused it",
    ),
}
"""Each contradiction of the provider: its audit action, the job history's note and words
(the note also names the key, and is written once per kind and key)."""


DEFAULT_BREAKER_REFRESH: Final = 1.0  # seconds a worker process trusts a CLOSED verdict it read


@dataclass
class ClosedCircuits:
    """The CLOSED verdicts of the shared circuit breakers that a worker process has read,
    shared by its loops (D59). A closed circuit admits every call without a write, so the
    worker does not read it again for every batch: a verdict is trusted for ``refresh``
    seconds after it was read (``clock``: ``time.monotonic``), and forgotten at once when a
    call through it gets any answer but an immediate success (a failure, a refusal, an
    acceptance), so the next call asks the shared circuit again. How stale it may be: a
    process may go on calling a provider for at most ``refresh`` seconds after another
    process opened its circuit, and only while its own calls keep succeeding."""

    refresh: float = DEFAULT_BREAKER_REFRESH
    clock: Callable[[], float] = time.monotonic
    _verdicts: dict[tuple[CountryCode, str], tuple[Admission, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.refresh < 0:
            raise ValueError("refresh must not be negative")

    def get(self, key: tuple[CountryCode, str]) -> Admission | None:
        """The CLOSED admission read for ``key`` less than ``refresh`` seconds ago, if any."""
        kept = self._verdicts.get(key)
        if kept is None:
            return None
        admission, read_at = kept
        if self.clock() - read_at >= self.refresh:
            del self._verdicts[key]
            return None
        return admission

    def keep(self, key: tuple[CountryCode, str], admission: Admission, *, read_at: float) -> None:
        """Trust ``admission`` (a CALL) from ``read_at`` (``clock()`` before the read began)."""
        if admission.verdict is Verdict.CALL:
            self._verdicts[key] = (admission, read_at)

    def forget(self, key: tuple[CountryCode, str]) -> None:
        self._verdicts.pop(key, None)


@dataclass
class CompletionBatch:
    """Provider jobs of one claimed batch whose call succeeded through a closed circuit,
    recorded together by ``SagaRunner.complete_batch`` in one transaction (D51), and the
    clean circuits the calls were admitted through (``circuits``: the worker pool shares
    one ``ClosedCircuits`` between its loops and batches, D59; by default a batch has its own)."""

    done: list[tuple[Job, ProviderReceipt, int]] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() when the first of ``done`` started
    circuits: ClosedCircuits = field(default_factory=ClosedCircuits)
    to_clear: set[tuple[CountryCode, str]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.done)


class ProviderJob(Protocol):
    """A job kind that is one provider call outside any dispute plan (a payout, a message
    about an incident...), registered in ``SagaRunner.job_kinds``. The handler only makes
    the call, with the job's idempotency key; the runner gives it what a saga step gets:
    the circuit breaker, retries with backoff, the dead-letter queue, fencing, the audit
    entry, and asynchronous confirmations (``confirm``)."""

    async def __call__(self, job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]: ...


@runtime_checkable
class PostsToLedger(Protocol):
    """A provider job kind whose success moves money in the ledger (a seller payout, D89):
    the runner posts ``ledger_transaction(job)`` in the transaction that completes the job
    (under its fencing token), so the posting and the job's DONE commit together or not at
    all, and the transaction's idempotency key posts it at most once."""

    def ledger_transaction(self, job: Job) -> LedgerTransaction: ...


@runtime_checkable
class FollowsUp(Protocol):
    """A provider job kind whose success leads to more jobs (a card re-issue the provider
    confirmed: the buyer's notice, D155): the runner enqueues ``follow_ups(job, now)`` in the
    transaction that completes the job, so they exist if and only if the job completed; each
    has a key of its own derived from the job's, so the outbox keeps it once."""

    def follow_ups(self, job: Job, now: datetime) -> Sequence[NewJob]: ...


@runtime_checkable
class ReversesWhenReturned(Protocol):
    """A provider job kind whose money can come back after its provider confirmed it (a
    seller payout returned by the bank, D130). For a verified failure of a DONE job of this
    kind the runner calls ``returned`` in the transaction that notes the failure in the job's
    history (once per job): it posts the reversal of the job's posting and audits it, and
    answers the money returned, or ``None`` if it reversed nothing (the failure is then
    handled as any other late failure)."""

    async def returned(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        job: Job,
        *,
        provider_reference: str,
        failure_code: str,
        now: datetime,
    ) -> Money | None: ...


# a code starts with a letter and holds at most 3 digits (``http_422``, ``r01`` yes; a card, a
# phone or an account number, even split in groups, ``4111...``, ``tel_55_123_456_78``, no)
_FAILURE_CODE: Final = re.compile(r"(?!(?:\D*\d){4})[a-z][a-z0-9_.-]{0,63}")


def failure_code(detail: str) -> str:
    """A provider's failure reason reduced to its code (``account_closed``; ``http_422`` of
    ``http_422: refused``) for audit entries and job histories, which are never erased: free
    text, and anything with a run of digits (a card, a phone, an IBAN), may be personal data,
    so whatever is not a short code is ``unspecified``."""
    head = detail.partition(":")[0].strip().lower()
    return head if _FAILURE_CODE.fullmatch(head) else "unspecified"


@dataclass(frozen=True, slots=True)
class SagaRunner:
    svc: Services
    providers: Providers
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rand: Callable[[], float] = lambda: 1.0
    worker_id: str = "worker"
    lease: timedelta = timedelta(seconds=30)
    confirmation_timeout: timedelta = timedelta(minutes=10)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    metrics: Metrics = NO_METRICS
    job_kinds: Mapping[str, ProviderJob] = field(default_factory=dict)

    @property
    def _ctx(self) -> RequestContext:
        principal = Principal(self.worker_id, Role.SYSTEM, frozenset())
        return RequestContext(principal, f"job-runner:{self.worker_id}")

    @system_scope
    async def run_once(self, *, limit: int = 10) -> list[StepOutcome]:
        """Claim up to ``limit`` due jobs and carry each out."""
        async with self.svc.uow() as uow:
            jobs = await uow.outbox.claim(
                worker_id=self.worker_id, now=self.svc.clock.now(), lease=self.lease, limit=limit
            )
            await uow.commit()
        return [await self.execute(job) for job in jobs]

    async def drain(self, *, max_rounds: int = 1000) -> list[StepOutcome]:
        """Run until no job is due (tests, the CLI's one-shot mode)."""
        outcomes: list[StepOutcome] = []
        for _ in range(max_rounds):
            batch = await self.run_once()
            if not batch:
                break
            outcomes.extend(batch)
        return outcomes

    @system_scope
    async def execute(self, job: Job) -> StepOutcome:
        outcome = await self._execute(job)
        assert outcome is not None  # only a batch defers an outcome
        self.metrics.job_finished(job.country, job.provider, outcome.value)
        return outcome

    @system_scope
    async def execute_batched(self, job: Job, batch: CompletionBatch) -> StepOutcome | None:
        """``execute``, except that a provider job (``job_kinds``) that succeeds at once
        through a closed circuit is added to ``batch`` and ``None`` is returned: it is
        recorded by ``complete_batch``, which the worker pool calls after its claimed batch."""
        outcome = await self._execute(job, batch)
        if outcome is not None:
            self.metrics.job_finished(job.country, job.provider, outcome.value)
        return outcome

    @system_scope
    async def complete_batch(self, batch: CompletionBatch) -> list[StepOutcome]:
        """Record every job of ``batch`` in one transaction: each job completed under its own
        fencing token (a job whose lease was lost is ``LEASE_LOST`` and gets no entry), the
        failure counts of circuits admitted with failures cleared, and one audit entry per
        completed job, appended together at the commit (one hold of the chain's lock)."""
        if not batch.done:
            return []
        done, batch.done = batch.done, []
        to_clear, batch.to_clear = batch.to_clear, set()
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            completed = await uow.outbox.complete_many(
                [(job.id, job.fencing_token) for job, _, _ in done], now=now
            )
            for country, provider in sorted(to_clear):
                await uow.circuits.clear_failures(country, provider, now=now)
                batch.circuits.forget((country, provider))  # read it clean next time
            for job, receipt, latency_ms in done:
                if job.id in completed:
                    await self._post_provider_job(uow, job, now)
                    await self._audit_provider_completed(uow, job, receipt, latency_ms, now)
            await uow.commit()
        outcomes = []
        for job, _, _ in done:
            outcome = StepOutcome.COMPLETED if job.id in completed else StepOutcome.LEASE_LOST
            self.metrics.job_finished(job.country, job.provider, outcome.value)
            outcomes.append(outcome)
        return outcomes

    async def _execute(self, job: Job, batch: CompletionBatch | None = None) -> StepOutcome | None:
        if job.attempts > job.max_attempts:
            # claimed again past its maximum without ever answering: each run died before
            # recording anything (a worker killed mid-call, a run that raises every time), so
            # its lease expired and it was claimed anew. Dead-lettered before any call, with
            # its outcome unknown: a replay keeps the key, a payment is never discarded (D117)
            return await self._dead_letter(
                job,
                LEASE_EXPIRED,
                f"claimed {job.attempts} times, past its maximum of {job.max_attempts}, and no run"
                " recorded an answer: each ended with its worker (crashed, killed or raising)",
            )
        if job.kind != JOB_KIND:
            handler = self.job_kinds.get(job.kind)
            if handler is None:
                return await self._dead_letter(job, "UNKNOWN_JOB_KIND", f"no handler for {job.kind!r}")
            return await self._run_provider_job(job, handler, batch)
        loaded = await self._plan(job)
        if isinstance(loaded, Failure):
            return await self._dead_letter(job, loaded.failure().code, loaded.failure().message)
        plan, step = loaded.unwrap()
        # The provider's circuit breaker (shared by every worker) is asked first; while it
        # is open the job waits, its attempt not spent (D23).
        caller = self._caller(job)
        gated = isinstance(step.action, ProviderRefund | Notify)
        if gated:
            admission = await self._breakers.admit(job.country, job.provider, caller=caller)
            if admission.retry_at is not None:
                return await self._defer(job, admission.retry_at)

        started = time.monotonic()
        called = await self._call_provider(step, job.country, job.provider_key)
        latency_ms = int((time.monotonic() - started) * 1000)
        if gated:
            await self._report_call(job, called, caller, time.monotonic() - started)
        if isinstance(called, Failure):
            return await self._provider_failed(job, step.name, called.failure(), latency_ms)
        receipt = called.unwrap()
        if receipt is not None and not receipt.confirmed:
            return await self._await_confirmation(job, step.name, receipt, latency_ms)
        return await self._record(job, plan, step, receipt, latency_ms)

    @system_scope
    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> StepOutcome:
        """A provider's asynchronous confirmation (from a verified webhook) settles the
        step it belongs to: success records it exactly as a synchronous answer would; a
        failure dead-letters it. A confirmation for a settled step changes nothing, nor does
        one for a key the job no longer calls with (a late answer to the key an L3 replay
        replaced, D83), except, on the key the job last called with: a failure for a DONE
        job, the provider took back what it had confirmed (D130, ``_late_failure``); a
        success for a DEAD job, one of its calls went through after all and it is recorded
        as the success it was, ``RECOVERED``; a success for a DISCARDED job, which records
        nothing, ``CONFIRMED_AFTER_DISCARD`` (D131)."""
        async with self.svc.uow() as uow:
            job = await job_by_provider_key(uow.outbox, idempotency_key)
        if job is None:
            return StepOutcome.ALREADY_SETTLED
        if job.provider_key != idempotency_key:
            # a former key: a replay replaced it because the provider had refused it (D83)
            if not succeeded:
                return StepOutcome.ALREADY_SETTLED
            return await self._contradicted(
                job, idempotency_key, provider_reference, StepOutcome.CONFIRMED_FOR_REPLACED_KEY
            )
        if job.status is JobStatus.DONE and not succeeded:
            return await self._late_failure(job, provider_reference, detail)
        if job.status is JobStatus.DISCARDED and succeeded:
            return await self._contradicted(
                job, idempotency_key, provider_reference, StepOutcome.CONFIRMED_AFTER_DISCARD
            )
        if job.status in (JobStatus.DEAD, JobStatus.PENDING) and not succeeded:
            return await self._declined_when_idle(job, idempotency_key, provider_reference, detail)
        if job.status is JobStatus.DEAD and succeeded:
            if needs_fresh_provider_key(job):
                # it died of a refusal that proved its key moved nothing (a decline: the
                # provider's word, perhaps before a payout's return, in either order)
                return await self._contradicted(
                    job, idempotency_key, provider_reference, StepOutcome.CONFIRMED_AFTER_REFUSAL
                )
            return await self._recover(job, provider_reference)
        if job.status not in (JobStatus.RUNNING, JobStatus.WAITING):
            return StepOutcome.ALREADY_SETTLED
        outcome = await self._settle_confirmation(job, succeeded, provider_reference, detail)
        if outcome is StepOutcome.LEASE_LOST:
            # the worker dead-lettered the job (its last timeout) while this answer was being
            # recorded, and an L3 may have discarded or replayed it since: settle the answer for
            # what the job is now (a dead letter, a discarded job, a replaced key), never lose it
            return await self._again_if_moved(job, idempotency_key, succeeded, provider_reference, detail)
        return outcome

    async def _again_if_moved(
        self, job: Job, idempotency_key: str, succeeded: bool, provider_reference: str, detail: str
    ) -> StepOutcome:
        """``confirm`` again if the job left the state this answer was settled against (its
        status or its key changed: someone else changed it first); ``LEASE_LOST`` otherwise."""
        async with self.svc.uow() as uow:
            now_is = await uow.outbox.get(job.id)
        if now_is is not None and (
            now_is.status is not job.status or now_is.provider_key_revision != job.provider_key_revision
        ):
            return await self.confirm(
                idempotency_key, succeeded=succeeded, provider_reference=provider_reference, detail=detail
            )
        return StepOutcome.LEASE_LOST

    async def _declined_when_idle(
        self, job: Job, idempotency_key: str, provider_reference: str, detail: str
    ) -> StepOutcome:
        """The provider's failure for the key a job not running last called with: a dead
        letter (its calls' answers were lost), or a job waiting for its retry after a lost
        answer. It is the provider's word that the key moved nothing, or that what it moved
        came back (a refund or a payout returned, whose success may reach us after this
        failure), so it is recorded as the provider's decline of the key (D136): a PENDING job
        is dead-lettered with it (``_dead_letter``: the dispute fails its execution); a DEAD
        one has it noted once in its history, audited ``provider.declined_after_dead_letter``
        (``DECLINED_AFTER_DEAD_LETTER``), unless its last failure is that decline already (a
        redelivery). Either way a success for the key that follows is a contradiction told to
        a person (``CONFIRMED_AFTER_REFUSAL``), never money recorded as moved, and an L3's
        replay takes a fresh key (D83). If the job moved on meanwhile (a worker claimed it, a
        success recovered it, an L3 replayed it), the failure is settled against what it is now."""
        if job.status is JobStatus.PENDING:
            outcome = await self._dead_letter(
                job, DECLINED, detail or "declined by the provider", pending=True
            )
            if outcome is StepOutcome.LEASE_LOST:
                return await self._again_if_moved(job, idempotency_key, False, provider_reference, detail)
            return outcome
        failures = failures_of(job)
        if failures and failures[-1].kind == DECLINED:
            return StepOutcome.ALREADY_SETTLED  # it died of this decline, or it was noted already
        now = self.svc.clock.now()
        code = failure_code(detail)
        async with self.svc.uow() as uow:
            note = JobError(
                at=now,
                attempt=job.attempts,
                kind=DECLINED,
                detail=f"declined by the provider after it was dead-lettered: key {job.provider_key}: {code}",
            )
            noted = await uow.outbox.note_dead_decline(
                job.id, provider_key_revision=job.provider_key_revision, now=now, error=note
            )
            if noted:
                await record(
                    uow,
                    self._ctx,
                    country=job.country,
                    action="provider.declined_after_dead_letter",
                    **_target(job),
                    at=now,
                    after={
                        "job_id": job.id,
                        **_provider_report(job, provider_reference),
                        "failure_code": code,
                        "outcome": StepOutcome.DECLINED_AFTER_DEAD_LETTER.value,
                    },
                )
                await uow.commit()
        if not noted:
            return await self._again_if_moved(job, idempotency_key, False, provider_reference, detail)
        return StepOutcome.DECLINED_AFTER_DEAD_LETTER

    async def _settle_confirmation(
        self, job: Job, succeeded: bool, provider_reference: str, detail: str
    ) -> StepOutcome:
        """A confirmation for a job awaiting it (RUNNING or WAITING): recorded or dead-lettered."""
        idempotency_key = job.provider_key
        if job.kind in self.job_kinds:
            if not succeeded:
                return await self._dead_letter(job, "PROVIDER_DECLINED", detail or "declined by the provider")
            receipt = ProviderReceipt(job.provider, job.kind, idempotency_key, provider_reference)
            return await self._complete_provider_job(job, receipt, 0)
        loaded = await self._plan(job)
        if isinstance(loaded, Failure):
            return await self._dead_letter(job, loaded.failure().code, loaded.failure().message)
        plan, step = loaded.unwrap()
        if not succeeded:
            return await self._dead_letter(job, "PROVIDER_DECLINED", detail or "declined by the provider")
        provider = job.provider
        receipt = ProviderReceipt(provider, step.kind.value.lower(), idempotency_key, provider_reference)
        return await self._record(job, plan, step, receipt, 0)

    async def _recover(self, job: Job, provider_reference: str) -> StepOutcome:
        """A success confirmed for a DEAD job on the key it last called with (D131): recorded
        as the success it was (``_record`` or ``_complete_provider_job`` with ``recovering``),
        ``RECOVERED``. If an L3 changed the job first, nothing is recorded here: a replay now
        owns it (its run gets this answer from the provider, same key), and a discard that
        went first is told to a person (``_contradicted``), never lost."""
        outcome = await self._recover_step(job, provider_reference)
        if outcome is not StepOutcome.ALREADY_SETTLED:
            return outcome
        async with self.svc.uow() as uow:
            now_is = await uow.outbox.get(job.id)
        if (
            now_is is not None
            and now_is.status is JobStatus.DISCARDED
            and now_is.provider_key == job.provider_key
        ):
            return await self._contradicted(
                now_is, job.provider_key, provider_reference, StepOutcome.CONFIRMED_AFTER_DISCARD
            )
        return outcome

    async def _recover_step(self, job: Job, provider_reference: str) -> StepOutcome:
        if job.kind in self.job_kinds:
            receipt = ProviderReceipt(job.provider, job.kind, job.provider_key, provider_reference)
            return await self._complete_provider_job(job, receipt, 0, recovering=True)
        loaded = await self._plan(job)
        if isinstance(loaded, Failure) or not isinstance(loaded.unwrap()[1].action, ProviderRefund | Notify):
            # its plan drifted (a replay would dead-letter it again: the L3 decides), or the
            # step calls no provider: there is no call of this job to confirm
            return StepOutcome.ALREADY_SETTLED
        plan, step = loaded.unwrap()
        receipt = ProviderReceipt(job.provider, step.kind.value.lower(), job.provider_key, provider_reference)
        return await self._record(job, plan, step, receipt, 0, recovering=True)

    async def _contradicted(
        self, job: Job, key: str, provider_reference: str, outcome: StepOutcome
    ) -> StepOutcome:
        """A success the job's own state contradicts (D131): confirmed for a DISCARDED job
        (an L3 dropped it and may have settled its matter another way: a refund by hand,
        another decision), for a DEAD job whose key the provider had refused, or for a key a
        replay replaced after such a refusal (the replay's key may have moved the money too).
        Nothing is recorded: the confirmation is noted once in the job's history (a
        redelivery under another webhook id, or two racing, changes nothing:
        ``ALREADY_SETTLED``), audited and counted (the alert for payments), for a person to
        reconcile."""
        action, kind, how = _CONTRADICTIONS[outcome]
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            note = JobError(
                at=now,
                attempt=job.attempts,
                kind=kind,
                detail=f"confirmed succeeded {how}: key {key}",
            )
            if not await uow.outbox.note_late_success(job.id, now=now, error=note):
                return StepOutcome.ALREADY_SETTLED
            await record(
                uow,
                self._ctx,
                country=job.country,
                action=action,
                **_target(job),
                at=now,
                after={
                    "job_id": job.id,
                    **_provider_report(job, provider_reference),
                    "outcome": outcome.value,
                },
            )
            await uow.commit()
        self.metrics.late_success(job.country, job.provider, outcome.value)
        return outcome

    async def _complete_dead_letter(
        self, uow: UnitOfWork, job: Job, receipt: ProviderReceipt | None, now: datetime
    ) -> bool:
        """DEAD -> DONE in ``uow``, first of its transaction (the row locked, D131): ``False``
        if the job is no longer DEAD at its key (an L3 replayed or discarded it meanwhile,
        or another confirmation recovered it)."""
        reference = "" if receipt is None else receipt.reference
        note = JobError(
            at=now,
            attempt=job.attempts,
            kind=PROVIDER_LATE_SUCCESS,
            detail=f"confirmed succeeded after it was dead-lettered: {reference or 'no reference'}",
        )
        return await uow.outbox.complete_dead_letter(
            job.id, provider_key_revision=job.provider_key_revision, now=now, note=note
        )

    def _recovered(self, job: Job) -> StepOutcome:
        """A dead letter recorded as the success its provider confirmed: counted (D131)."""
        self.metrics.late_success(job.country, job.provider, StepOutcome.RECOVERED.value)
        return StepOutcome.RECOVERED

    async def _audit_recovered(
        self,
        uow: UnitOfWork,
        job: Job,
        receipt: ProviderReceipt | None,
        now: datetime,
        *,
        dispute_before: DisputeStatus | None = None,
        dispute_after: DisputeStatus | None = None,
    ) -> None:
        """``saga.recovered_by_confirmation``: the dead letter its provider confirmed (D131)."""
        await record(
            uow,
            self._ctx,
            country=job.country,
            action="saga.recovered_by_confirmation",
            target_type="outbox_job",
            target_id=str(job.id),
            at=now,
            before={
                "status": JobStatus.DEAD.value,
                "dispute_status": None if dispute_before is None else dispute_before.value,
            },
            after={
                "status": JobStatus.DONE.value,
                "step": str(job.payload.get("step", job.kind)),
                **job.audit_keys(),
                "kind": job.kind,
                "provider": job.provider,
                "provider_reference": None if receipt is None else receipt.reference,
                "dispute_status": None if dispute_after is None else dispute_after.value,
            },
        )

    async def _late_failure(self, job: Job, provider_reference: str, detail: str) -> StepOutcome:
        """A failure reported for a job already DONE (D130). In one transaction: the failure
        noted in the job's history, once (a second report of it, under another webhook id,
        changes nothing: ``ALREADY_SETTLED``), and either the money posted back
        (``RETURNED``: ``ReversesWhenReturned``, a seller payout's posting reversed, audited as
        ``payout.returned``; or a refund, a dispute's ``provider_refund`` step or its re-issue
        to the card, posted back and audited as ``refund.returned``, D136) or a
        ``provider.late_failure`` audit entry (``LATE_FAILURE``: a notice reported failed after
        it succeeded, or a refund whose plan no longer matches; nothing is reversed). A refund's
        return and any other late failure are counted, which alerts an operator (the refund
        awaits an L3's re-issue)."""
        now = self.svc.clock.now()
        code = failure_code(detail)
        handler: object = self.job_kinds.get(job.kind)
        returned: Money | None = None
        refund = await self._refund_of(job)
        async with self.svc.uow() as uow:
            note = JobError(
                at=now,
                attempt=job.attempts,
                kind=PROVIDER_LATE_FAILURE,
                detail=f"reported failed after it succeeded: {code}",
            )
            if not await uow.outbox.note_late_failure(job.id, now=now, error=note):
                return StepOutcome.ALREADY_SETTLED
            if isinstance(handler, ReversesWhenReturned):
                returned = await handler.returned(
                    uow, self._ctx, job, provider_reference=provider_reference, failure_code=code, now=now
                )
            elif refund is not None:
                returned = await post_refund_return(
                    uow,
                    self._ctx,
                    country=job.country,
                    dispute_id=str(job.payload["dispute_id"]),
                    order_id=refund.order_id,
                    amount=refund.amount,
                    job=job,
                    provider_reference=provider_reference,
                    failure_code=code,
                    now=now,
                )
            if returned is None:
                await record(
                    uow,
                    self._ctx,
                    country=job.country,
                    action="provider.late_failure",
                    **_target(job),
                    at=now,
                    after={
                        **_provider_report(job, provider_reference),
                        "failure_code": code,
                        "outcome": StepOutcome.LATE_FAILURE.value,
                    },
                )
            await uow.commit()
        if returned is not None and refund is None and not isinstance(handler, RefundReissueJob):
            self.metrics.payout_returned(job.country, returned.currency.code)
            return StepOutcome.RETURNED
        self.metrics.late_failure(job.country, job.provider, job.kind)
        return StepOutcome.LATE_FAILURE if returned is None else StepOutcome.RETURNED

    async def _refund_of(self, job: Job) -> ProviderRefund | None:
        """The refund a dispute's ``provider_refund`` step made, if ``job`` is one whose plan
        still matches (D136); ``None`` for any other job."""
        if job.kind != JOB_KIND or job.payload.get("step") != "provider_refund":
            return None
        loaded = await self._plan(job)
        if isinstance(loaded, Failure):
            return None
        action = loaded.unwrap()[1].action
        return action if isinstance(action, ProviderRefund) else None

    async def _await_confirmation(
        self, job: Job, step_name: str, receipt: ProviderReceipt, latency_ms: int
    ) -> StepOutcome:
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            accepted = JobError(
                at=now,
                attempt=job.attempts,
                kind=PROVIDER_ACCEPTED,
                detail=f"{receipt.operation} accepted as {receipt.reference}; confirmation awaited",
            )
            if not await uow.outbox.await_confirmation(
                job.id, job.fencing_token, now=now, until=now + self.confirmation_timeout, accepted=accepted
            ):
                return StepOutcome.LEASE_LOST
            await record(
                uow,
                self._ctx,
                country=job.country,
                action="provider.call_accepted",
                **_target(job),
                at=now,
                after={
                    "step": step_name,
                    **job.audit_keys(),
                    "provider": receipt.provider,
                    "operation": receipt.operation,
                    "provider_reference": receipt.reference,
                    "outcome": "ACCEPTED",
                    "latency_ms": latency_ms,
                },
            )
            await uow.commit()
        return StepOutcome.AWAITING_CONFIRMATION

    # ------------------------------------------------------------ provider jobs

    async def _run_provider_job(
        self, job: Job, handler: ProviderJob, batch: CompletionBatch | None = None
    ) -> StepOutcome | None:
        caller = self._caller(job)
        circuit_key = (job.country, job.provider)
        admission = None if batch is None else batch.circuits.get(circuit_key)
        if admission is None:
            read_at = None if batch is None else batch.circuits.clock()
            admission = await self._breakers.admit(job.country, job.provider, caller=caller)
            if batch is not None and read_at is not None:
                # a closed circuit admits every call without a write: the worker reads it
                # again only after ``refresh`` seconds or after any other answer (D51, D59)
                batch.circuits.keep(circuit_key, admission, read_at=read_at)
        if admission.retry_at is not None:
            return await self._defer(job, admission.retry_at)
        started = time.monotonic()
        called = await handler(job, self.providers)
        latency_ms = int((time.monotonic() - started) * 1000)
        if admission.verdict is Verdict.CALL and isinstance(called, Success) and called.unwrap().confirmed:
            # the common case: a success through a closed circuit is recorded (any failure
            # count cleared) in the job's completion transaction, not in one of its own
            self.metrics.provider_called(job.country, job.provider, "OK", time.monotonic() - started)
            if batch is not None:
                batch.done.append((job, called.unwrap(), latency_ms))
                if admission.circuit.consecutive_failures > 0:
                    batch.to_clear.add(circuit_key)
                return None
            return await self._complete_provider_job(job, called.unwrap(), latency_ms, clear_breaker=True)
        if batch is not None:
            batch.circuits.forget(circuit_key)  # anything else: ask the circuit again next time
        await self._report_call(job, called, caller, time.monotonic() - started)
        if isinstance(called, Failure):
            return await self._provider_failed(job, job.kind, called.failure(), latency_ms)
        receipt = called.unwrap()
        if not receipt.confirmed:
            return await self._await_confirmation(job, job.kind, receipt, latency_ms)
        return await self._complete_provider_job(job, receipt, latency_ms)

    async def _complete_provider_job(
        self,
        job: Job,
        receipt: ProviderReceipt,
        latency_ms: int,
        *,
        clear_breaker: bool = False,
        recovering: bool = False,
    ) -> StepOutcome:
        """The job DONE (under its fencing token; ``recovering``: from DEAD, D131), its posting
        and its audit entry, in one transaction."""
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            if recovering:
                if not await self._complete_dead_letter(uow, job, receipt, now):
                    return StepOutcome.ALREADY_SETTLED
            elif not await uow.outbox.complete(job.id, job.fencing_token, now=now):
                return StepOutcome.LEASE_LOST
            if clear_breaker:
                await uow.circuits.clear_failures(job.country, job.provider, now=now)
            await self._post_provider_job(uow, job, now)
            await self._audit_provider_completed(uow, job, receipt, latency_ms, now)
            if recovering:
                await self._audit_recovered(uow, job, receipt, now)
            await uow.commit()
        return self._recovered(job) if recovering else StepOutcome.COMPLETED

    async def _post_provider_job(self, uow: UnitOfWork, job: Job, now: datetime) -> None:
        """What a completed job of its kind leaves: the ledger transaction of a kind that moves
        money (``PostsToLedger``) and the jobs of a kind that is followed up (``FollowsUp``)."""
        handler: object = self.job_kinds.get(job.kind)
        if isinstance(handler, PostsToLedger):
            posted = await uow.ledger.post(handler.ledger_transaction(job))
            if isinstance(posted, Failure):  # only an escrow debit is refused; a payout has none
                raise RuntimeError(f"{job.kind} {job.idempotency_key}: {posted.failure()}")
        if isinstance(handler, FollowsUp):
            for follow_up in handler.follow_ups(job, now):
                await uow.outbox.enqueue(follow_up, now=now)  # its own key: kept once

    async def _audit_provider_completed(
        self, uow: UnitOfWork, job: Job, receipt: ProviderReceipt, latency_ms: int, now: datetime
    ) -> None:
        await record(
            uow,
            self._ctx,
            country=job.country,
            action="provider.call_completed",
            **_target(job),
            at=now,
            after={
                "step": job.kind,
                **job.audit_keys(),
                "provider": receipt.provider,
                "operation": receipt.operation,
                "provider_reference": receipt.reference,
                "outcome": "OK",
                "attempt": job.attempts,
                "latency_ms": latency_ms,
            },
        )

    # ------------------------------------------------------------ circuit breaker

    def _caller(self, job: Job) -> str:
        """Who holds a half-open trial: this worker, for this claim of this job."""
        return f"{self.worker_id}/job:{job.id}/token:{job.fencing_token}"

    @property
    def _breakers(self) -> CircuitBreakerGate:
        return CircuitBreakerGate(self.svc, self.breaker, self.metrics)

    async def _report_call(
        self, job: Job, called: Result[ProviderReceipt | None, ProviderError], caller: str, seconds: float
    ) -> None:
        """Only transient failures (5xx, timeouts) count against the breaker: a permanent
        refusal (4xx, a decline) is an answer, so the provider is up."""
        if isinstance(called, Failure):
            kind = called.failure().kind
            outcome = kind.value
        else:
            kind = None
            receipt = called.unwrap()
            outcome = "ACCEPTED" if receipt is not None and not receipt.confirmed else "OK"
        self.metrics.provider_called(job.country, job.provider, outcome, seconds)
        if kind is ProviderFailureKind.TRANSIENT:
            await self._breakers.failed(job.country, job.provider, caller=caller)
        else:
            await self._breakers.succeeded(job.country, job.provider, caller=caller)

    async def _defer(self, job: Job, until: datetime) -> StepOutcome:
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            if not await uow.outbox.defer(job.id, job.fencing_token, now=now, until=until):
                return StepOutcome.LEASE_LOST
            await uow.commit()
        return StepOutcome.DEFERRED

    # ------------------------------------------------------------------ steps

    async def _plan(self, job: Job) -> Result[tuple[ExecutionPlan, ExecutionStep], PlanDrift]:
        payload = job.payload
        reference = job.reference
        async with self.svc.uow() as uow:
            dispute = await uow.disputes.get(job.country, payload["dispute_id"])
            order = None if dispute is None else await uow.orders.get(job.country, dispute.order_id)
        if dispute is None or order is None or order.snapshot is None or dispute.decision is None:
            return Failure(PlanDrift(reference))
        planned = plan_execution(
            reference=reference,
            snapshot=order.snapshot,
            outcome=dispute.decision.outcome,
            tier_bp=dispute.decision.partial_refund_tier_bp,
            escrow=EscrowState(payload["escrow"]),
        )
        if isinstance(planned, Failure) or planned.unwrap().fingerprint() != payload["fingerprint"]:
            return Failure(PlanDrift(reference))
        plan = planned.unwrap()
        step = next((s for s in plan.steps if s.name == payload["step"]), None)
        if step is None or step.idempotency_key != job.idempotency_key:
            return Failure(PlanDrift(reference))
        return Success((plan, step))

    async def _call_provider(
        self, step: ExecutionStep, country: CountryCode, key: str
    ) -> Result[ProviderReceipt | None, ProviderError]:
        """``key``: the job's provider key (the step's key, or its replay's, D83)."""
        match step.action:
            case ProviderRefund(order_id=order_id, amount=amount):
                return await self.providers.payments.refund(
                    idempotency_key=key, country=country, order_id=order_id, amount=amount
                )
            case Notify(recipient_role=role, recipient_id=recipient, template=template):
                return await self.providers.notifications.notify(
                    idempotency_key=key,
                    country=country,
                    recipient_role=role,
                    recipient_id=recipient,
                    template=template,
                )
            case PostLedger() | CreateReplacementOrder():
                return Success(None)

    async def _record(
        self,
        job: Job,
        plan: ExecutionPlan,
        step: ExecutionStep,
        receipt: ProviderReceipt | None,
        latency_ms: int,
        *,
        recovering: bool = False,
    ) -> StepOutcome:
        """The step done, in one transaction: its posting, the job DONE under its fencing
        token, what follows enqueued (and the dispute settled with its last money step), the
        audit entries. ``recovering`` (D131): the job is DEAD and its provider confirmed the
        call; it leaves the queue first (the row locked: ``ALREADY_SETTLED`` if it is no
        longer DEAD at its key) and its dispute leaves EXECUTION_FAILED as on a replay."""
        now = self.svc.clock.now()
        async with self.svc.uow() as uow:
            if recovering and not await self._complete_dead_letter(uow, job, receipt, now):
                return StepOutcome.ALREADY_SETTLED
            dispute = await uow.disputes.get(job.country, job.payload["dispute_id"])
            assert dispute is not None
            order = await uow.orders.get(job.country, dispute.order_id)
            assert order is not None
            dispute_before = dispute.status
            await self._begin_execution(uow, job, dispute, now, recovering=recovering)
            match step.action:
                case PostLedger(transaction=transaction):
                    posted = await uow.ledger.post(transaction)
                    if isinstance(posted, Failure):
                        await uow.rollback()
                        return await self._dead_letter(job, posted.failure().code, posted.failure().message)
                case CreateReplacementOrder():
                    created = await self._create_replacement(uow, step.action, order, dispute, now)
                    if isinstance(created, Failure):
                        await uow.rollback()
                        return await self._dead_letter(job, created.failure().code, created.failure().message)
                case _:
                    pass
            if not recovering and not await uow.outbox.complete(job.id, job.fencing_token, now=now):
                return StepOutcome.LEASE_LOST
            settles, outcome, resolved = await self._follow(
                uow, job=job, plan=plan, step=step, dispute=dispute, order=order, now=now
            )
            await self._save_dispute(uow, dispute)
            await self._audit_step(uow, job=job, step=step, receipt=receipt, latency_ms=latency_ms, now=now)
            if recovering:
                await self._audit_recovered(
                    uow, job, receipt, now, dispute_before=dispute_before, dispute_after=dispute.status
                )
            if settles:
                await record(
                    uow,
                    self._ctx,
                    country=job.country,
                    action="dispute.resolved",
                    target_type="dispute",
                    target_id=dispute.id,
                    at=now,
                    after={"status": dispute.status.value, "order_status": order.status.value},
                )
            await uow.commit()
        # after the commit: the dispute's cases leave the live queues of every process (D55)
        await publish_changes(self.svc, [event for case in resolved for event in case.pull_events()])
        return self._recovered(job) if recovering else outcome

    async def _follow(
        self,
        uow: UnitOfWork,
        *,
        job: Job,
        plan: ExecutionPlan,
        step: ExecutionStep,
        dispute: Dispute,
        order: Order,
        now: datetime,
    ) -> tuple[bool, StepOutcome, list[Case]]:
        """What follows ``step`` (``_advance``, or the end of a replaced order's hold): whether
        the dispute settles now, the step's outcome (``RESOLVED`` for the saga's last step) and
        the cases resolved with the dispute."""
        if step.trigger is StepTrigger.ON_REPLACEMENT_DELIVERED:
            await self._complete_replaced(uow, job=job, step=step, dispute=dispute, order=order, now=now)
            return False, StepOutcome.COMPLETED, []
        settles, last = await self._advance(
            uow, job=job, plan=plan, step=step, dispute=dispute, order=order, now=now
        )
        resolved = await resolve_cases_for_dispute(uow, self._ctx, dispute, now) if settles else []
        return settles, StepOutcome.RESOLVED if last else StepOutcome.COMPLETED, resolved

    async def _begin_execution(
        self, uow: UnitOfWork, job: Job, dispute: Dispute, now: datetime, *, recovering: bool
    ) -> None:
        """A decided dispute starts executing with its first recorded step. A dispute whose
        dead letter its provider confirmed (``recovering``, D131) leaves EXECUTION_FAILED the
        way an L3's replay makes it leave (the same function, audited ``dispute.replayed``)."""
        if dispute.status is DisputeStatus.DECIDED:
            dispute.start_execution(now)
        elif recovering:
            resumed = await resume_execution(uow, self._ctx, dispute, job_id=job.id, now=now)
            if isinstance(resumed, Failure):
                raise RuntimeError(resumed.failure().message)  # rolled back; the webhook is retried

    async def _advance(
        self,
        uow: UnitOfWork,
        *,
        job: Job,
        plan: ExecutionPlan,
        step: ExecutionStep,
        dispute: Dispute,
        order: Order,
        now: datetime,
    ) -> tuple[bool, bool]:
        """After ``step``: enqueue what follows and say (whether the dispute settles now,
        whether ``step`` was the saga's last immediate step). The last step that is not a
        notification settles the dispute: RESOLVED and the order in its final status, here,
        as the money has moved and only notices remain; they are then enqueued side by
        side, so one that fails for good holds back neither the other nor the money (D83).
        Otherwise the next step is enqueued; after settling nothing is (every notice already is)."""
        later = [s for s in plan.immediate_steps() if s.index > step.index]
        only_notices = all(isinstance(s.action, Notify) for s in later)
        settles = dispute.status is DisputeStatus.EXECUTING and only_notices
        settled = dispute.status is DisputeStatus.RESOLVED
        for following in later if settles else [] if settled else later[:1]:
            await uow.outbox.enqueue(
                new_step_job(plan, following, dispute_id=dispute.id, country=job.country, now=now), now=now
            )
        if settles:
            dispute.mark_resolved(now)
            final = _FINAL_ORDER_STATUS.get(plan.order_resolution)
            if final is not None and order.status is OrderStatus.DISPUTED:
                await self._finish_order(uow, order, final, now)
        return settles, not later

    async def _create_replacement(
        self,
        uow: UnitOfWork,
        action: CreateReplacementOrder,
        original: Order,
        dispute: Dispute,
        now: datetime,
    ) -> Result[None, ReplacementError]:
        """The replacement: already PAID, nothing charged (no capture posting: its escrow is
        zero), linked to ``original`` and carrying its terms (``Order.replacement_for``)."""
        new_id = replacement_order_id(action.original_order_id)
        existing = await uow.orders.get(original.country, new_id)
        if existing is not None:
            if existing.replaces == original.id:
                return Success(None)  # created by an earlier run of this step
            # an order of the marketplace took the id before its suffix was reserved (D112):
            # never taken for the replacement, whose delivery would release nothing
            return Failure(
                ReplacementNotAllowed(original.id, f"its replacement's id {new_id} is another order's")
            )
        created = Order.replacement_for(original, id=new_id, at=now)
        if isinstance(created, Failure):
            return created
        replacement = created.unwrap()
        await uow.orders.add(replacement)
        await record(
            uow,
            self._ctx,
            country=original.country,
            action="order.replacement_created",
            target_type="order",
            target_id=replacement.id,
            at=now,
            after={
                "status": replacement.status.value,
                "version": replacement.version,
                "replaces": original.id,
                "dispute_id": dispute.id,
                "charged_minor": 0,
            },
        )
        return Success(None)

    async def _complete_replaced(
        self, uow: UnitOfWork, *, job: Job, step: ExecutionStep, dispute: Dispute, order: Order, now: datetime
    ) -> None:
        """The replacement was delivered: the original's escrow was released by ``step``
        (once: its key is unique in the ledger) and its hold ends, audited. A job replayed
        after the order moved on finds it no longer DISPUTED and leaves it alone."""
        if order.status is not OrderStatus.DISPUTED:
            return
        before: dict[str, str | int] = {"status": order.status.value, "version": order.version}
        await self._finish_order(uow, order, OrderStatus.COMPLETED, now)
        await record(
            uow,
            self._ctx,
            country=job.country,
            action="order.completed",
            target_type="order",
            target_id=order.id,
            at=now,
            before=before,
            after={
                "status": order.status.value,
                "version": order.version,
                "dispute_id": dispute.id,
                "replacement_id": replacement_order_id(order.id),
                "ledger_key": step.idempotency_key,
            },
        )

    async def _finish_order(self, uow: UnitOfWork, order: Order, status: OrderStatus, now: datetime) -> None:
        moved = order.transition_to(status, now)
        if isinstance(moved, Failure):
            raise RuntimeError(f"order {order.id} cannot finish as {status}: {moved.failure().message}")
        saved = await uow.orders.save(order)
        if isinstance(saved, Failure):
            raise RuntimeError(saved.failure().message)  # retried: the job's lease expires

    async def _save_dispute(self, uow: UnitOfWork, dispute: Dispute) -> None:
        saved = await uow.disputes.save(dispute)
        if isinstance(saved, Failure):
            raise RuntimeError(saved.failure().message)

    async def _audit_step(
        self,
        uow: UnitOfWork,
        *,
        job: Job,
        step: ExecutionStep,
        receipt: ProviderReceipt | None,
        latency_ms: int,
        now: datetime,
    ) -> None:
        after: dict[str, str | int | None] = {
            "step": step.name,
            **job.audit_keys(),
            "outcome": "OK",
            "attempt": job.attempts,
        }
        if receipt is not None:
            after |= {
                "provider": receipt.provider,
                "operation": receipt.operation,
                "provider_reference": receipt.reference,
                "latency_ms": latency_ms,
            }
        await record(
            uow,
            self._ctx,
            country=job.country,
            action="saga.step_completed",
            target_type="dispute",
            target_id=str(job.payload["dispute_id"]),
            at=now,
            after=after,
        )

    # --------------------------------------------------------------- failures

    async def _provider_failed(
        self, job: Job, step_name: str, error: ProviderError, latency_ms: int
    ) -> StepOutcome:
        transient = error.kind is ProviderFailureKind.TRANSIENT
        if transient and job.attempts < job.max_attempts:
            now = self.svc.clock.now()
            failure = JobError(at=now, attempt=job.attempts, kind=error.kind.value, detail=error.message)
            async with self.svc.uow() as uow:
                retried = await uow.outbox.retry_later(
                    job.id,
                    job.fencing_token,
                    now=now,
                    error=failure,
                    available_at=now + self.retry.delay(job.attempts, self.rand),
                )
                if not retried:
                    return StepOutcome.LEASE_LOST
                await record(
                    uow,
                    self._ctx,
                    country=job.country,
                    action="provider.call_failed",
                    **_target(job),
                    at=now,
                    after={
                        "step": step_name,
                        **job.audit_keys(),
                        "provider": error.provider,
                        "operation": error.operation,
                        "outcome": error.kind.value,
                        "latency_ms": latency_ms,
                    },
                )
                await uow.commit()
            return StepOutcome.RETRY_SCHEDULED
        call: dict[str, str | int | None] = {
            "step": step_name,
            **job.audit_keys(),
            "provider": error.provider,
            "operation": error.operation,
            "outcome": error.kind.value,
            "latency_ms": latency_ms,
        }
        return await self._dead_letter(job, f"PROVIDER_{error.kind.value}", error.message, call=call)

    async def _dead_letter(
        self,
        job: Job,
        kind: str,
        detail: str,
        *,
        call: dict[str, str | int | None] | None = None,
        pending: bool = False,
    ) -> StepOutcome:
        """Past the maximum attempts, or a permanent failure: the job goes to the dead-letter
        queue and the dispute to EXECUTION_FAILED, in one transaction, audited. ``call``: the
        provider call that failed for good, audited as ``provider.call_failed`` like a
        retried one (SPEC §7: every external call is audited), in the same transaction.
        ``detail`` may be a provider's free text: personal data in it is redacted before it
        reaches the job's history, the dispute and the audit log (D133)."""
        now = self.svc.clock.now()
        detail = without_personal_data(detail)
        failure = JobError(at=now, attempt=job.attempts, kind=kind, detail=detail)
        async with self.svc.uow() as uow:
            if pending:  # a job waiting for its retry, which its provider declined meanwhile (D136)
                moved = await uow.outbox.dead_letter_pending(
                    job.id, provider_key_revision=job.provider_key_revision, now=now, error=failure
                )
            else:
                moved = await uow.outbox.dead_letter(job.id, job.fencing_token, now=now, error=failure)
            if not moved:
                return StepOutcome.LEASE_LOST
            if call is not None:
                await record(
                    uow,
                    self._ctx,
                    country=job.country,
                    action="provider.call_failed",
                    **_target(job),
                    at=now,
                    after=call,
                )
            dispute_id = job.payload.get("dispute_id")
            dispute = None if dispute_id is None else await uow.disputes.get(job.country, dispute_id)
            if dispute is not None:
                if dispute.status is DisputeStatus.DECIDED:
                    dispute.start_execution(now)
                if dispute.status is DisputeStatus.EXECUTING:
                    dispute.mark_execution_failed(now, f"{kind}: {detail}")
                    await self._save_dispute(uow, dispute)
            await record(
                uow,
                self._ctx,
                country=job.country,
                action="saga.dead_lettered",
                target_type="outbox_job",
                target_id=str(job.id),
                at=now,
                after={
                    **job.audit_keys(),
                    "kind": kind,
                    "detail": detail[:500],
                    "attempts": job.attempts,
                },
            )
            await uow.commit()
        self.metrics.dead_lettered(job.country, job.provider)
        return StepOutcome.DEAD_LETTERED


class _Target(TypedDict):
    target_type: str
    target_id: str


def _target(job: Job) -> _Target:
    """What a job's audit entries are about: its dispute (a step's ``dispute_id``, a refund
    re-issue's ``for_dispute``, D136), else the job itself."""
    dispute_id = job.payload.get("dispute_id", job.payload.get("for_dispute"))
    if dispute_id is not None:
        return {"target_type": "dispute", "target_id": str(dispute_id)}
    return {"target_type": "outbox_job", "target_id": str(job.id)}


def _provider_report(job: Job, provider_reference: str) -> dict[str, str | int | None]:
    """What an audit entry of a provider's word on a finished job names (D130, D131): the
    job's step, keys, kind, provider and the provider's reference."""
    return {
        "step": str(job.payload.get("step", job.kind)),
        **job.audit_keys(),
        "kind": job.kind,
        "provider": job.provider,
        "provider_reference": provider_reference,
    }
