"""Read-side answers about a dispute that are computed, not stored."""

from __future__ import annotations

from collections.abc import Iterable

from domain.disputes.references import REFUND_KINDS
from domain.ledger import Account, LedgerTransaction, Side
from domain.shared import Currency, Money


def amount_refunded(transactions: Iterable[LedgerTransaction], currency: Currency) -> Money:
    """What went back to the buyer's card so far: the money leaving ``psp:clearing`` in the
    dispute's refund, partial-refund and clawback transactions (posted only once the
    provider confirmed the refund)."""
    clearing = Account.psp_clearing()
    total = Money.zero(currency)
    for transaction in transactions:
        if transaction.kind not in REFUND_KINDS or transaction.currency != currency:
            continue
        for posting in transaction.postings:
            if posting.account == clearing and posting.side is Side.CREDIT:
                total = total + posting.amount
    return total
