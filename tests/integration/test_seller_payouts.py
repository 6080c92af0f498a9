"""The seller payout run (D89): what the ledger owes a seller leaves through the payments
provider's ``payout`` exactly once, net of clawbacks, posted when the provider confirms.

On SQLite and PostgreSQL. Money to the minor unit: each completed order releases
PAYOUT = 106_000 to ``seller:payable`` (T 123_000 less the platform's take 17_000).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from returns.result import Failure, Result, Success

import application.ledger.payouts as payouts_module
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.scheduler import run_tick
from application.context import Services
from application.integrations.dead_letters import (
    DiscardDeadLetter,
    ReplayDeadLetter,
    discard_dead_letter,
    replay_dead_letter,
)
from application.ledger.payouts import (
    PAYOUT_JOB_KIND,
    PayoutDecision,
    ReadSellerBalance,
    SellerPayoutJob,
    SellerPayouts,
    run_payouts,
    seller_balance,
)
from application.orders.completion import CompleteDueOrdersTask
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.ports.outbox import Job, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.audit import AuditEntry
from domain.ledger import Account, LedgerTransaction, LegBuilder, TransactionKind, rules
from domain.orders import OrderStatus
from domain.shared import CountryCode, Currency, Money
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import RefundPolicy
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L3, MX, MXN, SYSTEM, add_policy

PAYOUT, T = 106_000, 123_000
CO = CountryCode("CO")
USD = Currency.of("USD")
DAY = timedelta(hours=24)


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    await add_policy(services, CO, MXN)
    return services


def clock(svc: Services) -> FixedClock:
    assert isinstance(svc.clock, FixedClock)
    return svc.clock


def runner(svc: Services, payments: FakePayments | None = None) -> tuple[SagaRunner, FakePayments]:
    paying = payments or FakePayments()
    providers = Providers(paying, FakeNotifications(), payouts=paying)
    return SagaRunner(svc, providers, job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()}), paying


async def completed(svc: Services, order_id: str, seller: str = "sel_1", country: CountryCode = MX) -> None:
    """An order captured (T 123_000), delivered and completed: PAYOUT released to the seller."""
    oid = OrderId(order_id)
    new = CreateOrder(country, BuyerId("buy_1"), SellerId(seller), CourierId("cou_1"), oid)
    (await create_order(svc, SYSTEM, new)).unwrap()
    capture = CapturePayment(country, oid, MXN, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
    (await capture_payment(svc, SYSTEM, capture)).unwrap()
    for status in (
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
    ):
        (await transition_order(svc, SYSTEM, TransitionOrder(country, oid, status))).unwrap()
    clock(svc).advance(timedelta(hours=72))
    report = await run_tick(svc, [CompleteDueOrdersTask()])
    assert not report.failed


async def balance(
    svc: Services, account: Account, country: CountryCode = MX, currency: Currency = MXN
) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(country, account, currency)).normal.minor


async def job(svc: Services, key: str) -> Job:
    async with svc.uow() as uow:
        found = await uow.outbox.by_key(key)
    assert found is not None
    return found


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def payouts_posted(svc: Services, country: CountryCode = MX) -> list[tuple[str, int]]:
    async with svc.uow() as uow:
        found = await uow.ledger.transactions_for(country, "payout:")
    return [
        (t.idempotency_key, sum(p.amount.minor for p in t.postings if p.account == Account.psp_clearing()))
        for t in found
        if t.kind is TransactionKind.PAYOUT
    ]


async def test_what_a_seller_is_owed_is_paid_out_once_and_posted_on_success(svc: Services) -> None:
    await completed(svc, "o1")
    await completed(svc, "o2")
    assert await balance(svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    clearing_before = await balance(svc, Account.psp_clearing())

    run = await run_payouts(svc, now=svc.clock.now())
    [scheduled] = run.scheduled
    assert (scheduled.idempotency_key, scheduled.amount.minor, scheduled.settled_receivable.minor) == (
        "payout:MX:sel_1:MXN:1",
        2 * PAYOUT,
        0,
    )
    assert run.total_minor == {(MX, "MXN"): 2 * PAYOUT}
    [entry] = await audit(svc, "payout.scheduled")
    assert (entry.actor_role, entry.target_type, entry.target_id) == ("SYSTEM", "seller", "sel_1")
    assert entry.after == {
        "idempotency_key": "payout:MX:sel_1:MXN:1",
        "amount_minor": 2 * PAYOUT,
        "settled_receivable_minor": 0,
        "currency": "MXN",
    }
    # nothing moves before the provider answered; a second run schedules nothing more
    assert await balance(svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    again = await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    assert (again.scheduled, again.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})

    worker, payments = runner(svc)
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(2 * PAYOUT, MXN)}
    assert (await job(svc, "payout:MX:sel_1:MXN:1")).status is JobStatus.DONE
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert await balance(svc, Account.psp_clearing()) == clearing_before - 2 * PAYOUT
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", 2 * PAYOUT)]
    assert len(await audit(svc, "provider.call_completed")) == 1

    # the next order's money is paid at the next interval, with the next number
    await completed(svc, "o3")  # 72 h later; 23 h after the first payout it is too soon
    assert (await run_payouts(svc, now=svc.clock.now() - timedelta(hours=72 - 23))).skipped == {
        PayoutDecision.TOO_SOON: 1
    }
    run = await run_payouts(svc, now=svc.clock.now())
    assert [(p.idempotency_key, p.amount.minor) for p in run.scheduled] == [("payout:MX:sel_1:MXN:2", PAYOUT)]
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert (await run_payouts(svc, now=svc.clock.now() + DAY)).skipped == {PayoutDecision.NOTHING_OWED: 1}


async def test_clawbacks_are_netted_and_a_seller_in_debt_is_paid_nothing(svc: Services) -> None:
    await completed(svc, "o1")
    await completed(svc, "o2")
    # a full refund after o1's release claws the seller's share back into seller:receivable
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o1"))
        assert order is not None and order.snapshot is not None
        snapshot = order.snapshot
        split = rules.full_refund_split(snapshot)
        claw = rules.refund_with_clawback(snapshot, split, "claw:o1")
        assert isinstance(await uow.ledger.post(claw), Success)
        await uow.commit()
    assert await balance(svc, Account.seller_receivable("sel_1")) == PAYOUT

    run = await run_payouts(svc, now=svc.clock.now())
    [scheduled] = run.scheduled
    assert (scheduled.amount.minor, scheduled.settled_receivable.minor) == (PAYOUT, PAYOUT)
    worker, payments = runner(svc)
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN)}
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert await balance(svc, Account.seller_receivable("sel_1")) == 0

    # a seller whose clawbacks exceed what is owed: nothing paid, the debt stays
    await completed(svc, "o3", seller="sel_2")
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId("o3"))
        assert order is not None and order.snapshot is not None
        claw = rules.refund_with_clawback(order.snapshot, rules.full_refund_split(order.snapshot), "claw:o3")
        assert isinstance(await uow.ledger.post(claw), Success)
        await uow.commit()
    run = await run_payouts(svc, now=svc.clock.now() + DAY)
    assert run.scheduled == ()
    assert run.skipped == {PayoutDecision.NOTHING_OWED: 2}
    assert await balance(svc, Account.seller_receivable("sel_2")) == PAYOUT
    assert await balance(svc, Account.seller_payable("sel_2")) == PAYOUT


async def test_a_declined_payout_blocks_the_seller_until_an_l3_replays_or_discards_it(svc: Services) -> None:
    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    worker, payments = runner(svc, FakePayments(fail_next=[ProviderFailureKind.PERMANENT]))
    assert await worker.drain() == [StepOutcome.DEAD_LETTERED]
    dead = await job(svc, "payout:MX:sel_1:MXN:1")
    assert dead.status is JobStatus.DEAD
    assert await payouts_posted(svc) == []
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT

    # while it is dead, no second payout of the same money is scheduled
    await completed(svc, "o2")
    run = await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})

    # L3 replays it: the provider is called with a fresh key (D83), the ledger keeps the job's
    (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {"payout:MX:sel_1:MXN:1#r1": Money(PAYOUT, MXN)}
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", PAYOUT)]
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT  # o2's money, next run

    # a discarded payout frees the seller: the next run pays everything owed under a new key
    await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    payments.fail_next = [ProviderFailureKind.PERMANENT]
    assert await worker.drain() == [StepOutcome.DEAD_LETTERED]
    second = await job(svc, "payout:MX:sel_1:MXN:2")
    (await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, second.id, "bank account closed"))).unwrap()
    run = await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    assert [(p.idempotency_key, p.amount.minor) for p in run.scheduled] == [("payout:MX:sel_1:MXN:3", PAYOUT)]
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert sum(minor for _, minor in await payouts_posted(svc)) == 2 * PAYOUT


async def test_a_worker_that_died_after_the_call_pays_nothing_twice(svc: Services) -> None:
    """The provider paid, then the worker died before recording it: the lease expires, the
    job runs again with the same key, the provider answers its first answer, one posting."""
    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    worker, payments = runner(svc)
    async with svc.uow() as uow:
        [claimed] = await uow.outbox.claim(
            worker_id="dies", now=svc.clock.now(), lease=timedelta(seconds=30), limit=10
        )
        await uow.commit()
    paid = await SellerPayoutJob()(claimed, worker.providers)  # the call; then the crash
    assert isinstance(paid, Success)
    clock(svc).advance(timedelta(seconds=31))
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.calls["payout:MX:sel_1:MXN:1"] == 2
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN)}
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", PAYOUT)]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0


class AcceptingPayouts(FakePayments):
    """Answers "accepted, confirmation to follow" (a webhook settles the payout)."""

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        return Success(ProviderReceipt(self.name, "payout", idempotency_key, "po_1", confirmed=False))


async def test_an_accepted_payout_is_posted_when_its_webhook_confirms_it(svc: Services) -> None:
    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    worker, _ = runner(svc, AcceptingPayouts())
    assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    assert await payouts_posted(svc) == []
    assert (await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))).skipped == {
        PayoutDecision.IN_FLIGHT: 1
    }
    confirmed = await worker.confirm("payout:MX:sel_1:MXN:1", succeeded=True, provider_reference="po_1")
    assert confirmed is StepOutcome.COMPLETED
    assert await worker.confirm("payout:MX:sel_1:MXN:1", succeeded=True, provider_reference="po_1") is (
        StepOutcome.ALREADY_SETTLED
    )
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", PAYOUT)]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0


class PaysThenTimesOut(FakePayments):
    """The first call pays but its answer is lost (a timeout); the provider then answers 503
    until ``down`` is cleared, and then answers what it did for the key."""

    down = True

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        self.payouts.setdefault(idempotency_key, amount)  # the money left on the first call
        if self.down:
            return Failure(ProviderError(self.name, "payout", ProviderFailureKind.TRANSIENT, "timeout"))
        return Success(ProviderReceipt(self.name, "payout", idempotency_key, "po_1"))


async def test_a_payout_dead_of_transient_failures_cannot_be_discarded_and_its_replay_pays_once(
    svc: Services,
) -> None:
    """D95: it may have been paid unseen; discarding it would let the next run pay again."""
    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    payments = PaysThenTimesOut()
    worker, _ = runner(svc, payments)
    for _ in range(12):
        await worker.drain()
        clock(svc).advance(timedelta(minutes=10))
    dead = await job(svc, "payout:MX:sel_1:MXN:1")
    assert dead.status is JobStatus.DEAD and dead.errors[-1].kind == "PROVIDER_TRANSIENT"
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN)}  # paid, unseen

    refused = await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, dead.id, "provider outage"))
    assert isinstance(refused, Failure) and refused.failure().code == "PAYMENT_OUTCOME_UNKNOWN"
    assert (await job(svc, "payout:MX:sel_1:MXN:1")).status is JobStatus.DEAD  # nothing changed
    assert await audit(svc, "dead_letter.discarded") == []
    run = await run_payouts(svc, now=svc.clock.now() + DAY)
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})  # no second payout

    # the replay keeps the key: the provider answers the payout it made; posted once
    payments.down = False
    (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN)}
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", PAYOUT)]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0


class SlowBank(FakePayments):
    """Accepts the payout and says "pending" every time it is asked again; one 503 on the
    ``hiccup``-th call."""

    hiccup = 12

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        self.payouts.setdefault(idempotency_key, amount)  # the transfer is under way
        if self.calls[idempotency_key] == self.hiccup:
            return Failure(ProviderError(self.name, "payout", ProviderFailureKind.TRANSIENT, "http_503"))
        return Success(ProviderReceipt(self.name, "payout", idempotency_key, "po_1", confirmed=False))


async def test_a_payout_pending_for_hours_survives_a_transient_error_and_settles_once(svc: Services) -> None:
    """D98: the re-checks of an accepted payout do not spend the retry budget."""
    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    payments = SlowBank()
    worker, _ = runner(svc, payments)
    outcomes: list[StepOutcome] = []
    for _ in range(payments.hiccup + 2):  # past every confirmation deadline: asked again
        outcomes += await worker.drain()
        clock(svc).advance(timedelta(minutes=11))
    assert StepOutcome.RETRY_SCHEDULED in outcomes and StepOutcome.DEAD_LETTERED not in outcomes
    assert payments.calls["payout:MX:sel_1:MXN:1"] > payments.hiccup > 8  # more asks than the budget
    assert (await job(svc, "payout:MX:sel_1:MXN:1")).status is JobStatus.WAITING
    confirmed = await worker.confirm("payout:MX:sel_1:MXN:1", succeeded=True, provider_reference="po_1")
    assert confirmed is StepOutcome.COMPLETED
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN)}
    assert await payouts_posted(svc) == [("payout:MX:sel_1:MXN:1", PAYOUT)]
    assert await balance(svc, Account.seller_payable("sel_1")) == 0


async def test_runs_racing_schedule_one_payout_and_countries_stay_apart(svc: Services) -> None:
    await completed(svc, "o1")
    await completed(svc, "o2", seller="sel_2")
    await completed(svc, "c1", seller="sel_co", country=CO)
    only_mx = await run_payouts(svc, now=svc.clock.now(), country=MX)
    assert sorted(p.idempotency_key for p in only_mx.scheduled) == [
        "payout:MX:sel_1:MXN:1",
        "payout:MX:sel_2:MXN:1",
    ]

    first, second = await asyncio.gather(
        run_payouts(svc, now=svc.clock.now()), run_payouts(svc, now=svc.clock.now())
    )
    assert [p.idempotency_key for p in (*first.scheduled, *second.scheduled)] == ["payout:CO:sel_co:MXN:1"]
    worker, payments = runner(svc)
    assert sorted(await worker.drain()) == [StepOutcome.COMPLETED] * 3
    assert sorted(payments.payouts) == [
        "payout:CO:sel_co:MXN:1",
        "payout:MX:sel_1:MXN:1",
        "payout:MX:sel_2:MXN:1",
    ]
    assert await balance(svc, Account.seller_payable("sel_co"), CO) == 0


async def test_a_malformed_job_or_a_worker_without_payouts_dead_letters_and_posts_nothing(
    svc: Services,
) -> None:
    now = svc.clock.now()
    async with svc.uow() as uow:
        for key, payload in (
            ("payout:MX:bad:1", {"seller_id": "bad", "currency": "MXN", "amount_minor": -5}),
            ("payout:MX:bad:2", {"seller_id": "bad", "currency": "XXX", "amount_minor": 5}),
        ):
            await uow.outbox.enqueue(
                NewJob(MX, key, PAYOUT_JOB_KIND, "payments", "seller:bad", payload, now), now=now
            )
        await uow.commit()
    worker, payments = runner(svc)
    assert await worker.drain() == [StepOutcome.DEAD_LETTERED] * 2
    assert payments.calls == {}

    await completed(svc, "o1")
    await run_payouts(svc, now=svc.clock.now())
    without = SagaRunner(
        svc, Providers(FakePayments(), FakeNotifications()), job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()}
    )
    assert await without.drain() == [StepOutcome.DEAD_LETTERED]
    assert (await job(svc, "payout:MX:sel_1:MXN:1")).errors[-1].detail.endswith("no payouts provider")
    assert await payouts_posted(svc) == []


async def test_the_scheduler_task_sweeps_at_most_once_per_check_period(svc: Services) -> None:
    task = SellerPayouts(min_interval=timedelta(0), check_every=timedelta(minutes=10))
    worker, payments = runner(svc)
    await completed(svc, "o1")
    assert (await run_tick(svc, [task])).done == {"0:SellerPayouts": 1}
    swept_at = svc.clock.now()
    await worker.drain()
    await completed(svc, "o2")  # the clock moves on 72 h; o2's money is owed
    assert await task(svc, swept_at + timedelta(minutes=9)) == 0  # within the period: no sweep
    assert await task(svc, swept_at + timedelta(minutes=10)) == 1
    await worker.drain()
    assert payments.payouts == {
        "payout:MX:sel_1:MXN:1": Money(PAYOUT, MXN),
        "payout:MX:sel_1:MXN:2": Money(PAYOUT, MXN),
    }


async def test_a_negative_receivable_is_paid_back_and_one_failing_seller_holds_back_no_other(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await completed(svc, "o1")
    await completed(svc, "o2", seller="sel_2")
    # the platform owes sel_1 a reversed clawback too (receivable below zero)
    legs = LegBuilder(MXN)
    legs.debit(Account.psp_clearing(), Money(5_000, MXN))
    legs.credit(Account.seller_receivable("sel_1"), Money(5_000, MXN))
    reversal = LedgerTransaction(
        "reversal:o1", TransactionKind.REVERSAL, MX, MXN, legs.postings(), "reversed"
    )
    async with svc.uow() as uow:
        assert isinstance(await uow.ledger.post(reversal), Success)
        await uow.commit()

    real_owed = payouts_module._owed

    async def owed_or_fail(uow: Any, country: CountryCode, currency: Any, seller_id: str) -> Any:
        if seller_id == "sel_2":
            raise RuntimeError("the database hiccuped for this seller")
        return await real_owed(uow, country, currency, seller_id)

    monkeypatch.setattr(payouts_module, "_owed", owed_or_fail)
    run = await run_payouts(svc, now=svc.clock.now())
    assert [(p.idempotency_key, p.amount.minor, p.settled_receivable.minor) for p in run.scheduled] == [
        ("payout:MX:sel_1:MXN:1", PAYOUT + 5_000, -5_000)
    ]
    assert run.skipped == {PayoutDecision.FAILED: 1}
    worker, payments = runner(svc)
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {"payout:MX:sel_1:MXN:1": Money(PAYOUT + 5_000, MXN)}
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert await balance(svc, Account.seller_receivable("sel_1")) == 0
    monkeypatch.setattr(payouts_module, "_owed", real_owed)  # the next sweep pays sel_2
    assert [p.idempotency_key for p in (await run_payouts(svc, now=svc.clock.now())).scheduled] == [
        "payout:MX:sel_2:MXN:1"
    ]


# ------------------------------------------------------------------ one seller, two currencies


async def captured(svc: Services, order_id: str, currency: Currency) -> OrderId:
    """An order of sel_1 captured in ``currency`` (T 123_000) and moved on to IN_TRANSIT."""
    oid = OrderId(order_id)
    new = CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), CourierId("cou_1"), oid)
    (await create_order(svc, SYSTEM, new)).unwrap()
    capture = CapturePayment(MX, oid, currency, 100_000, 5_000, 2_000, 16_000, 0, 1_500)
    (await capture_payment(svc, SYSTEM, capture)).unwrap()
    for status in (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT):
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, status))).unwrap()
    return oid


async def switch_mx_to_usd(svc: Services) -> None:
    """MX's refund policy changes currency: orders captured before still release in MXN."""
    policy = RefundPolicy.create(country=MX, version="MX-v2", currency=USD, goodwill_credit_minor=1_000)
    async with svc.uow() as uow:
        await uow.policies.add(policy.unwrap(), effective_from=svc.clock.now())
        await uow.commit()
    clock(svc).advance(timedelta(seconds=1))


async def deliver_and_complete(svc: Services, *orders: OrderId) -> None:
    for oid in orders:
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, oid, OrderStatus.DELIVERED))).unwrap()
    clock(svc).advance(timedelta(hours=72))
    assert not (await run_tick(svc, [CompleteDueOrdersTask()])).failed


async def owed_and_in_flight(svc: Services, currency: Currency) -> tuple[int, int, int]:
    """(payable, owed, in flight) of sel_1 in ``currency`` as ``sellerBalance`` shows them."""
    view = (await seller_balance(svc, L3, ReadSellerBalance(MX, "sel_1", currency))).unwrap()
    return view.payable.minor, view.owed.minor, view.in_flight.minor


async def test_a_seller_owed_in_two_currencies_is_paid_in_each_and_one_in_flight_holds_back_only_its_own(
    svc: Services,
) -> None:
    m1, m2 = await captured(svc, "m1", MXN), await captured(svc, "m2", MXN)
    await switch_mx_to_usd(svc)
    u1 = await captured(svc, "u1", USD)
    await deliver_and_complete(svc, m1, u1)
    assert await balance(svc, Account.seller_payable("sel_1"), currency=MXN) == PAYOUT
    assert await balance(svc, Account.seller_payable("sel_1"), currency=USD) == PAYOUT

    # both currencies in the same run; two runs racing still schedule each payout once
    first, second = await asyncio.gather(
        run_payouts(svc, now=svc.clock.now()), run_payouts(svc, now=svc.clock.now())
    )
    both = sorted((p.idempotency_key, p.amount) for p in (*first.scheduled, *second.scheduled))
    assert both == [
        ("payout:MX:sel_1:MXN:1", Money(PAYOUT, MXN)),
        ("payout:MX:sel_1:USD:1", Money(PAYOUT, USD)),
    ]
    assert sum(run.skipped.get(PayoutDecision.IN_FLIGHT, 0) for run in (first, second)) == 2
    assert (await job(svc, "payout:MX:sel_1:USD:1")).payload["currency"] == "USD"
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, 0, PAYOUT)
    assert await owed_and_in_flight(svc, USD) == (PAYOUT, 0, PAYOUT)

    # the provider accepts both; only the USD one is confirmed, the MXN one stays in flight
    worker, payments = runner(svc, AcceptingPayouts())
    assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION] * 2
    confirmed = await worker.confirm("payout:MX:sel_1:USD:1", succeeded=True, provider_reference="po_1")
    assert confirmed is StepOutcome.COMPLETED
    u2 = await captured(svc, "u2", USD)
    await deliver_and_complete(svc, m2, u2)  # 72 h later: past the interval

    # a second run while MXN is in flight still pays USD
    run = await run_payouts(svc, now=svc.clock.now())
    assert [(p.idempotency_key, p.amount) for p in run.scheduled] == [
        ("payout:MX:sel_1:USD:2", Money(PAYOUT, USD))
    ]
    assert run.skipped == {PayoutDecision.IN_FLIGHT: 1}
    assert run.total_minor == {(MX, "USD"): PAYOUT}
    # MXN owes 2 x PAYOUT, one of them on its way: the next run pays nothing of it
    assert await owed_and_in_flight(svc, MXN) == (2 * PAYOUT, 0, PAYOUT)
    assert await owed_and_in_flight(svc, USD) == (PAYOUT, 0, PAYOUT)

    # the interval is per currency too: USD was paid just now, MXN 72 h ago
    assert await worker.confirm("payout:MX:sel_1:MXN:1", succeeded=True, provider_reference="po_1") is (
        StepOutcome.COMPLETED
    )
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, PAYOUT, 0)
    assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    assert await worker.confirm("payout:MX:sel_1:USD:2", succeeded=True, provider_reference="po_1") is (
        StepOutcome.COMPLETED
    )
    run = await run_payouts(svc, now=svc.clock.now())
    assert [(p.idempotency_key, p.amount) for p in run.scheduled] == [
        ("payout:MX:sel_1:MXN:2", Money(PAYOUT, MXN))
    ]
    assert run.skipped == {PayoutDecision.TOO_SOON: 1}
    assert await worker.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    assert await worker.confirm("payout:MX:sel_1:MXN:2", succeeded=True, provider_reference="po_1") is (
        StepOutcome.COMPLETED
    )

    assert payments.calls == {
        "payout:MX:sel_1:MXN:1": 1,
        "payout:MX:sel_1:USD:1": 1,
        "payout:MX:sel_1:USD:2": 1,
        "payout:MX:sel_1:MXN:2": 1,
    }
    assert sorted(await payouts_posted(svc)) == [
        ("payout:MX:sel_1:MXN:1", PAYOUT),
        ("payout:MX:sel_1:MXN:2", PAYOUT),
        ("payout:MX:sel_1:USD:1", PAYOUT),
        ("payout:MX:sel_1:USD:2", PAYOUT),
    ]
    for currency in (MXN, USD):
        assert await balance(svc, Account.seller_payable("sel_1"), currency=currency) == 0
        assert await owed_and_in_flight(svc, currency) == (0, 0, 0)


async def test_owed_is_what_the_next_run_pays_while_a_payout_is_in_flight(svc: Services) -> None:
    await completed(svc, "o1")
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, PAYOUT, 0)
    await run_payouts(svc, now=svc.clock.now())
    # PENDING: 1060.00 is on its way; telling the seller (or paying by hand) 1060.00 more would pay twice
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, 0, PAYOUT)
    await completed(svc, "o2")
    assert await owed_and_in_flight(svc, MXN) == (2 * PAYOUT, 0, PAYOUT)
    run = await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})  # what owed said: 0

    worker, _ = runner(svc, FakePayments(fail_next=[ProviderFailureKind.PERMANENT]))
    assert await worker.drain() == [StepOutcome.DEAD_LETTERED]  # dead: still blocks, still in flight
    assert await owed_and_in_flight(svc, MXN) == (2 * PAYOUT, 0, PAYOUT)
    dead = await job(svc, "payout:MX:sel_1:MXN:1")
    (await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, dead.id, "bank account closed"))).unwrap()
    assert await owed_and_in_flight(svc, MXN) == (2 * PAYOUT, 2 * PAYOUT, 0)
    run = await run_payouts(svc, now=svc.clock.now(), min_interval=timedelta(0))
    assert [(p.idempotency_key, p.amount.minor) for p in run.scheduled] == [
        ("payout:MX:sel_1:MXN:2", 2 * PAYOUT)
    ]
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert await owed_and_in_flight(svc, MXN) == (0, 0, 0)


async def test_payouts_keyed_before_currencies_count_in_their_own_and_unreadable_ones_hold_back_all(
    svc: Services,
) -> None:
    """A job keyed ``payout:<country>:<seller>:<n>`` counts in its payload's currency; one whose
    currency cannot be read holds back every currency until it is settled."""
    await completed(svc, "o1")
    now = svc.clock.now()
    legacy = {"seller_id": "sel_1", "currency": "MXN", "amount_minor": PAYOUT, "settled_receivable_minor": 0}
    async with svc.uow() as uow:
        await uow.outbox.enqueue(
            NewJob(MX, "payout:MX:sel_1:1", PAYOUT_JOB_KIND, "payments", "seller:sel_1", legacy, now), now=now
        )
        await uow.commit()
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, 0, PAYOUT)
    assert await owed_and_in_flight(svc, USD) == (0, 0, 0)
    worker, payments = runner(svc)
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert await payouts_posted(svc) == [("payout:MX:sel_1:1", PAYOUT)]

    await completed(svc, "o2")
    unreadable = {"seller_id": "sel_1", "amount_minor": 5, "settled_receivable_minor": 0}
    async with svc.uow() as uow:
        await uow.outbox.enqueue(
            NewJob(MX, "payout:MX:sel_1:odd", PAYOUT_JOB_KIND, "payments", "seller:sel_1", unreadable, now),
            now=now,
        )
        await uow.commit()
    run = await run_payouts(svc, now=svc.clock.now())
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})
    assert await owed_and_in_flight(svc, MXN) == (PAYOUT, 0, 0)  # held back; nothing it can read
    assert await worker.drain() == [StepOutcome.DEAD_LETTERED]  # malformed
    odd = await job(svc, "payout:MX:sel_1:odd")
    (await discard_dead_letter(svc, L3, DiscardDeadLetter(MX, odd.id, "written by hand"))).unwrap()

    run = await run_payouts(svc, now=svc.clock.now())
    assert [(p.idempotency_key, p.amount.minor) for p in run.scheduled] == [("payout:MX:sel_1:MXN:3", PAYOUT)]
    assert await worker.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {
        "payout:MX:sel_1:1": Money(PAYOUT, MXN),
        "payout:MX:sel_1:MXN:3": Money(PAYOUT, MXN),
    }
