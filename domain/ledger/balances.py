"""Balances, balance snapshots and an in-memory book that enforces the ledger invariants.

Balances are debit-positive signed integers of minor units. Reading a balance never scans
history: it is the latest :class:`BalanceSnapshot` (a checkpoint) plus the postings
recorded after it.

The :class:`LedgerBook` is the executable statement of the invariants (SPEC §4): every
transaction balances (guaranteed by construction), the sum of all balances per currency
is zero, no escrow goes negative, and an idempotency key posts at most once. The
persistence adapter enforces the same rules in the database; property-based tests run
against this book.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from returns.result import Failure, Result, Success

from domain.ledger.accounts import Account
from domain.ledger.transactions import LedgerTransaction
from domain.shared import Currency, DomainError, InvariantViolation, Money


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balance in one currency, debit-positive."""

    account: Account
    amount: Money

    @property
    def normal(self) -> Money:
        """The balance in the account's normal direction (a funded escrow is positive)."""
        return self.amount if self.account.kind.debit_normal else -self.amount


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """A checkpoint: ``balance`` of ``account`` including every posting up to ``as_of``.

    ``as_of`` is the position (sequence number) of the last posting included.
    """

    account: Account
    currency: Currency
    balance_minor: int
    as_of: int


@dataclass(frozen=True, slots=True)
class PostingLine:
    """A recorded posting with its position in the ledger's total order."""

    sequence: int
    account: Account
    currency: Currency
    signed_minor: int


def balance_from(
    snapshot: BalanceSnapshot | None,
    later_postings: Iterable[PostingLine],
    *,
    account: Account,
    currency: Currency,
) -> Balance:
    """The balance now: the checkpoint plus every posting strictly after it."""
    as_of = snapshot.as_of if snapshot is not None else 0
    total = snapshot.balance_minor if snapshot is not None else 0
    if snapshot is not None and (snapshot.account != account or snapshot.currency != currency):
        raise InvariantViolation("balance snapshot of another account or currency")
    for line in later_postings:
        if line.account != account or line.currency != currency:
            raise InvariantViolation("posting of another account or currency")
        if line.sequence > as_of:
            total += line.signed_minor
    return Balance(account, Money(total, currency))


@dataclass(frozen=True, slots=True)
class EscrowOverdrawn(DomainError):
    code: ClassVar[str] = "ESCROW_OVERDRAWN"
    account: str
    would_be_minor: int

    @property
    def message(self) -> str:
        return f"{self.account} would go negative ({self.would_be_minor})"


@dataclass(frozen=True, slots=True)
class AlreadyPosted:
    """The idempotency key was posted before: nothing changed (not an error)."""

    transaction: LedgerTransaction


class IdempotencyKeyReusedForOtherMoney(InvariantViolation):
    """A ledger key posted again with other money (other kind, currency or movements): a bug
    in whoever built the key, never answered as "already posted" (D101)."""


def already_posted(existing: LedgerTransaction, again: LedgerTransaction) -> AlreadyPosted:
    """The answer to posting ``again`` under the key of ``existing``: the same money (kind,
    currency, net movement of every account) is "already posted"; other money raises."""
    before, after = existing.net_by_account(), again.net_by_account()
    if (existing.kind, existing.currency, before) != (again.kind, again.currency, after):
        raise IdempotencyKeyReusedForOtherMoney(
            f"ledger key {again.idempotency_key!r} was posted with other money: "
            f"{existing.kind.value} {before} then {again.kind.value} {after}"
        )
    return AlreadyPosted(existing)


@dataclass(frozen=True, slots=True)
class Posted:
    transaction: LedgerTransaction
    first_sequence: int


def escrow_problem(
    transaction: LedgerTransaction, current_normal_balance: dict[Account, int]
) -> EscrowOverdrawn | None:
    """Would this transaction drive any escrow account below zero?

    ``current_normal_balance`` maps each escrow account touched to its balance in the
    normal (credit) direction before the transaction.
    """
    for account, net in transaction.net_by_account().items():
        if account.is_escrow:
            after = current_normal_balance.get(account, 0) - net
            if after < 0:
                return EscrowOverdrawn(account.name, after)
    return None


@dataclass
class LedgerBook:
    """An in-memory, append-only book (the reference model of the invariants)."""

    transactions: dict[str, LedgerTransaction] = field(default_factory=dict)
    lines: list[PostingLine] = field(default_factory=list)
    _balances: dict[tuple[Account, Currency], int] = field(default_factory=dict)

    def post(self, transaction: LedgerTransaction) -> Result[Posted | AlreadyPosted, EscrowOverdrawn]:
        existing = self.transactions.get(transaction.idempotency_key)
        if existing is not None:
            return Success(already_posted(existing, transaction))
        touched = {
            account: -self._balances.get((account, transaction.currency), 0)
            for account in transaction.net_by_account()
            if account.is_escrow
        }
        problem = escrow_problem(transaction, touched)
        if problem is not None:
            return Failure(problem)
        first = len(self.lines) + 1
        for posting in transaction.postings:
            key = (posting.account, transaction.currency)
            self._balances[key] = self._balances.get(key, 0) + posting.signed_minor
            self.lines.append(
                PostingLine(len(self.lines) + 1, posting.account, transaction.currency, posting.signed_minor)
            )
        self.transactions[transaction.idempotency_key] = transaction
        return Success(Posted(transaction, first))

    def balance(self, account: Account, currency: Currency) -> Balance:
        return Balance(account, Money(self._balances.get((account, currency), 0), currency))

    def balances(self) -> list[Balance]:
        return [
            Balance(account, Money(minor, currency))
            for (account, currency), minor in sorted(
                self._balances.items(), key=lambda item: (item[0][1].code, item[0][0].name)
            )
        ]

    def total_by_currency(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, currency), minor in self._balances.items():
            totals[currency.code] = totals.get(currency.code, 0) + minor
        return totals

    def snapshot(self, account: Account, currency: Currency) -> BalanceSnapshot:
        return BalanceSnapshot(account, currency, self._balances.get((account, currency), 0), len(self.lines))
