"""Outcome -> execution plan: exact amounts for each outcome, and the books after it."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from domain.disputes.codes import OutcomeCode
from domain.disputes.errors import (
    PartialRefundTierForbidden,
    PartialRefundTierNotInPolicy,
    PartialRefundTierRequired,
)
from domain.disputes.outcomes import (
    CreateReplacementOrder,
    EscrowState,
    ExecutionPlan,
    Notify,
    OrderResolution,
    PostLedger,
    ProviderRefund,
    StepKind,
    StepTrigger,
    plan_execution,
    step_key,
)
from domain.ledger import Account, LedgerBook, TransactionKind, rules
from domain.shared import Currency, Money
from domain.snapshots import OrderSnapshot
from tests.strategies import snapshot

MXN = Currency.of("MXN")
REF = "dispute:dsp_1"


def plan(
    s: OrderSnapshot, outcome: OutcomeCode, tier: int | None = None, escrow: EscrowState = EscrowState.HELD
) -> ExecutionPlan:
    result = plan_execution(reference=REF, snapshot=s, outcome=outcome, tier_bp=tier, escrow=escrow)
    return result.unwrap()


def run(s: OrderSnapshot, p: ExecutionPlan, *, released: bool = False) -> LedgerBook:
    book = LedgerBook()
    book.post(rules.capture(s, "cap")).unwrap()
    if released:
        book.post(rules.release(s, "rel")).unwrap()
    for txn in p.ledger_transactions():
        assert isinstance(book.post(txn), Success)
    assert book.total_by_currency() == {s.currency.code: 0}
    return book


def bal(book: LedgerBook, account: Account) -> int:
    return book.balance(account, MXN).normal.minor


S = snapshot(
    items=100_000, delivery=5_000, service=2_000, tax=16_000, commission_bp=1_500, goodwill_minor=10_000
)
# T = 123_000, commission 15_000, platform take 17_000, seller payout 106_000.


def test_full_refund_held() -> None:
    p = plan(S, OutcomeCode.FULL_REFUND)
    assert [s.name for s in p.steps] == ["provider_refund", "ledger_refund", "notify_buyer", "notify_seller"]
    assert p.steps[0].action == ProviderRefund("ord_1", "buy_1", Money(123_000, MXN))
    assert p.refund_to_card == Money(123_000, MXN)
    assert p.order_resolution is OrderResolution.REFUNDED
    book = run(S, p)
    assert bal(book, Account.escrow("ord_1")) == 0
    assert bal(book, Account.psp_clearing()) == 0
    assert bal(book, Account.seller_payable("sel_1")) == 0
    assert bal(book, Account.commission_revenue()) == 0


def test_full_refund_after_release_claws_back() -> None:
    p = plan(S, OutcomeCode.FULL_REFUND, escrow=EscrowState.RELEASED)
    assert [s.name for s in p.steps] == [
        "provider_refund",
        "ledger_clawback",
        "notify_buyer",
        "notify_seller",
    ]
    book = run(S, p, released=True)
    assert bal(book, Account.seller_receivable("sel_1")) == 106_000
    assert bal(book, Account.seller_payable("sel_1")) == 106_000  # still owed until netted
    assert bal(book, Account.commission_revenue()) == 0  # commission reversed
    assert bal(book, Account.psp_clearing()) == 0
    assert p.ledger_transactions()[0].kind is TransactionKind.CLAWBACK


@pytest.mark.parametrize(
    ("tier", "refund", "seller_bears", "platform_bears"),
    [(2_500, 25_000, 21_250, 3_750), (5_000, 50_000, 42_500, 7_500)],
)
def test_partial_refund_held(tier: int, refund: int, seller_bears: int, platform_bears: int) -> None:
    p = plan(S, OutcomeCode.PARTIAL_REFUND, tier)
    assert [s.name for s in p.steps] == [
        "provider_refund",
        "ledger_refund",
        "ledger_release",
        "notify_buyer",
        "notify_seller",
    ]
    assert (p.refund_to_card.minor, p.seller_bears.minor, p.platform_bears.minor) == (
        refund,
        seller_bears,
        platform_bears,
    )
    assert p.order_resolution is OrderResolution.PARTIALLY_REFUNDED
    book = run(S, p)
    assert bal(book, Account.escrow("ord_1")) == 0
    assert bal(book, Account.seller_payable("sel_1")) == 106_000 - seller_bears
    assert bal(book, Account.commission_revenue()) == 17_000 - platform_bears
    assert bal(book, Account.psp_clearing()) == 123_000 - refund


def test_partial_refund_after_release() -> None:
    p = plan(S, OutcomeCode.PARTIAL_REFUND, 2_500, EscrowState.RELEASED)
    book = run(S, p, released=True)
    assert bal(book, Account.seller_receivable("sel_1")) == 21_250
    assert bal(book, Account.commission_revenue()) == 17_000 - 3_750
    assert bal(book, Account.psp_clearing()) == 123_000 - 25_000


def test_partial_refund_with_a_seller_funded_discount_larger_than_the_share() -> None:
    # The seller's remaining share goes negative: it becomes a receivable, not a negative posting.
    s = snapshot(items=10_000, delivery=0, service=0, tax=0, discount=7_000, commission_bp=1_000)
    # T = 3_000, take 1_000, payout 2_000; 50 % tier: R = 3_000 (capped at T); seller bears 2_700.
    p = plan(s, OutcomeCode.PARTIAL_REFUND, 5_000)
    assert p.refund_to_card.minor == 3_000
    book = run(s, p)
    assert bal(book, Account.escrow("ord_1")) == 0
    assert bal(book, Account.seller_receivable("sel_1")) == 700
    assert bal(book, Account.commission_revenue()) == 700


def test_store_credit_releases_and_credits_the_policy_amount() -> None:
    p = plan(S, OutcomeCode.STORE_CREDIT)
    assert [s.name for s in p.steps] == [
        "ledger_store_credit",
        "ledger_release",
        "notify_buyer",
        "notify_seller",
    ]
    assert p.store_credit == Money(10_000, MXN)
    assert p.refund_to_card.is_zero
    book = run(S, p)
    assert bal(book, Account.buyer_credit("buy_1")) == 10_000
    assert bal(book, Account.goodwill_expense()) == 10_000
    assert bal(book, Account.seller_payable("sel_1")) == 106_000


def test_store_credit_is_capped_at_the_total_charged() -> None:
    s = snapshot(items=500, delivery=0, service=0, tax=0, goodwill_minor=10_000)
    assert plan(s, OutcomeCode.STORE_CREDIT).store_credit == Money(500, MXN)


def test_zero_goodwill_issues_no_credit_step() -> None:
    s = snapshot(goodwill_minor=0)
    p = plan(s, OutcomeCode.STORE_CREDIT)
    assert "ledger_store_credit" not in [st.name for st in p.steps]


def test_replacement_defers_the_release_to_the_replacements_delivery() -> None:
    p = plan(S, OutcomeCode.REPLACEMENT)
    assert p.steps[0].action == CreateReplacementOrder("ord_1", "buy_1", "sel_1")
    release = next(st for st in p.steps if st.name == "ledger_release")
    assert release.trigger is StepTrigger.ON_REPLACEMENT_DELIVERED
    assert release not in p.immediate_steps()
    assert p.order_resolution is OrderResolution.AWAITING_REPLACEMENT
    assert p.refund_to_card.is_zero


def test_rejected_releases_as_usual() -> None:
    p = plan(S, OutcomeCode.REJECTED)
    assert [s.name for s in p.steps] == ["ledger_release", "notify_buyer", "notify_seller"]
    book = run(S, p)
    assert bal(book, Account.seller_payable("sel_1")) == 106_000
    assert bal(book, Account.commission_revenue()) == 17_000


def test_force_complete_releases_recorded_as_forced() -> None:
    result = plan_execution(reference="order:ord_1", snapshot=S, outcome=OutcomeCode.FORCE_COMPLETE)
    p = result.unwrap()
    txn = p.ledger_transactions()[0]
    assert txn.kind is TransactionKind.FORCED_RELEASE
    assert txn.idempotency_key == "order:ord_1/FORCE_COMPLETE/ledger_release"
    assert p.order_resolution is OrderResolution.FORCE_COMPLETED


def test_rejected_after_release_moves_no_money() -> None:
    p = plan(S, OutcomeCode.REJECTED, escrow=EscrowState.RELEASED)
    assert p.ledger_transactions() == ()
    assert all(isinstance(s.action, Notify) for s in p.steps)


def test_tier_rules() -> None:
    assert plan_execution(reference=REF, snapshot=S, outcome=OutcomeCode.PARTIAL_REFUND) == Failure(
        PartialRefundTierRequired()
    )
    bad = plan_execution(reference=REF, snapshot=S, outcome=OutcomeCode.PARTIAL_REFUND, tier_bp=3_000)
    assert bad == Failure(PartialRefundTierNotInPolicy(3_000, (2_500, 5_000)))
    extra = plan_execution(reference=REF, snapshot=S, outcome=OutcomeCode.FULL_REFUND, tier_bp=2_500)
    assert extra == Failure(PartialRefundTierForbidden(OutcomeCode.FULL_REFUND, 2_500))


@pytest.mark.parametrize("outcome", list(OutcomeCode))
def test_keys_derive_from_reference_outcome_and_step(outcome: OutcomeCode) -> None:
    tier = 2_500 if outcome is OutcomeCode.PARTIAL_REFUND else None
    p = plan(S, outcome, tier)
    keys = [s.idempotency_key for s in p.steps]
    assert len(set(keys)) == len(keys)
    for step in p.steps:
        assert step.idempotency_key == step_key(REF, outcome, step.name)
        if isinstance(step.action, PostLedger):
            assert step.action.transaction.idempotency_key == step.idempotency_key
    assert [s.index for s in p.steps] == list(range(1, len(p.steps) + 1))
    assert p.steps[-1].kind is StepKind.NOTIFICATION


def test_the_fingerprint_is_kept_per_plan_and_not_part_of_equality() -> None:
    a, b = plan(S, OutcomeCode.FULL_REFUND), plan(S, OutcomeCode.FULL_REFUND)
    assert a.fingerprint() == a.fingerprint()
    assert a == b and a.fingerprint() == b.fingerprint()
    other = plan(S, OutcomeCode.PARTIAL_REFUND, 2_500)
    assert other.fingerprint() != a.fingerprint()


def test_same_inputs_give_an_identical_plan() -> None:
    a = plan(S, OutcomeCode.PARTIAL_REFUND, 5_000)
    b = plan(S, OutcomeCode.PARTIAL_REFUND, 5_000)
    assert a == b
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != plan(S, OutcomeCode.PARTIAL_REFUND, 2_500).fingerprint()


def test_zero_decimal_currency_partial_refund() -> None:
    s = snapshot(country="CL", currency="CLP", items=3, delivery=0, service=0, tax=0, commission_bp=5_000)
    # R = round(3 × 0.5) = round(1.5) = 2 CLP; seller bears round(2 × 0.5) = 1.
    p = plan_execution(reference=REF, snapshot=s, outcome=OutcomeCode.PARTIAL_REFUND, tier_bp=5_000).unwrap()
    assert (p.refund_to_card.minor, p.seller_bears.minor, p.platform_bears.minor) == (2, 1, 1)


def test_partial_refund_that_takes_everything_leaves_nothing_to_release() -> None:
    # T = 400 after a seller-funded discount; a 50 % tier of S (500) is capped at T.
    s = snapshot(items=1_000, delivery=0, service=0, tax=0, discount=600, commission_bp=0)
    p = plan(s, OutcomeCode.PARTIAL_REFUND, 5_000)
    assert p.refund_to_card.minor == 400
    assert [st.name for st in p.steps] == [
        "provider_refund",
        "ledger_refund",
        "notify_buyer",
        "notify_seller",
    ]
    book = run(s, p)
    assert bal(book, Account.escrow("ord_1")) == 0
