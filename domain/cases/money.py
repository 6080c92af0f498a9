"""Money that moved through dispute outcomes, read back from the ledger (D46).

Outcomes are the only way money moves (SPEC §5); each executed step posts a ledger
transaction whose idempotency key starts with ``dispute:<id>/``. Summing those
transactions (never a figure stored elsewhere) says exactly what an incident or a month
cost: *refunded* is what went back to buyers' cards (``REFUND``, ``PARTIAL_REFUND``,
``CLAWBACK``, a returned refund sent again: ``REFUND_REISSUED``) less what the provider took
back (``REFUND_RETURNED``, D136), *credited* the store credit (the goodwill ``STORE_CREDIT``,
and a returned refund given as credit: ``REFUND_AS_CREDIT``); a ``REVERSAL`` of one of those
subtracts it again. Amounts stay integers in minor units, per currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from domain.disputes.references import REFUND_KINDS
from domain.ledger.transactions import LedgerTransaction, TransactionKind
from domain.shared import Currency, Money

CREDIT_KINDS: Final = frozenset({TransactionKind.STORE_CREDIT, TransactionKind.REFUND_AS_CREDIT})


@dataclass(frozen=True, slots=True)
class MoneyTotals:
    """Amounts per currency code (minor units), currencies in alphabetical order."""

    refunded: Mapping[str, Money] = field(default_factory=lambda: MappingProxyType({}))
    credited: Mapping[str, Money] = field(default_factory=lambda: MappingProxyType({}))

    def plus(self, other: MoneyTotals) -> MoneyTotals:
        return MoneyTotals(_merge(self.refunded, other.refunded), _merge(self.credited, other.credited))

    @property
    def refunded_list(self) -> tuple[Money, ...]:
        return tuple(self.refunded.values())

    @property
    def credited_list(self) -> tuple[Money, ...]:
        return tuple(self.credited.values())


def _merge(left: Mapping[str, Money], right: Mapping[str, Money]) -> Mapping[str, Money]:
    merged = dict(left)
    for code, amount in right.items():
        merged[code] = merged[code] + amount if code in merged else amount
    return MappingProxyType(dict(sorted(merged.items())))


def money_through_outcomes(transactions: Iterable[LedgerTransaction]) -> MoneyTotals:
    """Refunded and credited totals of these outcome postings (each key counted once)."""
    unique = {t.idempotency_key: t for t in transactions}
    refunded: dict[str, Money] = {}
    credited: dict[str, Money] = {}

    def add(into: dict[str, Money], currency: Currency, minor: int) -> None:
        code = currency.code
        into[code] = Money(into[code].minor + minor, currency) if code in into else Money(minor, currency)

    for transaction in unique.values():
        if transaction.kind in REFUND_KINDS:
            add(refunded, transaction.currency, transaction.amount.minor)
        elif transaction.kind in CREDIT_KINDS:
            add(credited, transaction.currency, transaction.amount.minor)
        elif transaction.kind is TransactionKind.REFUND_RETURNED:  # the card refund taken back (D136)
            add(refunded, transaction.currency, -transaction.amount.minor)
        elif transaction.kind is TransactionKind.REVERSAL and transaction.reverses in unique:
            original = unique[transaction.reverses]
            if original.kind in REFUND_KINDS:
                add(refunded, transaction.currency, -transaction.amount.minor)
            elif original.kind in CREDIT_KINDS:
                add(credited, transaction.currency, -transaction.amount.minor)
    # a return posted before its refund's own posting (the saga makes it right after) is not a
    # negative refund
    floored = {code: Money(max(amount.minor, 0), amount.currency) for code, amount in refunded.items()}
    return MoneyTotals(
        MappingProxyType(dict(sorted(floored.items()))), MappingProxyType(dict(sorted(credited.items())))
    )


def format_totals(amounts: Mapping[str, Money]) -> str:
    """``"1234.50 MXN + 10.00 USD"``, or ``"0"`` when nothing moved."""
    return " + ".join(amount.format() for amount in amounts.values()) or "0"
