"""Read-side answers about a dispute that are computed, not stored."""

from __future__ import annotations

from collections.abc import Iterable

from domain.disputes.references import REFUND_KINDS
from domain.ledger import Account, LedgerTransaction, Side, TransactionKind
from domain.shared import Currency, Money


def amount_refunded(transactions: Iterable[LedgerTransaction], currency: Currency) -> Money:
    """What went back to the buyer's card so far: the money leaving ``psp:clearing`` in the
    dispute's refund, partial-refund, clawback and re-issue transactions (posted only once the
    provider confirmed the refund), less what the provider took back after confirming it
    (``REFUND_RETURNED``, D136), never below zero (a return posted before its refund's own
    posting, which the saga makes right after, is not a negative refund)."""
    clearing = Account.psp_clearing()
    total = Money.zero(currency)
    for transaction in transactions:
        if transaction.currency != currency:
            continue
        if transaction.kind in REFUND_KINDS:
            for posting in transaction.postings:
                if posting.account == clearing and posting.side is Side.CREDIT:
                    total = total + posting.amount
        elif transaction.kind is TransactionKind.REFUND_RETURNED:
            for posting in transaction.postings:
                if posting.account == clearing and posting.side is Side.DEBIT:
                    total = total - posting.amount
    return total.max(Money.zero(currency))
