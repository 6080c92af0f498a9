"""Ledger persistence port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from returns.result import Result

from domain.ledger import (
    Account,
    AlreadyPosted,
    Balance,
    BalanceSnapshot,
    EscrowOverdrawn,
    LedgerTransaction,
    Posted,
)
from domain.shared import CountryCode, Currency


@dataclass(frozen=True, slots=True, order=True)
class LedgerAccountKey:
    """One account's book in one country and currency: what a balance snapshot is taken of."""

    country: CountryCode
    account: Account
    currency: Currency


class LedgerRepository(Protocol):
    """Append-only ledger storage, scoped by country.

    ``post`` records a balanced transaction at most once per idempotency key (a unique
    constraint in the database, not a check-then-insert), refuses one that would drive an
    escrow account negative, and never commits: the unit of work does.
    """

    async def post(
        self, transaction: LedgerTransaction
    ) -> Result[Posted | AlreadyPosted, EscrowOverdrawn]: ...

    async def get(self, country: CountryCode, idempotency_key: str) -> LedgerTransaction | None: ...

    async def balance(self, country: CountryCode, account: Account, currency: Currency) -> Balance:
        """The latest balance snapshot plus the postings after it (never a scan of history)."""
        ...

    async def checkpoint(self, country: CountryCode, account: Account, currency: Currency) -> BalanceSnapshot:
        """Write a new balance snapshot for the account and return it."""
        ...

    async def transactions_for(self, country: CountryCode, key_prefix: str) -> list[LedgerTransaction]:
        """Transactions whose idempotency key starts with ``key_prefix`` (e.g. ``dispute:d1/``)."""
        ...

    async def newest_posting_id(self) -> int:
        """The greatest posting id (one sequence across countries; 0 when there is none)."""
        ...

    async def checkpoints_due(self, *, every: int, after: int, limit: int) -> list[LedgerAccountKey]:
        """Up to ``limit`` accounts, in the bound scope's countries, with a posting whose id is
        greater than ``after`` and at least ``every`` postings after their newest balance
        snapshot (or ever, when they have none), in (country, account, currency) order."""
        ...

    async def accounts(
        self, prefix: str, *, after: LedgerAccountKey | None = None, limit: int = 1_000
    ) -> list[LedgerAccountKey]:
        """Up to ``limit`` accounts, in the bound scope's countries, whose name starts with
        ``prefix`` (e.g. ``seller:payable:``), in (country, account, currency) order, after
        ``after`` (keyset paging)."""
        ...
