"""A refund the provider took back after confirming it, and its re-issue (D136).

The sandbox payments provider confirms a dispute's refund by webhook, then reports it failed
after all (``refund.failed`` after ``refund.succeeded``: the card was closed). The money is
posted back once (``REFUND_RETURNED`` into the order's escrow) and awaits an L3's re-issue,
to the card again (posted when the provider confirms it) or as store credit (posted at once).

On SQLite and PostgreSQL, through the real webhook endpoint. Money to the minor unit: the
order's total charged T = 123_000; a 25 % partial refund R = 25_000 (of S = 100_000).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from returns.result import Failure, Result

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxPayments, WebhookDelivery
from application.context import RequestContext
from application.disputes.queries import amount_refunded
from application.disputes.refund_returns import (
    CARD_NOTICE_TEMPLATE,
    CREDIT_NOTICE_TEMPLATE,
    REISSUE_JOB_KIND,
    REISSUE_NOTICE_JOB_KIND,
    RefundReissue,
    ReissueFailure,
    ReissueRefund,
    reissue_refund,
)
from application.integrations.dead_letters import DiscardDeadLetter, discard_dead_letter
from application.ports.outbox import PROVIDER_LATE_FAILURE, JobStatus, NewJob
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import StepOutcome
from domain.cases.money import money_through_outcomes
from domain.disputes import Dispute
from domain.disputes.codes import OutcomeCode
from domain.disputes.references import ledger_prefix
from domain.disputes.returns import ReissueMethod, refund_awaiting_reissue
from domain.disputes.status import DisputeStatus
from domain.ledger import Account, TransactionKind
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId
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
from tests.integration.scenario import L2, L3, MX, MXN, decide, dispute_under_review

T, R = 123_000, 25_000


@pytest.fixture
async def h(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> AsyncIterator[Harness]:
    async with late_failure_harness(uow_factory) as harness:
        yield harness


async def refunded_and_resolved(
    h: Harness, order_id: str, outcome: OutcomeCode = OutcomeCode.FULL_REFUND, tier: int | None = None
) -> tuple[Dispute, str]:
    """A dispute decided with a refund, its refund confirmed by webhook, its saga run to
    RESOLVED. The dispute and its refund step's key."""
    dispute = await dispute_under_review(h.svc, order_id)
    await decide(h.svc, dispute, outcome, tier=tier)
    key = f"dispute:{dispute.id}/{outcome.value}/provider_refund"
    assert await h.runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    [succeeded] = await h.webhooks.deliver_pending()
    assert (succeeded.event_type, succeeded.status) == ("refund.succeeded", 200)
    await h.runner.drain()  # the postings and the notices
    assert await status_of(h, dispute.id) is DisputeStatus.RESOLVED
    return dispute, key


async def no_job(h: Harness, key: str) -> bool:
    async with h.svc.uow() as uow:
        return await uow.outbox.by_key(key) is None


async def status_of(h: Harness, dispute_id: str) -> DisputeStatus:
    async with h.svc.uow() as uow:
        found = await uow.disputes.get(MX, DisputeId(dispute_id))
    assert found is not None
    return found.status


async def awaiting(h: Harness, dispute: Dispute) -> int:
    """The dispute's refund awaiting re-issue, as the API reads it (its ledger transactions)."""
    async with h.svc.uow() as uow:
        found = await uow.ledger.transactions_for(MX, ledger_prefix(dispute.id))
    return refund_awaiting_reissue(found, dispute.order_id, MXN).minor


async def refunded(h: Harness, dispute: Dispute) -> int:
    async with h.svc.uow() as uow:
        found = await uow.ledger.transactions_for(MX, ledger_prefix(dispute.id))
    return amount_refunded(found, MXN).minor


async def reissue(
    h: Harness,
    dispute: Dispute,
    method: ReissueMethod,
    ctx: RequestContext = L3,
    reason: str = "the buyer's card was closed",
) -> Result[RefundReissue, ReissueFailure]:
    return await reissue_refund(h.svc, ctx, ReissueRefund(MX, dispute.id, method, reason))


async def return_refund(h: Harness, key: str) -> WebhookDelivery:
    """The provider reports the refund made under ``key`` failed after all (its webhook)."""
    h.payments.fail_after_success(key, "card_closed: the card of the buyer was closed")
    [failed] = await h.webhooks.deliver_pending()
    assert (failed.event_type, failed.status) == ("refund.failed", 200)
    return failed


def code(result: Result[RefundReissue, ReissueFailure]) -> str:
    assert isinstance(result, Failure)
    return str(result.failure().code)


async def test_a_refund_returned_after_it_succeeded_is_posted_back_once_and_awaits_reissue(
    h: Harness,
) -> None:
    dispute, key = await refunded_and_resolved(h, "o1")
    assert await balance(h.svc, Account.escrow("o1")) == 0
    assert await balance(h.svc, Account.psp_clearing()) == 0  # captured T, refunded T
    assert await refunded(h, dispute) == T

    failed = await return_refund(h, key)
    assert h.payments.returned == {key: Money(T, MXN)}
    assert await inbox_outcomes(h.svc) == ["COMPLETED", "RETURNED"]

    # the money is back at the provider and held for the buyer again, once
    assert await ledger_of(h.svc, f"{key}/") == [
        (f"{key}/returned", TransactionKind.REFUND_RETURNED, None, T)
    ]
    assert await balance(h.svc, Account.escrow("o1")) == T
    assert await balance(h.svc, Account.psp_clearing()) == T
    assert await unbalanced(h.svc) == {}
    assert (await refunded(h, dispute), await awaiting(h, dispute)) == (0, T)
    async with h.svc.uow() as uow:
        moved = money_through_outcomes(await uow.ledger.transactions_for(MX, ledger_prefix(dispute.id)))
    assert dict(moved.refunded) == {"MXN": Money(0, MXN)}
    # the outcome stands: the dispute stays RESOLVED; the job DONE with the failure noted
    assert await status_of(h, dispute.id) is DisputeStatus.RESOLVED
    step = await job(h.svc, key)
    assert (step.status, step.errors[-1].kind) == (JobStatus.DONE, PROVIDER_LATE_FAILURE)
    [entry] = await audit(h.svc, "refund.returned")
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("dispute", dispute.id, "w1")
    assert entry.after == {
        "idempotency_key": key,
        "return_key": f"{key}/returned",
        "order_id": "o1",
        "amount_minor": T,
        "currency": "MXN",
        "provider": "payments",
        "provider_reference": json.loads(failed.body)["data"]["id"],
        "failure_code": "card_closed",  # the code only: the provider's text may name the buyer
    }
    assert await audit(h.svc, "provider.late_failure") == []
    # counted as a payment's late failure (the alert tells a person to re-issue it), not a payout
    assert h.metrics.late_failures == {("MX", "payments", "dispute.step"): 1}
    assert not h.metrics.payouts_returned

    # redelivered, or sent anew under another webhook id: posted back once
    assert (await h.webhooks.redeliver(failed.webhook_id)).status == 200
    again = await h.post(failed.body, "msg_sent_again")
    assert (again.status_code, again.json()["outcome"]) == (200, "ALREADY_SETTLED")
    assert await balance(h.svc, Account.escrow("o1")) == T
    assert len(await audit(h.svc, "refund.returned")) == 1
    assert h.metrics.late_failures == {("MX", "payments", "dispute.step"): 1}


async def test_a_returned_refund_goes_to_the_card_again_then_as_credit_when_that_comes_back(
    h: Harness,
) -> None:
    dispute, key = await refunded_and_resolved(h, "o1")
    await return_refund(h, key)
    first = f"dispute:{dispute.id}/refund_reissue/1"

    accepted = (await reissue(h, dispute, ReissueMethod.CARD)).unwrap()
    assert (accepted.method, accepted.amount, accepted.idempotency_key) == (
        ReissueMethod.CARD,
        Money(T, MXN),
        first,
    )
    card_job = await job(h.svc, first)
    assert (card_job.id, card_job.kind, card_job.provider, card_job.status) == (
        accepted.job_id,
        "dispute.refund_reissue",
        "payments",
        JobStatus.PENDING,
    )
    # nothing moves in the books until the provider confirms the new refund
    assert await balance(h.svc, Account.escrow("o1")) == T
    assert await awaiting(h, dispute) == T
    [reissued] = await audit(h.svc, "refund.reissued")
    assert (reissued.target_id, reissued.actor_role, reissued.after) == (
        dispute.id,
        "L3",
        {
            "idempotency_key": first,
            "method": "CARD",
            "amount_minor": T,
            "currency": "MXN",
            "order_id": "o1",
            "reason": "the buyer's card was closed",
        },
    )
    # one re-issue at a time: another, by either method, waits for this one
    assert code(await reissue(h, dispute, ReissueMethod.STORE_CREDIT)) == "REFUND_REISSUE_IN_FLIGHT"

    assert await h.runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    notice_key = f"{first}/notice"
    assert await no_job(h, notice_key)  # the buyer is told only once the provider confirms
    [succeeded] = await h.webhooks.deliver_pending()
    assert (succeeded.event_type, succeeded.status) == ("refund.succeeded", 200)
    assert h.payments.refunded == {first: Money(T, MXN)}
    assert (await job(h.svc, first)).status is JobStatus.DONE
    # the buyer's notice (D155), enqueued with the job's completion, sent by the worker, once
    card_notice = await job(h.svc, notice_key)
    assert (card_notice.kind, card_notice.provider, card_notice.status, card_notice.payload) == (
        REISSUE_NOTICE_JOB_KIND,
        "notifications",
        JobStatus.PENDING,
        {"for_dispute": dispute.id, "buyer_id": "buy_1", "amount_minor": T, "currency": "MXN"},
    )
    assert await h.runner.drain() == [StepOutcome.COMPLETED]
    assert h.notifications.sent[notice_key] == ("BUYER", "buy_1", CARD_NOTICE_TEMPLATE)
    assert (await h.webhooks.redeliver(succeeded.webhook_id)).status == 200
    assert await h.runner.drain() == []
    assert (await job(h.svc, notice_key)).status is JobStatus.DONE
    assert await ledger_of(h.svc, first) == [(first, TransactionKind.REFUND_REISSUED, None, T)]
    assert (await balance(h.svc, Account.escrow("o1")), await balance(h.svc, Account.psp_clearing())) == (
        0,
        0,
    )
    assert (await refunded(h, dispute), await awaiting(h, dispute)) == (T, 0)
    assert code(await reissue(h, dispute, ReissueMethod.CARD)) == "NO_REFUND_TO_REISSUE"

    # the card refuses the new refund too, days later: posted back again, under its own key
    await return_refund(h, first)
    assert await ledger_of(h.svc, first) == [
        (first, TransactionKind.REFUND_REISSUED, None, T),
        (f"{first}/returned", TransactionKind.REFUND_RETURNED, None, T),
    ]
    assert await awaiting(h, dispute) == T
    assert h.metrics.late_failures == {
        ("MX", "payments", "dispute.step"): 1,
        ("MX", "payments", "dispute.refund_reissue"): 1,
    }

    # so the L3 gives it as store credit: posted at once, and the buyer is told
    second = f"dispute:{dispute.id}/refund_reissue/2"
    credited = (await reissue(h, dispute, ReissueMethod.STORE_CREDIT, reason="card closed twice")).unwrap()
    assert (credited.amount, credited.idempotency_key) == (Money(T, MXN), second)
    assert await ledger_of(h.svc, second) == [(second, TransactionKind.REFUND_AS_CREDIT, None, T)]
    assert await balance(h.svc, Account.buyer_credit("buy_1")) == T
    assert (await balance(h.svc, Account.escrow("o1")), await awaiting(h, dispute)) == (0, 0)
    notice = await job(h.svc, second)
    assert (notice.provider, notice.status) == ("notifications", JobStatus.PENDING)
    assert await h.runner.drain() == [StepOutcome.COMPLETED]
    assert h.notifications.sent[second] == ("BUYER", "buy_1", CREDIT_NOTICE_TEMPLATE)
    # completing the notice finds the credit posted: nothing twice
    assert await ledger_of(h.svc, second) == [(second, TransactionKind.REFUND_AS_CREDIT, None, T)]
    assert await balance(h.svc, Account.buyer_credit("buy_1")) == T
    assert await unbalanced(h.svc) == {}
    async with h.svc.uow() as uow:
        moved = money_through_outcomes(await uow.ledger.transactions_for(MX, ledger_prefix(dispute.id)))
    assert (dict(moved.refunded), dict(moved.credited)) == ({"MXN": Money(0, MXN)}, {"MXN": Money(T, MXN)})
    assert await status_of(h, dispute.id) is DisputeStatus.RESOLVED


async def test_a_partial_refund_returned_gives_back_what_it_refunded(h: Harness) -> None:
    dispute, key = await refunded_and_resolved(h, "o1", OutcomeCode.PARTIAL_REFUND, tier=2500)
    assert await balance(h.svc, Account.escrow("o1")) == 0  # R refunded, the rest released
    await return_refund(h, key)
    assert await ledger_of(h.svc, f"{key}/") == [
        (f"{key}/returned", TransactionKind.REFUND_RETURNED, None, R)
    ]
    assert (await balance(h.svc, Account.escrow("o1")), await awaiting(h, dispute)) == (R, R)
    credited = (await reissue(h, dispute, ReissueMethod.STORE_CREDIT)).unwrap()
    assert credited.amount == Money(R, MXN)
    assert await balance(h.svc, Account.buyer_credit("buy_1")) == R
    assert await balance(h.svc, Account.escrow("o1")) == 0
    assert await unbalanced(h.svc) == {}


async def test_two_l3s_reissuing_at_once_reissue_it_once(h: Harness) -> None:
    dispute, key = await refunded_and_resolved(h, "o1")
    await return_refund(h, key)
    results = await asyncio.gather(
        reissue(h, dispute, ReissueMethod.CARD), reissue(h, dispute, ReissueMethod.STORE_CREDIT)
    )
    accepted = [r.unwrap() for r in results if not isinstance(r, Failure)]
    refused = [code(r) for r in results if isinstance(r, Failure)]
    assert len(accepted) == 1
    assert refused in (["CONCURRENCY_CONFLICT"], ["REFUND_REISSUE_IN_FLIGHT"])
    async with h.svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
    assert [j.idempotency_key for j in jobs if j.kind == "dispute.refund_reissue"] == [
        f"dispute:{dispute.id}/refund_reissue/1"
    ]
    credit = await balance(h.svc, Account.buyer_credit("buy_1"))
    escrow = await balance(h.svc, Account.escrow("o1"))
    # the credit was given, or the card re-issue holds the escrow until the provider confirms it
    assert (credit, escrow) == ((T, 0) if accepted[0].method is ReissueMethod.STORE_CREDIT else (0, T))
    assert len(await audit(h.svc, "refund.reissued")) == 1


async def test_a_reissue_is_refused_without_changing_anything(h: Harness) -> None:
    dispute, key = await refunded_and_resolved(h, "o1")
    before = await ledger_of(h.svc, "")
    # nothing was returned yet
    assert code(await reissue(h, dispute, ReissueMethod.CARD)) == "NO_REFUND_TO_REISSUE"
    await return_refund(h, key)
    after_return = await ledger_of(h.svc, "")
    assert len(after_return) == len(before) + 1
    # an L2 may not; nor an L3 of another country (the dispute is not revealed)
    assert code(await reissue(h, dispute, ReissueMethod.CARD, ctx=L2)) == "FORBIDDEN"
    elsewhere = await reissue_refund(h.svc, L3, ReissueRefund(MX, "dsp_nope", ReissueMethod.CARD, "why"))
    assert code(elsewhere) == "NOT_FOUND"
    assert code(await reissue(h, dispute, ReissueMethod.CARD, reason="  ")) == "REASON_REQUIRED"
    assert code(await reissue(h, dispute, ReissueMethod.CARD, reason="x" * 2001)) == "REASON_TOO_LONG"
    assert await ledger_of(h.svc, "") == after_return
    assert await audit(h.svc, "refund.reissued") == []
    async with h.svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
    assert [j.kind for j in jobs if j.kind == "dispute.refund_reissue"] == []


async def test_a_malformed_reissue_job_is_dead_lettered_not_paid(h: Harness) -> None:
    """A re-issue job whose payload lost its amount is refused before any call: dead, and
    nothing moved."""
    dispute, key = await refunded_and_resolved(h, "o1")
    await return_refund(h, key)
    bad = f"dispute:{dispute.id}/refund_reissue/1"
    payload = {
        "for_dispute": dispute.id,
        "order_id": "o1",
        "buyer_id": "buy_1",
        "method": "CARD",
        "currency": "MXN",
    }
    async with h.svc.uow() as uow:
        new = NewJob(
            MX,
            bad,
            REISSUE_JOB_KIND,
            "payments",
            f"dispute:{dispute.id}",
            {**payload, "currency": "MXN"},
            h.clock.now(),
        )
        assert await uow.outbox.enqueue(new, now=h.clock.now())
        await uow.commit()
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    assert (await job(h.svc, bad)).status is JobStatus.DEAD
    assert h.payments.refunded == {}
    assert await balance(h.svc, Account.escrow("o1")) == T
    assert await ledger_of(h.svc, bad) == []
    # it holds later re-issues back until an L3 discards it (a refusal: it moved nothing)
    assert code(await reissue(h, dispute, ReissueMethod.STORE_CREDIT)) == "REFUND_REISSUE_IN_FLIGHT"


async def test_a_reissue_notice_without_a_buyer_is_dead_lettered_not_sent(h: Harness) -> None:
    bad = "dispute:dsp_x/refund_reissue/1/notice"
    async with h.svc.uow() as uow:
        new = NewJob(MX, bad, REISSUE_NOTICE_JOB_KIND, "notifications", "dispute:dsp_x", {}, h.clock.now())
        assert await uow.outbox.enqueue(new, now=h.clock.now())
        await uow.commit()
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    dead = await job(h.svc, bad)
    assert dead.status is JobStatus.DEAD and "no buyer" in dead.errors[-1].detail
    assert bad not in h.notifications.sent


class RefusesReissues:
    """The sandbox behind a gateway that refuses, for good, every card re-issue (the card was
    closed), and lets everything else through."""

    def __init__(self, sandbox: SandboxPayments) -> None:
        self.sandbox = sandbox
        self.name = sandbox.name

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        if "/refund_reissue/" in idempotency_key:
            return Failure(ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "card_closed"))
        return await self.sandbox.refund(
            idempotency_key=idempotency_key, country=country, order_id=order_id, amount=amount
        )

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self.sandbox.payout(
            idempotency_key=idempotency_key, country=country, payee_id=payee_id, amount=amount
        )


async def test_a_card_reissue_the_card_refuses_is_discarded_and_given_as_credit(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork],
) -> None:
    """The re-issue to the card is declined for good: dead-lettered (the dispute stays
    RESOLVED), it holds further re-issues back until an L3 discards it (a refusal moved
    nothing, so it may be discarded), then the credit is given under the next number."""
    async with late_failure_harness(uow_factory, between=RefusesReissues) as h:
        dispute, key = await refunded_and_resolved(h, "o1")
        await return_refund(h, key)
        first = (await reissue(h, dispute, ReissueMethod.CARD)).unwrap()
        assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
        dead = await job(h.svc, first.idempotency_key)
        assert dead.status is JobStatus.DEAD
        assert await status_of(h, dispute.id) is DisputeStatus.RESOLVED
        assert (await balance(h.svc, Account.escrow("o1")), await awaiting(h, dispute)) == (T, T)
        assert code(await reissue(h, dispute, ReissueMethod.STORE_CREDIT)) == "REFUND_REISSUE_IN_FLIGHT"

        discarded = await discard_dead_letter(h.svc, L3, DiscardDeadLetter(MX, dead.id, "card closed"))
        assert discarded.unwrap().status is JobStatus.DISCARDED
        credited = (await reissue(h, dispute, ReissueMethod.STORE_CREDIT, reason="card closed")).unwrap()
        assert (credited.idempotency_key, credited.amount) == (
            f"dispute:{dispute.id}/refund_reissue/2",
            Money(T, MXN),
        )
        assert await balance(h.svc, Account.buyer_credit("buy_1")) == T
        assert (await balance(h.svc, Account.escrow("o1")), await awaiting(h, dispute)) == (0, 0)
        assert await ledger_of(h.svc, first.idempotency_key) == []  # the refused card moved nothing
        assert await unbalanced(h.svc) == {}
