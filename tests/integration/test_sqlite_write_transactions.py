"""SQLite write transactions on the event loop's thread (D146): inside a ``BEGIN IMMEDIATE``
transaction (the write lock held) every statement runs on the ``sqlite3`` connection on
this thread; the ``BEGIN`` (it may wait for another writer) and the ``COMMIT`` (it may wait
for the disk) still go to aiosqlite's thread, and the loop keeps running while they wait.

SQLite only (``database_url`` is overridden here).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.tables import disputes
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import seed_demo
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock
from tests.integration.statement_spies import Hops

pytestmark = pytest.mark.slow


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite+aiosqlite:///{tmp_path / 'supportos.db'}"


@pytest.fixture
async def seeded(uow_factory: Callable[[], SqlAlchemyUnitOfWork], migrated_url: str) -> str:
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())
    return migrated_url


async def _versions(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(disputes.c.id, disputes.c.version))
        return {str(row.id): int(row.version) for row in rows}


async def test_only_the_begin_and_the_commit_go_to_aiosqlite_s_thread(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = Hops(monkeypatch)  # before the engine opens its connection (the wrapper keeps it)
    engine = create_engine(seeded, pool_size=1, max_overflow=0)
    try:
        before = await _versions(engine)
        hops.calls.clear()
        async with engine.begin() as connection:
            for dispute_id in sorted(before)[:3]:
                await connection.execute(
                    update(disputes).where(disputes.c.id == dispute_id).values(version=disputes.c.version + 1)
                )
            counted = (await connection.execute(select(func.count()).select_from(disputes))).scalar_one()
        # BEGIN IMMEDIATE: its cursor and its execute; then nothing until the COMMIT
        assert hops.calls == ["cursor", "execute", "commit"]
        assert counted == len(before)
        after = await _versions(engine)
    finally:
        await engine.dispose()
    bumped = set(sorted(before)[:3])
    assert after == {key: value + (1 if key in bumped else 0) for key, value in before.items()}


async def test_a_failed_transaction_rolls_back_everything_it_wrote(seeded: str) -> None:
    engine = create_engine(seeded, pool_size=1, max_overflow=0)
    try:
        before = await _versions(engine)
        with pytest.raises(RuntimeError, match="after the write"):
            async with engine.begin() as connection:
                await connection.execute(update(disputes).values(version=disputes.c.version + 10))
                assert set((await _versions_in(connection)).values()) != set(before.values())
                raise RuntimeError("after the write")
        assert await _versions(engine) == before
    finally:
        await engine.dispose()


async def test_a_writer_waiting_for_the_lock_leaves_the_loop_running(seeded: str) -> None:
    """Another connection (another process, say) holds the write lock: this engine's
    ``BEGIN IMMEDIATE`` waits on aiosqlite's thread (``busy_timeout``), not on the loop."""
    holder = create_engine(seeded, pool_size=1, max_overflow=0)
    waiter = create_engine(seeded, pool_size=1, max_overflow=0)
    ticks = 0
    try:
        before = await _versions(holder)
        await _versions(waiter)  # the waiter's connection is open (and idle)
        async with holder.begin() as held:
            await held.execute(update(disputes).values(version=disputes.c.version + 1))

            async def write() -> None:
                async with waiter.begin() as connection:
                    await connection.execute(update(disputes).values(version=disputes.c.version + 1))

            writing = asyncio.create_task(write())
            for _ in range(20):  # 0.2 s of ticks while the writer waits for the lock
                await asyncio.sleep(0.01)
                ticks += 1
            assert not writing.done()
        await asyncio.wait_for(writing, timeout=30)  # the holder committed: the waiter goes on
        assert ticks == 20
        assert await _versions(waiter) == {key: value + 2 for key, value in before.items()}
    finally:
        await holder.dispose()
        await waiter.dispose()


async def _versions_in(connection: AsyncConnection) -> dict[str, int]:
    rows = await connection.execute(select(disputes.c.id, disputes.c.version))
    return {str(row.id): int(row.version) for row in rows}


async def test_a_writer_cancelled_at_its_commit_keeps_the_calls_in_order(
    seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task cancelled while its COMMIT is queued on aiosqlite's thread: SQLAlchemy then
    gives up the connection (a ROLLBACK, a close), and those must wait behind the COMMIT
    in aiosqlite's queue rather than run on this thread first, which would close the
    connection under the COMMIT (the write was lost in most runs when they did)."""
    engine = create_engine(seeded, pool_size=1, max_overflow=0)
    original: Any = aiosqlite.Connection._execute
    writers: list[asyncio.Task[None]] = []

    async def cancelled_at_commit(connection: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(getattr(fn, "__wrapped__", fn), "__name__", "") == "commit" and writers:
            writers[-1].cancel()  # delivered at the await below: the COMMIT is queued by then
        return await original(connection, fn, *args, **kw)

    try:
        before = await _versions(engine)
        target = sorted(before)[0]
        monkeypatch.setattr(aiosqlite.Connection, "_execute", cancelled_at_commit)
        for _ in range(15):

            async def write() -> None:
                async with engine.begin() as connection:
                    await connection.execute(
                        update(disputes).where(disputes.c.id == target).values(version=disputes.c.version + 1)
                    )

            writers.append(asyncio.create_task(write()))
            with pytest.raises(asyncio.CancelledError):
                await writers[-1]
        writers.clear()
        monkeypatch.undo()
        after = await _versions(engine)  # and the engine still works
    finally:
        await engine.dispose()
    assert after == {**before, target: before[target] + 15}  # every queued COMMIT ran
