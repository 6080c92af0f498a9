"""The ledger's invariants, property-tested on the SQL repository (SQLite and PostgreSQL)
against the in-memory reference book (SPEC §4): random sequences of captures, releases,
refunds, clawbacks, store credits, repeated keys and overdraws.

For every posting the repository answers what the book answers (posted, already posted,
escrow overdrawn); afterwards every touched account moved by exactly the book's amount,
no escrow is negative, each stored transaction balances, and the signed sum of all
postings per currency is zero. Examples share the test's database, so each one uses
order ids of its own and compares the shared accounts (clearing, revenue, the seller) by
how much they moved.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.tables import ledger_postings
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from domain.ledger import (
    Account,
    AlreadyPosted,
    EscrowOverdrawn,
    LedgerBook,
    LedgerTransaction,
    Posted,
    rules,
)
from domain.shared import InvariantViolation, Money
from domain.shared.ids import OrderId
from domain.snapshots import OrderSnapshot
from tests.strategies import snapshots

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

_EXAMPLE = itertools.count(1)


@dataclass(frozen=True)
class Op:
    """One posting attempt: ``kind`` on order ``order`` (an index), or ``again`` the n-th earlier one."""

    kind: str
    order: int
    tier_bp: int = 5_000
    again: int = 0


KINDS = ("capture", "release", "refund", "partial", "remainder", "clawback", "credit", "again")

ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(KINDS),
        order=st.integers(min_value=0, max_value=2),
        tier_bp=st.integers(min_value=1, max_value=9_999),
        again=st.integers(min_value=0, max_value=40),
    ),
    min_size=1,
    max_size=14,
)


def transaction_for(
    op: Op, snap: OrderSnapshot, step: int, history: list[LedgerTransaction]
) -> LedgerTransaction | None:
    """The transaction an operation posts; keys are unique per step, except ``again``,
    which repeats an earlier transaction as it was (a retried step). ``None`` when the rules
    refuse to build it (nothing to move: e.g. a remainder of zero), as the saga skips it."""
    key = f"prop:{snap.order_id}/{op.kind}/{step}"
    try:
        return _build(op, snap, key, history)
    except InvariantViolation:
        return None


def _build(op: Op, snap: OrderSnapshot, key: str, history: list[LedgerTransaction]) -> LedgerTransaction:
    match op.kind:
        case "again" if history:
            return history[op.again % len(history)]
        case "release":
            return rules.release(snap, key)
        case "refund":
            return rules.refund_from_escrow(snap, rules.full_refund_split(snap), key)
        case "partial":
            return rules.refund_from_escrow(snap, rules.partial_refund_split(snap, op.tier_bp), key)
        case "remainder":
            remainder = rules.release_remainder(snap, rules.partial_refund_split(snap, op.tier_bp), key)
            if remainder is None:
                raise InvariantViolation("nothing left to release")
            return remainder
        case "clawback":
            return rules.refund_with_clawback(snap, rules.full_refund_split(snap), key)
        case "credit":
            return rules.store_credit(snap, Money(1 + op.tier_bp, snap.currency), key)
        case _:
            return rules.capture(snap, key)


def _outcome(result: object) -> type:
    match result:
        case Success(value):
            return type(value)
        case Failure(error):
            return type(error)
    raise AssertionError(result)


async def _balances(
    uow_factory: UowFactory, snap: OrderSnapshot, accounts: set[Account]
) -> dict[Account, int]:
    async with uow_factory() as uow:
        return {
            account: (await uow.ledger.balance(snap.country, account, snap.currency)).amount.minor
            for account in accounts
        }


async def _check(
    uow_factory: UowFactory, engine: AsyncEngine, orders: list[OrderSnapshot], plan: list[Op]
) -> None:
    book = LedgerBook()
    history: list[LedgerTransaction] = []
    attempts: list[LedgerTransaction] = []
    for step, op in enumerate(plan):
        transaction = transaction_for(op, orders[op.order], step, history)
        if transaction is not None:
            attempts.append(transaction)
            history.append(transaction)
    touched = {posting.account for t in attempts for posting in t.postings}
    snap = orders[0]  # every order of an example is in one market
    before = await _balances(uow_factory, snap, touched)

    for transaction in attempts:
        expected = book.post(transaction)
        async with uow_factory() as uow:
            got = await uow.ledger.post(transaction)
            await uow.commit()
        assert _outcome(got) is _outcome(expected), (transaction.idempotency_key, got, expected)
        assert _outcome(got) in (Posted, AlreadyPosted, EscrowOverdrawn)

    after = await _balances(uow_factory, snap, touched)
    for account in touched:
        moved = after[account] - before[account]
        assert moved == book.balance(account, snap.currency).amount.minor, account
        if account.is_escrow:
            assert after[account] <= 0, account  # credit-normal: a held escrow is a credit, never a debit
    async with uow_factory() as uow:
        for key in {t.idempotency_key for t in attempts}:
            stored = await uow.ledger.get(snap.country, key)
            if stored is not None:
                assert sum(posting.signed_minor for posting in stored.postings) == 0
    async with engine.connect() as connection:
        sums = (
            await connection.execute(
                select(ledger_postings.c.currency, func.sum(ledger_postings.c.signed_minor)).group_by(
                    ledger_postings.c.currency
                )
            )
        ).all()
    assert all(int(total) == 0 for _, total in sums), sums


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=snapshots(order_id="a"), second=snapshots(order_id="b"), plan=ops)
async def test_the_sql_ledger_keeps_every_invariant_the_reference_book_keeps(
    uow_factory: UowFactory, engine: AsyncEngine, first: OrderSnapshot, second: OrderSnapshot, plan: list[Op]
) -> None:
    example = next(_EXAMPLE)
    same_market = second.country == first.country and second.currency == first.currency
    orders = [
        replace(first, order_id=OrderId(f"p{example}a")),
        replace(second if same_market else first, order_id=OrderId(f"p{example}b")),
        replace(first, order_id=OrderId(f"p{example}c")),
    ]
    await _check(uow_factory, engine, orders, plan)
