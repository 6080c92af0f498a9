"""The ledger repository on both databases: exactly-once posting, escrow, balances, snapshots, WORM."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

import pytest
from returns.result import Failure, Success
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.ledger import advisory_lock_key
from adapters.persistence.row_level_security import APP_ROLE_ENV, DEFAULT_APP_ROLE
from adapters.persistence.tables import (
    ledger_accounts,
    ledger_balance_snapshots,
    ledger_postings,
    ledger_transactions,
)
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from application.ports.ledger import LedgerRepository
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.ledger import (
    Account,
    AlreadyPosted,
    Balance,
    BalanceSnapshot,
    EscrowOverdrawn,
    IdempotencyKeyReusedForOtherMoney,
    LedgerBook,
    LedgerTransaction,
    Posted,
    rules,
)
from domain.shared import CountryCode, Currency, Money
from domain.snapshots import OrderSnapshot
from tests.integration.worm import assert_append_only
from tests.strategies import snapshot

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

MX = CountryCode("MX")
CO = CountryCode("CO")
MXN = Currency.of("MXN")
PSP = Account.psp_clearing()
REVENUE = Account.commission_revenue()


def order_key(snap: OrderSnapshot, step: str) -> str:
    return f"order:{snap.order_id}/{step}"


async def post_all(
    uow_factory: UowFactory, *transactions: LedgerTransaction
) -> list[Posted | AlreadyPosted | EscrowOverdrawn]:
    """Post each transaction in its own committed unit of work."""
    outcomes: list[Posted | AlreadyPosted | EscrowOverdrawn] = []
    for transaction in transactions:
        async with uow_factory() as uow:
            result = await uow.ledger.post(transaction)
            await uow.commit()
        match result:
            case Success(value):
                outcomes.append(value)
            case Failure(error):
                outcomes.append(error)
    return outcomes


def accounts_of(*transactions: LedgerTransaction) -> set[Account]:
    return {posting.account for transaction in transactions for posting in transaction.postings}


async def assert_matches_book(
    uow_factory: UowFactory, *transactions: LedgerTransaction, country: CountryCode = MX
) -> LedgerBook:
    """Every touched account's balance equals the in-memory reference book's."""
    book = LedgerBook()
    for transaction in transactions:
        assert isinstance(book.post(transaction), Success)
    async with uow_factory() as uow:
        for account in accounts_of(*transactions):
            for currency in {transaction.currency for transaction in transactions}:
                assert await uow.ledger.balance(country, account, currency) == book.balance(account, currency)
    return book


async def row_counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        transactions = await connection.scalar(select(func.count()).select_from(ledger_transactions))
        postings = await connection.scalar(select(func.count()).select_from(ledger_postings))
    return int(transactions or 0), int(postings or 0)


async def test_the_unit_of_work_exposes_the_ledger_port(uow_factory: UowFactory) -> None:
    factory: UnitOfWorkFactory = uow_factory
    uow: UnitOfWork = factory()
    async with uow:
        ledger: LedgerRepository = uow.ledger
        assert await ledger.get(MX, "nothing") is None


async def test_capture_then_release_round_trip(uow_factory: UowFactory) -> None:
    snap = snapshot(order_id="ord_1")
    capture = rules.capture(snap, order_key(snap, "capture"))
    release = rules.release(snap, order_key(snap, "release"))

    captured, released = await post_all(uow_factory, capture, release)
    assert isinstance(captured, Posted) and captured.transaction == capture
    assert isinstance(released, Posted) and released.transaction == release
    assert released.first_sequence > captured.first_sequence

    async with uow_factory() as uow:
        assert await uow.ledger.get(MX, capture.idempotency_key) == capture
        assert await uow.ledger.get(MX, release.idempotency_key) == release
        assert await uow.ledger.transactions_for(MX, "order:ord_1/") == [capture, release]
        escrow = await uow.ledger.balance(MX, Account.escrow("ord_1"), MXN)
        payable = await uow.ledger.balance(MX, Account.seller_payable("sel_1"), MXN)
        revenue = await uow.ledger.balance(MX, REVENUE, MXN)
        clearing = await uow.ledger.balance(MX, PSP, MXN)
    assert escrow == Balance(Account.escrow("ord_1"), Money.zero(MXN))
    assert payable.normal == snap.seller_payout
    assert revenue.normal == snap.platform_take
    assert clearing.normal == snap.total_charged
    await assert_matches_book(uow_factory, capture, release)


@pytest.mark.parametrize("case", ["full_from_escrow", "partial_then_remainder", "clawback_after_release"])
async def test_refund_round_trips_match_the_reference_book(uow_factory: UowFactory, case: str) -> None:
    snap = snapshot(order_id="ord_r", discount=3_000)
    capture = rules.capture(snap, order_key(snap, "capture"))
    transactions: list[LedgerTransaction] = [capture]
    if case == "full_from_escrow":
        transactions.append(
            rules.refund_from_escrow(snap, rules.full_refund_split(snap), order_key(snap, "refund"))
        )
    elif case == "partial_then_remainder":
        split = rules.partial_refund_split(snap, 2_500)
        transactions.append(rules.refund_from_escrow(snap, split, order_key(snap, "refund")))
        remainder = rules.release_remainder(snap, split, order_key(snap, "release"))
        assert remainder is not None
        transactions.append(remainder)
    else:
        transactions.append(rules.release(snap, order_key(snap, "release")))
        transactions.append(
            rules.refund_with_clawback(snap, rules.full_refund_split(snap), order_key(snap, "clawback"))
        )

    outcomes = await post_all(uow_factory, *transactions)
    assert [type(outcome) for outcome in outcomes] == [Posted] * len(transactions)
    book = await assert_matches_book(uow_factory, *transactions)
    assert book.total_by_currency() == {"MXN": 0}
    async with uow_factory() as uow:
        assert await uow.ledger.balance(MX, Account.escrow("ord_r"), MXN) == Balance(
            Account.escrow("ord_r"), Money.zero(MXN)
        )
        assert await uow.ledger.transactions_for(MX, "order:ord_r/") == transactions


async def test_a_reversal_round_trips_with_its_link_to_the_reversed_key(uow_factory: UowFactory) -> None:
    snap = snapshot(order_id="ord_1", items=10**12)  # amounts beyond 32 bits
    capture = rules.capture(snap, order_key(snap, "capture"))
    reversal = capture.reversal(order_key(snap, "capture/reversal"), memo="captured twice by mistake")
    assert [type(outcome) for outcome in await post_all(uow_factory, capture, reversal)] == [Posted, Posted]
    async with uow_factory() as uow:
        stored = await uow.ledger.get(MX, reversal.idempotency_key)
        assert stored == reversal and stored.reverses == capture.idempotency_key
    await assert_matches_book(uow_factory, capture, reversal)


async def test_many_orders_and_markets_match_the_reference_book(uow_factory: UowFactory) -> None:
    rng = random.Random(7)
    transactions: list[LedgerTransaction] = []
    for n in range(12):
        snap = snapshot(
            order_id=f"ord_{n}",
            items=rng.randint(1, 10**7),
            delivery=rng.randint(0, 10**4),
            tax=rng.randint(0, 10**5),
            commission_bp=rng.randint(0, 9_999),
        )
        transactions.append(rules.capture(snap, order_key(snap, "capture")))
        match n % 3:
            case 0:
                transactions.append(rules.release(snap, order_key(snap, "release")))
            case 1:
                split = rules.partial_refund_split(snap, 5_000)
                transactions.append(rules.refund_from_escrow(snap, split, order_key(snap, "refund")))
            case _:
                pass
    outcomes = await post_all(uow_factory, *transactions)
    assert all(isinstance(outcome, Posted) for outcome in outcomes)
    book = await assert_matches_book(uow_factory, *transactions)
    async with uow_factory() as uow:
        total = 0
        for account in accounts_of(*transactions):
            total += (await uow.ledger.balance(MX, account, MXN)).amount.minor
    assert total == 0 == book.total_by_currency()["MXN"]


async def test_the_same_key_posts_once(uow_factory: UowFactory, engine: AsyncEngine) -> None:
    snap = snapshot(order_id="ord_1")
    capture = rules.capture(snap, order_key(snap, "capture"))
    release = rules.release(snap, order_key(snap, "release"))
    first = await post_all(uow_factory, capture, release)
    assert [type(outcome) for outcome in first] == [Posted, Posted]
    counts = await row_counts(engine)

    # Again, in new units of work and twice within one: nothing changes.
    again = await post_all(uow_factory, capture, release)
    assert again == [AlreadyPosted(capture), AlreadyPosted(release)]
    async with uow_factory() as uow:
        assert await uow.ledger.post(capture) == Success(AlreadyPosted(capture))
        assert await uow.ledger.post(release) == Success(AlreadyPosted(release))  # not EscrowOverdrawn
        await uow.commit()
    # Other money under a used key is a bug of whoever built the key: refused loudly, nothing
    # written (D101), never answered as if it had been posted.
    other = rules.capture(snapshot(order_id="ord_1", items=1), order_key(snap, "capture"))
    with pytest.raises(IdempotencyKeyReusedForOtherMoney, match="order:ord_1/capture"):
        await post_all(uow_factory, other)

    assert await row_counts(engine) == counts
    await assert_matches_book(uow_factory, capture, release)


async def test_posting_twice_in_one_unit_of_work_is_idempotent_too(uow_factory: UowFactory) -> None:
    capture = rules.capture(snapshot(order_id="ord_1"), "order:ord_1/capture")
    async with uow_factory() as uow:
        first = await uow.ledger.post(capture)
        second = await uow.ledger.post(capture)
        await uow.commit()
    assert isinstance(first.unwrap(), Posted)
    assert second == Success(AlreadyPosted(capture))
    await assert_matches_book(uow_factory, capture)


async def test_an_escrow_overdraw_is_refused_and_writes_nothing(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    snap = snapshot(order_id="ord_1")
    release = rules.release(snap, order_key(snap, "release"))
    async with uow_factory() as uow:
        result = await uow.ledger.post(release)
        await uow.commit()  # even committed, the refused post left nothing behind
    assert result == Failure(EscrowOverdrawn(Account.escrow("ord_1").name, -snap.total_charged.minor))
    assert await row_counts(engine) == (0, 0)

    capture = rules.capture(snap, order_key(snap, "capture"))
    refund = rules.refund_from_escrow(snap, rules.full_refund_split(snap), order_key(snap, "refund"))
    assert [type(outcome) for outcome in await post_all(uow_factory, capture, refund, release)] == [
        Posted,
        Posted,
        EscrowOverdrawn,
    ]
    assert await row_counts(engine) == (2, 4)
    async with uow_factory() as uow:
        assert await uow.ledger.get(MX, release.idempotency_key) is None
    await assert_matches_book(uow_factory, capture, refund)


async def test_balance_is_exact_across_checkpoints(uow_factory: UowFactory) -> None:
    snaps = [snapshot(order_id=f"ord_{n}", items=10_000 * (n + 1)) for n in range(4)]
    captures = [rules.capture(snap, order_key(snap, "capture")) for snap in snaps]
    await post_all(uow_factory, *captures[:2])

    async with uow_factory() as uow:
        checkpoint = await uow.ledger.checkpoint(MX, PSP, MXN)
        await uow.commit()
    async with uow_factory() as uow:
        last_psp_id = await uow.session.scalar(
            select(func.max(ledger_postings.c.id)).where(ledger_postings.c.account == PSP.name)
        )
    expected = sum(snap.total_charged.minor for snap in snaps[:2])
    assert checkpoint == BalanceSnapshot(PSP, MXN, expected, int(last_psp_id or 0))

    await post_all(uow_factory, *captures[2:])
    await assert_matches_book(uow_factory, *captures)

    async with uow_factory() as uow:  # checkpointing again with nothing new changes nothing
        assert (await uow.ledger.checkpoint(MX, PSP, MXN)).balance_minor == sum(
            snap.total_charged.minor for snap in snaps
        )
        again = await uow.ledger.checkpoint(MX, PSP, MXN)
        await uow.commit()
    assert again.balance_minor == sum(snap.total_charged.minor for snap in snaps)
    await post_all(uow_factory, rules.release(snaps[0], order_key(snaps[0], "release")))
    async with uow_factory() as uow:
        assert (await uow.ledger.balance(MX, PSP, MXN)).amount.minor == again.balance_minor


async def test_the_balance_reads_the_newest_snapshot_and_only_later_postings(uow_factory: UowFactory) -> None:
    snaps = [snapshot(order_id=f"ord_{n}") for n in range(3)]
    captures = [rules.capture(snap, order_key(snap, "capture")) for snap in snaps]
    await post_all(uow_factory, *captures[:2])
    async with uow_factory() as uow:
        as_of = int(await uow.session.scalar(select(func.max(ledger_postings.c.id))) or 0)
        # A checkpoint with a deliberately wrong value, so its use shows in the balance;
        # and an older one that must be ignored.
        await uow.session.execute(
            insert(ledger_balance_snapshots),
            [
                {
                    "country_code": "MX",
                    "account": PSP.name,
                    "currency": "MXN",
                    "as_of_posting_id": as_of,
                    "balance_minor": 1_000_000_000,
                },
                {
                    "country_code": "MX",
                    "account": PSP.name,
                    "currency": "MXN",
                    "as_of_posting_id": 1,
                    "balance_minor": -5,
                },
            ],
        )
        await uow.commit()
    await post_all(uow_factory, captures[2])
    async with uow_factory() as uow:
        balance = await uow.ledger.balance(MX, PSP, MXN)
        # The escrow account has no snapshot: summed from the beginning.
        escrow = await uow.ledger.balance(MX, Account.escrow("ord_0"), MXN)
    assert balance.amount.minor == 1_000_000_000 + snaps[2].total_charged.minor
    assert escrow.normal == snaps[0].total_charged


async def test_postings_and_transactions_cannot_be_changed_or_deleted(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    snap = snapshot(order_id="ord_1")
    await post_all(uow_factory, rules.capture(snap, order_key(snap, "capture")))
    refused = [
        update(ledger_postings).values(amount_minor=ledger_postings.c.amount_minor + 1),
        update(ledger_postings).where(ledger_postings.c.account == PSP.name).values(account="psp:other"),
        delete(ledger_postings),
        update(ledger_transactions).values(memo="forged"),
        delete(ledger_transactions),
    ]
    await assert_append_only(engine, backend, refused, truncated=("ledger_postings", "ledger_transactions"))
    assert await row_counts(engine) == (1, 2)


async def test_balance_snapshots_cannot_be_changed_or_deleted_and_the_service_may_only_add_them(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    snap = snapshot(order_id="ord_1")
    await post_all(uow_factory, rules.capture(snap, order_key(snap, "capture")))
    async with uow_factory() as uow:
        taken = await uow.ledger.checkpoint(MX, PSP, MXN)
        await uow.commit()
    refused = [
        update(ledger_balance_snapshots).values(balance_minor=ledger_balance_snapshots.c.balance_minor + 1),
        update(ledger_balance_snapshots).values(as_of_posting_id=0),
        delete(ledger_balance_snapshots),
    ]
    await assert_append_only(engine, backend, refused, truncated=("ledger_balance_snapshots",))
    if backend == "postgresql":
        async with engine.connect() as connection:
            granted = {
                privilege: await connection.scalar(
                    text("SELECT has_table_privilege(:role, 'ledger_balance_snapshots', :privilege)"),
                    {"role": os.environ.get(APP_ROLE_ENV, DEFAULT_APP_ROLE), "privilege": privilege},
                )
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE")
            }
        assert granted == {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False}
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ledger_balance_snapshots))).all()
    assert [(r.account, r.as_of_posting_id, r.balance_minor) for r in rows] == [
        (PSP.name, taken.as_of, snap.total_charged.minor)
    ]
    async with uow_factory() as uow:  # a checkpoint with nothing new adds nothing and fails nothing
        assert await uow.ledger.checkpoint(MX, PSP, MXN) == taken
        await uow.commit()


async def test_a_posting_must_be_positive_and_signed_by_its_side(engine: AsyncEngine) -> None:
    capture = rules.capture(snapshot(order_id="ord_1"), "k")
    async with engine.begin() as connection:
        transaction_id = (
            await connection.execute(
                insert(ledger_transactions)
                .values(
                    country_code="MX",
                    idempotency_key="k",
                    kind=capture.kind.value,
                    currency="MXN",
                    amount_minor=10,
                    memo="",
                )
                .returning(ledger_transactions.c.id)
            )
        ).scalar_one()
    bad = [
        {"side": "DEBIT", "amount_minor": 0, "signed_minor": 0},
        {"side": "DEBIT", "amount_minor": 10, "signed_minor": -10},
        {"side": "CREDIT", "amount_minor": 10, "signed_minor": 10},
    ]
    for values in bad:
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    insert(ledger_postings).values(
                        transaction_id=transaction_id,
                        country_code="MX",
                        account=PSP.name,
                        currency="MXN",
                        **values,
                    )
                )


async def test_a_rollback_leaves_nothing(uow_factory: UowFactory, engine: AsyncEngine) -> None:
    snap = snapshot(order_id="ord_1")
    capture = rules.capture(snap, order_key(snap, "capture"))
    async with uow_factory() as uow:  # never committed
        assert isinstance((await uow.ledger.post(capture)).unwrap(), Posted)
        await uow.ledger.checkpoint(MX, PSP, MXN)
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factory() as uow:
            await uow.ledger.post(capture)
            raise RuntimeError("boom")
    async with uow_factory() as uow:
        await uow.ledger.post(capture)
        await uow.rollback()
    assert await row_counts(engine) == (0, 0)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(ledger_accounts)) == 0
        assert await connection.scalar(select(func.count()).select_from(ledger_balance_snapshots)) == 0
    # The key is still free.
    assert [type(outcome) for outcome in await post_all(uow_factory, capture)] == [Posted]


async def test_everything_is_scoped_by_country(uow_factory: UowFactory) -> None:
    snap = snapshot(order_id="ord_1")
    capture = rules.capture(snap, order_key(snap, "capture"))
    await post_all(uow_factory, capture)
    async with uow_factory() as uow:
        assert await uow.ledger.get(CO, capture.idempotency_key) is None
        assert await uow.ledger.transactions_for(CO, "order:") == []
        assert await uow.ledger.transactions_for(CO, "") == []
        assert (await uow.ledger.balance(CO, PSP, MXN)).amount.minor == 0
        assert (await uow.ledger.checkpoint(CO, PSP, MXN)).balance_minor == 0
        assert await uow.ledger.transactions_for(MX, "") == [capture]

    # The same key in another country is another transaction.
    co_snap = snapshot(order_id="ord_1", country="CO", currency="COP")
    co_capture = rules.capture(co_snap, order_key(snap, "capture"))
    assert [type(outcome) for outcome in await post_all(uow_factory, co_capture)] == [Posted]
    # CO's escrow for ord_1 is not MX's: releasing in CO sees only CO's money.
    co_release = rules.release(co_snap, order_key(snap, "release"))
    assert [type(outcome) for outcome in await post_all(uow_factory, co_release)] == [Posted]
    async with uow_factory() as uow:
        assert await uow.ledger.get(CO, capture.idempotency_key) == co_capture
        assert await uow.ledger.get(MX, capture.idempotency_key) == capture
        assert (await uow.ledger.balance(MX, Account.escrow("ord_1"), MXN)).normal == snap.total_charged
        assert await uow.ledger.transactions_for(CO, "order:ord_1/") == [co_capture, co_release]


async def test_transactions_for_matches_the_prefix_exactly(uow_factory: UowFactory) -> None:
    keys = [
        "dispute:d1/a",
        "dispute:d1/b",
        "dispute:d10/a",
        "dispute:D1/c",
        "dispute:d1",
        "dispute:d1/\U0010ffff",
    ]
    transactions = [rules.capture(snapshot(order_id=f"ord_{n}"), key) for n, key in enumerate(keys)]
    await post_all(uow_factory, *transactions)
    async with uow_factory() as uow:
        found = await uow.ledger.transactions_for(MX, "dispute:d1/")
        assert [t.idempotency_key for t in found] == ["dispute:d1/a", "dispute:d1/b", "dispute:d1/\U0010ffff"]
        assert [t.idempotency_key for t in await uow.ledger.transactions_for(MX, "dispute:d1")] == [
            "dispute:d1/a",
            "dispute:d1/b",
            "dispute:d10/a",
            "dispute:d1",
            "dispute:d1/\U0010ffff",
        ]
        assert await uow.ledger.transactions_for(MX, "dispute:d1%") == []
        assert await uow.ledger.transactions_for(MX, "dispute:d1_") == []


def test_the_advisory_lock_key_is_a_stable_signed_64_bit_hash() -> None:
    key = advisory_lock_key(MX, PSP, MXN)
    assert -(2**63) <= key < 2**63
    assert key == advisory_lock_key(CountryCode("MX"), Account("psp:clearing"), Currency.of("MXN"))
    assert key != advisory_lock_key(CO, PSP, MXN)
    assert key != advisory_lock_key(MX, REVENUE, MXN)
    assert key != advisory_lock_key(MX, PSP, Currency.of("USD"))


@pytest.mark.postgres
async def test_concurrent_posts_and_checkpoints_keep_every_invariant(migrated_url: str, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrency stress runs on PostgreSQL (SQLite serialises writers)")
    engine = create_engine(migrated_url, pool_size=50, max_overflow=10)
    uow_factory = unit_of_work_factory(create_session_factory(engine))
    markets = [(CountryCode("MX"), "MXN"), (CountryCode("CO"), "COP")]
    orders = 40
    snaps = [
        snapshot(
            order_id=f"ord_{n}", country=markets[n % 2][0].value, currency=markets[n % 2][1], items=1_000 + n
        )
        for n in range(orders)
    ]
    captures = [rules.capture(snap, order_key(snap, "capture")) for snap in snaps]
    releases = [rules.release(snap, order_key(snap, "release")) for snap in snaps]
    refunds = [
        rules.refund_from_escrow(snap, rules.full_refund_split(snap), order_key(snap, "refund"))
        for snap in snaps
    ]
    racing = {n for n in range(orders) if n % 4 == 3}  # release and refund race for the escrow
    retried = {n for n in range(orders) if n % 3 == 0 and n not in racing}  # keys posted twice at once
    start = asyncio.Event()
    outcomes: dict[str, list[type]] = {}

    async def post(transaction: LedgerTransaction) -> None:
        async with uow_factory() as uow:
            result = await uow.ledger.post(transaction)
            await asyncio.sleep(random.random() * 0.05)  # hold the locks a little
            await uow.commit()
        match result:
            case Success(value):
                outcomes.setdefault(transaction.idempotency_key, []).append(type(value))
            case Failure(error):
                outcomes.setdefault(transaction.idempotency_key, []).append(type(error))

    async def order_flow(n: int) -> None:
        await start.wait()
        await post(captures[n])
        if n in racing:
            await asyncio.gather(post(releases[n]), post(refunds[n]))
        else:
            await post(releases[n])

    posting_done = asyncio.Event()

    async def checkpointer(n: int) -> None:  # checkpoints the hot accounts while posts are in flight
        await start.wait()
        country, code = markets[n % 2]
        accounts = (PSP, REVENUE, Account.seller_payable("sel_1"), Account.escrow(f"ord_{n}"))
        rounds = 0
        while not posting_done.is_set() or rounds < len(accounts):
            async with uow_factory() as uow:
                await uow.ledger.checkpoint(country, accounts[rounds % len(accounts)], Currency.of(code))
                await uow.commit()
            rounds += 1
            await asyncio.sleep(random.random() * 0.005)

    async def warm_up(held: asyncio.Event) -> None:  # open the pool's connections before the start
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await held.wait()

    try:
        held = asyncio.Event()
        warming = [asyncio.create_task(warm_up(held)) for _ in range(orders + len(retried) + 8)]
        await asyncio.sleep(0)
        held.set()
        await asyncio.gather(*warming)
        flows = [asyncio.create_task(order_flow(n)) for n in range(orders)]
        flows += [asyncio.create_task(order_flow(n)) for n in sorted(retried)]
        checkpointers = [asyncio.create_task(checkpointer(n)) for n in range(8)]
        start.set()
        results = await asyncio.wait_for(asyncio.gather(*flows, return_exceptions=True), timeout=60)
        posting_done.set()
        results += await asyncio.wait_for(asyncio.gather(*checkpointers, return_exceptions=True), timeout=60)
        errors = [result for result in results if isinstance(result, BaseException)]
        assert errors == [], errors  # in particular no DeadlockDetectedError
        assert not any(isinstance(error, DBAPIError) for error in errors)

        posted: list[LedgerTransaction] = []
        for n in range(orders):
            assert outcomes[captures[n].idempotency_key].count(Posted) == 1
            if n in racing:  # exactly one of the two emptied the escrow; the other was refused
                kinds = outcomes[releases[n].idempotency_key] + outcomes[refunds[n].idempotency_key]
                assert sorted(kind.__name__ for kind in kinds) == ["EscrowOverdrawn", "Posted"]
                winner = releases[n] if outcomes[releases[n].idempotency_key] == [Posted] else refunds[n]
            else:
                assert outcomes[releases[n].idempotency_key].count(Posted) == 1
                winner = releases[n]
            posted += [captures[n], winner]
        for n in range(orders):
            for transaction in (captures[n],) if n in racing else (captures[n], releases[n]):
                expected = [Posted, AlreadyPosted] if n in retried else [Posted]
                assert sorted(outcomes[transaction.idempotency_key], key=str) == sorted(expected, key=str)
        book = LedgerBook()
        for transaction in posted:
            assert isinstance(book.post(transaction), Success)

        async with engine.connect() as connection:
            stored = await connection.scalar(select(func.count()).select_from(ledger_transactions))
            assert stored == len(posted) == 2 * orders
            duplicated = (
                await connection.execute(
                    select(ledger_transactions.c.idempotency_key)
                    .group_by(ledger_transactions.c.country_code, ledger_transactions.c.idempotency_key)
                    .having(func.count() > 1)
                )
            ).all()
            assert duplicated == []
            raw = {
                (row.country_code, row.account, row.currency): int(row.total)
                for row in await connection.execute(
                    select(
                        ledger_postings.c.country_code,
                        ledger_postings.c.account,
                        ledger_postings.c.currency,
                        func.sum(ledger_postings.c.signed_minor).label("total"),
                    ).group_by(
                        ledger_postings.c.country_code, ledger_postings.c.account, ledger_postings.c.currency
                    )
                )
            }
            # Every checkpoint counts exactly the postings up to its as_of: none was missed.
            for row in await connection.execute(select(ledger_balance_snapshots)):
                up_to = await connection.scalar(
                    select(func.coalesce(func.sum(ledger_postings.c.signed_minor), 0)).where(
                        ledger_postings.c.country_code == row.country_code,
                        ledger_postings.c.account == row.account,
                        ledger_postings.c.currency == row.currency,
                        ledger_postings.c.id <= row.as_of_posting_id,
                    )
                )
                assert int(up_to or 0) == row.balance_minor, row
            snapshot_count = await connection.scalar(
                select(func.count()).select_from(ledger_balance_snapshots)
            )
            assert snapshot_count

        totals: dict[str, int] = {}
        async with uow_factory() as uow:
            for (country, account, currency), total in raw.items():
                balance = await uow.ledger.balance(
                    CountryCode(country), Account(account), Currency.of(currency)
                )
                assert balance.amount.minor == total, account
                totals[currency] = totals.get(currency, 0) + balance.amount.minor
            for snap in snaps:
                escrow = await uow.ledger.balance(snap.country, Account.escrow(snap.order_id), snap.currency)
                assert escrow.amount.minor == 0
            clearing = await uow.ledger.balance(MX, PSP, MXN)
            for balance in book.balances():
                country = MX if balance.amount.currency == MXN else CO
                assert await uow.ledger.balance(country, balance.account, balance.amount.currency) == balance
        assert totals == {"MXN": 0, "COP": 0}
        assert clearing == book.balance(PSP, MXN)
    finally:
        await engine.dispose()


async def test_a_checkpoint_waits_for_postings_in_flight(uow_factory: UowFactory, backend: str) -> None:
    """A posting with a smaller id that commits after a later one is not missed by a
    checkpoint taken in between: the checkpoint waits for it (PostgreSQL advisory locks)."""
    if backend != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (SQLite serialises writers)")
    snaps = [snapshot(order_id=f"ord_{n}", items=10_000 * (n + 1)) for n in range(3)]
    captures = [rules.capture(snap, order_key(snap, "capture")) for snap in snaps]
    await post_all(uow_factory, captures[0])

    async def checkpoint() -> BalanceSnapshot:
        async with uow_factory() as uow:
            taken = await uow.ledger.checkpoint(MX, PSP, MXN)
            await uow.commit()
            return taken

    async with uow_factory() as slow:
        await slow.ledger.post(captures[1])  # smaller posting ids, not committed yet
        # Another poster to the same (hot) account is not held back by it...
        await asyncio.wait_for(post_all(uow_factory, captures[2]), timeout=5)
        # ...but a checkpoint is: reading max(id) now would skip the slow posting for ever.
        pending = asyncio.create_task(checkpoint())
        await asyncio.sleep(0.3)
        assert not pending.done()
        await slow.commit()
    taken = await asyncio.wait_for(pending, timeout=10)

    total = sum(snap.total_charged.minor for snap in snaps)
    assert taken.balance_minor == total
    async with uow_factory() as uow:
        assert (await uow.ledger.balance(MX, PSP, MXN)).amount.minor == total
