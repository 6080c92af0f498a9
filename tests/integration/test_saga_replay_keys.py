"""An L3 replay of a declined saga step reaches the provider with a fresh key, and a
notification that fails for good leaves the settled money alone (D83), on SQLite and
PostgreSQL.

The providers here are Stripe-like: the first *answer* to an idempotency key is kept,
a permanent decline included, and asking again with that key answers it again. So a
replay that reused the step's key could never succeed; the replay's key
``<step key>#r<n>`` can, while the ledger posting keeps the step's key and posts once. A
job that died of *transient* failures keeps its key on replay: one of those calls may
have moved the money unseen, and only the same key is sure not to move it twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from returns.result import Failure, Result, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import Services
from application.integrations.dead_letters import (
    ListDeadLetters,
    ReplayDeadLetter,
    list_dead_letters,
    replay_dead_letter,
)
from application.ports.outbox import Job, JobStatus, job_by_provider_key, provider_key, split_provider_key
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.saga.executor import Providers, SagaRunner, StepOutcome
from domain.audit import AuditEntry
from domain.cases.kinds import CaseKind, CaseStatus
from domain.disputes.codes import OutcomeCode
from domain.disputes.status import DisputeStatus
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId, OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L3, MX, MXN, add_policy, decide, dispute_under_review

T, PAYOUT, TAKE = 123_000, 106_000, 17_000


@dataclass
class _Answer:
    receipt: ProviderReceipt | None
    error: ProviderError | None
    confirmed: bool = True

    def result(self) -> Result[ProviderReceipt, ProviderError]:
        if self.error is not None:
            return Failure(self.error)
        assert self.receipt is not None
        return Success(self.receipt)


@dataclass
class StripeLikePayments:
    """Refunds with a provider's memory: the first answer per key is the answer for ever.

    ``declining``: new keys are declined (permanently, remembered). ``timeouts``: new keys
    *succeed* (the money moves) but the caller sees a timeout, and so does every call until
    ``timeouts`` is cleared; afterwards the key answers its success. ``asynchronous``: new
    keys are accepted (``confirmed=False``), settled by ``settle``."""

    name: str = "stripe-like"
    declining: bool = False
    timeouts: bool = False
    asynchronous: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    refunded: dict[str, int] = field(default_factory=dict)  # money actually moved, by key
    _answers: dict[str, _Answer] = field(default_factory=dict)

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        known = self._answers.get(idempotency_key)
        if known is None:
            if self.declining:
                error = ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "card_declined")
                known = _Answer(None, error)
            else:
                receipt = ProviderReceipt(
                    self.name, "refund", idempotency_key, f"re_{idempotency_key}", not self.asynchronous
                )
                known = _Answer(receipt, None, confirmed=not self.asynchronous)
                if not self.asynchronous:
                    self.refunded[idempotency_key] = amount.minor
            self._answers[idempotency_key] = known
        if self.timeouts and known.error is None:
            return Failure(ProviderError(self.name, "refund", ProviderFailureKind.TRANSIENT, "timeout"))
        return known.result()

    def settle(self, key: str, *, succeeded: bool, amount_minor: int) -> None:
        """The asynchronous outcome of an accepted refund (what its webhook says)."""
        answer = self._answers[key]
        assert answer.receipt is not None and not answer.confirmed
        if succeeded:
            self.refunded[key] = amount_minor
            answer.confirmed = True
            answer.receipt = ProviderReceipt(self.name, "refund", key, answer.receipt.reference)
        else:
            answer.error = ProviderError(self.name, "refund", ProviderFailureKind.PERMANENT, "card_declined")


@dataclass
class StripeLikeNotifications:
    """Notices with a provider's memory; ``refusing`` templates are refused for good
    (remembered per key, like an unreachable recipient)."""

    name: str = "stripe-like-notifications"
    refusing: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    sent: dict[str, str] = field(default_factory=dict)
    _refused: set[str] = field(default_factory=set)

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        if idempotency_key not in self.sent and (
            idempotency_key in self._refused or template in self.refusing
        ):
            self._refused.add(idempotency_key)
            return Failure(
                ProviderError(self.name, "notify", ProviderFailureKind.PERMANENT, "http_410: gone")
            )
        self.sent.setdefault(idempotency_key, template)
        return Success(ProviderReceipt(self.name, "notify", idempotency_key, f"msg_{idempotency_key}"))


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    await add_policy(services)
    return services


def keys(dispute_id: str, outcome: OutcomeCode, step: str) -> str:
    return f"dispute:{dispute_id}/{outcome.value}/{step}"


async def balance(svc: Services, account: Account) -> int:
    async with svc.uow() as uow:
        return (await uow.ledger.balance(MX, account, MXN)).normal.minor


async def statuses(svc: Services, dispute_id: str, order_id: str = "o1") -> tuple[DisputeStatus, OrderStatus]:
    async with svc.uow() as uow:
        dispute = await uow.disputes.get(MX, DisputeId(dispute_id))
        order = await uow.orders.get(MX, OrderId(order_id))
    assert dispute is not None and order is not None
    return dispute.status, order.status


async def job(svc: Services, key: str) -> Job:
    async with svc.uow() as uow:
        found = await uow.outbox.by_key(key)
    assert found is not None
    return found


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


async def ledger_of(svc: Services, dispute_id: str) -> dict[str, list[tuple[str, str, int]]]:
    """The dispute's ledger transactions: key -> postings (account, side, minor)."""
    async with svc.uow() as uow:
        transactions = await uow.ledger.transactions_for(MX, f"dispute:{dispute_id}/")
    return {
        t.idempotency_key: [(p.account.name, p.side.value, p.amount.minor) for p in t.postings]
        for t in transactions
    }


def test_provider_keys_are_the_step_key_then_numbered_replays() -> None:
    assert (
        provider_key("dispute:d1/FULL_REFUND/provider_refund", 0) == "dispute:d1/FULL_REFUND/provider_refund"
    )
    assert (
        provider_key("dispute:d1/FULL_REFUND/provider_refund", 2)
        == "dispute:d1/FULL_REFUND/provider_refund#r2"
    )
    assert split_provider_key("dispute:d1/FULL_REFUND/provider_refund#r12") == (
        "dispute:d1/FULL_REFUND/provider_refund",
        12,
    )
    for not_a_replay in ("k", "k#r", "k#r0", "k#r01", "#r1", "k#r-1", "k#r1a", "k#r\u00b2"):
        assert split_provider_key(not_a_replay) is None, not_a_replay


async def test_a_declined_refund_replayed_by_l3_succeeds_on_a_fresh_key_and_posts_once(svc: Services) -> None:
    payments, notices = StripeLikePayments(declining=True), StripeLikeNotifications()
    runner = SagaRunner(svc, Providers(payments, notices), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    refund_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund")
    ledger_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "ledger_refund")

    assert await runner.drain() == [StepOutcome.DEAD_LETTERED]
    assert await statuses(svc, dispute.id) == (DisputeStatus.EXECUTION_FAILED, OrderStatus.DISPUTED)
    assert await balance(svc, Account.escrow("o1")) == T  # held: the money is stuck until a replay

    # the card issue is fixed; the provider still remembers the decline of the step's key
    payments.declining = False
    remembered = await payments.refund(
        idempotency_key=refund_key, country=MX, order_id="o1", amount=Money(T, MXN)
    )
    assert isinstance(remembered, Failure) and remembered.failure().detail == "card_declined"

    dead = await job(svc, refund_key)
    replayed = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert (replayed.status, replayed.provider_key_revision) == (JobStatus.PENDING, 1)
    assert replayed.provider_key == f"{refund_key}#r1"
    assert replayed.idempotency_key == refund_key  # the job (and the ledger) keep the step's key
    [entry] = await audit(svc, "dead_letter.replayed")
    assert entry.after is not None and entry.after["provider_key"] == f"{refund_key}#r1"

    outcomes = await runner.drain()
    assert outcomes == [
        StepOutcome.COMPLETED,
        StepOutcome.COMPLETED,
        StepOutcome.COMPLETED,
        StepOutcome.RESOLVED,
    ]
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert payments.calls == Counter({refund_key: 2, f"{refund_key}#r1": 1})  # 2: the worker's and ours
    assert payments.refunded == {f"{refund_key}#r1": T}  # moved once, on the new key
    assert await ledger_of(svc, dispute.id) == {
        ledger_key: [("escrow:order:o1", "DEBIT", T), ("psp:clearing", "CREDIT", T)]
    }
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == 0

    # the provider call is audited with the key it went out with
    completed = [e.after for e in await audit(svc, "saga.step_completed") if e.after is not None]
    [refund_step] = [a for a in completed if a["step"] == "provider_refund"]
    assert (refund_step["idempotency_key"], refund_step["provider_key"]) == (refund_key, f"{refund_key}#r1")
    [ledger_step] = [a for a in completed if a["step"] == "ledger_refund"]
    assert "provider_key" not in ledger_step

    # running every finished job again changes nothing
    async with svc.uow() as uow:
        jobs = await uow.outbox.jobs_for(MX, f"dispute:{dispute.id}")
    assert {j.status for j in jobs} == {JobStatus.DONE}
    for finished in jobs:
        assert await runner.execute(finished) is StepOutcome.LEASE_LOST
    assert payments.refunded == {f"{refund_key}#r1": T}
    assert len(await ledger_of(svc, dispute.id)) == 1


async def test_a_second_decline_after_a_replay_gets_the_next_key(svc: Services) -> None:
    payments = StripeLikePayments(declining=True)
    runner = SagaRunner(svc, Providers(payments, StripeLikeNotifications()), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.PARTIAL_REFUND, tier=5_000)
    refund_key = keys(dispute.id, OutcomeCode.PARTIAL_REFUND, "provider_refund")
    assert await runner.drain() == [StepOutcome.DEAD_LETTERED]
    job_id = (await job(svc, refund_key)).id

    (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, job_id))).unwrap()
    assert await runner.drain() == [StepOutcome.DEAD_LETTERED]  # declined again, on #r1
    payments.declining = False
    again = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, job_id))).unwrap()
    assert again.provider_key == f"{refund_key}#r2"
    await runner.drain()

    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.PARTIALLY_REFUNDED)
    assert payments.calls == Counter({refund_key: 1, f"{refund_key}#r1": 1, f"{refund_key}#r2": 1})
    assert payments.refunded == {f"{refund_key}#r2": 50_000}
    # R = 50 % of S = 50_000 back to the card: the seller bears 42_500, the platform 7_500;
    # the rest of the escrow is released as usual
    assert await ledger_of(svc, dispute.id) == {
        keys(dispute.id, OutcomeCode.PARTIAL_REFUND, "ledger_refund"): [
            ("escrow:order:o1", "DEBIT", 50_000),
            ("psp:clearing", "CREDIT", 50_000),
        ],
        keys(dispute.id, OutcomeCode.PARTIAL_REFUND, "ledger_release"): [
            ("escrow:order:o1", "DEBIT", T - 50_000),
            ("seller:payable:sel_1", "CREDIT", PAYOUT - 42_500),
            ("platform:revenue:commission", "CREDIT", TAKE - 7_500),
        ],
    }
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == T - 50_000


async def test_a_replay_after_transient_failures_keeps_the_key_so_an_unseen_refund_is_not_repeated(
    svc: Services,
) -> None:
    """The first call moved the money but every answer was lost (timeouts) until the job
    was dead-lettered: a fresh key would refund the buyer twice; the same key gets the
    provider's first answer, the refund it already made."""
    payments = StripeLikePayments(timeouts=True)
    runner = SagaRunner(svc, Providers(payments, StripeLikeNotifications()), worker_id="w1")
    clock = svc.clock
    assert isinstance(clock, FixedClock)
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    refund_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund")
    outcomes: list[StepOutcome] = []
    for _ in range(10):
        outcomes += await runner.run_once()
        clock.advance(timedelta(hours=1))
    assert outcomes[-1] is StepOutcome.DEAD_LETTERED
    assert (await job(svc, refund_key)).errors[-1].kind == "PROVIDER_TRANSIENT"
    assert payments.refunded == {refund_key: T}  # it did happen

    payments.timeouts = False
    replayed = (
        await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, (await job(svc, refund_key)).id))
    ).unwrap()
    assert (replayed.provider_key, replayed.provider_key_revision) == (refund_key, 0)
    await runner.drain()
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert set(payments.calls) == {refund_key}
    assert payments.refunded == {refund_key: T}  # once
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == 0


async def test_an_asynchronous_decline_is_replayed_on_a_fresh_key_and_the_old_key_settles_nothing(
    svc: Services,
) -> None:
    payments = StripeLikePayments(asynchronous=True)
    runner = SagaRunner(svc, Providers(payments, StripeLikeNotifications()), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    refund_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund")
    assert await runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    payments.settle(refund_key, succeeded=False, amount_minor=T)
    declined = await runner.confirm(
        refund_key, succeeded=False, provider_reference="", detail="card_declined"
    )
    assert declined is StepOutcome.DEAD_LETTERED
    assert (await job(svc, refund_key)).errors[-1].kind == "PROVIDER_DECLINED"

    replayed = (
        await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, (await job(svc, refund_key)).id))
    ).unwrap()
    assert replayed.provider_key == f"{refund_key}#r1"
    assert await runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]  # accepted on #r1
    async with svc.uow() as uow:
        found = await job_by_provider_key(uow.outbox, f"{refund_key}#r1")
    assert found is not None and found.id == replayed.id

    # a late (redelivered) answer to the replaced key settles nothing
    late = await runner.confirm(refund_key, succeeded=False, provider_reference="", detail="card_declined")
    assert late is StepOutcome.ALREADY_SETTLED
    assert (await job(svc, refund_key)).status is JobStatus.WAITING

    payments.settle(f"{refund_key}#r1", succeeded=True, amount_minor=T)
    settled = await runner.confirm(
        f"{refund_key}#r1", succeeded=True, provider_reference=f"re_{refund_key}#r1"
    )
    assert settled is StepOutcome.COMPLETED
    await runner.drain()
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert payments.refunded == {f"{refund_key}#r1": T}
    assert list(await ledger_of(svc, dispute.id)) == [
        keys(dispute.id, OutcomeCode.FULL_REFUND, "ledger_refund")
    ]
    assert await balance(svc, Account.escrow("o1")) == 0
    # confirming again (a duplicate webhook) changes nothing
    again = await runner.confirm(f"{refund_key}#r1", succeeded=True, provider_reference="x")
    assert again is StepOutcome.ALREADY_SETTLED


async def test_a_notice_that_fails_for_good_leaves_the_refunded_order_and_resolved_dispute(
    svc: Services,
) -> None:
    payments = StripeLikePayments()
    notices = StripeLikeNotifications(refusing={"outcome.full_refund.buyer"})
    runner = SagaRunner(svc, Providers(payments, notices), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    buyer_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "notify_buyer")
    seller_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "notify_seller")

    outcomes = await runner.drain()
    # refund, ledger (the dispute settles here), the buyer's notice dies, the seller's goes
    assert outcomes == [
        StepOutcome.COMPLETED,
        StepOutcome.COMPLETED,
        StepOutcome.DEAD_LETTERED,
        StepOutcome.RESOLVED,
    ]
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert payments.refunded == {keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund"): T}
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.psp_clearing()) == 0
    assert set(notices.sent) == {seller_key}
    async with svc.uow() as uow:
        [case] = await uow.cases.for_subject(MX, CaseKind.DISPUTE, dispute.id)
    assert case.state.status is CaseStatus.RESOLVED
    [dead] = (await list_dead_letters(svc, L3, ListDeadLetters(MX))).unwrap().items
    assert (dead.idempotency_key, dead.errors[-1].kind) == (buyer_key, "PROVIDER_PERMANENT")
    [resolved] = await audit(svc, "dispute.resolved")
    assert resolved.after == {"status": "RESOLVED", "order_status": "REFUNDED"}

    # the L3 fixes the buyer's contact and replays: a fresh key, the dispute is left alone
    notices.refusing.clear()
    replayed = (await replay_dead_letter(svc, L3, ReplayDeadLetter(MX, dead.id))).unwrap()
    assert replayed.provider_key == f"{buyer_key}#r1"
    [entry] = await audit(svc, "dead_letter.replayed")
    assert entry.after is not None
    assert (entry.after["dispute_status"], await audit(svc, "dispute.replayed")) == ("RESOLVED", [])
    assert await runner.drain() == [StepOutcome.COMPLETED]
    assert notices.sent == {
        seller_key: "outcome.full_refund.seller",
        f"{buyer_key}#r1": "outcome.full_refund.buyer",
    }
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, OrderStatus.REFUNDED)
    assert len(await audit(svc, "dispute.resolved")) == 1  # settled once
    assert payments.refunded == {keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund"): T}
    assert len(await ledger_of(svc, dispute.id)) == 1


@pytest.mark.parametrize(
    ("outcome", "final"),
    [(OutcomeCode.REJECTED, OrderStatus.COMPLETED), (OutcomeCode.STORE_CREDIT, OrderStatus.COMPLETED)],
)
async def test_the_order_reaches_its_final_status_with_the_last_money_step(
    svc: Services, outcome: OutcomeCode, final: OrderStatus
) -> None:
    """Both notices fail for good: the escrow is released and the order completed anyway."""
    notices = StripeLikeNotifications(
        refusing={f"outcome.{outcome.value.lower()}.buyer", f"outcome.{outcome.value.lower()}.seller"}
    )
    runner = SagaRunner(svc, Providers(StripeLikePayments(), notices), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, outcome)
    outcomes = await runner.drain()
    assert outcomes[-2:] == [StepOutcome.DEAD_LETTERED, StepOutcome.DEAD_LETTERED]
    assert await statuses(svc, dispute.id) == (DisputeStatus.RESOLVED, final)
    assert await balance(svc, Account.escrow("o1")) == 0
    assert await balance(svc, Account.seller_payable("sel_1")) == PAYOUT
    assert await balance(svc, Account.commission_revenue()) == TAKE
    assert notices.sent == {}
    dead = (await list_dead_letters(svc, L3, ListDeadLetters(MX))).unwrap().items
    assert sorted(j.payload["step"] for j in dead) == ["notify_buyer", "notify_seller"]


async def test_a_declines_free_text_reaches_the_records_without_personal_data(svc: Services) -> None:
    # D133: the provider's reason is free text; the job's history, the dispute's last error and
    # the audit log (never erased) keep it without the e-mail and the phone it may quote
    payments = StripeLikePayments(asynchronous=True)
    runner = SagaRunner(svc, Providers(payments, StripeLikeNotifications()), worker_id="w1")
    dispute = await dispute_under_review(svc, "o1")
    await decide(svc, dispute, OutcomeCode.FULL_REFUND)
    refund_key = keys(dispute.id, OutcomeCode.FULL_REFUND, "provider_refund")
    assert await runner.drain() == [StepOutcome.AWAITING_CONFIRMATION]
    reason = "card_declined for jane.doe@gmail.com, call +52 55 1234 5678 (HTTP 402)"
    declined = await runner.confirm(refund_key, succeeded=False, provider_reference="", detail=reason)
    assert declined is StepOutcome.DEAD_LETTERED

    expected = "card_declined for [REDACTED:EMAIL], call [REDACTED:NUMBER] (HTTP 402)"
    assert (await job(svc, refund_key)).errors[-1].detail == expected
    [dead] = await audit(svc, "saga.dead_lettered")
    assert dead.after is not None and dead.after["detail"] == expected
    async with svc.uow() as uow:
        failed = await uow.disputes.get(MX, DisputeId(dispute.id))
    assert failed is not None and failed.last_execution_error == f"PROVIDER_DECLINED: {expected}"
