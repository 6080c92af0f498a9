"""Late failures (D130): the provider reports a call failed *after* it confirmed it.

A seller payout paid, then returned by the bank (Stripe's ``payout.failed`` after
``payout.paid``): its signed ``payout.failed`` webhook reverses the payout's posting once
(``<payout key>/returned``), audits ``payout.returned`` and counts it; redeliveries change
nothing; the next payout run pays the seller again under the next key. A refund reported
failed after it succeeded is ``test_refund_returns.py``'s (D136).

On SQLite and PostgreSQL, through the real webhook endpoint and the sandbox payments
provider. Money to the minor unit: each completed order releases PAYOUT = 106_000 to
``seller:payable`` (T 123_000 less the platform's take 17_000).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from returns.result import Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.cases.scheduler import run_tick
from application.context import Services
from application.ledger.payouts import (
    PAYOUT_JOB_KIND,
    PayoutDecision,
    ReadSellerBalance,
    SellerPayoutJob,
    run_payouts,
    seller_balance,
)
from application.orders.completion import CompleteDueOrdersTask
from application.ports.outbox import PROVIDER_LATE_FAILURE, JobStatus
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.ledger import Account, TransactionKind, rules
from domain.shared import Money
from domain.shared.ids import OrderId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock
from tests.integration.late_failure_harness import (
    Harness,
    audit,
    balance,
    inbox_outcomes,
    job,
    late_failure_harness,
    ledger_of,
    unbalanced,
)
from tests.integration.scenario import L3, MX, MXN, delivered_order

PAYOUT, T = 106_000, 123_000
DAY = timedelta(hours=24)
FIRST, SECOND, THIRD = (f"payout:MX:sel_1:MXN:{n}" for n in (1, 2, 3))


@pytest.fixture
async def h(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> AsyncIterator[Harness]:
    async with late_failure_harness(uow_factory) as harness:
        yield harness


async def completed(svc: Services, clock: FixedClock, *order_ids: str) -> None:
    """Orders of sel_1 captured (T 123_000), delivered and completed: PAYOUT each released."""
    for order_id in order_ids:
        await delivered_order(svc, order_id)
    clock.advance(timedelta(hours=72))
    assert not (await run_tick(svc, [CompleteDueOrdersTask()])).failed


async def claw_back(svc: Services, order_id: str) -> None:
    """A full refund after the order's release claws the seller's PAYOUT back into receivable."""
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
        assert order is not None and order.snapshot is not None
        claw = rules.refund_with_clawback(
            order.snapshot, rules.full_refund_split(order.snapshot), f"claw:{order_id}"
        )
        assert isinstance(await uow.ledger.post(claw), Success)
        await uow.commit()


async def view(svc: Services) -> tuple[int, int, int, int, list[tuple[str, JobStatus, bool]]]:
    """sel_1's ``sellerBalance``: payable, receivable, owed, in flight and its payouts."""
    seen = (await seller_balance(svc, L3, ReadSellerBalance(MX, "sel_1", MXN))).unwrap()
    return (
        seen.payable.minor,
        seen.receivable.minor,
        seen.owed.minor,
        seen.in_flight.minor,
        [(p.idempotency_key, p.status, p.returned) for p in seen.payouts],
    )


async def pay(h: Harness, key: str) -> None:
    """The worker calls the provider (accepted), its ``payout.succeeded`` webhook settles the job."""
    assert await h.runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    [delivery] = await h.webhooks.deliver_pending()
    assert (delivery.event_type, delivery.status) == ("payout.succeeded", 200)
    assert (await job(h.svc, key)).status is JobStatus.DONE


async def test_a_payout_returned_after_it_was_paid_is_reversed_once_and_paid_again(h: Harness) -> None:
    await completed(h.svc, h.clock, "o1", "o2")
    await claw_back(h.svc, "o1")  # sel_1 owes PAYOUT back: the payout pays PAYOUT and settles that debt
    clearing = await balance(h.svc, Account.psp_clearing())
    assert await view(h.svc) == (2 * PAYOUT, PAYOUT, PAYOUT, 0, [])

    [scheduled] = (await run_payouts(h.svc, now=h.clock.now())).scheduled
    assert (scheduled.idempotency_key, scheduled.amount.minor, scheduled.settled_receivable.minor) == (
        FIRST,
        PAYOUT,
        PAYOUT,
    )
    await pay(h, FIRST)
    assert h.payments.paid_out == {FIRST: Money(PAYOUT, MXN)}
    assert await view(h.svc) == (0, 0, 0, 0, [(FIRST, JobStatus.DONE, False)])
    assert await balance(h.svc, Account.psp_clearing()) == clearing - PAYOUT

    # days later the bank returns it: the provider reports the payout failed after all
    h.clock.advance(timedelta(hours=3))
    h.payments.fail_after_success(FIRST, "account_closed")
    [returned] = await h.webhooks.deliver_pending()
    assert (returned.event_type, returned.status) == ("payout.failed", 200)
    assert h.payments.paid_out == {} and h.payments.returned == {FIRST: Money(PAYOUT, MXN)}
    assert await inbox_outcomes(h.svc) == ["COMPLETED", "RETURNED"]

    # one reversal, the mirror of the payout: payable and the settled debt are back
    assert await ledger_of(h.svc, FIRST) == [
        (FIRST, TransactionKind.PAYOUT, None, 2 * PAYOUT),
        (f"{FIRST}/returned", TransactionKind.REVERSAL, FIRST, 2 * PAYOUT),
    ]
    assert await balance(h.svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    assert await balance(h.svc, Account.seller_receivable("sel_1")) == PAYOUT
    assert await balance(h.svc, Account.psp_clearing()) == clearing
    assert await unbalanced(h.svc) == {}
    # owed again, nothing in flight: the returned payout is settled (DONE), and marked returned
    assert await view(h.svc) == (2 * PAYOUT, PAYOUT, PAYOUT, 0, [(FIRST, JobStatus.DONE, True)])
    first = await job(h.svc, FIRST)
    assert (first.status, first.errors[-1].kind) == (JobStatus.DONE, PROVIDER_LATE_FAILURE)
    assert first.errors[-1].detail.endswith("account_closed")

    [entry] = await audit(h.svc, "payout.returned")
    assert (entry.actor_role, entry.country, entry.target_type, entry.target_id) == (
        "SYSTEM",
        MX,
        "seller",
        "sel_1",
    )
    assert entry.after == {
        "idempotency_key": FIRST,
        "reversal_key": f"{FIRST}/returned",
        "amount_minor": PAYOUT,
        "settled_receivable_minor": PAYOUT,
        "currency": "MXN",
        "provider": "payments",
        "provider_reference": json.loads(returned.body)["data"]["id"],
        "failure_code": "account_closed",
    }
    assert h.metrics.payouts_returned == {("MX", "MXN"): 1}
    assert not h.metrics.late_failures
    assert await audit(h.svc, "provider.late_failure") == []

    # the same event again (same webhook id), and the provider sending it anew under another
    # id: nothing changes
    assert (await h.webhooks.redeliver(returned.webhook_id)).status == 200
    again = await h.post(returned.body, "msg_sent_again")
    assert (again.status_code, again.json()["outcome"]) == (200, "ALREADY_SETTLED")
    assert await inbox_outcomes(h.svc) == ["ALREADY_SETTLED", "COMPLETED", "RETURNED"]
    assert len(await ledger_of(h.svc, FIRST)) == 2
    assert await balance(h.svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    assert len(await audit(h.svc, "payout.returned")) == 1
    assert h.metrics.payouts_returned == {("MX", "MXN"): 1}
    assert len((await job(h.svc, FIRST)).errors) == len(first.errors)

    # the next run pays the seller again, under a new key, once the interval since the
    # returned payout was scheduled has passed
    run = await run_payouts(h.svc, now=h.clock.now())
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.TOO_SOON: 1})
    h.clock.advance(DAY)
    [repaid] = (await run_payouts(h.svc, now=h.clock.now())).scheduled
    assert (repaid.idempotency_key, repaid.amount.minor, repaid.settled_receivable.minor) == (
        SECOND,
        PAYOUT,
        PAYOUT,
    )
    assert await view(h.svc) == (
        2 * PAYOUT,
        PAYOUT,
        0,
        PAYOUT,
        [(SECOND, JobStatus.PENDING, False), (FIRST, JobStatus.DONE, True)],
    )
    await pay(h, SECOND)
    assert h.payments.paid_out == {SECOND: Money(PAYOUT, MXN)}
    assert await view(h.svc) == (0, 0, 0, 0, [(SECOND, JobStatus.DONE, False), (FIRST, JobStatus.DONE, True)])
    assert await balance(h.svc, Account.psp_clearing()) == clearing - PAYOUT
    assert await unbalanced(h.svc) == {}
    run = await run_payouts(h.svc, now=h.clock.now() + DAY)
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.NOTHING_OWED: 1})


async def test_a_return_while_the_next_payout_is_in_flight_is_paid_by_the_one_after(h: Harness) -> None:
    """The reversal only adds back what the returned payout took: the payout in flight still
    pays exactly what it carries, and the returned money waits for the next run."""
    payments = FakePayments()  # pays at once; the provider's failure comes by ``confirm``
    runner = SagaRunner(
        h.svc,
        Providers(payments, FakeNotifications(), payouts=payments),
        metrics=h.metrics,
        job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()},
    )
    await completed(h.svc, h.clock, "o1")
    await run_payouts(h.svc, now=h.clock.now())
    assert await runner.drain() == [StepOutcome.COMPLETED]
    await completed(h.svc, h.clock, "o2")  # 72 h later: past the interval
    await run_payouts(h.svc, now=h.clock.now())
    assert await view(h.svc) == (
        PAYOUT,
        0,
        0,
        PAYOUT,
        [(SECOND, JobStatus.PENDING, False), (FIRST, JobStatus.DONE, False)],
    )

    # the provider's failure twice at once (two deliveries racing): reversed once
    late = await asyncio.gather(
        *(
            runner.confirm(FIRST, succeeded=False, provider_reference="po_1", detail="could_not_process")
            for _ in range(2)
        )
    )
    assert sorted(late) == [StepOutcome.ALREADY_SETTLED, StepOutcome.RETURNED]
    # o1's money is owed again but held back: a payout of this currency is in flight
    assert await view(h.svc) == (
        2 * PAYOUT,
        0,
        0,
        PAYOUT,
        [(SECOND, JobStatus.PENDING, False), (FIRST, JobStatus.DONE, True)],
    )
    run = await run_payouts(h.svc, now=h.clock.now() + DAY)
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})
    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert await view(h.svc) == (
        PAYOUT,
        0,
        PAYOUT,
        0,
        [(SECOND, JobStatus.DONE, False), (FIRST, JobStatus.DONE, True)],
    )
    h.clock.advance(DAY)
    [third] = (await run_payouts(h.svc, now=h.clock.now())).scheduled
    assert (third.idempotency_key, third.amount.minor) == (THIRD, PAYOUT)
    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert payments.payouts == {key: Money(PAYOUT, MXN) for key in (FIRST, SECOND, THIRD)}  # FIRST came back
    assert (await view(h.svc))[:4] == (0, 0, 0, 0)
    assert await unbalanced(h.svc) == {}
    # a late *success* of a DONE payout, or a failure for a key it no longer uses, is nothing new
    assert (
        await runner.confirm(SECOND, succeeded=True, provider_reference="po_2") is StepOutcome.ALREADY_SETTLED
    )
    assert await runner.confirm(f"{THIRD}#r1", succeeded=False, provider_reference="po_3") is (
        StepOutcome.ALREADY_SETTLED
    )
    assert (
        await runner.confirm(FIRST, succeeded=False, provider_reference="po_1") is StepOutcome.ALREADY_SETTLED
    )
    assert h.metrics.payouts_returned == {("MX", "MXN"): 1}
    assert len(await audit(h.svc, "payout.returned")) == 1
