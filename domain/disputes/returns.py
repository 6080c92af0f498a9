"""A refund the payments provider took back after confirming it, and its re-issue (D136).

A card refund can fail days after the provider confirmed it (the card was closed, the bank
sent it back). The ledger then records the money coming back (``REFUND_RETURNED``: Dr
``psp:clearing`` / Cr ``escrow:order:<order>``): it is the buyer's again, held for the
order. What is held that way is *awaiting re-issue* until an L3 re-issues it, to the card
again (``REFUND_REISSUED``, Dr escrow / Cr psp:clearing, once the provider confirms) or as
store credit (``REFUND_AS_CREDIT``, Dr escrow / Cr buyer:credit). Every key of these
postings starts with the dispute's ``dispute:<id>/``, so the amount awaiting re-issue is
read from the dispute's own ledger transactions, never typed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from domain.disputes.references import ledger_prefix
from domain.ledger.accounts import Account
from domain.ledger.transactions import LedgerTransaction, TransactionKind
from domain.shared import Currency, Money


class ReissueMethod(StrEnum):
    """How a returned refund goes back to the buyer."""

    CARD = "CARD"  # a new refund to the card, through the payments provider
    STORE_CREDIT = "STORE_CREDIT"  # the buyer's store credit, at once


RETURN_AND_REISSUE_KINDS: Final = frozenset(
    {TransactionKind.REFUND_RETURNED, TransactionKind.REFUND_REISSUED, TransactionKind.REFUND_AS_CREDIT}
)


def returned_key(refund_key: str) -> str:
    """The ledger key of the return of the refund made under ``refund_key`` (its step's or its
    re-issue's key): posted at most once, whatever the provider's redeliveries."""
    return f"{refund_key}/returned"


def reissue_key(dispute_id: str, number: int) -> str:
    """The ``number``-th re-issue of a dispute's returned refund: its outbox job's key, and
    the key of the posting that moves the money."""
    if number < 1:
        raise ValueError(f"re-issues are numbered from 1, got {number}")
    return f"{ledger_prefix(dispute_id)}refund_reissue/{number}"


def refund_awaiting_reissue(
    transactions: Iterable[LedgerTransaction], order_id: str, currency: Currency
) -> Money:
    """What the provider returned of the dispute's refunds and nothing has re-issued yet:
    the order's escrow credited by the returns less what the re-issues took out of it (each
    key counted once)."""
    escrow = Account.escrow(order_id)
    unique = {t.idempotency_key: t for t in transactions}
    signed = sum(
        posting.signed_minor
        for transaction in unique.values()
        if transaction.kind in RETURN_AND_REISSUE_KINDS and transaction.currency == currency
        for posting in transaction.postings
        if posting.account == escrow
    )
    return Money(-signed, currency)
