"""Balanced ledger transactions. An unbalanced transaction cannot be constructed.

A transaction is a set of postings in one currency whose debits equal its credits. It is
never edited: a mistake is undone by :meth:`LedgerTransaction.reversal`, a new
transaction with every side swapped. Each transaction carries an idempotency key; the
ledger records a key at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from returns.result import Failure, Result, Success

from domain.ledger.accounts import Account
from domain.shared import CountryCode, Currency, DomainError, InvariantViolation, Money

MAX_IDEMPOTENCY_KEY = 255


class Side(StrEnum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class TransactionKind(StrEnum):
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    FORCED_RELEASE = "FORCED_RELEASE"
    PAYOUT = "PAYOUT"
    REFUND = "REFUND"
    PARTIAL_REFUND = "PARTIAL_REFUND"
    CLAWBACK = "CLAWBACK"
    STORE_CREDIT = "STORE_CREDIT"
    REVERSAL = "REVERSAL"
    # a refund the provider took back after confirming it, and its re-issue (D136)
    REFUND_RETURNED = "REFUND_RETURNED"
    REFUND_REISSUED = "REFUND_REISSUED"
    REFUND_AS_CREDIT = "REFUND_AS_CREDIT"


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg: ``amount`` (strictly positive) debited or credited to ``account``."""

    account: Account
    side: Side
    amount: Money

    def __post_init__(self) -> None:
        if not self.amount.is_positive:
            raise InvariantViolation(f"a posting amount must be positive, got {self.amount}")

    @property
    def signed_minor(self) -> int:
        """Debit-positive signed amount: the convention every balance in the ledger uses."""
        return self.amount.minor if self.side is Side.DEBIT else -self.amount.minor

    @staticmethod
    def debit(account: Account, amount: Money) -> Posting:
        return Posting(account, Side.DEBIT, amount)

    @staticmethod
    def credit(account: Account, amount: Money) -> Posting:
        return Posting(account, Side.CREDIT, amount)


@dataclass(frozen=True, slots=True)
class UnbalancedTransaction(DomainError):
    code: ClassVar[str] = "UNBALANCED_TRANSACTION"
    debits: int
    credits: int

    @property
    def message(self) -> str:
        return f"debits {self.debits} do not equal credits {self.credits}"


@dataclass(frozen=True, slots=True)
class MalformedTransaction(DomainError):
    code: ClassVar[str] = "MALFORMED_TRANSACTION"
    reason: str

    @property
    def message(self) -> str:
        return self.reason


def _problem(
    idempotency_key: str, currency: Currency, postings: tuple[Posting, ...]
) -> UnbalancedTransaction | MalformedTransaction | None:
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        return MalformedTransaction(f"idempotency key must be 1..{MAX_IDEMPOTENCY_KEY} characters")
    if len(postings) < 2:
        return MalformedTransaction("a transaction needs at least two postings")
    if any(p.amount.currency != currency for p in postings):
        return MalformedTransaction("every posting must be in the transaction's currency")
    debits = sum(p.amount.minor for p in postings if p.side is Side.DEBIT)
    credits = sum(p.amount.minor for p in postings if p.side is Side.CREDIT)
    if debits != credits:
        return UnbalancedTransaction(debits, credits)
    return None


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    idempotency_key: str
    kind: TransactionKind
    country: CountryCode
    currency: Currency
    postings: tuple[Posting, ...]
    memo: str = ""
    reverses: str | None = None

    def __post_init__(self) -> None:
        problem = _problem(self.idempotency_key, self.currency, self.postings)
        if problem is not None:
            raise InvariantViolation(problem.message)

    @staticmethod
    def build(
        *,
        idempotency_key: str,
        kind: TransactionKind,
        country: CountryCode,
        currency: Currency,
        postings: Iterable[Posting],
        memo: str = "",
        reverses: str | None = None,
    ) -> Result[LedgerTransaction, UnbalancedTransaction | MalformedTransaction]:
        legs = tuple(postings)
        problem = _problem(idempotency_key, currency, legs)
        if problem is not None:
            return Failure(problem)
        return Success(LedgerTransaction(idempotency_key, kind, country, currency, legs, memo, reverses))

    @property
    def amount(self) -> Money:
        """The transaction's size: the sum of its debits (equal to its credits)."""
        return Money(sum(p.amount.minor for p in self.postings if p.side is Side.DEBIT), self.currency)

    def net_by_account(self) -> dict[Account, int]:
        """Debit-positive net movement per account."""
        net: dict[Account, int] = {}
        for posting in self.postings:
            net[posting.account] = net.get(posting.account, 0) + posting.signed_minor
        return net

    def reversal(self, idempotency_key: str, memo: str = "") -> LedgerTransaction:
        """A new transaction that undoes this one exactly (every side swapped)."""
        return LedgerTransaction(
            idempotency_key=idempotency_key,
            kind=TransactionKind.REVERSAL,
            country=self.country,
            currency=self.currency,
            postings=tuple(Posting(p.account, p.side.opposite, p.amount) for p in self.postings),
            memo=memo or f"reversal of {self.idempotency_key}",
            reverses=self.idempotency_key,
        )


class LegBuilder:
    """Collects signed legs and emits balanced postings, skipping zero legs.

    ``debit(acct, m)`` with a negative ``m`` becomes a credit of ``-m``, and vice versa,
    so that posting rules can be written as arithmetic without sign case analysis.
    """

    def __init__(self, currency: Currency) -> None:
        self._currency = currency
        self._legs: list[Posting] = []

    def debit(self, account: Account, amount: Money) -> LegBuilder:
        return self._add(account, Side.DEBIT, amount)

    def credit(self, account: Account, amount: Money) -> LegBuilder:
        return self._add(account, Side.CREDIT, amount)

    def _add(self, account: Account, side: Side, amount: Money) -> LegBuilder:
        if amount.currency != self._currency:
            raise InvariantViolation("leg in a foreign currency")
        if amount.is_negative:
            self._legs.append(Posting(account, side.opposite, -amount))
        elif amount.is_positive:
            self._legs.append(Posting(account, side, amount))
        return self

    def postings(self) -> tuple[Posting, ...]:
        return tuple(self._legs)
