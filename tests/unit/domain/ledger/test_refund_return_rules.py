"""A refund the provider returned and its re-issue (D136): the postings, what awaits
re-issue, and how the read models count them. Exact integers in minor units."""

from __future__ import annotations

from dataclasses import replace

import pytest

from application.disputes.queries import amount_refunded
from domain.cases.money import money_through_outcomes
from domain.disputes.returns import refund_awaiting_reissue, reissue_key, returned_key
from domain.ledger import LedgerTransaction, TransactionKind, rules
from domain.shared import CountryCode, Currency, InvariantViolation, Money

MX, MXN, USD = CountryCode("MX"), Currency.of("MXN"), Currency.of("USD")
REFUND = "dispute:d1/FULL_REFUND/provider_refund"


def legs(transaction: LedgerTransaction) -> list[tuple[str, str, int]]:
    return sorted((p.account.name, p.side.value, p.amount.minor) for p in transaction.postings)


def test_the_return_and_the_reissues_move_the_money_between_the_right_accounts() -> None:
    returned = rules.refund_returned(country=MX, order_id="o1", amount=Money(123_000, MXN), key="r")
    card = rules.refund_reissued_to_card(country=MX, order_id="o1", amount=Money(123_000, MXN), key="c")
    credit = rules.refund_reissued_as_credit(
        country=MX, order_id="o1", buyer_id="b1", amount=Money(123_000, MXN), key="s"
    )
    assert (returned.kind, legs(returned)) == (
        TransactionKind.REFUND_RETURNED,
        [("escrow:order:o1", "CREDIT", 123_000), ("psp:clearing", "DEBIT", 123_000)],
    )
    assert (card.kind, legs(card)) == (
        TransactionKind.REFUND_REISSUED,
        [("escrow:order:o1", "DEBIT", 123_000), ("psp:clearing", "CREDIT", 123_000)],
    )
    assert (credit.kind, legs(credit)) == (
        TransactionKind.REFUND_AS_CREDIT,
        [("buyer:credit:b1", "CREDIT", 123_000), ("escrow:order:o1", "DEBIT", 123_000)],
    )
    for nothing in (Money(0, MXN), Money(-1, MXN)):
        with pytest.raises(InvariantViolation, match="positive"):
            rules.refund_returned(country=MX, order_id="o1", amount=nothing, key="r")


def test_what_awaits_reissue_is_what_came_back_less_what_was_reissued() -> None:
    first = returned_key(REFUND)
    one, two = reissue_key("d1", 1), reissue_key("d1", 2)
    assert (first, one, two) == (
        f"{REFUND}/returned",
        "dispute:d1/refund_reissue/1",
        "dispute:d1/refund_reissue/2",
    )
    with pytest.raises(ValueError, match="from 1"):
        reissue_key("d1", 0)
    refund = rules.refund_reissued_to_card(country=MX, order_id="o1", amount=Money(25_000, MXN), key=REFUND)
    back = rules.refund_returned(country=MX, order_id="o1", amount=Money(25_000, MXN), key=first)
    card = rules.refund_reissued_to_card(country=MX, order_id="o1", amount=Money(25_000, MXN), key=one)
    card_back = rules.refund_returned(
        country=MX, order_id="o1", amount=Money(25_000, MXN), key=returned_key(one)
    )
    credit = rules.refund_reissued_as_credit(
        country=MX, order_id="o1", buyer_id="b1", amount=Money(25_000, MXN), key=two
    )
    other_order = rules.refund_returned(country=MX, order_id="o2", amount=Money(7, MXN), key="x")
    other_currency = rules.refund_returned(country=MX, order_id="o1", amount=Money(9, USD), key="y")

    def awaiting(*transactions: LedgerTransaction) -> int:
        return refund_awaiting_reissue(transactions, "o1", MXN).minor

    assert awaiting() == 0
    assert awaiting(back) == 25_000
    assert awaiting(back, back) == 25_000  # a key counts once
    assert awaiting(back, card) == 0
    assert awaiting(back, card, card_back) == 25_000
    assert awaiting(back, card, card_back, credit) == 0
    assert awaiting(back, other_order, other_currency) == 25_000
    # the dispute's own refund (not a return or a re-issue) counts for nothing here
    assert awaiting(replace(refund, kind=TransactionKind.REFUND), back) == 25_000


def test_refunded_and_credited_totals_count_returns_and_reissues() -> None:
    """``amountRefunded`` and the incident cost report: a returned refund is not refunded any
    more; re-issued to the card it is again; given as credit it is credited."""
    refund = replace(
        rules.refund_reissued_to_card(country=MX, order_id="o1", amount=Money(123_000, MXN), key="k"),
        kind=TransactionKind.REFUND,
        idempotency_key="dispute:d1/FULL_REFUND/ledger_refund",
    )
    back = rules.refund_returned(
        country=MX, order_id="o1", amount=Money(123_000, MXN), key=returned_key(REFUND)
    )
    card = rules.refund_reissued_to_card(
        country=MX, order_id="o1", amount=Money(123_000, MXN), key=reissue_key("d1", 1)
    )
    card_back = rules.refund_returned(
        country=MX, order_id="o1", amount=Money(123_000, MXN), key=returned_key(reissue_key("d1", 1))
    )
    credit = rules.refund_reissued_as_credit(
        country=MX, order_id="o1", buyer_id="b1", amount=Money(123_000, MXN), key=reissue_key("d1", 2)
    )
    assert amount_refunded([refund], MXN).minor == 123_000
    assert amount_refunded([refund, back], MXN).minor == 0
    assert amount_refunded([refund, back, card], MXN).minor == 123_000
    assert amount_refunded([refund, back, card, card_back, credit], MXN).minor == 0
    totals = money_through_outcomes([refund, back, card, card_back, credit])
    assert (dict(totals.refunded), dict(totals.credited)) == (
        {"MXN": Money(0, MXN)},
        {"MXN": Money(123_000, MXN)},
    )
    partial = money_through_outcomes([refund, back, card])
    assert (dict(partial.refunded), dict(partial.credited)) == ({"MXN": Money(123_000, MXN)}, {})
