"""Deciding a dispute and executing its plan through the outbox, on SQLite and PostgreSQL.

Money is checked to the minor unit. Providers are in-memory fakes that count calls per
idempotency key; the point is that retries and re-runs never move money twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.disputes.use_cases import (
    DecideDispute,
    OpenDispute,
    StartReview,
    WithdrawDispute,
    _decide,
    decide_dispute,
    open_dispute,
    start_review,
    withdraw_dispute,
)
from application.orders.use_cases import (
    CapturePayment,
    CompleteDueOrders,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    complete_due_orders,
    create_order,
    transition_order,
)
from application.ports.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused
from application.ports.outbox import JobStatus
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome, replacement_order_id
from domain.audit import AuditEntry
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.errors import PartialRefundTierNotInPolicy
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared.ids import BuyerId, DisputeId, OrderId, SellerId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import (
    L1,
    L2,
    MX,
    MXN,
    SYSTEM,
    add_policy,
    decide,
    delivered_order,
    dispute_under_review,
)

T, PAYOUT, TAKE = 123_000, 106_000, 17_000


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


@pytest.fixture
def notifications() -> FakeNotifications:
    return FakeNotifications()


@pytest.fixture
def runner(svc: Services, payments: FakePayments, notifications: FakeNotifications) -> SagaRunner:
    return SagaRunner(svc, Providers(payments, notifications), worker_id="w1")


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def dispute_status(svc: Services, dispute_id: str) -> DisputeStatus:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
        assert dispute is not None
        return dispute.status


async def order_status(svc: Services, order_id: str) -> OrderStatus:
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
        assert order is not None
        return order.status


async def test_full_refund_end_to_end(svc: Services, runner: SagaRunner, payments: FakePayments) -> None:
    dispute = await dispute_under_review(svc, "o1")
    receipt = await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    assert receipt.status == "DECIDED"
    assert receipt.refund_to_card_minor == T
    assert await balance(svc, Account.escrow("o1")) == T  # nothing moved yet

    outcomes = await runner.drain()
    assert outcomes == [StepOutcome.COMPLETED] * 3 + [StepOutcome.RESOLVED]
    assert await dispute_status(svc, dispute.id) is DisputeStatus.RESOLVED
    assert await order_status(svc, "o1") is OrderStatus.REFUNDED
    assert payments.total_refunded_minor == T
    assert set(payments.calls.values()) == {1}
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == 0


@pytest.mark.parametrize(
    ("outcome", "tier", "order_final", "escrow", "payable", "revenue", "clearing", "credit"),
    [
        (
            OutcomeCode.PARTIAL_REFUND,
            2_500,
            OrderStatus.PARTIALLY_REFUNDED,
            0,
            PAYOUT - 21_250,
            TAKE - 3_750,
            T - 25_000,
            0,
        ),
        (
            OutcomeCode.PARTIAL_REFUND,
            5_000,
            OrderStatus.PARTIALLY_REFUNDED,
            0,
            PAYOUT - 42_500,
            TAKE - 7_500,
            T - 50_000,
            0,
        ),
        (OutcomeCode.STORE_CREDIT, None, OrderStatus.COMPLETED, 0, PAYOUT, TAKE, T, 10_000),
        (OutcomeCode.REJECTED, None, OrderStatus.COMPLETED, 0, PAYOUT, TAKE, T, 0),
        (OutcomeCode.REPLACEMENT, None, OrderStatus.DISPUTED, T, 0, 0, T, 0),
    ],
)
async def test_each_outcome_moves_exactly_its_money(
    svc: Services,
    runner: SagaRunner,
    outcome: OutcomeCode,
    tier: int | None,
    order_final: OrderStatus,
    escrow: int,
    payable: int,
    revenue: int,
    clearing: int,
    credit: int,
) -> None:
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, outcome, tier=tier)
    await runner.drain()
    assert await dispute_status(svc, dispute.id) is DisputeStatus.RESOLVED
    assert await order_status(svc, "o1") is order_final
    assert await balance(svc, Account.escrow("o1")) == escrow
    assert await balance(svc, Account.seller_payable("sel_1")) == payable
    assert await balance(svc, Account.commission_revenue()) == revenue
    assert await balance(svc, Account.psp_clearing()) == clearing
    assert await balance(svc, Account.buyer_credit("buy_1")) == credit
    if outcome is OutcomeCode.REPLACEMENT:
        async with svc.uow() as uow:
            replacement = await uow.orders.get(MX, replacement_order_id("o1"))
        # linked and already PAID (nothing charged: no capture posting); the original stays
        # on its hold, escrow held, until the replacement is delivered
        # (tests/integration/test_replacement_orders.py carries it on to the release)
        assert replacement is not None
        assert (replacement.status, replacement.replaces) == (OrderStatus.PAID, "o1")
        assert await balance(svc, Account.escrow(replacement.id)) == 0


async def test_rerunning_every_step_changes_nothing(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.PARTIAL_REFUND, tier=5_000)
    await runner.drain()
    async with svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
        transactions = await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")
    assert [j.status for j in jobs] == [JobStatus.DONE] * len(jobs)
    # Re-executing every finished job (as a duplicate delivery would) moves nothing.
    for job in jobs:
        assert await runner.execute(job) in (StepOutcome.LEASE_LOST,)
    async with svc.uow() as uow:
        again = await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")
    assert again == transactions
    assert payments.total_refunded_minor == 50_000


async def test_transient_failures_are_retried_with_backoff(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    payments.fail_next = [ProviderFailureKind.TRANSIENT, ProviderFailureKind.TRANSIENT]
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    assert await runner.run_once() == [StepOutcome.RETRY_SCHEDULED]
    assert await runner.run_once() == []  # not due yet: backoff
    clock.advance(timedelta(minutes=10))
    assert await runner.run_once() == [StepOutcome.RETRY_SCHEDULED]
    clock.advance(timedelta(minutes=10))
    await runner.drain()
    assert await dispute_status(svc, dispute.id) is DisputeStatus.RESOLVED
    refund_key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert payments.calls[refund_key] == 3
    assert payments.total_refunded_minor == T
    async with svc.uow() as uow:
        job = await uow.outbox.by_key(refund_key)
    assert job is not None
    assert len(job.errors) == 2


async def test_permanent_failure_dead_letters_and_fails_the_execution(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    payments.fail_always = ProviderFailureKind.PERMANENT
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    assert await runner.drain() == [StepOutcome.DEAD_LETTERED]
    assert await dispute_status(svc, dispute.id) is DisputeStatus.EXECUTION_FAILED
    assert sum(payments.calls.values()) == 1  # a decline is not retried
    assert await balance(svc, Account.escrow("o1")) == T  # the money is still held
    # The declined call is audited like any external call (SPEC §7), next to the dead letter.
    async with svc.uow() as uow:
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    failed = [e for e in entries if e.action == "provider.call_failed"]
    assert len(failed) == 1 and failed[0].after is not None
    call = dict(failed[0].after)
    assert isinstance(call.pop("latency_ms"), int)
    assert call == {
        "step": "provider_refund",
        "idempotency_key": f"dispute:{dispute.id}/FULL_REFUND/provider_refund",
        "provider": "fake-payments",
        "operation": "refund",
        "outcome": "PERMANENT",
    }
    assert [e.action for e in entries][-2:] == ["provider.call_failed", "saga.dead_lettered"]


async def test_transient_failures_past_max_attempts_dead_letter(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    payments.fail_always = ProviderFailureKind.TRANSIENT
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    outcomes: list[StepOutcome] = []
    for _ in range(20):
        outcomes += await runner.run_once()
        clock.advance(timedelta(hours=1))
    assert outcomes == [StepOutcome.RETRY_SCHEDULED] * 7 + [StepOutcome.DEAD_LETTERED]
    assert sum(payments.calls.values()) == 8  # exactly max_attempts calls
    assert await dispute_status(svc, dispute.id) is DisputeStatus.EXECUTION_FAILED


async def test_decide_is_idempotent_per_key(svc: Services, runner: SagaRunner) -> None:
    dispute = await dispute_under_review(svc, "o1")
    first = await decide(svc, dispute, OutcomeCode.FULL_REFUND, key="same")
    replay = await decide(svc, dispute, OutcomeCode.FULL_REFUND, key="same")
    assert replay == first
    conflict = await decide_dispute(
        svc,
        L2,
        DecideDispute(
            MX, dispute.id, OutcomeCode.REJECTED, DecisionReasonCode.EVIDENCE_SUPPORTS_SELLER, "same"
        ),
    )
    assert conflict == Failure(IdempotencyKeyReused("same"))
    async with svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
    assert len(jobs) == 1


async def test_a_failed_validation_stores_nothing_and_the_key_can_be_reused(svc: Services) -> None:
    dispute = await dispute_under_review(svc, "o1")
    bad = await decide_dispute(
        svc,
        L2,
        DecideDispute(
            MX, dispute.id, OutcomeCode.PARTIAL_REFUND, DecisionReasonCode.EVIDENCE_SUPPORTS_BUYER, "k", 3_000
        ),
    )
    assert isinstance(bad, Failure)
    assert isinstance(bad.failure(), PartialRefundTierNotInPolicy)
    assert await dispute_status(svc, dispute.id) is DisputeStatus.UNDER_REVIEW
    good = await decide(svc, dispute, OutcomeCode.PARTIAL_REFUND, key="k", tier=2_500)
    assert good.refund_to_card_minor == 25_000


async def test_withdrawal_releases_the_escrow_once(svc: Services) -> None:
    dispute = await dispute_under_review(svc, "o1")
    withdrawn = await withdraw_dispute(svc, L2, WithdrawDispute(MX, dispute.id, "buyer found the parcel"))
    assert withdrawn.unwrap().status is DisputeStatus.WITHDRAWN
    assert await order_status(svc, "o1") is OrderStatus.COMPLETED
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.escrow("o1")) == 0
    # the audit entry says what the withdrawal released, under which ledger key, and which
    # pack it froze (D86): support withdraws only on the buyer's behalf, so it is read back
    async with svc.uow() as uow:
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    (entry,) = [e for e in entries if e.action == "dispute.withdrawn"]
    after = entry.after or {}
    assert (after["escrow_released_minor"], after["seller_payout_minor"], after["currency"]) == (
        PAYOUT + TAKE,
        PAYOUT,
        "MXN",
    )
    assert after["ledger_key"] == f"dispute:{dispute.id}/WITHDRAWN/ledger_release"
    assert after["withdrawn_by_role"] == "L2" and len(str(after["evidence_pack_hash"])) == 64
    assert entry.actor_role == "L2"


async def test_orders_complete_when_the_window_closes_and_release_once(svc: Services) -> None:
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    await delivered_order(svc, "o1")
    await delivered_order(svc, "o2")
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap() == []
    clock.advance(timedelta(hours=72))
    done = (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap()
    assert sorted(done) == ["o1", "o2"]
    assert (await complete_due_orders(svc, SYSTEM, CompleteDueOrders(MX))).unwrap() == []
    assert await balance(svc, Account.seller_payable("sel_1")) == 2 * PAYOUT
    assert await balance(svc, Account.commission_revenue()) == 2 * TAKE


async def test_a_rollback_leaves_no_change_no_job_and_no_audit_entry(svc: Services) -> None:
    dispute = await dispute_under_review(svc, "o1")

    class Boom(Exception):
        pass

    async with svc.uow() as uow:
        before = [e async for e in uow.audit.entries()]

    async def failing_command() -> None:
        async with svc.uow() as uow:
            loaded = await uow.disputes.get(MX, dispute.id)
            assert loaded is not None
            result = await _decide(
                uow,
                svc,
                L2,
                DecideDispute(MX, dispute.id, OutcomeCode.FULL_REFUND, DecisionReasonCode.GOODWILL, "x"),
            )
            assert not isinstance(result, Failure)
            raise Boom  # before commit

    with pytest.raises(Boom):
        await failing_command()
    assert await dispute_status(svc, dispute.id) is DisputeStatus.UNDER_REVIEW
    async with svc.uow() as uow:
        assert await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}") == []
        after = [e async for e in uow.audit.entries()]
    assert after == before


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_fifty_concurrent_identical_decides_make_one_decision(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    dispute = await dispute_under_review(svc, "o1")
    command = DecideDispute(
        MX, dispute.id, OutcomeCode.FULL_REFUND, DecisionReasonCode.EVIDENCE_SUPPORTS_BUYER, "one-key"
    )
    results = await asyncio.gather(*(decide_dispute(svc, L2, command) for _ in range(50)))
    successes = [r.unwrap() for r in results if not isinstance(r, Failure)]
    failures = [r.failure() for r in results if isinstance(r, Failure)]
    assert successes, "at least the first request succeeds"
    assert all(s == successes[0] for s in successes)
    assert all(isinstance(f, IdempotencyKeyInFlight) for f in failures)
    async with svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
        decided = [e async for e in uow.audit.entries() if e.action == "dispute.decided"]  # type: ignore[union-attr]
    assert len(jobs) == 1
    assert len(decided) == 1
    await runner.drain()
    async with svc.uow() as uow:
        postings = await uow.ledger.transactions_for(MX, f"dispute:{dispute.id}/")
    assert len(postings) == 1
    assert payments.total_refunded_minor == T


async def test_a_partial_refund_of_the_whole_charge_is_decided_and_executed_as_a_full_refund(
    svc: Services, runner: SagaRunner, payments: FakePayments
) -> None:
    # D134: S 100_000, service fee 4_000, discount 60_000: T = 44_000, below 50 % of S. The
    # partial refund is capped at T, the whole charge: decided as a full refund, so the seller
    # does not end up owing the platform's fee on an order the buyer got back entirely
    order_id = OrderId("o_disc")
    (
        await create_order(svc, SYSTEM, CreateOrder(MX, BuyerId("buy_1"), SellerId("sel_1"), None, order_id))
    ).unwrap()
    (
        await capture_payment(
            svc, SYSTEM, CapturePayment(MX, order_id, MXN, 100_000, 0, 4_000, 0, 60_000, 1_500)
        )
    ).unwrap()
    for status in (
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
    ):
        (await transition_order(svc, SYSTEM, TransitionOrder(MX, order_id, status))).unwrap()
    opened = (
        await open_dispute(svc, L1, OpenDispute(MX, order_id, DisputeReason.DAMAGED, "Broken"))
    ).unwrap()
    dispute = (await start_review(svc, L1, StartReview(MX, opened.id))).unwrap()

    receipt = await decide(svc, dispute, OutcomeCode.PARTIAL_REFUND, tier=5_000)
    assert (receipt.outcome, receipt.refund_to_card_minor) == ("FULL_REFUND", 44_000)
    # the answer says what was asked for too
    assert (receipt.requested_outcome, receipt.requested_tier_bp) == ("PARTIAL_REFUND", 5_000)
    # the same request again (same key): the same answer, nothing decided twice
    assert await decide(svc, dispute, OutcomeCode.PARTIAL_REFUND, tier=5_000) == receipt
    async with svc.uow() as uow:
        decided = await uow.disputes.get(MX, dispute.id)
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    assert decided is not None and decided.decision is not None
    assert (decided.decision.outcome, decided.decision.partial_refund_tier_bp) == (
        OutcomeCode.FULL_REFUND,
        None,
    )
    [entry] = [e for e in entries if e.action == "dispute.decided"]
    assert entry.after is not None
    assert (entry.after["requested_outcome"], entry.after["requested_tier_bp"]) == ("PARTIAL_REFUND", 5_000)

    await runner.drain()
    assert await order_status(svc, "o_disc") is OrderStatus.REFUNDED
    assert payments.total_refunded_minor == 44_000
    assert await balance(svc, Account.escrow("o_disc")) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == 0
    assert await balance(svc, Account.seller_receivable("sel_1")) == 0
    assert await balance(svc, Account.commission_revenue()) == 0
