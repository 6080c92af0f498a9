"""SQLite reads on the event loop's thread (D145): the prepared reads, a read engine's
``BEGIN DEFERRED`` and every ``ROLLBACK`` go straight to the ``sqlite3`` connection instead
of through aiosqlite's thread, and give what SQLAlchemy's own path gives.

SQLite only: ``database_url`` is overridden here, so every fixture of the integration
conftest (``migrated_url``, ``engine``, ``uow_factory``) is an SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.prepared import PreparedRead, text_read
from adapters.persistence.read_models import read_models
from adapters.persistence.request_reads import RequestTransaction
from adapters.persistence.sqlite_calls import sqlite_handle
from adapters.persistence.tables import disputes, ledger_transactions
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import DEMO_COUNTRIES, seed_demo
from application.ports.read_models import DisputeFilter, PageRequest, ReadModels
from domain.disputes.references import ledger_prefix
from domain.shared import CountryCode
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock
from tests.integration.aggregate_builders import dispute_state, order_state
from tests.integration.statement_spies import DriverStatements, Hops

pytestmark = pytest.mark.slow


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite+aiosqlite:///{tmp_path / 'supportos.db'}"


@pytest.fixture
async def read_engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    """The service's read engine on an SQLite file (``interfaces/container.py``)."""
    engine = create_engine(migrated_url, sqlite_begin="DEFERRED", pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _seed(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> None:
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())


async def _listed(reads: ReadModels, country: CountryCode) -> list[tuple[str, str]]:
    """(dispute id, order id) of the country's disputes: a list, which SQLAlchemy builds per call."""
    listed = (await reads.disputes.list_disputes(country, DisputeFilter(), PageRequest(first=200))).unwrap()
    return [(d.id, d.order_id) for d in listed.items]


async def _everything(
    reads: ReadModels, country: CountryCode, listed: list[tuple[str, str]]
) -> dict[str, Any]:
    """What a page or a partner's poll reads by id: every one a prepared read."""
    wanted = [dispute for dispute, _ in listed]
    order_ids = [order for _, order in listed]
    prefixes = [ledger_prefix(d) for d in wanted]
    by_order = await reads.disputes.by_order_ids(country, order_ids)
    return {
        "disputes": {
            k: dispute_state(v) for k, v in (await reads.disputes.get_many(country, wanted)).items()
        },
        "orders": {k: order_state(v) for k, v in (await reads.orders.get_many(country, order_ids)).items()},
        "ledger": await reads.ledger.transactions_by_prefix(country, prefixes),
        "by_order": {k: [dispute_state(d) for d in v] for k, v in by_order.items()},
    }


async def test_the_loop_thread_path_gives_what_sqlalchemy_gives(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine
) -> None:
    await _seed(uow_factory)
    # AUTOCOMMIT: SQLAlchemy sends no BEGIN, SQLite reports no transaction, the reads take
    # SQLAlchemy's own path (aiosqlite's thread, an expanding-free statement all the same)
    plain_engine = read_engine.execution_options(isolation_level="AUTOCOMMIT")
    seen = DriverStatements(read_engine)
    for code in DEMO_COUNTRIES:
        country = CountryCode(code)
        seen.driver.clear()
        seen.through_sqlalchemy.clear()
        listed = await _listed(read_models(plain_engine), country)
        through_sqlalchemy = await _everything(read_models(plain_engine), country, listed)
        assert seen.driver == []
        assert any("json_each" in s for s in seen.through_sqlalchemy)
        transaction = RequestTransaction(read_engine)
        try:
            on_loop = await _everything(read_models(transaction), country, listed)
        finally:
            await transaction.close()
        assert on_loop == through_sqlalchemy
        assert on_loop["disputes"] and on_loop["orders"] and any(on_loop["ledger"].values()), code
        # the ids' lists, the ledger's ranges and the read transaction's BEGIN took the loop path
        assert any("json_each(?) AS r CROSS JOIN ledger_transactions" in s for s in seen.driver)
        assert any("disputes.id IN (SELECT" in s for s in seen.driver)
        assert "BEGIN DEFERRED" in seen.driver


async def test_a_request_s_reads_make_no_trip_to_aiosqlite_s_thread(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(uow_factory)
    country = CountryCode("MX")
    listed = await _listed(read_models(read_engine), country)  # opens the pool's one connection
    hops = Hops(monkeypatch)
    transaction = RequestTransaction(read_engine)
    try:
        found = await _everything(read_models(transaction), country, listed)
    finally:
        await transaction.close()
    assert found["disputes"] and found["orders"] and any(found["ledger"].values())
    assert hops.calls == []  # BEGIN DEFERRED, the reads and the ROLLBACK, all on this thread
    # a list is built by SQLAlchemy per call and its cost is the caller's to choose: it keeps
    # aiosqlite's thread, where SQLite runs it without holding the loop (D147)
    transaction = RequestTransaction(read_engine)
    try:
        assert await _listed(read_models(transaction), country) == listed
    finally:
        await transaction.close()
    assert hops.calls[:4] == ["cursor", "execute", "fetchall", "close"]


async def test_a_read_engine_refuses_a_write_at_once(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    """``BEGIN DEFERRED`` engines are read-only (``PRAGMA query_only``, D147): a write through
    one fails straight away and changes nothing, even while another connection holds the
    write lock (it does not wait for it)."""
    await _seed(uow_factory)
    statement = PreparedRead(
        select(disputes.c.id, disputes.c.version).where(disputes.c.country_code == bindparam("country"))
    )
    async with engine.connect() as check:
        before = [dict(row) for row in await statement.rows(check, {"country": "MX"})]
        await check.rollback()
    async with engine.begin() as holder:  # the write lock, held
        await holder.execute(update(disputes).where(disputes.c.id == "none").values(version=0))
        transaction = RequestTransaction(read_engine)
        try:
            async with transaction.connection() as connection:
                with pytest.raises(OperationalError, match="readonly"):
                    await connection.execute(update(disputes).values(version=disputes.c.version + 1))
        finally:
            await transaction.close()
    async with engine.connect() as check:
        assert [dict(row) for row in await statement.rows(check, {"country": "MX"})] == before


async def test_the_read_transaction_ends_with_the_request(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    """The ROLLBACK on this thread ends the snapshot: the next request sees a later commit."""
    await _seed(uow_factory)
    statement = PreparedRead(
        select(disputes.c.id, disputes.c.version).where(disputes.c.country_code == bindparam("country"))
    )
    first = RequestTransaction(read_engine)
    async with first.connection() as connection:
        before = {row["id"]: row["version"] for row in await statement.rows(connection, {"country": "MX"})}
        handle = _handle(connection)
        assert handle.in_transaction
    await first.close()
    assert not handle.in_transaction  # the pool's one connection, rolled back
    bumped = sorted(before)[0]
    async with engine.begin() as writer:  # a write while no read transaction is open
        await writer.execute(
            update(disputes).where(disputes.c.id == bumped).values(version=disputes.c.version + 1)
        )
    second = RequestTransaction(read_engine)
    try:
        async with second.connection() as connection:
            after = {row["id"]: row["version"] for row in await statement.rows(connection, {"country": "MX"})}
            assert _handle(connection) is handle  # the same connection, a new snapshot
    finally:
        await second.close()
    assert after == {**before, bumped: before[bumped] + 1}


async def test_ledger_ranges_overlap_and_have_no_upper_bound(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine
) -> None:
    """The JSON ranges statement: overlapping prefixes keep one row per transaction, in id
    order, under every prefix it starts with; a prefix without an upper bound (the largest
    code point) sends the whole request down SQLAlchemy's OR of ranges, with the same rows."""
    await _seed(uow_factory)
    country = CountryCode("MX")
    async with read_engine.connect() as connection:
        every = [
            (str(row.idempotency_key), int(row.id))
            for row in await connection.execute(
                select(ledger_transactions.c.idempotency_key, ledger_transactions.c.id)
                .where(ledger_transactions.c.country_code == "MX")
                .order_by(ledger_transactions.c.id)
            )
        ]
    assert len(every) > 3
    some = every[0][0]
    prefixes = ["order:", "dispute:", some[: some.index("/") + 1], some, "nothing:", "\U0010ffff"]
    expected = {p: [key for key, _ in every if key.startswith(p)] for p in prefixes}
    for asked in (prefixes[:-1], prefixes):  # the JSON ranges; then the OR of ranges
        transaction = RequestTransaction(read_engine)
        try:
            found = await read_models(transaction).ledger.transactions_by_prefix(country, asked)
        finally:
            await transaction.close()
        assert {p: [t.idempotency_key for t in found[p]] for p in asked} == {p: expected[p] for p in asked}
        assert expected["order:"] and expected[some] == [some]


async def test_any_number_of_ids_with_any_characters(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine
) -> None:
    """One JSON parameter, not one variable per id: no limit on the list, no escaping issue."""
    await _seed(uow_factory)
    country = CountryCode("MX")
    listed = await read_models(read_engine).disputes.list_disputes(
        country, DisputeFilter(), PageRequest(first=5)
    )
    real = [d.id for d in listed.unwrap().items]
    odd = ['quote"d', "apos'trophe", "back\\slash", "ünïcødé", "[1]", "%", "", "nul\x00byte"]
    wanted = [*odd, *(f"dsp_missing_{n}" for n in range(5000)), *real]
    transaction = RequestTransaction(read_engine)
    try:
        found = await read_models(transaction).disputes.get_many(country, wanted)
    finally:
        await transaction.close()
    assert sorted(found) == sorted(real)


async def test_an_in_memory_database_keeps_aiosqlite_s_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """In memory, one sqlite3 connection serves every task (StaticPool), so another task's
    transaction may be open, or its COMMIT queued, on it: everything stays in aiosqlite's one
    queue, in order. Here a read starts just as a write's COMMIT is queued; had the read
    taken the loop's thread it would have read inside the writer's transaction and its
    ROLLBACK would have undone the write before the COMMIT ran (it did, in half the runs)."""
    memory = create_engine("sqlite+aiosqlite:///:memory:")
    seen = DriverStatements(memory)
    statement = PreparedRead(
        select(ledger_transactions.c.id).where(ledger_transactions.c.country_code == "MX")
    )
    readers: list[asyncio.Task[None]] = []
    original: Any = aiosqlite.Connection._execute

    async def read() -> None:
        async with memory.connect() as connection:
            await statement.rows(connection, {})

    async def reading_at_commit(connection: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(getattr(fn, "__wrapped__", fn), "__name__", "") == "commit":
            readers.append(asyncio.create_task(read()))  # runs while the COMMIT is queued
        return await original(connection, fn, *args, **kw)

    try:
        async with memory.begin() as connection:
            await connection.run_sync(lambda c: disputes.metadata.create_all(c, tables=[ledger_transactions]))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", reading_at_commit)
        for n in range(30):
            async with memory.begin() as connection:
                await connection.execute(
                    insert(ledger_transactions).values(
                        country_code="MX",
                        idempotency_key=f"test:{n}",
                        kind="CAPTURE",
                        currency="MXN",
                        amount_minor=n + 1,
                        memo="memory",
                    )
                )
            await asyncio.gather(*readers)
            readers.clear()
        monkeypatch.undo()
        async with memory.connect() as connection:
            stored = await statement.rows(connection, {})
    finally:
        await memory.dispose()
    assert len(stored) == 30  # every commit kept
    assert seen.driver == []  # nothing took the loop's thread


async def test_a_failed_read_on_the_loop_thread_raises_sqlalchemy_s_error(read_engine: AsyncEngine) -> None:
    broken = PreparedRead(text_read("SELECT id FROM no_such_table WHERE country_code = :c", [disputes.c.id]))
    transaction = RequestTransaction(read_engine)
    try:
        with pytest.raises(OperationalError, match="no such table"):
            async with transaction.connection() as connection:
                await broken.rows(connection, {"c": "MX"})
    finally:
        await transaction.close()


async def test_ids_and_prefixes_with_a_nul_are_not_cut_short(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], read_engine: AsyncEngine
) -> None:
    """SQLite's JSON functions end a string at a NUL: such lists take the expanding IN (and
    the OR of ranges), so an id with a NUL never finds the id before it."""
    await _seed(uow_factory)
    country = CountryCode("MX")
    real = [dispute for dispute, _ in await _listed(read_models(read_engine), country)][:2]
    transaction = RequestTransaction(read_engine)
    try:
        reads = read_models(transaction)
        assert await reads.disputes.get_many(country, [f"{real[0]}\x00tail"]) == {}
        assert sorted(await reads.disputes.get_many(country, [f"{real[0]}\x00tail", real[1]])) == [real[1]]
        prefix = ledger_prefix(real[0])
        assert await reads.ledger.transactions_by_prefix(country, [f"{prefix}\x00"]) == {f"{prefix}\x00": []}
    finally:
        await transaction.close()


def _handle(connection: AsyncConnection) -> Any:
    sync = connection.sync_connection
    assert sync is not None
    handle = sqlite_handle(sync.connection.driver_connection)
    assert handle is not None
    return handle
