"""A refund the payments provider took back after confirming it, and its re-issue (D136).

The provider can report a refund failed days after it confirmed it (the card was closed, the
bank sent it back): Stripe's ``refund.failed`` after ``refund.succeeded``. The money is then
back at the provider and the buyer has nothing, while the ledger said the buyer was refunded.

- **Return.** The provider's verified failure for the DONE refund, on the key it completed
  with, reaches ``SagaRunner.confirm`` (D130). For a dispute's ``provider_refund`` step, or a
  re-issue to the card, :func:`post_refund_return` posts ``REFUND_RETURNED`` (Dr
  ``psp:clearing`` / Cr ``escrow:order:<order>``, key ``<refund key>/returned``: at most once,
  whatever the redeliveries) and audits ``refund.returned``, in the transaction that notes the
  failure in the job's history. The dispute keeps its status: its outcome stands; only the
  money's way to the buyer failed. The amount is then *awaiting re-issue*
  (``domain.disputes.returns.refund_awaiting_reissue``, read from the dispute's ledger
  transactions), and the late-failure alert tells a person.
- **Re-issue** (:func:`reissue_refund`, L3, a reason required, audited ``refund.reissued``):
  the whole amount awaiting re-issue, never a typed amount, to the card again (``CARD``: an
  outbox job of kind ``dispute.refund_reissue`` calls the provider's ``refund`` and posts
  ``REFUND_REISSUED`` when the provider confirms it, like a payout, D89) or as store credit
  (``STORE_CREDIT``: ``REFUND_AS_CREDIT`` posted at once, and a job tells the buyer). The
  ``n``-th re-issue has the key ``dispute:<id>/refund_reissue/<n>`` (its job's and its
  posting's): two L3s racing compute the same ``n`` and the outbox's unique key keeps one,
  whichever method each chose; while a re-issue is in flight (its job not DONE or
  DISCARDED) no other is accepted, so the amount it carries stays in escrow until it posts.
  A re-issue to the card can itself come back: it is returned the same way and can be
  re-issued again under the next ``n``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Protocol

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.outbox import PAYMENTS_PROVIDER, Job, JobStatus, NewJob
from application.ports.providers import (
    PartyNotifier,
    ProviderError,
    ProviderFailureKind,
    ProviderReceipt,
    RefundsProvider,
)
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.disputes import Dispute
from domain.disputes.references import dispute_reference, ledger_prefix
from domain.disputes.returns import ReissueMethod, refund_awaiting_reissue, reissue_key, returned_key
from domain.ledger import AlreadyPosted, LedgerTransaction, rules
from domain.orders import ReasonRequired, ReasonTooLong, required_reason
from domain.shared import CountryCode, Currency, DomainError, InvariantViolation, Money
from domain.shared.ids import DisputeId

log = logging.getLogger("supportos.refund_returns")

REISSUE_JOB_KIND: Final = "dispute.refund_reissue"
NOTIFICATIONS_PROVIDER: Final = "notifications"
CREDIT_NOTICE_TEMPLATE: Final = "refund.reissued_as_credit.buyer"
CARD_NOTICE_TEMPLATE: Final = "refund.reissued_to_card.buyer"
REISSUE_NOTICE_JOB_KIND: Final = "dispute.refund_reissue_notice"
_SETTLED: Final = frozenset({JobStatus.DONE, JobStatus.DISCARDED})


# ------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class NoRefundToReissue(DomainError):
    """Nothing of the dispute's refunds was returned by the provider, or it was re-issued."""

    code: ClassVar[str] = "NO_REFUND_TO_REISSUE"
    dispute_id: str

    @property
    def message(self) -> str:
        return f"dispute {self.dispute_id} has no returned refund awaiting re-issue"


@dataclass(frozen=True, slots=True)
class RefundReissueInFlight(DomainError):
    """A re-issue of the dispute's returned refund is not finished yet (its job is pending,
    running, awaiting the provider or dead-lettered: an L3 replays or discards it first)."""

    code: ClassVar[str] = "REFUND_REISSUE_IN_FLIGHT"
    dispute_id: str
    job_id: int
    status: str

    @property
    def message(self) -> str:
        return (
            f"dispute {self.dispute_id}: re-issue job {self.job_id} is {self.status}; "
            "wait for it, or replay or discard it if it is dead-lettered"
        )


# -------------------------------------------------------------------------- return


async def post_refund_return(
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    country: CountryCode,
    dispute_id: str,
    order_id: str,
    amount: Money,
    job: Job,
    provider_reference: str,
    failure_code: str,
    now: datetime,
) -> Money | None:
    """Post ``REFUND_RETURNED`` for the refund ``job`` made (``amount`` of ``order_id``'s
    payment, for ``dispute_id``) under ``<job key>/returned`` and audit ``refund.returned``,
    in the caller's transaction. The amount returned; ``None`` if this return was already
    posted (nothing moved now)."""
    returned = rules.refund_returned(
        country=country, order_id=order_id, amount=amount, key=returned_key(job.idempotency_key)
    )
    posted = await uow.ledger.post(returned)
    if isinstance(posted, Failure):  # only an escrow debit is refused; a return credits escrow
        raise RuntimeError(f"{job.kind} {job.idempotency_key}: {posted.failure()}")
    if isinstance(posted.unwrap(), AlreadyPosted):
        return None
    await record(
        uow,
        ctx,
        country=country,
        action="refund.returned",
        target_type="dispute",
        target_id=dispute_id,
        at=now,
        after={
            **job.audit_keys(),
            "return_key": returned.idempotency_key,
            "order_id": order_id,
            "amount_minor": amount.minor,
            "currency": amount.currency.code,
            "provider": job.provider,
            "provider_reference": provider_reference,
            "failure_code": failure_code,
        },
    )
    return amount


# ------------------------------------------------------------------------ re-issue


@dataclass(frozen=True, slots=True)
class ReissueRefund:
    country: CountryCode
    dispute_id: str
    method: ReissueMethod
    reason: str


@dataclass(frozen=True, slots=True)
class RefundReissue:
    """A re-issue accepted: the card refund is under way (its job), or the credit is posted."""

    dispute: Dispute
    method: ReissueMethod
    amount: Money
    idempotency_key: str
    job_id: int


ReissueFailure = (
    Forbidden
    | NotFound
    | ReasonRequired
    | ReasonTooLong
    | NoRefundToReissue
    | RefundReissueInFlight
    | ConcurrencyConflict
)


async def reissue_refund(
    svc: Services, ctx: RequestContext, cmd: ReissueRefund
) -> Result[RefundReissue, ReissueFailure]:
    """Re-issue what the provider returned of a dispute's refunds (L3; see the module)."""
    allowed = authorize(ctx.principal, Operation.DISPUTE_REFUND_REISSUE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    checked = required_reason(cmd.reason)
    if isinstance(checked, Failure):
        return checked
    reason = checked.unwrap()
    now = svc.clock.now()
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(cmd.country, DisputeId(cmd.dispute_id))
        order = None if dispute is None else await uow.orders.get(cmd.country, dispute.order_id)
        if dispute is None or order is None or order.snapshot is None:
            return Failure(NotFound("dispute", cmd.dispute_id))
        snapshot = order.snapshot
        reissues = [
            job
            for job in await uow.outbox.jobs_for(cmd.country, dispute_reference(dispute.id))
            if job.kind == REISSUE_JOB_KIND
        ]
        unfinished = [job for job in reissues if job.status not in _SETTLED]
        if unfinished:
            job = unfinished[0]
            return Failure(RefundReissueInFlight(dispute.id, job.id, job.status.value))
        transactions = await uow.ledger.transactions_for(cmd.country, ledger_prefix(dispute.id))
        amount = refund_awaiting_reissue(transactions, snapshot.order_id, snapshot.currency)
        if not amount.is_positive:
            return Failure(NoRefundToReissue(dispute.id))
        key = reissue_key(dispute.id, len(reissues) + 1)
        card = cmd.method is ReissueMethod.CARD
        payload = {
            "for_dispute": dispute.id,
            "order_id": snapshot.order_id,
            "buyer_id": snapshot.buyer_id,
            "method": cmd.method.value,
            "amount_minor": amount.minor,
            "currency": amount.currency.code,
        }
        new_job = NewJob(
            country=cmd.country,
            idempotency_key=key,
            kind=REISSUE_JOB_KIND,
            provider=PAYMENTS_PROVIDER if card else NOTIFICATIONS_PROVIDER,
            reference=dispute_reference(dispute.id),
            payload=payload,
            available_at=now,
        )
        if not await uow.outbox.enqueue(new_job, now=now):  # another L3 took this number meanwhile
            return Failure(ConcurrencyConflict("dispute", dispute.id, dispute.version))
        if not card:
            credit = rules.refund_reissued_as_credit(
                country=cmd.country,
                order_id=snapshot.order_id,
                buyer_id=snapshot.buyer_id,
                amount=amount,
                key=key,
            )
            posted = await uow.ledger.post(credit)
            if isinstance(posted, Failure) or isinstance(posted.unwrap(), AlreadyPosted):
                return Failure(ConcurrencyConflict("dispute", dispute.id, dispute.version))
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="refund.reissued",
            target_type="dispute",
            target_id=dispute.id,
            at=now,
            after={
                "idempotency_key": key,
                "method": cmd.method.value,
                "amount_minor": amount.minor,
                "currency": amount.currency.code,
                "order_id": snapshot.order_id,
                "reason": reason,
            },
        )
        enqueued = await uow.outbox.by_key(key)  # this transaction's own row
        if enqueued is None:
            raise RuntimeError(f"re-issue job {key} not found in the transaction that enqueued it")
        await uow.commit()
    return Success(RefundReissue(dispute, cmd.method, amount, key, enqueued.id))


# ---------------------------------------------------------------- the worker's job


class WithRefundProviders(Protocol):
    """What the worker hands a provider job (``application.saga.executor.Providers``)."""

    @property
    def payments(self) -> RefundsProvider: ...

    @property
    def notifications(self) -> PartyNotifier: ...


@dataclass(frozen=True, slots=True)
class _Reissue:
    dispute_id: str
    order_id: str
    buyer_id: str
    method: ReissueMethod
    amount: Money


def _parse(job: Job) -> _Reissue | None:
    payload = job.payload
    fields = [payload.get(name) for name in ("for_dispute", "order_id", "buyer_id", "method", "currency")]
    minor = payload.get("amount_minor")
    if not all(isinstance(value, str) and value for value in fields):
        return None
    if not isinstance(minor, int) or isinstance(minor, bool) or minor <= 0:
        return None
    dispute_id, order_id, buyer_id, method, currency = (str(value) for value in fields)
    if method not in ReissueMethod.__members__:
        return None
    try:
        amount = Money(minor, Currency.of(currency))
    except InvariantViolation:
        return None
    return _Reissue(dispute_id, order_id, buyer_id, ReissueMethod(method), amount)


class RefundReissueJob:
    """The worker's handler for ``dispute.refund_reissue`` (registered in the runner's
    ``job_kinds``): a re-issue to the card calls the payments provider's ``refund`` with the
    job's provider key, and its posting (``REFUND_REISSUED``) is made in the transaction that
    completes the job (``PostsToLedger``); a re-issue as credit tells the buyer, its posting
    (``REFUND_AS_CREDIT``, made when it was accepted) answering ``AlreadyPosted`` then. A card
    re-issue returned in turn is posted back (``ReversesWhenReturned``). A malformed job fails
    for good (dead-letter queue, an alert)."""

    async def __call__(
        self, job: Job, providers: WithRefundProviders
    ) -> Result[ProviderReceipt, ProviderError]:
        reissue = _parse(job)
        if reissue is None:
            return Failure(
                ProviderError(
                    job.provider,
                    job.kind,
                    ProviderFailureKind.PERMANENT,
                    f"malformed {job.kind} job: needs a dispute, an order, a buyer, a method and an amount",
                )
            )
        if reissue.method is ReissueMethod.CARD:
            return await providers.payments.refund(
                idempotency_key=job.provider_key,
                country=job.country,
                order_id=reissue.order_id,
                amount=reissue.amount,
            )
        return await providers.notifications.notify(
            idempotency_key=job.provider_key,
            country=job.country,
            recipient_role="BUYER",
            recipient_id=reissue.buyer_id,
            template=CREDIT_NOTICE_TEMPLATE,
        )

    def follow_ups(self, job: Job, now: datetime) -> list[NewJob]:
        """A card re-issue the provider confirmed: the buyer is told (D155), by a notice job
        of its own (``<re-issue key>/notice``), enqueued with the job's completion. A credit
        re-issue's job is its notice."""
        reissue = _parse(job)
        if reissue is None or reissue.method is not ReissueMethod.CARD:
            return []
        notice = NewJob(
            country=job.country,
            idempotency_key=f"{job.idempotency_key}/notice",
            kind=REISSUE_NOTICE_JOB_KIND,
            provider=NOTIFICATIONS_PROVIDER,
            reference=job.reference,
            payload={
                "for_dispute": reissue.dispute_id,
                "buyer_id": reissue.buyer_id,
                "amount_minor": reissue.amount.minor,
                "currency": reissue.amount.currency.code,
            },
            available_at=now,
        )
        return [notice]

    def ledger_transaction(self, job: Job) -> LedgerTransaction:
        reissue = _parse(job)
        if reissue is None:  # the handler refused it before any call: never completed
            raise ValueError(f"malformed {job.kind} job {job.idempotency_key}")
        if reissue.method is ReissueMethod.CARD:
            return rules.refund_reissued_to_card(
                country=job.country, order_id=reissue.order_id, amount=reissue.amount, key=job.idempotency_key
            )
        return rules.refund_reissued_as_credit(
            country=job.country,
            order_id=reissue.order_id,
            buyer_id=reissue.buyer_id,
            amount=reissue.amount,
            key=job.idempotency_key,
        )

    async def returned(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        job: Job,
        *,
        provider_reference: str,
        failure_code: str,
        now: datetime,
    ) -> Money | None:
        """A card re-issue the provider took back after confirming it: posted back like the
        refund it re-issued (:func:`post_refund_return`). ``None`` for a notice, or if it was
        already posted back."""
        reissue = _parse(job)
        if reissue is None or reissue.method is not ReissueMethod.CARD:
            return None
        return await post_refund_return(
            uow,
            ctx,
            country=job.country,
            dispute_id=reissue.dispute_id,
            order_id=reissue.order_id,
            amount=reissue.amount,
            job=job,
            provider_reference=provider_reference,
            failure_code=failure_code,
            now=now,
        )


class RefundReissueNoticeJob:
    """The worker's handler for ``dispute.refund_reissue_notice`` (D155): tells the buyer that
    a returned refund went back to their card (``refund.reissued_to_card.buyer``), once the
    provider confirmed the re-issue. A job without a buyer fails for good (an alert)."""

    async def __call__(
        self, job: Job, providers: WithRefundProviders
    ) -> Result[ProviderReceipt, ProviderError]:
        buyer_id = job.payload.get("buyer_id")
        if not isinstance(buyer_id, str) or not buyer_id:
            return Failure(
                ProviderError(
                    job.provider,
                    job.kind,
                    ProviderFailureKind.PERMANENT,
                    f"malformed {job.kind} job: no buyer",
                )
            )
        return await providers.notifications.notify(
            idempotency_key=job.provider_key,
            country=job.country,
            recipient_role="BUYER",
            recipient_id=buyer_id,
            template=CARD_NOTICE_TEMPLATE,
        )
