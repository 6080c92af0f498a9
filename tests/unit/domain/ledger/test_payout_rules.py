"""Seller payouts (D89): what is owed net of clawbacks, and the posting that pays it."""

from __future__ import annotations

import pytest

from domain.ledger import rules
from domain.shared import CountryCode, Currency, InvariantViolation, Money

MX, MXN = CountryCode("MX"), Currency.of("MXN")


def test_the_payout_rules_net_clawbacks_and_refuse_nonsense() -> None:
    owed = rules.payout_due(Money(500, MXN), Money(200, MXN))
    assert owed == rules.PayoutDue(Money(300, MXN), Money(200, MXN))
    assert rules.payout_due(Money(200, MXN), Money(200, MXN)) is None
    assert rules.payout_due(Money(0, MXN), Money(0, MXN)) is None
    posting = rules.payout(
        country=MX,
        currency=MXN,
        seller_id="s",
        amount=Money(300, MXN),
        settled_receivable=Money(200, MXN),
        key="k",
    )
    assert sorted((p.account.name, p.side.value, p.amount.minor) for p in posting.postings) == [
        ("psp:clearing", "CREDIT", 300),
        ("seller:payable:s", "DEBIT", 500),
        ("seller:receivable:s", "CREDIT", 200),
    ]
    with pytest.raises(InvariantViolation, match="positive"):
        rules.payout(country=MX, currency=MXN, seller_id="s", amount=Money(0, MXN), key="k")
    assert rules.payout_due(Money(-1, MXN), Money(0, MXN)) is None  # nothing owed


def test_a_negative_receivable_is_paid_back_and_brought_to_zero() -> None:
    """A clawback reversed after a payout settled it: the platform owes the seller that too."""
    owed = rules.payout_due(Money(500, MXN), Money(-200, MXN))
    assert owed == rules.PayoutDue(Money(700, MXN), Money(-200, MXN))
    posting = rules.payout(
        country=MX,
        currency=MXN,
        seller_id="s",
        amount=owed.amount,
        settled_receivable=owed.settled_receivable,
        key="k",
    )
    assert sorted((p.account.name, p.side.value, p.amount.minor) for p in posting.postings) == [
        ("psp:clearing", "CREDIT", 700),
        ("seller:payable:s", "DEBIT", 500),
        ("seller:receivable:s", "DEBIT", 200),
    ]
