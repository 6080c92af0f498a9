"""The WORM audit log on both databases: chaining, rollback, refusal of changes, tamper evidence."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from returns.result import Failure, Success
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.audit_log import AUDIT_CHAIN_LOCK_KEY, SqlAlchemyAuditReader, _about_targets
from adapters.persistence.tables import audit_log
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.audit import verify_audit_chain
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.audit import GENESIS_HASH, AuditDraft, AuditEntry, BreakReason, UnreadableAuditEntry
from domain.shared import CountryCode
from domain.shared.ids import ActorId
from tests.integration.worm import assert_append_only

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
MX = CountryCode("MX")
UowFactory = Callable[[], SqlAlchemyUnitOfWork]


def draft(n: int, *, country: str = "MX") -> AuditDraft:
    return AuditDraft(
        actor_id=ActorId(f"agent-{n}"),
        actor_role="L2",
        country=CountryCode(country),
        action="dispute.decide",
        target_type="dispute",
        target_id=f"dsp_{n}",
        request_id=f"req-{n}",
        occurred_at=T0 + timedelta(seconds=n),
        before={"status": "IN_REVIEW", "evidence": ["photo", "gps"]},
        after={"status": "DECIDED", "refund": {"minor": 12_345 + n, "currency": "MXN"}, "note": "ñandú ✓"},
    )


async def append_committed(uow_factory: UowFactory, *numbers: int) -> list[AuditEntry]:
    async with uow_factory() as uow:
        entries = [await uow.audit.append(draft(n)) for n in numbers]
        await uow.commit()
    return entries


async def stored(engine: AsyncEngine) -> list[AuditEntry | UnreadableAuditEntry]:
    return [entry async for entry in SqlAlchemyAuditReader(engine).entries()]


async def test_the_sqlalchemy_unit_of_work_satisfies_the_port(uow_factory: UowFactory) -> None:
    factory: UnitOfWorkFactory = uow_factory
    uow: UnitOfWork = factory()
    async with uow:
        await uow.audit.append(draft(1))
        await uow.commit()


async def test_appended_entries_are_chained_and_read_back_unchanged(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    first = await append_committed(uow_factory, 1, 2, 3)
    second = await append_committed(uow_factory, 4)
    written = first + second

    assert [entry.sequence for entry in written] == [1, 2, 3, 4]
    assert written[0].previous_hash == GENESIS_HASH
    for previous, entry in itertools.pairwise(written):
        assert entry.previous_hash == previous.entry_hash
    assert await stored(engine) == written


async def test_an_entry_read_inside_the_unit_of_work_is_the_one_appended(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        entry = await uow.audit.append(draft(1, country="AR"))
        assert [e async for e in uow.audit.entries()] == [entry]


async def test_verification_passes_on_an_intact_log(
    uow_factory: UowFactory, engine: AsyncEngine, migrated_url: str
) -> None:
    assert await verify_audit_chain(SqlAlchemyAuditReader(engine)) == Success(0)
    for n in range(1, 8):
        await append_committed(uow_factory, n)

    assert await verify_audit_chain(SqlAlchemyAuditReader(engine), batch_size=3) == Success(7)
    async with uow_factory() as uow:
        assert await verify_audit_chain(uow.audit, batch_size=2) == Success(7)
    code, report = await run_audit_verify(migrated_url, batch_size=3)
    assert (code, report.splitlines()[0]) == (0, "audit chain intact: 7 entries verified")


async def test_a_rollback_leaves_no_audit_entry_and_no_gap(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    async with uow_factory() as uow:  # never committed
        await uow.audit.append(draft(1))
    async with uow_factory() as uow:
        await uow.audit.append(draft(2))
        await uow.rollback()
        await uow.commit()
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factory() as uow:
            await uow.audit.append(draft(3))
            raise RuntimeError("boom")
    assert await stored(engine) == []

    (entry,) = await append_committed(uow_factory, 4)
    assert (entry.sequence, entry.previous_hash) == (1, GENESIS_HASH)


async def test_update_and_delete_through_the_apps_connection_are_refused(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    await append_committed(uow_factory, 1, 2)
    refused = [
        update(audit_log).where(audit_log.c.sequence == 1).values(after_state={"status": "FORGED"}),
        update(audit_log).values(actor_role="L3"),
        delete(audit_log).where(audit_log.c.sequence == 2),
        delete(audit_log),
    ]
    await assert_append_only(engine, backend, refused, truncated=("audit_log",))

    assert await verify_audit_chain(SqlAlchemyAuditReader(engine)) == Success(2)


async def tamper(engine: AsyncEngine, backend: str, statement: str) -> None:
    """Change the log as the database owner would, going around the WORM triggers."""
    async with engine.begin() as connection:
        if backend == "postgresql":
            await connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await connection.exec_driver_sql(statement)
            await connection.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
        else:
            await connection.exec_driver_sql("DROP TRIGGER audit_log_refuse_update")
            await connection.exec_driver_sql("DROP TRIGGER audit_log_refuse_delete")
            await connection.exec_driver_sql(statement)


@pytest.mark.parametrize(
    ("statement", "sequence", "reason"),
    [
        (
            """UPDATE audit_log SET after_state = '{"status": "DECIDED", "refund": {"minor": 1}}'
               WHERE sequence = 4""",
            4,
            BreakReason.HASH_MISMATCH,
        ),
        ("UPDATE audit_log SET country_code = 'AR' WHERE sequence = 3", 3, BreakReason.HASH_MISMATCH),
        (f"UPDATE audit_log SET entry_hash = '{'f' * 64}' WHERE sequence = 5", 5, BreakReason.HASH_MISMATCH),
        ("DELETE FROM audit_log WHERE sequence = 2", 2, BreakReason.SEQUENCE_GAP),
        ("UPDATE audit_log SET country_code = 'XX' WHERE sequence = 4", 4, BreakReason.UNREADABLE_ENTRY),
    ],
    ids=["after", "country", "hash", "delete", "unreadable"],
)
async def test_tampering_as_the_owner_is_caught_at_the_tampered_entry(
    uow_factory: UowFactory,
    engine: AsyncEngine,
    *,
    migrated_url: str,
    backend: str,
    statement: str,
    sequence: int,
    reason: BreakReason,
) -> None:
    await append_committed(uow_factory, 1, 2, 3, 4, 5, 6)
    await tamper(engine, backend, statement)

    result = await verify_audit_chain(SqlAlchemyAuditReader(engine), batch_size=2)
    assert isinstance(result, Failure)
    broken = result.failure()
    assert (broken.sequence, broken.reason) == (sequence, reason)

    code, report = await run_audit_verify(migrated_url)
    assert code == 1
    assert report.startswith(f"AUDIT CHAIN BROKEN at sequence {sequence}: {reason.value}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # jsonb/timestamptz cannot hold these
async def test_a_row_that_is_not_even_json_is_reported_not_raised(
    uow_factory: UowFactory, engine: AsyncEngine, backend: str
) -> None:
    await append_committed(uow_factory, 1, 2, 3)
    await tamper(
        engine, backend, "UPDATE audit_log SET after_state = 'NaN', occurred_at = 'x' WHERE sequence = 2"
    )
    result = await verify_audit_chain(SqlAlchemyAuditReader(engine))
    assert isinstance(result, Failure)
    assert (result.failure().sequence, result.failure().reason) == (2, BreakReason.UNREADABLE_ENTRY)


@pytest.mark.parametrize("writers", [20])
async def test_concurrent_appenders_build_one_gap_free_valid_chain(
    uow_factory: UowFactory, engine: AsyncEngine, writers: int
) -> None:
    start = asyncio.Event()

    async def writer(n: int) -> AuditEntry | None:
        async with uow_factory() as uow:
            await start.wait()
            await asyncio.sleep(0)
            entry = await uow.audit.append(draft(n, country=("MX", "AR", "BR")[n % 3]))
            await asyncio.sleep(0.001 * (n % 4))  # hold the chain's tail a little
            if n % 5 == 0:
                await uow.rollback()  # rolled back: must leave no gap
                return None
            await uow.commit()
            return entry

    tasks = [asyncio.create_task(writer(n)) for n in range(1, writers + 1)]
    start.set()
    committed = [entry for entry in await asyncio.gather(*tasks) if entry is not None]

    expected = writers - writers // 5
    assert sorted(entry.sequence for entry in committed) == list(range(1, expected + 1))
    assert await verify_audit_chain(SqlAlchemyAuditReader(engine)) == Success(expected)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(audit_log)) == expected


async def test_an_append_reads_the_tail_with_the_chain_lock_in_one_statement(
    uow_factory: UowFactory, app_engine: AsyncEngine, engine: AsyncEngine, backend: str
) -> None:
    """D68: on PostgreSQL the chain's lock and its tail are one round trip
    (``audit_log_locked_tail()``), and the lock is held by the appending transaction until
    it ends; on SQLite the tail is a plain read inside ``BEGIN IMMEDIATE``."""
    await append_committed(uow_factory, 1)
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(app_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with uow_factory() as uow:
            entry = await uow.audit.append(draft(2))
            appended = list(sent)
            held = None
            if backend == "postgresql":
                held = (
                    (
                        await uow.session.execute(
                            text(
                                "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks"
                                " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
                                " AND pid = pg_backend_pid() AND mode = 'ExclusiveLock'"
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            await uow.commit()
    finally:
        event.remove(app_engine.sync_engine, "before_cursor_execute", record)

    assert entry.sequence == 2
    # the scope binding and SQLite's BEGIN IMMEDIATE are the transaction's, not the append's
    appended = [s for s in appended if "set_config" not in s and not s.startswith("BEGIN")]
    if backend == "postgresql":
        assert appended[0] == "SELECT sequence, entry_hash FROM audit_log_locked_tail()"
        # the chain's lock (its bigint key), taken inside the function, is the transaction's
        assert held == [AUDIT_CHAIN_LOCK_KEY]
    else:
        assert appended[0].startswith("SELECT audit_log.sequence, audit_log.entry_hash FROM audit_log")
    assert len(appended) == 2 and appended[1].startswith("INSERT INTO audit_log")
    assert not any("pg_advisory_xact_lock" in s for s in appended)
    assert await verify_audit_chain(SqlAlchemyAuditReader(engine)) == Success(2)


BULK_AUDIT = {  # 50,000 entries of MX about other disputes (the owner's connection, server side)
    "postgresql": """
        INSERT INTO audit_log (sequence, country_code, actor_id, actor_role, action, target_type,
                               target_id, request_id, occurred_at, previous_hash, entry_hash)
        SELECT 100 + g, 'MX', 'bulk', 'L2', 'dispute.decide', 'dispute', 'dsp_bulk_' || g, 'req-bulk',
               now(), lpad(g::text, 64, 'a'), lpad(g::text, 64, 'b')
        FROM generate_series(1, 50000) AS g
    """,
    "sqlite": """
        WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 50000)
        INSERT INTO audit_log (sequence, country_code, actor_id, actor_role, action, target_type,
                               target_id, request_id, occurred_at, previous_hash, entry_hash)
        SELECT 100 + g, 'MX', 'bulk', 'L2', 'dispute.decide', 'dispute', 'dsp_bulk_' || g, 'req-bulk',
               '2024-05-01 12:00:00.000000', printf('a%063d', g), printf('b%063d', g)
        FROM s
    """,
}


async def test_entries_about_targets_are_index_lookups_among_50000_of_the_country_and_only_the_country(
    uow_factory: UowFactory, engine: AsyncEngine, app_engine: AsyncEngine, backend: str
) -> None:
    """D148: ``for_targets`` (read by every dispute decision) looks each target up in the
    (country, target) index. With the country outside the OR, SQLite read every entry of the
    country (~19 ms at 50,000 entries, growing with the log)."""
    async with engine.begin() as connection:
        await connection.execute(text(BULK_AUDIT[backend]))
        if backend == "postgresql":  # the service never runs ANALYZE on SQLite: no statistics
            await connection.execute(text("ANALYZE audit_log"))
    about_order = replace(draft(8), target_type="order", target_id="ord_7")
    async with uow_factory() as uow:
        wanted = [await uow.audit.append(draft(7)), await uow.audit.append(about_order)]
        await uow.audit.append(draft(7, country="CO"))  # the same target id in another country
        await uow.audit.append(draft(9))
        await uow.commit()
    sent: list[tuple[str, object]] = []
    on_driver: list[str] = []

    def record(_conn: object, cursor: object, statement: str, parameters: object, *_args: object) -> None:
        sent.append((statement, parameters))
        if cursor is None:  # announced by the driver path (D150)
            on_driver.append(statement)

    async with uow_factory() as uow:
        event.listen(app_engine.sync_engine, "before_cursor_execute", record)
        try:
            found = await uow.audit.for_targets(MX, [("order", "ord_7"), ("dispute", "dsp_7")])
        finally:
            event.remove(app_engine.sync_engine, "before_cursor_execute", record)
        [(statement, parameters)] = [(s, p) for s, p in sent if "FROM audit_log" in s]
        explain = "EXPLAIN " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
        connection = await uow.session.connection()
        rows = await connection.exec_driver_sql(explain + statement, parameters)  # type: ignore[arg-type]
        plan = "\n".join(str(row[0] if backend == "postgresql" else row[-1]) for row in rows)

    assert found == wanted  # by sequence; not the other country's entry about dsp_7
    assert on_driver == [statement] == [_about_targets(2).driver_sql(app_engine.dialect)]
    if backend == "postgresql":
        assert "Seq Scan on audit_log" not in plan, plan
    else:
        assert "ix_audit_log_country_code_target_type_target_id" in plan, plan
        assert "ix_audit_log_country_code_occurred_at" not in plan and "SCAN audit_log" not in plan, plan
