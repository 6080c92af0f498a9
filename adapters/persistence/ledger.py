"""The double-entry ledger on SQLAlchemy Core: exactly-once posting, escrow checks, balances.

Exactly once
    ``(country_code, idempotency_key)`` is unique on ``ledger_transactions``; a transaction
    row is inserted with ``ON CONFLICT DO NOTHING RETURNING id``, never check-then-insert.
    When nothing comes back the key was posted before (perhaps a moment ago, by a
    concurrent transaction the insert waited for): the stored transaction is read back and
    returned as ``AlreadyPosted``, with nothing written. Like the in-memory ``LedgerBook``,
    an already-posted key wins over an escrow check, so a retried release is
    ``AlreadyPosted``, not ``EscrowOverdrawn``. The key must carry the same money (kind,
    currency, every account's net movement): other money under a used key raises
    ``IdempotencyKeyReusedForOtherMoney`` (D101), and the unit of work rolls back.

Escrow never negative
    A transaction that debits an escrow account locks that account's ``ledger_accounts``
    row first (``SELECT ... ORDER BY account FOR UPDATE`` on PostgreSQL; on SQLite every
    writer already holds the database's write lock from ``BEGIN IMMEDIATE``), then reads
    the balance and refuses with ``EscrowOverdrawn`` if it would go negative, having
    written nothing. (An escrow without an account row was never credited: every post
    inserts its accounts' rows, ``ON CONFLICT DO NOTHING``, in its own transaction.) Only escrow
    rows are locked: the hot accounts every order touches (``psp:clearing``,
    ``platform:revenue:commission``, a busy seller's payable) are never row-locked.

Balances
    ``balance`` is the newest ``ledger_balance_snapshots`` row of the account plus the SUM
    of its postings with a greater id: one query on the ``(country_code, account,
    currency, id)`` index, never a scan of history from the beginning. The scheduler's tick
    takes the checkpoints (``application/ledger/checkpoints.py``, D69): ``checkpoints_due``
    names the accounts posted to after a given posting id that have ``every`` postings after
    their newest snapshot.

Balance snapshots under concurrency (PostgreSQL)
    Posting ids come from a sequence, so ids are handed out in insert order but committed
    in any order: a checkpoint that read ``max(id)`` while a posting with a smaller id was
    still in flight would miss it for ever (``balance`` only adds postings after the
    checkpoint). So:

    - every posting transaction takes ``pg_advisory_xact_lock_shared(k)`` for each account
      it touches, before inserting its postings, where ``k`` is a stable 64-bit hash of
      (country, account, currency) (the first 8 bytes of SHA-256, as a signed int64).
      Shared locks do not block each other: posters never wait for posters here.
    - ``checkpoint`` takes the exclusive ``pg_advisory_xact_lock(k)``: it waits until no
      posting to the account is in flight, and no new one starts until it commits. Only
      then, at READ COMMITTED, does it read ``max(id)`` and the sum up to it; every
      posting with a smaller id has committed and is counted.

    Run ``checkpoint`` in a unit of work of its own and commit promptly: it blocks posting
    to that one account while it is open (and a unit of work that posted to an account
    and then checkpoints it while another does the same would deadlock).

Lock order
    Within ``post``, every lock is taken in one order: debited escrow rows are locked
    sorted by name, then account rows are inserted sorted by name (an existing row is not
    locked by ``ON CONFLICT DO NOTHING``), then advisory locks are taken sorted by name,
    and only then are the transaction and its postings inserted (which waits on nothing
    but a concurrent insert of the same idempotency key). Concurrent posts therefore
    never deadlock. A unit of work that posts several transactions holds the first one's
    locks while posting the next; keep such units of work to one order's accounts.

Rows never leave this module: ``get`` and ``transactions_for`` rebuild domain
``LedgerTransaction``s. Every method takes the country and filters by it. Nothing here
commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import ColumnElement, Row, Select, Table, and_, func, literal, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adapters.persistence.row_level_security import sees_nothing, within_scope
from adapters.persistence.tables import (
    ledger_accounts,
    ledger_balance_snapshots,
    ledger_postings,
    ledger_transactions,
)
from application.ports.ledger import LedgerAccountKey
from application.security.scope import CountryScope, current_scope
from domain.ledger import (
    Account,
    AlreadyPosted,
    Balance,
    BalanceSnapshot,
    EscrowOverdrawn,
    LedgerTransaction,
    Posted,
    Posting,
    Side,
    TransactionKind,
    already_posted,
    escrow_problem,
)
from domain.shared import CountryCode, Currency, Money

_MAX_CODE_POINT: Final = 0x10FFFF


def advisory_lock_key(country: CountryCode, account: Account, currency: Currency) -> int:
    """A stable signed 64-bit key for (country, account, currency): SHA-256's first 8 bytes."""
    digest = hashlib.sha256(
        f"ledger\x1f{country.value}\x1f{account.name}\x1f{currency.code}".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def checkpoints_due_query(*, every: int, after: int, limit: int, scope: CountryScope) -> Select[Any]:
    """The checkpoint task's question (D69): the accounts with a posting whose id is greater
    than ``after`` (a range of the primary key: the newest postings) that have an
    ``every``-th posting after their newest snapshot - found on the ``(country_code, account,
    currency, id)`` index, reading at most ``every`` entries per account, never counting
    history. ``after`` is a bound value, not a subquery, so that both planners see how
    narrow the range is."""
    postings = ledger_postings.c
    # ordered by id so that SQLite, too, reads the range of the primary key (without the
    # ORDER BY it scans the whole account index for the DISTINCT's sake)
    newest_query = (
        select(postings.country_code, postings.account, postings.currency)
        .where(postings.id > after)
        .order_by(postings.id)
    )
    newest = within_scope(newest_query, postings.country_code, scope).subquery("newest")
    recent = select(newest.c.country_code, newest.c.account, newest.c.currency).distinct().subquery("recent")
    snapshots = ledger_balance_snapshots.alias("s")
    later = ledger_postings.alias("later")
    same_account = (
        (snapshots.c.country_code == recent.c.country_code)
        & (snapshots.c.account == recent.c.account)
        & (snapshots.c.currency == recent.c.currency)
    )
    since = (
        select(func.coalesce(func.max(snapshots.c.as_of_posting_id), 0))
        .where(same_account)
        .correlate(recent)
        .scalar_subquery()
    )
    nth_later = (
        select(later.c.id)
        .where(
            later.c.country_code == recent.c.country_code,
            later.c.account == recent.c.account,
            later.c.currency == recent.c.currency,
            later.c.id > since,
        )
        .correlate(recent)
        .order_by(later.c.id)
        .limit(1)
        .offset(every - 1)
    )
    return (
        select(recent.c.country_code, recent.c.account, recent.c.currency)
        .where(nth_later.exists())
        .order_by(recent.c.country_code, recent.c.account, recent.c.currency)
        .limit(limit)
    )


class SqlAlchemyLedgerRepository:
    """``LedgerRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def post(self, transaction: LedgerTransaction) -> Result[Posted | AlreadyPosted, EscrowOverdrawn]:
        connection = await self._session.connection()
        postgres = connection.dialect.name == "postgresql"
        country, currency = transaction.country, transaction.currency
        net = transaction.net_by_account()
        accounts = sorted({posting.account for posting in transaction.postings})

        debited_escrows = [account for account in accounts if account.is_escrow and net.get(account, 0) > 0]
        if debited_escrows:
            # An escrow that has no account row yet has never been credited (a posting
            # inserts its accounts' rows in the same transaction), so its balance is 0.
            if postgres:
                await self._lock_accounts(connection, country, currency, debited_escrows)
            # After the lock: a concurrent post of the same key has committed (or rolled back).
            existing = await self.get(country, transaction.idempotency_key)
            if existing is not None:
                return Success(already_posted(existing, transaction))
            normal = {
                account: -(await _balance_minor(connection, country, account, currency))
                for account in debited_escrows
            }
            problem = escrow_problem(transaction, normal)
            if problem is not None:
                return Failure(problem)  # nothing was written

        await self._ensure_accounts(connection, country, currency, accounts)

        if postgres:
            for account in accounts:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock_shared(:key)"),
                    {"key": advisory_lock_key(country, account, currency)},
                )

        inserted = (
            await connection.execute(
                _insert(connection, ledger_transactions)
                .values(
                    country_code=country.value,
                    idempotency_key=transaction.idempotency_key,
                    kind=transaction.kind.value,
                    currency=currency.code,
                    amount_minor=transaction.amount.minor,
                    memo=transaction.memo,
                    reverses=transaction.reverses,
                )
                .on_conflict_do_nothing(index_elements=["country_code", "idempotency_key"])
                .returning(ledger_transactions.c.id)
            )
        ).scalar_one_or_none()
        if inserted is None:
            existing = await self.get(country, transaction.idempotency_key)
            if existing is None:  # pragma: no cover - the conflicting row is committed or we'd have waited
                raise RuntimeError(
                    f"idempotency key {transaction.idempotency_key!r} conflicted but is not visible"
                )
            return Success(already_posted(existing, transaction))

        posting_ids = (
            (
                await connection.execute(
                    ledger_postings.insert()
                    .values(
                        [
                            {
                                "transaction_id": inserted,
                                "country_code": country.value,
                                "account": posting.account.name,
                                "currency": currency.code,
                                "side": posting.side.value,
                                "amount_minor": posting.amount.minor,
                                "signed_minor": posting.signed_minor,
                            }
                            for posting in transaction.postings
                        ]
                    )
                    .returning(ledger_postings.c.id)
                )
            )
            .scalars()
            .all()
        )
        return Success(Posted(transaction, min(posting_ids)))

    async def get(self, country: CountryCode, idempotency_key: str) -> LedgerTransaction | None:
        rows = (
            await self._session.execute(
                select(ledger_transactions).where(
                    ledger_transactions.c.country_code == country.value,
                    ledger_transactions.c.idempotency_key == idempotency_key,
                )
            )
        ).all()
        found = await self._rebuild(country, rows)
        return found[0] if found else None

    async def transactions_for(self, country: CountryCode, key_prefix: str) -> list[LedgerTransaction]:
        key = ledger_transactions.c.idempotency_key
        conditions: list[ColumnElement[bool]] = [ledger_transactions.c.country_code == country.value]
        if key_prefix:
            # A range on the (country_code, idempotency_key) index; keys compare bytewise
            # (COLLATE "C" / BINARY), which is code-point order, so the range is the prefix.
            conditions.append(key >= key_prefix)
            upper = _prefix_upper_bound(key_prefix)
            if upper is not None:
                conditions.append(key < upper)
        rows = (
            await self._session.execute(
                select(ledger_transactions).where(and_(*conditions)).order_by(ledger_transactions.c.id)
            )
        ).all()
        rows = [row for row in rows if str(row.idempotency_key).startswith(key_prefix)]
        return await self._rebuild(country, rows)

    async def balance(self, country: CountryCode, account: Account, currency: Currency) -> Balance:
        connection = await self._session.connection()
        minor = await _balance_minor(connection, country, account, currency)
        return Balance(account, Money(minor, currency))

    async def checkpoint(self, country: CountryCode, account: Account, currency: Currency) -> BalanceSnapshot:
        connection = await self._session.connection()
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": advisory_lock_key(country, account, currency)},
            )
        postings = ledger_postings.c
        last = (
            await connection.execute(
                select(func.max(postings.id)).where(*_posting_filter(country, account, currency))
            )
        ).scalar_one_or_none()
        as_of = int(last) if last is not None else 0
        previous = (
            await connection.execute(
                select(ledger_balance_snapshots.c.as_of_posting_id, ledger_balance_snapshots.c.balance_minor)
                .where(
                    *_snapshot_filter(country, account, currency),
                    ledger_balance_snapshots.c.as_of_posting_id <= as_of,
                )
                .order_by(ledger_balance_snapshots.c.as_of_posting_id.desc())
                .limit(1)
            )
        ).first()
        since = int(previous.as_of_posting_id) if previous is not None else 0
        total = int(previous.balance_minor) if previous is not None else 0
        if since < as_of:
            added = (
                await connection.execute(
                    select(func.coalesce(func.sum(postings.signed_minor), 0)).where(
                        *_posting_filter(country, account, currency),
                        postings.id > since,
                        postings.id <= as_of,
                    )
                )
            ).scalar_one()
            total += int(added)
        if previous is None or since < as_of:
            await connection.execute(
                _insert(connection, ledger_balance_snapshots)
                .values(
                    country_code=country.value,
                    account=account.name,
                    currency=currency.code,
                    as_of_posting_id=as_of,
                    balance_minor=total,
                )
                .on_conflict_do_nothing()
            )
        return BalanceSnapshot(account, currency, total, as_of)

    async def newest_posting_id(self) -> int:
        newest = (await self._session.execute(select(func.max(ledger_postings.c.id)))).scalar_one_or_none()
        return 0 if newest is None else int(newest)

    async def checkpoints_due(self, *, every: int, after: int, limit: int) -> list[LedgerAccountKey]:
        scope = current_scope()
        if every < 1 or limit < 1 or sees_nothing(scope):
            return []
        query = checkpoints_due_query(every=every, after=max(0, after), limit=limit, scope=scope)
        rows = (await self._session.execute(query)).all()
        return [
            LedgerAccountKey(
                CountryCode(str(row.country_code)), Account(str(row.account)), Currency.of(str(row.currency))
            )
            for row in rows
        ]

    async def accounts(
        self, prefix: str, *, after: LedgerAccountKey | None = None, limit: int = 1_000
    ) -> list[LedgerAccountKey]:
        scope = current_scope()
        if limit < 1 or sees_nothing(scope):
            return []
        accounts = ledger_accounts.c
        query = select(accounts.country_code, accounts.account, accounts.currency).where(
            accounts.account.startswith(prefix, autoescape=True)
        )
        if after is not None:
            query = query.where(
                tuple_(accounts.country_code, accounts.account, accounts.currency)
                > tuple_(
                    literal(after.country.value), literal(after.account.name), literal(after.currency.code)
                )
            )
        query = within_scope(query, accounts.country_code, scope)
        rows = (
            await self._session.execute(
                query.order_by(accounts.country_code, accounts.account, accounts.currency).limit(limit)
            )
        ).all()
        return [
            LedgerAccountKey(
                CountryCode(str(row.country_code)), Account(str(row.account)), Currency.of(str(row.currency))
            )
            for row in rows
            if str(row.account).startswith(prefix)  # LIKE ignores ASCII case on SQLite
        ]

    async def _ensure_accounts(
        self,
        connection: AsyncConnection,
        country: CountryCode,
        currency: Currency,
        accounts: Sequence[Account],
    ) -> None:
        """One ``ledger_accounts`` row per account (inserted in name order; existing rows untouched)."""
        await connection.execute(
            _insert(connection, ledger_accounts)
            .values(
                [
                    {
                        "country_code": country.value,
                        "account": account.name,
                        "currency": currency.code,
                        "kind": account.kind.value,
                    }
                    for account in accounts
                ]
            )
            .on_conflict_do_nothing()
        )

    async def _lock_accounts(
        self,
        connection: AsyncConnection,
        country: CountryCode,
        currency: Currency,
        accounts: Sequence[Account],
    ) -> None:
        """``SELECT ... FOR UPDATE`` on the accounts' rows, locked in name order (PostgreSQL)."""
        await connection.execute(
            select(ledger_accounts.c.account)
            .where(
                ledger_accounts.c.country_code == country.value,
                ledger_accounts.c.currency == currency.code,
                ledger_accounts.c.account.in_([account.name for account in accounts]),
            )
            .order_by(ledger_accounts.c.account)
            .with_for_update()
        )

    async def _rebuild(self, country: CountryCode, rows: Sequence[Row[Any]]) -> list[LedgerTransaction]:
        if not rows:
            return []
        ids = [int(row.id) for row in rows]
        posting_rows = (
            await self._session.execute(
                select(ledger_postings)
                .where(
                    ledger_postings.c.country_code == country.value,
                    ledger_postings.c.transaction_id.in_(ids),
                )
                .order_by(ledger_postings.c.id)
            )
        ).all()
        legs: dict[int, list[Row[Any]]] = {transaction_id: [] for transaction_id in ids}
        for posting in posting_rows:
            legs[int(posting.transaction_id)].append(posting)
        return [_to_transaction(row, legs[int(row.id)]) for row in rows]


def _insert(connection: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _posting_filter(country: CountryCode, account: Account, currency: Currency) -> list[ColumnElement[bool]]:
    return [
        ledger_postings.c.country_code == country.value,
        ledger_postings.c.account == account.name,
        ledger_postings.c.currency == currency.code,
    ]


def _snapshot_filter(country: CountryCode, account: Account, currency: Currency) -> list[ColumnElement[bool]]:
    return [
        ledger_balance_snapshots.c.country_code == country.value,
        ledger_balance_snapshots.c.account == account.name,
        ledger_balance_snapshots.c.currency == currency.code,
    ]


async def _balance_minor(
    connection: AsyncConnection, country: CountryCode, account: Account, currency: Currency
) -> int:
    """Newest snapshot + SUM(signed_minor) of the postings after it, in one statement."""
    snapshots = ledger_balance_snapshots.c
    newest = (
        select(snapshots.as_of_posting_id, snapshots.balance_minor)
        .where(*_snapshot_filter(country, account, currency))
        .order_by(snapshots.as_of_posting_id.desc())
        .limit(1)
        .subquery("newest")
    )
    as_of = select(newest.c.as_of_posting_id).scalar_subquery()
    snapshot_minor = select(newest.c.balance_minor).scalar_subquery()
    since = select(func.coalesce(func.sum(ledger_postings.c.signed_minor), 0)).where(
        *_posting_filter(country, account, currency),
        ledger_postings.c.id > func.coalesce(as_of, literal(0)),
    )
    row = (
        await connection.execute(
            select(
                func.coalesce(snapshot_minor, literal(0)).label("snapshot_minor"),
                since.scalar_subquery().label("since_minor"),
            )
        )
    ).one()
    return int(row.snapshot_minor) + int(row.since_minor)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    stem = prefix
    while stem:
        last = ord(stem[-1])
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not encodable; skip the block
            nxt = 0xE000
        if nxt <= _MAX_CODE_POINT:
            return stem[:-1] + chr(nxt)
        stem = stem[:-1]
    return None


def _to_transaction(row: Row[Any], legs: Iterable[Row[Any]]) -> LedgerTransaction:
    currency = Currency.of(str(row.currency))
    return LedgerTransaction(
        idempotency_key=str(row.idempotency_key),
        kind=TransactionKind(str(row.kind)),
        country=CountryCode(str(row.country_code)),
        currency=currency,
        postings=tuple(
            Posting(Account(str(leg.account)), Side(str(leg.side)), Money(int(leg.amount_minor), currency))
            for leg in legs
        ),
        memo=str(row.memo),
        reverses=None if row.reverses is None else str(row.reverses),
    )
