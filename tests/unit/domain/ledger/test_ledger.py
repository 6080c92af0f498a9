from __future__ import annotations

import pytest
from returns.result import Failure, Success

from domain.ledger import (
    Account,
    AccountKind,
    AlreadyPosted,
    BalanceSnapshot,
    EscrowOverdrawn,
    LedgerBook,
    LedgerTransaction,
    MalformedTransaction,
    Posted,
    Posting,
    PostingLine,
    Side,
    TransactionKind,
    UnbalancedTransaction,
    balance_from,
    rules,
)
from domain.shared import CountryCode, Currency, InvariantViolation, Money
from tests.strategies import snapshot

MXN = Currency.of("MXN")
MX = CountryCode("MX")


def m(minor: int) -> Money:
    return Money(minor, MXN)


def test_account_names_and_kinds() -> None:
    assert Account.psp_clearing().kind is AccountKind.ASSET
    assert Account.escrow("o1").kind is AccountKind.LIABILITY
    assert Account.seller_payable("s1").kind is AccountKind.LIABILITY
    assert Account.seller_receivable("s1").kind is AccountKind.ASSET
    assert Account.commission_revenue().kind is AccountKind.REVENUE
    assert Account.goodwill_expense().kind is AccountKind.EXPENSE
    assert Account.buyer_credit("b1").kind is AccountKind.LIABILITY
    assert Account.escrow("o1").name == "escrow:order:o1"
    for bad in ["", "escrow:order:", "escrow:order:a:b", "cash", "psp:clearing2", "seller:payable: x"]:
        assert isinstance(Account.parse(bad), Failure)
        with pytest.raises(InvariantViolation):
            Account(bad)


def test_an_unbalanced_transaction_cannot_be_constructed() -> None:
    legs = (Posting.debit(Account.psp_clearing(), m(100)), Posting.credit(Account.escrow("o"), m(99)))
    result = LedgerTransaction.build(
        idempotency_key="k", kind=TransactionKind.CAPTURE, country=MX, currency=MXN, postings=legs
    )
    assert result == Failure(UnbalancedTransaction(100, 99))
    with pytest.raises(InvariantViolation):
        LedgerTransaction("k", TransactionKind.CAPTURE, MX, MXN, legs)


@pytest.mark.parametrize(
    "legs",
    [
        (),
        (Posting.debit(Account.psp_clearing(), Money(5, MXN)),),
        (
            Posting.debit(Account.psp_clearing(), Money.of(5, "COP")),
            Posting.credit(Account.escrow("o"), Money.of(5, "COP")),
        ),
    ],
)
def test_malformed_transactions_are_refused(legs: tuple[Posting, ...]) -> None:
    result = LedgerTransaction.build(
        idempotency_key="k", kind=TransactionKind.CAPTURE, country=MX, currency=MXN, postings=legs
    )
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), MalformedTransaction)


def test_postings_must_be_positive() -> None:
    with pytest.raises(InvariantViolation):
        Posting.debit(Account.psp_clearing(), m(0))
    with pytest.raises(InvariantViolation):
        Posting.credit(Account.psp_clearing(), m(-1))


def test_empty_or_oversized_keys_are_refused() -> None:
    legs = (Posting.debit(Account.psp_clearing(), m(1)), Posting.credit(Account.escrow("o"), m(1)))
    for key in ["", "k" * 256]:
        result = LedgerTransaction.build(
            idempotency_key=key, kind=TransactionKind.CAPTURE, country=MX, currency=MXN, postings=legs
        )
        assert isinstance(result, Failure)


def test_capture_release_and_payout_postings() -> None:
    s = snapshot(items=100_000, delivery=5_000, service=2_000, tax=16_000, commission_bp=1_500)
    # T = 123_000; commission 15_000; take 17_000; payout 106_000
    capture = rules.capture(s, "cap")
    assert {(p.account.name, p.side, p.amount.minor) for p in capture.postings} == {
        ("psp:clearing", Side.DEBIT, 123_000),
        ("escrow:order:ord_1", Side.CREDIT, 123_000),
    }
    release = rules.release(s, "rel")
    assert release.kind is TransactionKind.RELEASE
    assert {(p.account.name, p.side, p.amount.minor) for p in release.postings} == {
        ("escrow:order:ord_1", Side.DEBIT, 123_000),
        ("seller:payable:sel_1", Side.CREDIT, 106_000),
        ("platform:revenue:commission", Side.CREDIT, 17_000),
    }
    forced = rules.release(s, "frc", forced=True)
    assert forced.kind is TransactionKind.FORCED_RELEASE
    payout = rules.payout(country=MX, currency=MXN, seller_id="sel_1", amount=m(106_000), key="pay")
    assert {(p.account.name, p.side, p.amount.minor) for p in payout.postings} == {
        ("seller:payable:sel_1", Side.DEBIT, 106_000),
        ("psp:clearing", Side.CREDIT, 106_000),
    }

    book = LedgerBook()
    for txn in (capture, release, payout):
        assert isinstance(book.post(txn), Success)
    assert book.balance(Account.escrow("ord_1"), MXN).amount == m(0)
    assert book.balance(Account.seller_payable("sel_1"), MXN).amount == m(0)
    assert book.balance(Account.psp_clearing(), MXN).amount == m(17_000)
    assert book.balance(Account.commission_revenue(), MXN).normal == m(17_000)
    assert book.total_by_currency() == {"MXN": 0}


def test_partial_refund_split_rounds_half_even_and_adds_up() -> None:
    # S = 10_001, tier 25 % -> 2500.25 -> 2500; c = 15 % -> seller bears 2125, platform 375.
    s = snapshot(items=10_001, delivery=0, service=0, tax=0, commission_bp=1_500)
    split = rules.partial_refund_split(s, 2_500)
    assert (split.refund.minor, split.seller_bears.minor, split.platform_bears.minor) == (2_500, 2_125, 375)
    # S = 10, tier 25 % -> 2.5 -> 2 (half to even); S = 14 -> 3.5 -> 4.
    assert (
        rules.partial_refund_split(snapshot(items=10, delivery=0, service=0, tax=0), 2_500).refund.minor == 2
    )
    assert (
        rules.partial_refund_split(snapshot(items=14, delivery=0, service=0, tax=0), 2_500).refund.minor == 4
    )


def test_partial_refund_is_capped_at_the_total_charged() -> None:
    # A large discount leaves T below 50 % of S; the refund cannot exceed T.
    s = snapshot(items=1_000, delivery=0, service=0, tax=0, discount=600, commission_bp=0)
    assert s.total_charged.minor == 400
    assert rules.partial_refund_split(s, 5_000).refund.minor == 400


def test_idempotency_key_posts_at_most_once() -> None:
    s = snapshot()
    book = LedgerBook()
    first = book.post(rules.capture(s, "cap"))
    second = book.post(rules.capture(s, "cap"))
    assert isinstance(first.unwrap(), Posted)
    assert isinstance(second.unwrap(), AlreadyPosted)
    assert len(book.lines) == 2
    assert book.balance(Account.psp_clearing(), MXN).amount == s.total_charged


def test_a_used_key_with_other_money_is_refused_loudly_and_changes_nothing() -> None:
    """D101: "already posted" only for the same money; anything else is a bug to surface."""
    book = LedgerBook()
    book.post(rules.capture(snapshot(), "cap")).unwrap()
    lines = list(book.lines)
    with pytest.raises(InvariantViolation, match="'cap' was posted with other money"):
        book.post(rules.capture(snapshot(items=1), "cap"))
    with pytest.raises(InvariantViolation):  # another entry altogether under the same key
        book.post(rules.release(snapshot(), "cap"))
    assert book.lines == lines


def test_escrow_cannot_go_negative() -> None:
    s = snapshot()
    book = LedgerBook()
    result = book.post(rules.release(s, "rel"))  # nothing was captured
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), EscrowOverdrawn)
    assert book.lines == []
    assert isinstance(book.post(rules.capture(s, "cap")), Success)
    assert isinstance(book.post(rules.release(s, "rel")), Success)
    assert isinstance(book.post(rules.release(s, "rel-again")), Failure)


def test_reversal_undoes_exactly() -> None:
    s = snapshot()
    book = LedgerBook()
    capture = rules.capture(s, "cap")
    book.post(capture)
    reversal = capture.reversal("cap:reversal")
    assert reversal.kind is TransactionKind.REVERSAL
    assert reversal.reverses == "cap"
    assert isinstance(book.post(reversal), Success)
    assert all(b.amount.is_zero for b in book.balances())
    assert len(book.transactions) == 2  # nothing was edited: both remain


def test_balance_from_snapshot_plus_later_postings() -> None:
    acct = Account.psp_clearing()
    lines = [PostingLine(i, acct, MXN, amt) for i, amt in [(1, 100), (2, -30), (3, 50), (4, -5)]]
    assert balance_from(None, lines, account=acct, currency=MXN).amount == m(115)
    checkpoint = BalanceSnapshot(acct, MXN, 70, as_of=2)
    # Only postings after the checkpoint count, even if earlier ones are passed in.
    assert balance_from(checkpoint, lines, account=acct, currency=MXN).amount == m(115)
    assert balance_from(checkpoint, lines[2:], account=acct, currency=MXN).amount == m(115)
    with pytest.raises(InvariantViolation):
        balance_from(checkpoint, lines, account=Account.escrow("o"), currency=MXN)


def test_book_snapshot_matches_balance() -> None:
    s = snapshot()
    book = LedgerBook()
    book.post(rules.capture(s, "cap"))
    snap = book.snapshot(Account.psp_clearing(), MXN)
    assert snap.balance_minor == s.total_charged.minor
    assert snap.as_of == 2
