"""Ledger postings counted for the metrics, once they are committed (SPEC §11).

Every ledger write goes through ``uow.ledger.post`` (capture, release, withdrawals,
force-complete, the saga's steps), so the count is taken there, once, instead of at each
call site: ``metered(uow_factory, metrics)`` hands out units of work whose ledger notes
each transaction it newly posted (``Posted``; an ``AlreadyPosted`` replay changes nothing
and is not counted) and reports them to ``Metrics.ledger_posted`` only when the unit of
work commits. A rolled-back unit of work (an early ``Failure``, a lost lease, an
exception) reports nothing.

The wrapper changes nothing else: every other attribute is the wrapped unit of work's,
so it works for every unit-of-work flavour (``MessagingUnitOfWork``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from returns.result import Result, Success

from application.ports.ledger import LedgerAccountKey, LedgerRepository
from application.ports.metrics import Metrics
from application.ports.unit_of_work import UnitOfWork
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

U = TypeVar("U", bound=UnitOfWork)


class _CountingLedger:
    """A ``LedgerRepository`` that remembers what it newly posted."""

    def __init__(self, inner: LedgerRepository) -> None:
        self._inner = inner
        self.pending: list[LedgerTransaction] = []

    async def post(self, transaction: LedgerTransaction) -> Result[Posted | AlreadyPosted, EscrowOverdrawn]:
        posted = await self._inner.post(transaction)
        if isinstance(posted, Success) and isinstance(posted.unwrap(), Posted):
            self.pending.append(transaction)
        return posted

    async def get(self, country: CountryCode, idempotency_key: str) -> LedgerTransaction | None:
        return await self._inner.get(country, idempotency_key)

    async def balance(self, country: CountryCode, account: Account, currency: Currency) -> Balance:
        return await self._inner.balance(country, account, currency)

    async def checkpoint(self, country: CountryCode, account: Account, currency: Currency) -> BalanceSnapshot:
        return await self._inner.checkpoint(country, account, currency)

    async def transactions_for(self, country: CountryCode, key_prefix: str) -> list[LedgerTransaction]:
        return await self._inner.transactions_for(country, key_prefix)

    async def newest_posting_id(self) -> int:
        return await self._inner.newest_posting_id()

    async def checkpoints_due(self, *, every: int, after: int, limit: int) -> list[LedgerAccountKey]:
        return await self._inner.checkpoints_due(every=every, after=after, limit=limit)

    async def accounts(
        self, prefix: str, *, after: LedgerAccountKey | None = None, limit: int = 1_000
    ) -> list[LedgerAccountKey]:
        return await self._inner.accounts(prefix, after=after, limit=limit)


class _MeteredUnitOfWork:
    def __init__(self, inner: UnitOfWork, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._ledger: _CountingLedger | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def ledger(self) -> LedgerRepository:
        if self._ledger is None:
            self._ledger = _CountingLedger(self._inner.ledger)
        return self._ledger

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._inner.__aexit__(exc_type, exc, traceback)
        finally:
            self._ledger = None  # the repositories are bound per transaction

    async def commit(self) -> None:
        await self._inner.commit()
        if self._ledger is not None:
            committed, self._ledger.pending = self._ledger.pending, []
            for transaction in committed:  # the port's calls never raise
                self._metrics.ledger_posted(
                    transaction.country, transaction.currency.code, len(transaction.postings)
                )

    async def rollback(self) -> None:
        if self._ledger is not None:
            self._ledger.pending = []
        await self._inner.rollback()


def metered(factory: Callable[[], U], metrics: Metrics) -> Callable[[], U]:
    """``factory``'s units of work, reporting committed ledger postings to ``metrics``."""

    def make() -> U:
        return cast(U, _MeteredUnitOfWork(factory(), metrics))

    return make
