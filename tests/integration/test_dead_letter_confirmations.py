"""A provider's success for a job that already left the queue for good (D131).

A refund or a payout whose every answer was lost (timeouts) is dead-lettered with its key kept
(D83): one of those calls may have gone through. When the provider's verified success for that
key arrives, the dead letter is settled as its replay would have settled it: the step recorded
once as a synchronous success (the saga goes on, the dispute leaves EXECUTION_FAILED as on a
replay), out of the dead-letter queue, audited and counted. A success for a key an L3 replay
replaced changes nothing; one for a discarded job records nothing, it is audited and counted
for a person. A webhook and an L3 replay (or the worker of the replayed job) racing record the
step once.

On SQLite and PostgreSQL, through the real webhook endpoint and the sandbox payments provider,
behind a network that loses every answer while ``losing``. Money to the minor unit: T =
123_000 captured per order; a completed order releases PAYOUT = 106_000 to ``seller:payable``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from returns.result import Failure, Result, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxPayments
from application.cases.scheduler import run_tick
from application.context import Services
from application.errors import PlanDrift
from application.integrations.dead_letters import (
    DiscardDeadLetter,
    ListDeadLetters,
    ReplayDeadLetter,
    discard_dead_letter,
    list_dead_letters,
    replay_dead_letter,
)
from application.ledger.payouts import (
    PAYOUT_JOB_KIND,
    PayoutDecision,
    ReadSellerBalance,
    run_payouts,
    seller_balance,
)
from application.orders.completion import CompleteDueOrdersTask
from application.ports.outbox import PROVIDER_LATE_SUCCESS, PROVIDER_SUCCESS_AFTER_REFUSAL, Job, JobStatus
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import SagaRunner, StepOutcome
from domain.cases.kinds import CaseKind, CaseStatus
from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import ExecutionPlan, ExecutionStep
from domain.disputes.status import DisputeStatus
from domain.ledger import Account, TransactionKind
from domain.orders import OrderStatus
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId, OrderId
from tests.integration import late_failure_harness as late
from tests.integration.late_failure_harness import audit, balance, inbox_outcomes, job, unbalanced
from tests.integration.scenario import L3, MX, MXN, decide, delivered_order, dispute_under_review

PROVIDER = "sandbox-payments"
SECRET = "whsec_dGhlLWRlYWQtbGV0dGVyLWNvbmZpcm1hdGlvbi1zZWNyZXQ="
T, PAYOUT = 123_000, 106_000
FIRST = "payout:MX:sel_1:MXN:1"
RECOVERED = ("MX", "payments", "RECOVERED")


@dataclass
class LossyNetwork:
    """Between the workers and the sandbox. While ``losing``, every call reaches the provider
    (it accepts it and later settles it and sends its webhook) and its answer is lost: the
    worker sees a timeout. While ``refusing``, calls are refused for good before they reach
    it (a 4xx: nothing happened)."""

    sandbox: SandboxPayments
    losing: bool = False
    refusing: bool = False
    name: str = "sandbox-payments"

    def _through(
        self, operation: str, answer: Result[ProviderReceipt, ProviderError]
    ) -> Result[ProviderReceipt, ProviderError]:
        if self.losing:
            return Failure(ProviderError(self.name, operation, ProviderFailureKind.TRANSIENT, "timeout"))
        return answer

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        if self.refusing:
            return Failure(ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "http_402"))
        answer = await self.sandbox.refund(
            idempotency_key=idempotency_key, country=country, order_id=order_id, amount=amount
        )
        return self._through("refund", answer)

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        answer = await self.sandbox.payout(
            idempotency_key=idempotency_key, country=country, payee_id=payee_id, amount=amount
        )
        return self._through("payout", answer)


@dataclass
class Harness(late.Harness):
    network: LossyNetwork

    async def succeeded(self, event_type: str, key: str, webhook_id: str) -> httpx.Response:
        """The provider's signed ``<operation>.succeeded`` for ``key``, sent by the test."""
        data = {"id": f"ref_{webhook_id}", "idempotency_key": key, "country": "MX", "status": "succeeded"}
        return await self.post(json.dumps({"type": event_type, "data": data}).encode(), webhook_id)

    async def until_dead(self, key: str) -> Job:
        """Run the worker (an hour between rounds: retries and the breaker's reopening are
        due) until the job of ``key`` is dead-lettered."""
        for _ in range(30):
            await self.runner.run_once()
            found = await job(self.svc, key)
            if found.status is JobStatus.DEAD:
                return found
            self.clock.advance(timedelta(hours=1))
        raise AssertionError(f"{key} was never dead-lettered")

    async def run_out(self) -> None:
        """Run the worker until nothing is left, an hour between rounds (a circuit breaker
        opened by the lost answers half-opens again)."""
        for _ in range(5):
            await self.runner.drain()
            self.clock.advance(timedelta(hours=1))


@pytest.fixture
async def h(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> AsyncIterator[Harness]:
    """The shared late-failure harness (the app's webhook endpoint, the asynchronous sandbox)
    with a lossy network between the workers and the sandbox."""
    networks: list[LossyNetwork] = []

    def lossy(payments: SandboxPayments) -> LossyNetwork:
        networks.append(LossyNetwork(payments))
        return networks[-1]

    async with late.late_failure_harness(uow_factory, secret=SECRET, between=lossy) as base:
        yield Harness(**vars(base), network=networks[0])


def refund_key(dispute_id: str) -> str:
    return f"dispute:{dispute_id}/FULL_REFUND/provider_refund"


async def statuses(svc: Services, dispute_id: str) -> tuple[DisputeStatus, OrderStatus]:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
        order = await uow.orders.get(MX, OrderId("o1"))
    assert dispute is not None and order is not None
    return dispute.status, order.status


async def ledger_of(svc: Services, prefix: str) -> dict[str, list[tuple[str, str, int]]]:
    """The transactions whose key starts with ``prefix``: key -> postings (account, side, minor)."""
    async with svc.uow() as uow:
        found = await uow.ledger.transactions_for(MX, prefix)
    return {
        t.idempotency_key: [(p.account.name, p.side.value, p.amount.minor) for p in t.postings] for t in found
    }


async def dead_letters(svc: Services) -> list[str]:
    return [j.provider_key for j in (await list_dead_letters(svc, L3, ListDeadLetters(MX))).unwrap().items]


async def refund_dead_after_timeouts(h: Harness) -> tuple[str, Job]:
    """A full refund whose every answer is lost: dead-lettered with its key, the refund made
    at the provider (accepted; its webhook waits in the sandbox's queue)."""
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    h.network.losing = True
    dead = await h.until_dead(refund_key(dispute.id))
    h.network.losing = False
    assert (dead.provider_key, dead.errors[-1].kind) == (refund_key(dispute.id), "PROVIDER_TRANSIENT")
    assert await statuses(h.svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    assert await balance(h.svc, Account.escrow("o1")) == T  # the books say nothing moved
    assert await dead_letters(h.svc) == [refund_key(dispute.id)]
    assert h.webhooks.pending == 1
    return dispute.id, dead


async def assert_refunded_once(h: Harness, dispute_id: str, *, provider_key: str) -> None:
    """The saga ran to its end with the refund made and posted exactly once."""
    assert await statuses(h.svc, dispute_id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert h.payments.refunded == {provider_key: Money(T, MXN)}
    assert await ledger_of(h.svc, f"dispute:{dispute_id}/") == {
        f"dispute:{dispute_id}/FULL_REFUND/ledger_refund": [
            ("escrow:order:o1", "DEBIT", T),
            ("psp:clearing", "CREDIT", T),
        ]
    }
    assert await balance(h.svc, Account.escrow("o1")) == 0
    assert await balance(h.svc, Account.psp_clearing()) == 0
    assert await unbalanced(h.svc) == {}
    assert await dead_letters(h.svc) == []
    async with h.svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute_id}")
    assert {j.status for j in jobs} == {JobStatus.DONE}
    assert len(await audit(h.svc, "dispute.resolved")) == 1


async def test_a_dead_refund_confirmed_by_its_webhook_is_recorded_once_and_the_dispute_resolves(
    h: Harness,
) -> None:
    dispute_id, dead = await refund_dead_after_timeouts(h)
    key = refund_key(dispute_id)

    # the provider settles the refund it had accepted and says so
    [delivery] = await h.webhooks.deliver_pending()
    assert (delivery.event_type, delivery.status) == ("refund.succeeded", 200)
    assert h.payments.refunded == {key: Money(T, MXN)}
    assert await inbox_outcomes(h.svc) == ["RECOVERED"]
    recovered = await job(h.svc, key)
    assert (recovered.status, recovered.errors[-1].kind) == (JobStatus.DONE, PROVIDER_LATE_SUCCESS)
    assert recovered.errors[:-1] == dead.errors
    assert await dead_letters(h.svc) == []
    # the dispute left EXECUTION_FAILED as a replay makes it leave, and the saga goes on
    assert await statuses(h.svc, dispute_id) == (DisputeStatus.EXECUTING, OrderStatus.DISPUTED)
    [replayed] = await audit(h.svc, "dispute.replayed")
    assert (replayed.actor_role, replayed.target_id) == ("SYSTEM", dispute_id)
    assert (replayed.before, replayed.after) == (
        {"status": "EXECUTION_FAILED"},
        {"status": "EXECUTING", "job_id": dead.id},
    )
    reference = json.loads(delivery.body)["data"]["id"]
    [entry] = await audit(h.svc, "saga.recovered_by_confirmation")
    assert (entry.actor_role, entry.target_type, entry.target_id) == ("SYSTEM", "outbox_job", str(dead.id))
    assert entry.before == {"status": "DEAD", "dispute_status": "EXECUTION_FAILED"}
    assert entry.after == {
        "status": "DONE",
        "step": "provider_refund",
        "idempotency_key": key,
        "kind": "dispute.step",
        "provider": "payments",
        "provider_reference": reference,
        "dispute_status": "EXECUTING",
    }
    [step] = [e.after for e in await audit(h.svc, "saga.step_completed") if e.after is not None]
    assert (step["step"], step["outcome"], step["provider_reference"]) == ("provider_refund", "OK", reference)
    assert h.metrics.late_successes == {RECOVERED: 1}

    # the ledger step, then the notices: the dispute resolves, its case with it
    await h.runner.drain()
    await assert_refunded_once(h, dispute_id, provider_key=key)
    async with h.svc.uow() as uow:
        [case] = await uow.cases.for_subject(MX, CaseKind.DISPUTE, dispute_id)
    assert case.state.status is CaseStatus.RESOLVED

    # the same event again, and the provider sending it anew under another id: nothing changes
    assert (await h.webhooks.redeliver(delivery.webhook_id)).status == 200
    again = await h.post(delivery.body, "msg_sent_again")
    assert (again.status_code, again.json()["outcome"]) == (200, "ALREADY_SETTLED")
    assert await inbox_outcomes(h.svc) == ["ALREADY_SETTLED", "RECOVERED"]
    assert await h.runner.drain() == []
    await assert_refunded_once(h, dispute_id, provider_key=key)
    assert len(await audit(h.svc, "saga.recovered_by_confirmation")) == 1
    assert len(await audit(h.svc, "dispute.replayed")) == 1
    assert h.metrics.late_successes == {RECOVERED: 1}


async def test_successes_racing_for_one_dead_letter_settle_it_once(h: Harness) -> None:
    """Three deliveries of the provider's success (other webhook ids) at once: one recovers the
    dead letter, the others find it settled; the sandbox's own event, later, too."""
    dispute_id, _ = await refund_dead_after_timeouts(h)
    key = refund_key(dispute_id)
    racing = await asyncio.gather(*(h.succeeded("refund.succeeded", key, f"msg_{n}") for n in range(3)))
    assert sorted(r.json()["outcome"] for r in racing) == ["ALREADY_SETTLED", "ALREADY_SETTLED", "RECOVERED"]
    assert len(await audit(h.svc, "saga.recovered_by_confirmation")) == 1
    assert len(await audit(h.svc, "dispute.replayed")) == 1
    [own] = await h.webhooks.deliver_pending()
    assert own.status == 200
    assert await inbox_outcomes(h.svc) == ["ALREADY_SETTLED"] * 3 + ["RECOVERED"]
    await h.runner.drain()
    await assert_refunded_once(h, dispute_id, provider_key=key)
    assert h.metrics.late_successes == {RECOVERED: 1}


@pytest.mark.parametrize("first", ["webhook", "replay", "together", "worker"])
async def test_the_webhook_and_an_l3_replay_racing_record_the_refund_once(h: Harness, first: str) -> None:
    """Whoever wins, the refund is recorded once: the webhook's recovery (the replay then
    finds no dead letter), or the replay (the webhook then finds the job in flight and the
    worker gets the provider's success under the same key), or both at once; or the replay,
    a worker claiming the replayed job, and the webhook racing that worker."""
    dispute_id, dead = await refund_dead_after_timeouts(h)
    key = refund_key(dispute_id)
    replay = ReplayDeadLetter(MX, dead.id)
    replayed: Result[Job, object]
    match first:
        case "webhook":
            await h.webhooks.deliver_pending()
            replayed = await replay_dead_letter(h.svc, L3, replay)
            assert isinstance(replayed, Failure) and replayed.failure().code == "JOB_NOT_DEAD_LETTERED"
            assert await inbox_outcomes(h.svc) == ["RECOVERED"]
        case "replay":
            replayed = await replay_dead_letter(h.svc, L3, replay)
            assert isinstance(replayed, Success) and replayed.unwrap().provider_key == key  # kept (D83)
            await h.webhooks.deliver_pending()
            assert await inbox_outcomes(h.svc) == ["ALREADY_SETTLED"]  # the replay owns it now
        case "together":
            _, replayed = await asyncio.gather(
                h.webhooks.deliver_pending(), replay_dead_letter(h.svc, L3, replay)
            )
            won = "RECOVERED" if isinstance(replayed, Failure) else "ALREADY_SETTLED"
            assert await inbox_outcomes(h.svc) == [won]
        case "worker":
            (await replay_dead_letter(h.svc, L3, replay)).unwrap()
            h.clock.advance(timedelta(hours=1))  # the breaker the lost answers opened half-opens
            async with h.svc.uow() as uow:
                [claimed] = await uow.outbox.claim(
                    worker_id="w2", now=h.clock.now(), lease=timedelta(seconds=30), limit=1
                )
                await uow.commit()
            assert claimed.id == dead.id
            _, ran = await asyncio.gather(h.webhooks.deliver_pending(), h.runner.execute(claimed))
            assert ran in {StepOutcome.COMPLETED, StepOutcome.AWAITING_CONFIRMATION, StepOutcome.LEASE_LOST}
    await h.run_out()
    await assert_refunded_once(h, dispute_id, provider_key=key)
    steps = [e.after for e in await audit(h.svc, "saga.step_completed") if e.after is not None]
    assert [s["step"] for s in steps].count("provider_refund") == 1
    assert len(await audit(h.svc, "dispute.replayed")) == 1  # by the L3 or by the confirmation
    recovered = len(await audit(h.svc, "saga.recovered_by_confirmation"))
    assert recovered == {"webhook": 1, "replay": 0, "worker": 0}.get(first, recovered) and recovered in {0, 1}
    assert len(await audit(h.svc, "dead_letter.replayed")) == 1 - recovered  # one of the two won
    assert h.metrics.late_successes == ({RECOVERED: 1} if recovered else {})


async def test_a_success_for_the_key_a_replay_replaced_records_nothing_and_is_told(h: Harness) -> None:
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.refusing = True  # refused for good before reaching the provider: a fresh key on replay
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    h.network.refusing, h.network.losing = False, True
    replayed = (
        await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, (await job(h.svc, key)).id))
    ).unwrap()
    assert replayed.provider_key == f"{key}#r1"
    dead = await h.until_dead(key)  # #r1 reached the provider, its answers were lost
    h.network.losing = False
    assert (dead.provider_key, dead.errors[-1].kind) == (f"{key}#r1", "PROVIDER_TRANSIENT")

    # a success for the key the replay replaced: the provider contradicts its refusal (and the
    # replay's key may move the money too): nothing recorded, told to a person, once
    stale = await h.succeeded("refund.succeeded", key, "msg_old_key")
    assert (stale.status_code, stale.json()["outcome"]) == (200, "CONFIRMED_FOR_REPLACED_KEY")
    assert (
        await h.runner.confirm(key, succeeded=True, provider_reference="re_old")
        is StepOutcome.ALREADY_SETTLED
    )
    assert (await job(h.svc, key)).status is JobStatus.DEAD
    assert await dead_letters(h.svc) == [f"{key}#r1"]
    assert await statuses(h.svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}
    assert await audit(h.svc, "saga.recovered_by_confirmation") == []
    [told] = await audit(h.svc, "provider.success_for_replaced_key")
    assert told.after is not None and told.after["outcome"] == "CONFIRMED_FOR_REPLACED_KEY"
    assert h.metrics.late_successes == {("MX", "payments", "CONFIRMED_FOR_REPLACED_KEY"): 1}

    # the success for the key it last called with settles it
    [delivery] = await h.webhooks.deliver_pending()
    assert json.loads(delivery.body)["data"]["idempotency_key"] == f"{key}#r1"
    assert await inbox_outcomes(h.svc) == ["CONFIRMED_FOR_REPLACED_KEY", "RECOVERED"]
    [entry] = await audit(h.svc, "saga.recovered_by_confirmation")
    assert entry.after is not None and entry.after["provider_key"] == f"{key}#r1"
    await h.runner.drain()
    await assert_refunded_once(h, dispute.id, provider_key=f"{key}#r1")


async def test_a_success_for_a_discarded_job_records_nothing_and_is_audited_once(h: Harness) -> None:
    """An L3 dropped the job (it had been refused for good, so discarding was allowed) and may
    have settled the refund another way: the provider's later success is told to a person,
    never posted."""
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.refusing = True
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    discarded = (
        await discard_dead_letter(
            h.svc, L3, DiscardDeadLetter(MX, (await job(h.svc, key)).id, "card closed; refunded by hand")
        )
    ).unwrap()
    assert discarded.status is JobStatus.DISCARDED

    first = await h.succeeded("refund.succeeded", key, "msg_after_discard")
    assert (first.status_code, first.json()["outcome"]) == (200, "CONFIRMED_AFTER_DISCARD")
    noted = await job(h.svc, key)
    assert (noted.status, noted.errors[-1].kind) == (JobStatus.DISCARDED, PROVIDER_LATE_SUCCESS)
    assert noted.errors[-1].detail.endswith(f"key {key}")  # the reference is in the audit entry
    assert await statuses(h.svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}
    assert await balance(h.svc, Account.escrow("o1")) == T
    async with h.svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
    assert [j.status for j in jobs] == [JobStatus.DISCARDED]  # nothing enqueued after it
    [entry] = await audit(h.svc, "provider.success_after_discard")
    assert (entry.actor_role, entry.target_type, entry.target_id) == ("SYSTEM", "dispute", dispute.id)
    assert entry.after == {
        "job_id": discarded.id,
        "step": "provider_refund",
        "idempotency_key": key,
        "kind": "dispute.step",
        "provider": "payments",
        "provider_reference": "ref_msg_after_discard",
        "outcome": "CONFIRMED_AFTER_DISCARD",
    }
    assert h.metrics.late_successes == {("MX", "payments", "CONFIRMED_AFTER_DISCARD"): 1}
    assert await audit(h.svc, "saga.recovered_by_confirmation") == []

    # sent again under other ids, two at once: told once
    again = await asyncio.gather(*(h.succeeded("refund.succeeded", key, f"msg_again_{n}") for n in range(2)))
    assert [r.json()["outcome"] for r in again] == ["ALREADY_SETTLED", "ALREADY_SETTLED"]
    assert len(await audit(h.svc, "provider.success_after_discard")) == 1
    assert h.metrics.late_successes == {("MX", "payments", "CONFIRMED_AFTER_DISCARD"): 1}
    assert len((await job(h.svc, key)).errors) == len(noted.errors)
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}


async def test_a_dead_payout_confirmed_by_its_webhook_is_posted_once_and_no_longer_in_flight(
    h: Harness,
) -> None:
    for order_id in ("o1", "o2"):
        await delivered_order(h.svc, order_id)
    h.clock.advance(timedelta(hours=72))
    assert not (await run_tick(h.svc, [CompleteDueOrdersTask()])).failed
    clearing = await balance(h.svc, Account.psp_clearing())
    [scheduled] = (await run_payouts(h.svc, now=h.clock.now())).scheduled
    assert (scheduled.idempotency_key, scheduled.amount.minor) == (FIRST, 2 * PAYOUT)

    h.network.losing = True
    dead = await h.until_dead(FIRST)
    h.network.losing = False
    assert dead.errors[-1].kind == "PROVIDER_TRANSIENT"

    async def view() -> tuple[int, int, int, list[tuple[str, JobStatus]]]:
        seen = (await seller_balance(h.svc, L3, ReadSellerBalance(MX, "sel_1", MXN))).unwrap()
        return (
            seen.payable.minor,
            seen.owed.minor,
            seen.in_flight.minor,
            [(p.idempotency_key, p.status) for p in seen.payouts],
        )

    # the dead payout is in flight: the seller is owed nothing more until it is settled
    assert await view() == (2 * PAYOUT, 0, 2 * PAYOUT, [(FIRST, JobStatus.DEAD)])
    run = await run_payouts(h.svc, now=h.clock.now() + timedelta(days=2))
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.IN_FLIGHT: 1})

    [delivery] = await h.webhooks.deliver_pending()
    assert (delivery.event_type, delivery.status) == ("payout.succeeded", 200)
    assert await inbox_outcomes(h.svc) == ["RECOVERED"]
    assert h.payments.paid_out == {FIRST: Money(2 * PAYOUT, MXN)}
    assert await view() == (0, 0, 0, [(FIRST, JobStatus.DONE)])
    async with h.svc.uow() as uow:
        posted = await uow.ledger.transactions_for(MX, FIRST)
    assert [(t.idempotency_key, t.kind, t.amount.minor) for t in posted] == [
        (FIRST, TransactionKind.PAYOUT, 2 * PAYOUT)
    ]
    assert await balance(h.svc, Account.seller_payable("sel_1")) == 0
    assert await balance(h.svc, Account.psp_clearing()) == clearing - 2 * PAYOUT
    assert await unbalanced(h.svc) == {}
    assert await dead_letters(h.svc) == []
    [entry] = await audit(h.svc, "saga.recovered_by_confirmation")
    assert (entry.target_type, entry.target_id) == ("outbox_job", str(dead.id))
    assert entry.before == {"status": "DEAD", "dispute_status": None}
    assert entry.after == {
        "status": "DONE",
        "step": PAYOUT_JOB_KIND,
        "idempotency_key": FIRST,
        "kind": PAYOUT_JOB_KIND,
        "provider": "payments",
        "provider_reference": json.loads(delivery.body)["data"]["id"],
        "dispute_status": None,
    }
    assert len(await audit(h.svc, "provider.call_completed")) == 1
    assert h.metrics.late_successes == {RECOVERED: 1}

    # redelivered, or sent anew: posted once
    assert (await h.webhooks.redeliver(delivery.webhook_id)).status == 200
    again = await h.post(delivery.body, "msg_payout_again")
    assert (again.status_code, again.json()["outcome"]) == (200, "ALREADY_SETTLED")
    async with h.svc.uow() as uow:
        assert len(await uow.ledger.transactions_for(MX, FIRST)) == 1
    assert await view() == (0, 0, 0, [(FIRST, JobStatus.DONE)])
    run = await run_payouts(h.svc, now=h.clock.now() + timedelta(days=2))
    assert (run.scheduled, run.skipped) == ((), {PayoutDecision.NOTHING_OWED: 1})
    assert h.metrics.late_successes == {RECOVERED: 1}


async def test_a_discard_racing_the_success_never_loses_it(h: Harness) -> None:
    """A job refused for good may be discarded; its provider's success racing the discard
    contradicts the refusal (read first) or the discard (discarded first): told to a person
    once either way, never dropped, never recorded."""
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.refusing = True
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    dead = await job(h.svc, key)
    discard = DiscardDeadLetter(MX, dead.id, "card closed; store credit instead")
    confirmed, discarded = await asyncio.gather(
        h.runner.confirm(key, succeeded=True, provider_reference="re_racing"),
        discard_dead_letter(h.svc, L3, discard),
    )
    final = await job(h.svc, key)
    assert isinstance(discarded, Success) and final.status is JobStatus.DISCARDED
    told = [
        *await audit(h.svc, "provider.success_after_refusal"),
        *await audit(h.svc, "provider.success_after_discard"),
    ]
    assert len(told) == 1
    if confirmed is StepOutcome.CONFIRMED_AFTER_REFUSAL:
        assert final.errors[-1].kind == PROVIDER_SUCCESS_AFTER_REFUSAL
    else:
        assert confirmed is StepOutcome.CONFIRMED_AFTER_DISCARD
        assert final.errors[-1].kind == PROVIDER_LATE_SUCCESS
    assert await audit(h.svc, "saga.recovered_by_confirmation") == []
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}
    assert sum(h.metrics.late_successes.values()) == 1


class DiscardsMidway(SagaRunner):
    """A runner during whose recovery an L3 discards the dead letter: after the confirmation
    read the job DEAD, before it takes it out of the queue."""

    async def _plan(self, job: Job) -> Result[tuple[ExecutionPlan, ExecutionStep], PlanDrift]:
        reason = "card closed; store credit instead"
        (await discard_dead_letter(self.svc, L3, DiscardDeadLetter(MX, job.id, reason))).unwrap()
        return await SagaRunner._plan(self, job)


async def test_a_success_for_a_refused_dead_letter_is_told_and_its_replay_still_takes_a_new_key(
    h: Harness,
) -> None:
    # the provider refused the key (its refusal proved it moved nothing), then says it
    # succeeded: it contradicts itself, so nothing is recovered (the runner never even plans
    # the step: DiscardsMidway would discard it there); the note does not hide the refusal, so
    # an L3's replay still calls on a fresh key
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.refusing = True
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    runner = DiscardsMidway(h.svc, h.runner.providers, metrics=h.metrics)
    confirmed = await runner.confirm(key, succeeded=True, provider_reference="re_after_refusal")
    assert confirmed is StepOutcome.CONFIRMED_AFTER_REFUSAL
    final = await job(h.svc, key)
    assert (final.status, final.errors[-1].kind) == (JobStatus.DEAD, PROVIDER_SUCCESS_AFTER_REFUSAL)
    [entry] = await audit(h.svc, "provider.success_after_refusal")
    assert entry.after is not None and entry.after["provider_reference"] == "re_after_refusal"
    assert await audit(h.svc, "saga.recovered_by_confirmation") == []
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}
    assert await statuses(h.svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    assert h.metrics.late_successes == {("MX", "payments", "CONFIRMED_AFTER_REFUSAL"): 1}
    h.network.refusing = False
    replayed = (await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, final.id))).unwrap()
    assert replayed.provider_key == f"{key}#r1"


class DeadLettersMidway(SagaRunner):
    """A runner during whose recording of a confirmed success the worker's last attempt
    dead-letters the job (its lease had run out): after the confirmation read it WAITING."""

    done: bool = False

    async def _plan(self, job: Job) -> Result[tuple[ExecutionPlan, ExecutionStep], PlanDrift]:
        if not DeadLettersMidway.done:
            DeadLettersMidway.done = True
            async with self.svc.uow() as uow:
                current = await uow.outbox.get(job.id)
            assert current is not None
            await SagaRunner._dead_letter(self, current, "PROVIDER_TRANSIENT", "timeout (the last attempt)")
        return await SagaRunner._plan(self, job)


async def test_a_success_racing_the_workers_last_dead_letter_is_recovered_not_lost(h: Harness) -> None:
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    async with h.svc.uow() as uow:  # a worker holds the step (its call's answer is being lost)
        [claimed] = await uow.outbox.claim(
            worker_id="w1", now=h.clock.now(), lease=timedelta(seconds=30), limit=1
        )
        await uow.commit()
    assert (claimed.provider_key, claimed.status) == (key, JobStatus.RUNNING)
    DeadLettersMidway.done = False
    runner = DeadLettersMidway(h.svc, h.runner.providers, metrics=h.metrics)
    confirmed = await runner.confirm(key, succeeded=True, provider_reference="re_racing")
    assert confirmed is StepOutcome.RECOVERED
    assert (await job(h.svc, key)).status is JobStatus.DONE
    assert await dead_letters(h.svc) == []
    assert len(await audit(h.svc, "saga.recovered_by_confirmation")) == 1


async def payout_waiting(h: Harness) -> None:
    for order_id in ("o1", "o2"):
        await delivered_order(h.svc, order_id)
    h.clock.advance(timedelta(hours=72))
    assert not (await run_tick(h.svc, [CompleteDueOrdersTask()])).failed
    assert len((await run_payouts(h.svc, now=h.clock.now())).scheduled) == 1
    await h.runner.run_once()
    assert (await job(h.svc, FIRST)).status is JobStatus.WAITING


async def payout_event(h: Harness, kind: str, webhook_id: str) -> str:
    data: dict[str, str] = {"id": "po_1", "idempotency_key": FIRST, "country": "MX", "status": kind}
    if kind == "failed":
        data["failure_reason"] = "account_closed"
    answer = await h.post(json.dumps({"type": f"payout.{kind}", "data": data}).encode(), webhook_id)
    return str(answer.json()["outcome"])


@pytest.mark.parametrize("order", ["failed first", "succeeded first"])
async def test_a_payout_paid_then_returned_ends_unpaid_whatever_order_its_webhooks_arrive_in(
    h: Harness, order: str
) -> None:
    # the provider paid the seller, then the bank returned it: webhooks are not ordered, and
    # either way the seller's money stays owed (never recorded as paid) and a person is told
    await payout_waiting(h)
    if order == "failed first":
        assert await payout_event(h, "failed", "w_fail") == "DEAD_LETTERED"
        assert await payout_event(h, "succeeded", "w_ok") == "CONFIRMED_AFTER_REFUSAL"
        assert (await job(h.svc, FIRST)).status is JobStatus.DEAD
        assert len(await audit(h.svc, "provider.success_after_refusal")) == 1
    else:
        assert await payout_event(h, "succeeded", "w_ok") == "COMPLETED"
        assert await payout_event(h, "failed", "w_fail") == "RETURNED"
        assert len(await audit(h.svc, "payout.returned")) == 1
    assert await balance(h.svc, Account.seller_payable("sel_1")) == 2 * PAYOUT


async def test_each_refused_key_the_provider_then_confirms_is_told_once(h: Harness) -> None:
    # the note is written once a key, not once a job: a second refused key the provider then
    # confirms (a second movement of money, perhaps) is told too; the same key again is not
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.refusing = True
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]
    assert await h.runner.confirm(key, succeeded=True, provider_reference="re_k0") is (
        StepOutcome.CONFIRMED_AFTER_REFUSAL
    )
    replayed = (
        await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, (await job(h.svc, key)).id))
    ).unwrap()
    assert await h.runner.drain() == [StepOutcome.DEAD_LETTERED]  # #r1 refused too
    assert await h.runner.confirm(replayed.provider_key, succeeded=True, provider_reference="re_k1") is (
        StepOutcome.CONFIRMED_AFTER_REFUSAL
    )
    # K0, now a replaced key, confirmed again: the same fact, already told
    assert (
        await h.runner.confirm(key, succeeded=True, provider_reference="re_k0") is StepOutcome.ALREADY_SETTLED
    )
    told = await audit(h.svc, "provider.success_after_refusal")
    assert [e.after["provider_reference"] for e in told if e.after is not None] == ["re_k0", "re_k1"]
    assert await audit(h.svc, "provider.success_for_replaced_key") == []
    assert h.metrics.late_successes == {("MX", "payments", "CONFIRMED_AFTER_REFUSAL"): 2}
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}


@pytest.mark.parametrize("order", ["failed first", "succeeded first"])
async def test_a_dead_refund_made_then_returned_ends_owed_to_the_buyer_whatever_order_its_webhooks_arrive_in(
    h: Harness, order: str
) -> None:
    """D136: the refund's every answer was lost (dead, key kept); the provider made it, then
    the bank sent it back. Whatever order the two webhooks arrive in, the buyer's money ends
    held for them (never recorded as refunded and left there), and nothing moves twice."""
    dispute_id, dead = await refund_dead_after_timeouts(h)
    key = refund_key(dispute_id)

    async def event(kind: str, webhook_id: str) -> str:
        data = {"id": "re_1", "idempotency_key": key, "country": "MX", "status": kind}
        if kind == "failed":
            data["failure_reason"] = "card_closed: the card of the buyer was closed"
        answer = await h.post(json.dumps({"type": f"refund.{kind}", "data": data}).encode(), webhook_id)
        return str(answer.json()["outcome"])

    if order == "failed first":
        # the failure for the dead key is the provider's decline of it: noted once, audited
        assert await event("failed", "w_fail") == "DECLINED_AFTER_DEAD_LETTER"
        noted = await job(h.svc, key)
        assert (noted.status, noted.errors[-1].kind) == (JobStatus.DEAD, "PROVIDER_DECLINED")
        assert noted.errors[-1].detail == (
            f"declined by the provider after it was dead-lettered: key {key}: card_closed"
        )
        [declined] = await audit(h.svc, "provider.declined_after_dead_letter")
        assert (declined.target_type, declined.target_id) == ("dispute", dispute_id)
        assert declined.after is not None and declined.after["failure_code"] == "card_closed"
        # so the success that follows contradicts it: told, never recorded as money that moved
        assert await event("succeeded", "w_ok") == "CONFIRMED_AFTER_REFUSAL"
        assert (await job(h.svc, key)).status is JobStatus.DEAD
        assert await ledger_of(h.svc, f"dispute:{dispute_id}/") == {}
        assert await balance(h.svc, Account.escrow("o1")) == T  # held for the buyer, as it is
        assert await statuses(h.svc, dispute_id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
        # a redelivery changes nothing; the L3's replay calls on a fresh key (the old one moved
        # nothing that stayed moved)
        assert await event("failed", "w_fail_again") == "ALREADY_SETTLED"
        assert len(await audit(h.svc, "provider.declined_after_dead_letter")) == 1
        replayed = (await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
        assert replayed.provider_key == f"{key}#r1"
    else:
        assert await event("succeeded", "w_ok") == "RECOVERED"
        assert await event("failed", "w_fail") == "RETURNED"
        await h.run_out()  # the rest of the saga: the refund posted, then posted back
        assert await statuses(h.svc, dispute_id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
        assert sorted(await ledger_of(h.svc, f"dispute:{dispute_id}/")) == [
            f"dispute:{dispute_id}/FULL_REFUND/ledger_refund",
            f"{key}/returned",
        ]
        assert await balance(h.svc, Account.escrow("o1")) == T  # awaiting the L3's re-issue
    assert await balance(h.svc, Account.psp_clearing()) == T
    assert await unbalanced(h.svc) == {}


async def refund_event(h: Harness, key: str, kind: str, webhook_id: str) -> str:
    """The provider's signed ``refund.<kind>`` for ``key`` (a failure names its reason)."""
    data = {"id": "re_1", "idempotency_key": key, "country": "MX", "status": kind}
    if kind == "failed":
        data["failure_reason"] = "card_closed"
    answer = await h.post(json.dumps({"type": f"refund.{kind}", "data": data}).encode(), webhook_id)
    return str(answer.json()["outcome"])


async def test_a_failure_for_a_refund_waiting_for_its_retry_dead_letters_it_as_declined(h: Harness) -> None:
    """D136 review: between two attempts (its answer lost once) the provider says the key
    failed. Dropped, the retry (or a success arriving later) would record the refund the
    provider took back; dead-lettered as its decline, a later success is only told."""
    dispute = await dispute_under_review(h.svc, "o1")
    await decide(h.svc, dispute, OutcomeCode.FULL_REFUND)
    key = refund_key(dispute.id)
    h.network.losing = True
    await h.runner.run_once()
    h.network.losing = False
    assert (await job(h.svc, key)).status is JobStatus.PENDING  # its retry is due later
    assert await refund_event(h, key, "failed", "w_fail") == "DEAD_LETTERED"
    dead = await job(h.svc, key)
    assert (dead.status, dead.errors[-1].kind) == (JobStatus.DEAD, "PROVIDER_DECLINED")
    assert await statuses(h.svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    # the same failure again under another webhook id: it died of it already
    assert await refund_event(h, key, "failed", "w_fail_2") == "ALREADY_SETTLED"
    assert await audit(h.svc, "provider.declined_after_dead_letter") == []
    assert await refund_event(h, key, "succeeded", "w_ok") == "CONFIRMED_AFTER_REFUSAL"
    assert await ledger_of(h.svc, f"dispute:{dispute.id}/") == {}
    assert await balance(h.svc, Account.escrow("o1")) == T
    replayed = (await replay_dead_letter(h.svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert replayed.provider_key == f"{key}#r1"


class RecoveredMidway(SagaRunner):
    """A runner that reads a dead letter, and whose failure for it is noted only after a
    concurrent success (another delivery) recovered the job."""

    async def _declined_when_idle(
        self, job: Job, idempotency_key: str, provider_reference: str, detail: str
    ) -> StepOutcome:
        other = SagaRunner(self.svc, self.providers, metrics=self.metrics)
        assert await other.confirm(idempotency_key, succeeded=True, provider_reference="re_1") is (
            StepOutcome.RECOVERED
        )
        await other.drain()  # the rest of the saga: the refund posted, the dispute resolved
        return await SagaRunner._declined_when_idle(self, job, idempotency_key, provider_reference, detail)


async def test_a_failure_that_loses_the_race_with_the_success_returns_the_refund(h: Harness) -> None:
    dispute_id, _dead = await refund_dead_after_timeouts(h)
    key = refund_key(dispute_id)
    runner = RecoveredMidway(h.svc, h.runner.providers, metrics=h.metrics)
    outcome = await runner.confirm(key, succeeded=False, provider_reference="re_1", detail="card_closed")
    # the note found the job DONE: the failure is the refund's return, posted once
    assert outcome is StepOutcome.RETURNED
    assert f"{key}/returned" in await ledger_of(h.svc, f"dispute:{dispute_id}/")
    assert await balance(h.svc, Account.escrow("o1")) == T
    assert len(await audit(h.svc, "refund.returned")) == 1
    assert await unbalanced(h.svc) == {}
