"""The scheduler's ledger checkpoints (D69) on SQLite and PostgreSQL: an account with ``every``
postings after its newest snapshot gets a new one, in a transaction of its own; balances stay
exact to the minor unit; a second tick finds nothing; only the accounts among the newest
``window`` postings are looked at; the bound scope is respected; a scheduler SIGKILLed in
the middle of a checkpoint leaves the committed ones and nothing half-written; and the
question is answered from the indexes, not by reading the postings table."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from returns.result import Success
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.ledger import SqlAlchemyLedgerRepository, checkpoints_due_query
from adapters.persistence.tables import ledger_balance_snapshots, ledger_postings
from application.cases.scheduler import run_tick
from application.context import Services
from application.ledger.checkpoints import DEFAULT_EVERY, LedgerCheckpoints
from application.ports.ledger import LedgerAccountKey
from application.security.scope import ALL, scoped_to
from domain.ledger import Account, LedgerTransaction, Posted, rules
from domain.shared import CountryCode, Currency
from interfaces.cli.scheduler import scheduler_tasks
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.case_builders import T0, UowFactory
from tests.integration.crash_scheduler import run_killed
from tests.strategies import snapshot

NOW = T0 + timedelta(hours=1)
MX, CO = CountryCode("MX"), CountryCode("CO")
MXN, COP = Currency.of("MXN"), Currency.of("COP")
PSP = Account.psp_clearing()

Snapshot = tuple[str, str, str, int, int]  # country, account, currency, as_of_posting_id, balance_minor


def services(uow_factory: UowFactory) -> Services:
    return Services(uow=uow_factory, clock=FixedClock(NOW), ids=SequentialIds())


def captures(
    n: int, *, country: str = "MX", currency: str = "MXN", start: int = 0
) -> list[LedgerTransaction]:
    """``n`` captures (Dr psp:clearing / Cr escrow:order:<id>) of different amounts."""
    made = []
    for i in range(start, start + n):
        order_id = f"ord_{country.lower()}_{i}"
        snap = snapshot(order_id=order_id, country=country, currency=currency, items=10_000 + 1_337 * i)
        made.append(rules.capture(snap, f"order:{order_id}/capture"))
    return made


async def post(uow_factory: UowFactory, transactions: list[LedgerTransaction]) -> None:
    for transaction in transactions:
        async with uow_factory() as uow:
            posted = await uow.ledger.post(transaction)
            await uow.commit()
        assert isinstance(posted, Success) and isinstance(posted.unwrap(), Posted)


async def snapshots(engine: AsyncEngine) -> list[Snapshot]:
    s = ledger_balance_snapshots.c
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(s.country_code, s.account, s.currency, s.as_of_posting_id, s.balance_minor).order_by(
                s.country_code, s.account, s.as_of_posting_id
            )
        )
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]


async def posted_sum(
    engine: AsyncEngine, key: LedgerAccountKey, *, up_to: int | None = None
) -> tuple[int, int]:
    """(SUM of the account's signed postings, its greatest posting id), straight from the table."""
    p = ledger_postings.c
    query = select(func.coalesce(func.sum(p.signed_minor), 0), func.coalesce(func.max(p.id), 0)).where(
        p.country_code == key.country.value, p.account == key.account.name, p.currency == key.currency.code
    )
    if up_to is not None:
        query = query.where(p.id <= up_to)
    async with engine.connect() as connection:
        total, last = (await connection.execute(query)).one()
    return int(total), int(last)


async def assert_balances_exact(
    uow_factory: UowFactory, engine: AsyncEngine, keys: list[LedgerAccountKey]
) -> None:
    for key in keys:
        total, _ = await posted_sum(engine, key)
        async with uow_factory() as uow:
            balance = await uow.ledger.balance(key.country, key.account, key.currency)
        assert balance.amount.minor == total and balance.amount.currency == key.currency


def keys_of(transactions: list[LedgerTransaction]) -> list[LedgerAccountKey]:
    return sorted(
        {LedgerAccountKey(t.country, p.account, t.currency) for t in transactions for p in t.postings}
    )


async def test_an_account_with_every_postings_after_its_snapshot_is_checkpointed_once_and_balances_stay_exact(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    first = captures(5)
    await post(uow_factory, first)  # psp:clearing has 5 postings; each escrow has 1
    task = LedgerCheckpoints(every=3, window=1_000, batch=10)
    svc = services(uow_factory)

    assert await task(svc, NOW) == 1
    psp = LedgerAccountKey(MX, PSP, MXN)
    total, last = await posted_sum(engine, psp)
    assert total == sum(t.amount.minor for t in first) and total > 0
    assert await snapshots(engine) == [("MX", PSP.name, "MXN", last, total)]
    await assert_balances_exact(uow_factory, engine, keys_of(first))

    assert await task(svc, NOW) == 0  # nothing new after the snapshot
    more = captures(2, start=5)
    await post(uow_factory, more)
    assert await task(svc, NOW) == 0  # 2 postings after it: below every=3
    assert len(await snapshots(engine)) == 1
    await assert_balances_exact(uow_factory, engine, keys_of(first + more))  # snapshot + 2 later postings

    last_one = captures(1, start=7)
    await post(uow_factory, last_one)
    assert await task(svc, NOW) == 1
    total, last = await posted_sum(engine, psp)
    assert total == sum(t.amount.minor for t in first + more + last_one)
    assert (await snapshots(engine))[-1] == ("MX", PSP.name, "MXN", last, total)
    assert len(await snapshots(engine)) == 2
    await assert_balances_exact(uow_factory, engine, keys_of(first + more + last_one))


async def test_only_accounts_among_the_newest_window_postings_are_looked_at_and_batch_bounds_a_tick(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    posted = captures(3)
    await post(uow_factory, posted)  # 6 postings; the newest 2 are ord_mx_2's capture
    svc = services(uow_factory)

    assert await LedgerCheckpoints(every=1, window=2, batch=10)(svc, NOW) == 2
    assert [(row[1], row[4]) for row in await snapshots(engine)] == [
        (Account.escrow("ord_mx_2").name, -posted[2].amount.minor),
        (PSP.name, sum(t.amount.minor for t in posted)),
    ]

    # a wider window reaches the older escrows; batch=1 takes one per tick, in name order
    wider = LedgerCheckpoints(every=1, window=100, batch=1)
    assert await wider(svc, NOW) == 1
    assert Account.escrow("ord_mx_0").name in {row[1] for row in await snapshots(engine)}
    assert await wider(svc, NOW) == 1
    assert await wider(svc, NOW) == 0
    assert sorted(row[1] for row in await snapshots(engine)) == sorted(
        k.account.name for k in keys_of(posted)
    )
    await assert_balances_exact(uow_factory, engine, keys_of(posted))


async def test_a_later_tick_reads_only_the_postings_since_the_last_complete_one(
    uow_factory: UowFactory, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    original = SqlAlchemyLedgerRepository.checkpoints_due

    async def recording(
        self: SqlAlchemyLedgerRepository, *, every: int, after: int, limit: int
    ) -> list[LedgerAccountKey]:
        seen.append(after)
        return await original(self, every=every, after=after, limit=limit)

    monkeypatch.setattr(SqlAlchemyLedgerRepository, "checkpoints_due", recording)
    posted = captures(3)
    await post(uow_factory, posted)  # psp:clearing and three escrows, one posting or more each
    async with uow_factory() as uow:
        newest = await uow.ledger.newest_posting_id()
    task = LedgerCheckpoints(every=1, window=100, batch=3, recheck=0)
    svc = services(uow_factory)

    assert await task(svc, NOW) == 3  # a full batch: the cursor stays where it was
    assert await task(svc, NOW) == 1  # the rest: the cursor moves to `newest`
    more = captures(1, start=3)
    await post(uow_factory, more)
    assert await task(svc, NOW) == 2  # psp:clearing and the new escrow, found after the cursor
    assert await task(svc, NOW) == 0  # nothing posted since: not even asked
    assert seen == [newest - 100, newest - 100, newest]
    assert len(await snapshots(engine)) == 6
    await assert_balances_exact(uow_factory, engine, keys_of(posted + more))

    seen.clear()
    again = LedgerCheckpoints(every=1, window=100, recheck=1)  # a new process: the window first
    assert await again(svc, NOW) == 0
    last = captures(1, start=4)
    await post(uow_factory, last)
    assert await again(svc, NOW) == 2
    assert seen == [newest + 2 - 100, newest + 1]  # the cursor (newest + 2) less recheck
    await assert_balances_exact(uow_factory, engine, keys_of(posted + more + last))


async def test_the_system_scope_covers_every_country_and_a_narrower_scope_only_its_own(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    mx, co = captures(3), captures(3, country="CO", currency="COP")
    await post(uow_factory, mx + co)

    with scoped_to(frozenset({CO})):
        async with uow_factory() as uow:
            due = await uow.ledger.checkpoints_due(every=3, after=0, limit=10)
    assert due == [LedgerAccountKey(CO, PSP, COP)]
    with scoped_to(frozenset()):
        async with uow_factory() as uow:
            assert await uow.ledger.checkpoints_due(every=1, after=0, limit=10) == []
    with scoped_to(ALL):
        async with uow_factory() as uow:
            for bad in ({"every": 0}, {"limit": 0}):
                arguments = {"every": 1, "after": 0, "limit": 10, **bad}
                assert await uow.ledger.checkpoints_due(**arguments) == []

    report = await run_tick(services(uow_factory), [LedgerCheckpoints(every=3, window=1_000)])
    assert report.done == {"0:LedgerCheckpoints": 2}
    assert [(row[0], row[1], row[2]) for row in await snapshots(engine)] == [
        ("CO", PSP.name, "COP"),
        ("MX", PSP.name, "MXN"),
    ]
    await assert_balances_exact(uow_factory, engine, keys_of(mx + co))


def test_the_task_refuses_a_non_positive_setting() -> None:
    for bad in ({"every": 0}, {"window": -1}, {"batch": 0}, {"every": True}):
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            LedgerCheckpoints(**bad)
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        LedgerCheckpoints(recheck=-1)
    assert LedgerCheckpoints(recheck=0).recheck == 0
    with pytest.raises(ValueError):
        Settings(ledger_checkpoint_every=0)


async def test_every_scheduler_tick_runs_the_checkpoints_with_the_configured_settings(app_url: str) -> None:
    container = build_container(
        Settings(database_url=app_url, ledger_checkpoint_every=7, ledger_checkpoint_window=99)
    )
    try:
        tasks = [task for task in scheduler_tasks(container, batch=5) if isinstance(task, LedgerCheckpoints)]
    finally:
        await dispose_engines(container)
    assert tasks == [LedgerCheckpoints(every=7, window=99, batch=5)]
    assert Settings().ledger_checkpoint_every == DEFAULT_EVERY


async def test_a_scheduler_killed_inside_a_checkpoint_keeps_the_committed_ones_and_a_tick_does_the_rest(
    uow_factory: UowFactory, app_url: str, engine: AsyncEngine
) -> None:
    posted = captures(3)
    await post(uow_factory, posted)  # every=1: psp:clearing and the three escrows are due
    assert await run_killed(app_url, NOW, "--crash-at-checkpoint", "2") == -signal.SIGKILL
    kept = await snapshots(engine)
    assert len(kept) == 1  # the first committed; the second was written and rolled back
    await assert_balances_exact(uow_factory, engine, keys_of(posted))

    svc = services(uow_factory)
    assert await LedgerCheckpoints(every=1, window=1_000)(svc, NOW) == 3
    assert await LedgerCheckpoints(every=1, window=1_000)(svc, NOW) == 0
    rows = await snapshots(engine)
    assert kept[0] in rows and len(rows) == 4
    for country, account, currency, as_of, balance in rows:
        key = LedgerAccountKey(CountryCode(country), Account(account), Currency.of(currency))
        assert (balance, as_of) == await posted_sum(engine, key)
    await assert_balances_exact(uow_factory, engine, keys_of(posted))


SERIES = {  # g = 1 .. 50,000, server side
    "postgresql": ("", "generate_series(1, 50000) AS s(g)"),
    "sqlite": ("WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 50000) ", "s"),
}
BULK_TRANSACTIONS = """
    {with_}INSERT INTO ledger_transactions
        (id, country_code, idempotency_key, kind, currency, amount_minor, memo)
    SELECT 1000000 + g, 'MX', 'bulk:' || g, 'CAPTURE', 'MXN', 100 + g, 'bulk' FROM {series}
"""
BULK_POSTINGS = """
    {with_}INSERT INTO ledger_postings
        (transaction_id, country_code, account, currency, side, amount_minor, signed_minor)
    SELECT 1000000 + g, 'MX', CASE WHEN a.side = 'DEBIT' THEN a.account ELSE a.account || g END, 'MXN',
           a.side, 100 + g, CASE WHEN a.side = 'DEBIT' THEN 100 + g ELSE -(100 + g) END
    FROM {series} CROSS JOIN (SELECT 'psp:clearing' AS account, 'DEBIT' AS side
                              UNION ALL SELECT 'escrow:order:bulk_', 'CREDIT') AS a
    ORDER BY g, a.side DESC
"""


async def test_among_100000_postings_the_question_reads_the_indexes_not_the_table(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    async with engine.begin() as connection:  # bulk, server side: 50,000 captures, 100,000 postings
        with_, series = SERIES[backend]
        for statement in (BULK_TRANSACTIONS, BULK_POSTINGS):
            await connection.execute(text(statement.format(with_=with_, series=series)))
        await connection.execute(text("ANALYZE"))
    async with uow_factory() as uow:
        connection = await uow.session.connection()
        newest = int(await connection.scalar(select(func.max(ledger_postings.c.id))) or 0)
        compiled = checkpoints_due_query(every=1_000, after=newest - 500, limit=100, scope=ALL).compile(
            dialect=connection.dialect
        )
        params = compiled.construct_params()
        positional = tuple(params[name] for name in compiled.positiontup or ())
        explain = "EXPLAIN " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
        rows = await connection.exec_driver_sql(explain + compiled.string, positional)
        plan = "\n".join(str(row[0] if backend == "postgresql" else row[-1]) for row in rows)
        if backend == "postgresql":
            assert "Seq Scan on ledger_postings" not in plan, plan
        else:
            assert "SCAN ledger_postings" not in plan, plan
        with scoped_to(ALL):
            due = await uow.ledger.checkpoints_due(every=1_000, after=newest - 500, limit=100)
    assert due == [LedgerAccountKey(MX, PSP, MXN)]  # the escrows have one posting each
    assert await LedgerCheckpoints(every=1_000, window=500)(services(uow_factory), NOW) == 1
    assert (await snapshots(engine))[0][3:] == (await posted_sum(engine, LedgerAccountKey(MX, PSP, MXN)))[
        ::-1
    ]
