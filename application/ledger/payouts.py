"""The seller payout run: what the ledger owes each seller is paid out through the payments
provider (SPEC §4, §7; D89).

Released escrow lands in ``seller:payable:<seller>``; a refund after release claws the
seller's share back into ``seller:receivable:<seller>``. The run pays each seller what is
owed **net** of that debt (:func:`domain.ledger.rules.payout_due`):

1. for every ``seller:payable:`` account of the scope (keyset pages of ``page``; one per
   seller, country and currency), in a unit of work of its own: skip the seller's currency if
   one of its payouts in that currency is still in flight (a job not DONE or DISCARDED:
   pending, running, awaiting the provider's webhook, or dead-lettered - an L3 replays or
   discards it first) or if its last payout in that currency was scheduled less than
   ``min_interval`` ago; else read both balances and, when something is owed, enqueue one
   ``seller.payout`` job (key ``payout:<country>:<seller>:<currency>:<n>``, ``n`` = the
   seller's payouts in that currency so far + 1) carrying the amount and the debt it
   settles, with a ``payout.scheduled`` audit entry;
2. a worker carries the job out (:class:`SellerPayoutJob`): the provider's ``payout`` with
   the job's key, under the breaker, retries and dead-letter queue of every provider job;
3. the posting (Dr ``seller:payable`` / Cr ``seller:receivable``, Cr ``psp:clearing``) is
   made in the transaction that completes the job (``PostsToLedger``), so the money leaves
   the ledger exactly when the provider said it left the bank, exactly once.

A payout can come back after the provider confirmed it: the bank returns it days later
(Stripe's ``payout.failed`` after ``payout.paid``). The provider's failure for the DONE job,
on the key it completed with, reaches ``SagaRunner.confirm`` like any confirmation (D130):
:meth:`SellerPayoutJob.returned` posts the reversal of the payout's posting (key
``<payout key>/returned``: at most once, whatever the redeliveries), which puts the amount
back in ``seller:payable`` and the debt it had settled back in ``seller:receivable``, with a
``payout.returned`` audit entry, in the transaction that notes the return in the job's
history. The job stays DONE (it is not in flight: the provider settled it, twice), so the
next run pays the seller again under the next ``n``, once the interval since the returned
payout was scheduled has passed (a bank that bounces a payout is not asked again at every
sweep).

Payouts are per currency because balances are (SPEC §4): a country whose policy changes
currency still releases its older orders in the old one, and a seller owed in two currencies
is paid in both, each on its own (a payout in flight in one holds back none of the other).
A job's currency is its payload's ``currency`` (every job has one); a job whose currency
cannot be read counts as a job of every currency, so it holds back all of them. Keys
scheduled before payouts were per currency (``payout:<country>:<seller>:<n>``) stay valid
for their jobs and are counted in their payload's currency; seller ids have no ``:``, so the
two forms never meet.

Why this is exactly once: while a payout is in flight no other is scheduled for the seller
in its currency, so its amount stays covered (``seller:payable`` only grows between a
payout's scheduling and its posting, and ``seller:receivable`` only grows, so the debt it
settles is still owed; both are balances of that one currency). Two runs racing compute
the same ``n`` for the same currency (from the same jobs) and the outbox's unique key keeps
one job; a run that sees the previous job DONE reads the balances after it, which include
its posting (the job's DONE and the posting commit together). A crash mid-run leaves each
seller's currency scheduled or not, never half: the next run picks up the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.ledger import LedgerAccountKey
from application.ports.outbox import PAYMENTS_PROVIDER, PROVIDER_LATE_FAILURE, Job, JobStatus, NewJob
from application.ports.providers import PayoutsProvider, ProviderError, ProviderFailureKind, ProviderReceipt
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, Principal, Role, authorize
from application.security.scope import ALL, scoped_to, system_scope
from application.security.visibility import may_see_seller
from domain.ledger import Account, AlreadyPosted, LedgerTransaction, TransactionKind, rules
from domain.shared import CountryCode, Currency, InvariantViolation, Money

log = logging.getLogger("supportos.payouts")

PAYOUT_JOB_KIND: Final = "seller.payout"
NOT_ITS_SELLER: Final = "the seller is not one the caller acts for"
PAYOUT_PROVIDER: Final = PAYMENTS_PROVIDER
PAYABLE_PREFIX: Final = "seller:payable:"
PAYOUT_RUN_ID: Final = "payout-run"
DEFAULT_MIN_INTERVAL: Final = timedelta(hours=24)
DEFAULT_CHECK_EVERY: Final = timedelta(minutes=10)
DEFAULT_PAGE: Final = 500

_SETTLED: Final = frozenset({JobStatus.DONE, JobStatus.DISCARDED})
_RUN_PRINCIPAL: Final = Principal(PAYOUT_RUN_ID, Role.SYSTEM, frozenset())


def payout_reference(seller_id: str) -> str:
    """The outbox reference of a seller's payouts (``jobs_for`` reads them on its index)."""
    return f"seller:{seller_id}"


def payout_key(country: CountryCode, seller_id: str, currency: Currency, number: int) -> str:
    """The ``number``-th payout of the seller in ``currency`` (keys before payouts were per
    currency, ``payout:<country>:<seller>:<n>``, stay as they are on their jobs)."""
    return f"payout:{country.value}:{seller_id}:{currency.code}:{number}"


def returned_key(payout_idempotency_key: str) -> str:
    """The key of the reversal of a payout the provider returned after paying it (D130)."""
    return f"{payout_idempotency_key}/returned"


def _job_currency(job: Job) -> str | None:
    """The currency code a payout job pays in, ``None`` if its payload has no readable one."""
    code = job.payload.get("currency")
    if not isinstance(code, str):
        return None
    try:
        return Currency.of(code).code
    except InvariantViolation:
        return None


def _payouts_in(jobs: list[Job], currency: Currency) -> list[Job]:
    """The seller's payout jobs of ``currency``; one whose currency cannot be read counts for
    every currency (it may pay in any: it holds them all back until it is settled)."""
    return [
        job for job in jobs if job.kind == PAYOUT_JOB_KIND and _job_currency(job) in (None, currency.code)
    ]


class PayoutDecision(StrEnum):
    SCHEDULED = "SCHEDULED"
    # a payout of this seller in this currency is not finished (or another run won the key)
    IN_FLIGHT = "IN_FLIGHT"
    TOO_SOON = "TOO_SOON"  # the last payout in this currency was scheduled less than the interval ago
    NOTHING_OWED = "NOTHING_OWED"  # nothing owed net of the clawback debt
    FAILED = "FAILED"  # an unexpected error for this seller (logged); the sweep goes on


@dataclass(frozen=True, slots=True)
class ScheduledPayout:
    country: CountryCode
    seller_id: str
    idempotency_key: str
    amount: Money
    settled_receivable: Money


@dataclass(frozen=True, slots=True)
class PayoutRun:
    """What one run decided, per seller account looked at."""

    scheduled: tuple[ScheduledPayout, ...] = ()
    skipped: dict[PayoutDecision, int] = field(default_factory=dict)

    @property
    def total_minor(self) -> dict[tuple[CountryCode, str], int]:
        """Scheduled amounts per (country, currency code)."""
        totals: dict[tuple[CountryCode, str], int] = {}
        for payout in self.scheduled:
            key = (payout.country, payout.amount.currency.code)
            totals[key] = totals.get(key, 0) + payout.amount.minor
        return totals


@system_scope
async def run_payouts(
    svc: Services,
    *,
    now: datetime,
    min_interval: timedelta = DEFAULT_MIN_INTERVAL,
    country: CountryCode | None = None,
    page: int = DEFAULT_PAGE,
) -> PayoutRun:
    """Schedule the payout of every seller owed money in the bound scope (or in ``country``)."""
    if min_interval < timedelta(0):
        raise ValueError(f"min_interval must not be negative, not {min_interval}")
    ctx = RequestContext(_RUN_PRINCIPAL, svc.ids.new_id("payout"))
    scheduled: list[ScheduledPayout] = []
    skipped: dict[PayoutDecision, int] = {}
    after = None
    while True:
        with scoped_to(ALL if country is None else frozenset({country})):
            async with svc.uow() as uow:
                accounts = await uow.ledger.accounts(PAYABLE_PREFIX, after=after, limit=page)
        for key in accounts:
            try:
                decision = await _schedule_one(svc, ctx, key, now=now, min_interval=min_interval)
            except Exception:  # one seller's problem must not hold back every seller after it
                log.exception("payout run: %s %s failed", key.country.value, key.account.name)
                decision = PayoutDecision.FAILED
            if isinstance(decision, ScheduledPayout):
                scheduled.append(decision)
            else:
                skipped[decision] = skipped.get(decision, 0) + 1
        if len(accounts) < page:
            break
        after = accounts[-1]
    return PayoutRun(tuple(scheduled), skipped)


async def _schedule_one(
    svc: Services, ctx: RequestContext, account: LedgerAccountKey, *, now: datetime, min_interval: timedelta
) -> ScheduledPayout | PayoutDecision:
    country, currency = account.country, account.currency
    seller_id = account.account.name.removeprefix(PAYABLE_PREFIX)
    async with svc.uow() as uow:
        # the jobs first, the balances after: a DONE job's posting committed with it
        payouts = _payouts_in(await uow.outbox.jobs_for(country, payout_reference(seller_id)), currency)
        if any(job.status not in _SETTLED for job in payouts):
            return PayoutDecision.IN_FLIGHT
        if payouts and max(job.created_at for job in payouts) > now - min_interval:
            return PayoutDecision.TOO_SOON
        due = await _owed(uow, country, currency, seller_id)
        if due is None:
            return PayoutDecision.NOTHING_OWED
        key = payout_key(country, seller_id, currency, len(payouts) + 1)
        payout = ScheduledPayout(country, seller_id, key, due.amount, due.settled_receivable)
        if not await uow.outbox.enqueue(_job(payout, now), now=now):
            return PayoutDecision.IN_FLIGHT  # a concurrent run scheduled this very payout
        await record(
            uow,
            ctx,
            country=country,
            action="payout.scheduled",
            target_type="seller",
            target_id=seller_id,
            at=now,
            after={
                "idempotency_key": payout.idempotency_key,
                "amount_minor": payout.amount.minor,
                "settled_receivable_minor": payout.settled_receivable.minor,
                "currency": currency.code,
            },
        )
        await uow.commit()
    return payout


async def _owed(
    uow: UnitOfWork, country: CountryCode, currency: Currency, seller_id: str
) -> rules.PayoutDue | None:
    payable = await uow.ledger.balance(country, Account.seller_payable(seller_id), currency)
    receivable = await uow.ledger.balance(country, Account.seller_receivable(seller_id), currency)
    return rules.payout_due(payable.normal, receivable.normal)


def _job(payout: ScheduledPayout, now: datetime) -> NewJob:
    return NewJob(
        country=payout.country,
        idempotency_key=payout.idempotency_key,
        kind=PAYOUT_JOB_KIND,
        provider=PAYOUT_PROVIDER,
        reference=payout_reference(payout.seller_id),
        payload={
            "seller_id": payout.seller_id,
            "currency": payout.amount.currency.code,
            "amount_minor": payout.amount.minor,
            "settled_receivable_minor": payout.settled_receivable.minor,
        },
        available_at=now,
    )


# ------------------------------------------------------------------ the worker's side


class WithPayouts(Protocol):
    """What the worker hands a provider job (``application.saga.executor.Providers``)."""

    @property
    def payouts(self) -> PayoutsProvider | None: ...


@dataclass(frozen=True, slots=True)
class _PayoutOrder:
    seller_id: str
    amount: Money
    settled_receivable: Money


def _parse(job: Job) -> _PayoutOrder | None:
    payload = job.payload
    seller_id, code = payload.get("seller_id"), payload.get("currency")
    amount, settled = payload.get("amount_minor"), payload.get("settled_receivable_minor")
    if not (isinstance(seller_id, str) and seller_id and isinstance(code, str)):
        return None
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (amount, settled)):
        return None
    assert isinstance(amount, int) and isinstance(settled, int)
    if amount <= 0:
        return None
    try:
        currency = Currency.of(code)
    except InvariantViolation:
        return None
    return _PayoutOrder(seller_id, Money(amount, currency), Money(settled, currency))


def _malformed(job: Job, why: str) -> Failure[ProviderError]:
    return Failure(ProviderError(PAYOUT_PROVIDER, PAYOUT_JOB_KIND, ProviderFailureKind.PERMANENT, why))


@dataclass(frozen=True, slots=True)
class SellerPayoutJob:
    """The worker's handler for ``seller.payout`` (a ``ProviderJob`` that ``PostsToLedger``):
    calls the payments provider's ``payout`` with the job's provider key; the runner posts
    :meth:`ledger_transaction` when it completes the job. A malformed job, or a worker
    without a payouts provider, fails for good (dead-letter queue, an alert)."""

    async def __call__(self, job: Job, providers: WithPayouts) -> Result[ProviderReceipt, ProviderError]:
        order = _parse(job)
        if order is None:
            return _malformed(job, f"malformed {job.kind} job: needs a seller, a currency and an amount")
        if providers.payouts is None:
            return _malformed(job, "this worker has no payouts provider")
        return await providers.payouts.payout(
            idempotency_key=job.provider_key,
            country=job.country,
            payee_id=order.seller_id,
            amount=order.amount,
        )

    def ledger_transaction(self, job: Job) -> LedgerTransaction:
        order = _parse(job)
        if order is None:  # the handler refused it before any call: never completed
            raise ValueError(f"malformed {job.kind} job {job.idempotency_key}")
        return rules.payout(
            country=job.country,
            currency=order.amount.currency,
            seller_id=order.seller_id,
            amount=order.amount,
            settled_receivable=order.settled_receivable,
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
        """The provider returned this DONE payout (``ReversesWhenReturned``, D130): post the
        reversal of its posting (Dr ``seller:receivable`` debt, Cr ``seller:payable`` amount +
        debt, Dr ``psp:clearing`` amount) under ``<key>/returned`` and audit ``payout.returned``.
        The amount returned; ``None`` if there is no payout posting to reverse or its reversal
        was already posted (nothing moved now)."""
        posted = await uow.ledger.get(job.country, job.idempotency_key)
        if posted is None or posted.kind is not TransactionKind.PAYOUT:
            return None
        order = _parse(job)
        seller_id = job.reference.removeprefix("seller:") if order is None else order.seller_id
        reversal = posted.reversal(
            returned_key(job.idempotency_key), "seller payout returned by the provider"
        )
        outcome = await uow.ledger.post(reversal)
        if isinstance(outcome, Failure):  # only an escrow debit is refused; a payout has none
            raise RuntimeError(f"{job.kind} {job.idempotency_key}: {outcome.failure()}")
        if isinstance(outcome.unwrap(), AlreadyPosted):
            return None
        amount = Money(
            sum(p.amount.minor for p in posted.postings if p.account == Account.psp_clearing()),
            posted.currency,
        )
        settled = -Money(
            sum(p.signed_minor for p in posted.postings if p.account == Account.seller_receivable(seller_id)),
            posted.currency,
        )
        await record(
            uow,
            ctx,
            country=job.country,
            action="payout.returned",
            target_type="seller",
            target_id=seller_id,
            at=now,
            after={
                **job.audit_keys(),
                "reversal_key": reversal.idempotency_key,
                "amount_minor": amount.minor,
                "settled_receivable_minor": settled.minor,
                "currency": posted.currency.code,
                "provider": job.provider,
                "provider_reference": provider_reference,
                "failure_code": failure_code,
            },
        )
        return amount


@dataclass(frozen=True, slots=True)
class SellerPayouts:
    """The scheduler's task: ``await task(svc, now)`` runs :func:`run_payouts` at most once per
    ``check_every`` in this process (a sweep reads every seller's account) and returns how
    many payouts it scheduled. Each seller is paid at most once per ``min_interval``
    (recorded in the outbox, so across processes and restarts)."""

    min_interval: timedelta = DEFAULT_MIN_INTERVAL
    check_every: timedelta = DEFAULT_CHECK_EVERY
    page: int = DEFAULT_PAGE
    _last: list[datetime] = field(default_factory=list, init=False, repr=False, compare=False)

    async def __call__(self, svc: Services, now: datetime) -> int:
        if self._last and now - self._last[0] < self.check_every:
            return 0
        run = await run_payouts(svc, now=now, min_interval=self.min_interval, page=self.page)
        self._last[:] = [now]
        return len(run.scheduled)


# ------------------------------------------------------------------ what agents read

MAX_PAYOUTS_SHOWN: Final = 50


@dataclass(frozen=True, slots=True)
class SellerPayoutView:
    """One payout of a seller as the outbox holds it (the posting is made when it is DONE)."""

    idempotency_key: str
    amount: Money
    settled_receivable: Money
    status: JobStatus
    attempts: int
    created_at: datetime
    last_error: str | None
    # DONE, then reported failed by the provider (a bank return): its posting was reversed,
    # the money is owed again and paid by a later payout (D130)
    returned: bool = False


@dataclass(frozen=True, slots=True)
class SellerBalanceView:
    """Where a seller's money is, in one currency: owed (payable), clawed back (receivable),
    what the next run would pay (``owed``: payable less receivable, never below zero, and zero
    while a payout of this currency is in flight, since the run schedules none then),
    what the payouts of this currency in flight will pay (``in_flight``; their posting takes it
    out of payable) and its payouts (every currency's, newest first). A payout the provider
    returned after paying it is DONE and ``returned``, not in flight: its reversal put the
    money back in payable, and ``owed`` shows it again (D130)."""

    seller_id: str
    payable: Money
    receivable: Money
    owed: Money
    in_flight: Money
    payouts: tuple[SellerPayoutView, ...]


@dataclass(frozen=True, slots=True)
class ReadSellerBalance:
    country: CountryCode
    seller_id: str
    currency: Currency


def own_seller(principal: Principal, query: ReadSellerBalance) -> Result[None, Forbidden]:
    """Whose balance the caller reads: the party rule :func:`may_see_seller` (D156). A refusal
    names no reason a caller could probe with."""
    if may_see_seller(principal, query.seller_id):
        return Success(None)
    return Failure(Forbidden(Operation.SELLER_BALANCE_READ.value, query.country.value, NOT_ITS_SELLER))


async def seller_balance(
    svc: Services, ctx: RequestContext, query: ReadSellerBalance
) -> Result[SellerBalanceView, Forbidden | NotFound]:
    """ "Where is my money?": the seller's balances and newest payouts (``SELLER_BALANCE_READ``:
    support and auditors for any seller; a seller and its seller org's partner key their own,
    D156). Another seller's, to those, is ``Forbidden`` (:data:`NOT_ITS_SELLER`) when it holds
    anything - a balance or a payout - and ``NotFound`` when it holds nothing, as an id that
    names nothing is for every other read; both read as not found to the caller."""
    allowed = authorize(ctx.principal, Operation.SELLER_BALANCE_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:  # read only: left without commit, so it rolls back
        payable = await uow.ledger.balance(
            query.country, Account.seller_payable(query.seller_id), query.currency
        )
        receivable = await uow.ledger.balance(
            query.country, Account.seller_receivable(query.seller_id), query.currency
        )
        jobs = await uow.outbox.jobs_for(query.country, payout_reference(query.seller_id))
    own = own_seller(ctx.principal, query)
    if isinstance(own, Failure):
        if jobs or not payable.normal.is_zero or not receivable.normal.is_zero:
            return own
        return Failure(NotFound("seller", query.seller_id))
    payouts = sorted(
        (view for job in jobs if job.kind == PAYOUT_JOB_KIND and (view := _payout_view(job)) is not None),
        key=lambda view: (view.created_at, view.idempotency_key),
        reverse=True,
    )
    # what the run does: a payout of this currency in flight (or of an unreadable one) holds
    # the next back, so the next run pays nothing until it is settled
    in_flight = [job for job in _payouts_in(jobs, query.currency) if job.status not in _SETTLED]
    in_flight_minor = sum(
        order.amount.minor
        for job in in_flight
        if (order := _parse(job)) is not None and order.amount.currency == query.currency
    )
    due = rules.payout_due(payable.normal, receivable.normal)
    owed = Money.zero(query.currency) if due is None or in_flight else due.amount
    return Success(
        SellerBalanceView(
            query.seller_id,
            payable.normal,
            receivable.normal,
            owed,
            Money(in_flight_minor, query.currency),
            tuple(payouts[:MAX_PAYOUTS_SHOWN]),
        )
    )


def _payout_view(job: Job) -> SellerPayoutView | None:
    order = _parse(job)
    if order is None:
        return None
    error = job.errors[-1] if job.errors else None
    return SellerPayoutView(
        job.idempotency_key,
        order.amount,
        order.settled_receivable,
        job.status,
        job.attempts,
        job.created_at,
        None if error is None else f"{error.kind}: {error.detail}",
        job.status is JobStatus.DONE and any(entry.kind == PROVIDER_LATE_FAILURE for entry in job.errors),
    )
