"""REPLACE and upserts cannot rewrite or remove rows of the append-only (WORM) tables (0024).

On SQLite ``INSERT OR REPLACE`` / ``REPLACE INTO`` deletes a conflicting row without firing
DELETE triggers; the BEFORE INSERT guards of migration 0024 refuse it (ABORT) or, on the keys
the application itself inserts with ``ON CONFLICT DO NOTHING``, skip the row (IGNORE): either
way nothing changes. On PostgreSQL (no REPLACE) ``INSERT ... ON CONFLICT DO UPDATE`` meets
the BEFORE UPDATE triggers. And the application's own inserts, ON CONFLICT DO NOTHING
included, behave exactly as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

import pytest
from returns.result import Success
from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_log import SqlAlchemyAuditReader
from adapters.persistence.tables import (
    audit_log,
    case_timeline,
    ledger_balance_snapshots,
    ledger_postings,
    ledger_transactions,
    messages,
)
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.screening import MarketplacePhoneFinder
from application.audit.verify import verify_audit_chain
from application.context import RequestContext
from application.messaging.common import MessagingServices
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.security.principal import Principal, Role
from domain.audit import AuditDraft
from domain.ledger import AlreadyPosted, Posted, rules
from domain.messaging import Screener
from domain.shared import Currency
from domain.shared.ids import ActorId, OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration import case_builders
from tests.integration.aggregate_builders import MX, T0, ok, order_in
from tests.strategies import snapshot

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

ORDER: Final = OrderId("ord_1")
MXN: Final = Currency.of("MXN")
BUYER: Final = RequestContext(Principal("buy_1", Role.BUYER, frozenset({MX})), "req-buy_1")
CAPTURE: Final = rules.capture(snapshot(order_id="ord_1"), "order:ord_1/capture")

# Each WORM table: its key (an ON CONFLICT target), the column a forger changes and how,
# whether the application inserts it with ON CONFLICT DO NOTHING (then a REPLACE on that key
# is skipped on SQLite, not raised: the guard cannot tell it from DO NOTHING), and the
# overrides that give a copy fresh keys (so that only its rowid collides).
WORM: Final[dict[str, tuple[Table, tuple[str, ...], str, Any, bool]]] = {
    "audit_log": (audit_log, ("sequence",), "actor_role", "FORGED", False),
    "ledger_transactions": (ledger_transactions, ("country_code", "idempotency_key"), "memo", "forged", True),
    "ledger_postings": (ledger_postings, ("id",), "account", "psp:forged", False),
    "messages": (messages, ("country_code", "conversation_id", "sequence"), "body", "forged", True),
    "case_timeline": (case_timeline, ("country_code", "case_id", "sequence"), "summary", "forged", False),
    "ledger_balance_snapshots": (
        ledger_balance_snapshots,
        ("country_code", "account", "currency", "as_of_posting_id"),
        "balance_minor",
        10**9,
        True,
    ),
}
FRESH_KEYS: Final[dict[str, dict[str, str]]] = {
    "audit_log": {"sequence": "99", "entry_hash": f"'{'e' * 64}'", "previous_hash": f"'{'f' * 64}'"},
    "ledger_transactions": {"idempotency_key": "'fresh'"},  # id (the rowid) kept
    "ledger_postings": {},  # id (the rowid) kept
    "messages": {"sequence": "99", "client_message_id": "'fresh'", "message_id": "'fresh'"},
    "case_timeline": {"sequence": "99"},
    "ledger_balance_snapshots": {"as_of_posting_id": "99999"},
}


def copy_of(
    table: Table, overrides: dict[str, str], *, which: str = "min(rowid)", rowid: bool = False
) -> str:
    """``(columns) SELECT ...``: a copy of the row whose rowid is ``which``, with the
    ``overrides`` (SQL expressions) substituted; with ``rowid``, the rowid copied too."""
    columns = [column.name for column in table.columns]
    values = [overrides.get(column, column) for column in columns]
    if rowid and "id" not in columns:  # where id is a column it is the rowid
        columns, values = ["rowid", *columns], ["rowid", *values]
    return (
        f"({', '.join(columns)}) SELECT {', '.join(values)} FROM {table.name}"
        f" WHERE rowid = (SELECT {which} FROM {table.name})"
    )


def audit_draft(n: int) -> AuditDraft:
    return AuditDraft(
        actor_id=ActorId(f"agent-{n}"),
        actor_role="L2",
        country=MX,
        action="dispute.decide",
        target_type="dispute",
        target_id=f"dsp_{n}",
        request_id=f"req-{n}",
        occurred_at=T0 + timedelta(seconds=n),
        before=None,
        after={"n": n},
    )


@pytest.fixture
async def filled(uow_factory: UowFactory) -> None:
    """Rows in every WORM table, written through the application's own paths."""
    async with uow_factory() as uow:
        for n in (1, 2, 3):
            await uow.audit.append(audit_draft(n))
        await uow.orders.add(order_in("FROZEN in transit"))
        assert isinstance((await uow.ledger.post(CAPTURE)).unwrap(), Posted)
        await uow.commit()
    async with uow_factory() as uow:
        account = CAPTURE.postings[0].account
        await uow.ledger.checkpoint(MX, account, MXN)
        await uow.commit()
    await case_builders.store(uow_factory, case_builders.open_case("c1"))
    clock = FixedClock(T0 + timedelta(hours=2))
    svc = MessagingServices(
        uow=uow_factory, clock=clock, ids=SequentialIds(), screener=Screener(MarketplacePhoneFinder())
    )
    ok(await open_conversation(svc, BUYER, OpenConversation(MX, ORDER)))
    for n in (1, 2):
        clock.advance(timedelta(minutes=1))
        ok(await send_message(svc, BUYER, SendMessage(MX, ORDER, f"c{n}", f"hola {n}")))


async def contents(engine: AsyncEngine, table: Table) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
        return [tuple(row) for row in rows]


async def everything(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: await contents(engine, spec[0]) for name, spec in WORM.items()}


async def refused_or_skipped(engine: AsyncEngine, statement: Any, *, skipped: bool) -> None:
    """``statement`` fails with "append-only" or, if ``skipped``, inserts nothing silently."""
    if skipped:
        async with engine.begin() as connection:
            assert (await connection.execute(statement)).rowcount == 0
        return
    with pytest.raises(IntegrityError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(statement)


async def verified_entries(engine: AsyncEngine) -> int:
    result = await verify_audit_chain(SqlAlchemyAuditReader(engine))
    assert isinstance(result, Success), result
    return int(result.unwrap())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE INTO", "REPLACE INTO"])
@pytest.mark.parametrize("name", list(WORM))
async def test_replace_on_a_stored_key_is_refused_and_changes_nothing(
    filled: None, engine: AsyncEngine, verb: str, name: str
) -> None:
    table, _, column, value, do_nothing = WORM[name]
    before = await everything(engine)
    changed = {column: f"'{value}'" if isinstance(value, str) else str(value)}
    if name == "ledger_transactions":
        changed["id"] = "NULL"  # a new id: the conflict is on (country_code, idempotency_key) only
    # the same key, another value: refused; skipped on the application's DO NOTHING keys
    rewrite = text(f"{verb} {table.name} {copy_of(table, changed)}")
    await refused_or_skipped(engine, rewrite, skipped=do_nothing)
    # fresh keys but the rowid of a stored row (the id on the ledger's tables): refused
    by_rowid = text(f"{verb} {table.name} {copy_of(table, {**changed, **FRESH_KEYS[name]}, rowid=True)}")
    if name == "ledger_transactions":
        by_rowid = text(
            f"{verb} {table.name} {copy_of(table, {column: changed[column], **FRESH_KEYS[name]})}"
        )
    await refused_or_skipped(engine, by_rowid, skipped=False)
    assert await everything(engine) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_audit_entry_cannot_be_rewritten_nor_the_tail_removed_by_replace(
    filled: None, engine: AsyncEngine
) -> None:
    """The reported attack: entry 2 rewritten (new hashes), the tail removed through a
    unique key (a row claiming the tail's ``previous_hash``) or through its rowid."""
    before = await contents(engine, audit_log)
    rewritten_hash = f"'{'a' * 64}'"
    forged = {"actor_role": "'FORGED'", "entry_hash": rewritten_hash}
    attacks = [
        "REPLACE INTO audit_log " + copy_of(audit_log, forged, which="min(rowid) + 1"),  # entry 2
        "INSERT OR REPLACE INTO audit_log "
        + copy_of(audit_log, {"sequence": "99", "entry_hash": rewritten_hash}, which="max(rowid)"),
        "REPLACE INTO audit_log "
        + copy_of(audit_log, FRESH_KEYS["audit_log"], which="max(rowid)", rowid=True),
    ]
    for attack in attacks:
        await refused_or_skipped(engine, text(attack), skipped=False)
    assert await contents(engine, audit_log) == before
    assert await verified_entries(engine) == len(before)


def _insert(backend: str, table: Table) -> Any:
    return postgresql.insert(table) if backend == "postgresql" else sqlite.insert(table)


async def first_row(engine: AsyncEngine, table: Table) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (await connection.execute(select(table).order_by(*table.primary_key.columns).limit(1))).one()
    values = dict(row._mapping)
    if table is ledger_transactions:
        del values["id"]  # a new id; the conflict is on (country_code, idempotency_key)
    return values


@pytest.mark.parametrize("name", list(WORM))
async def test_an_upsert_that_would_update_is_refused_and_changes_nothing(
    filled: None, engine: AsyncEngine, backend: str, name: str
) -> None:
    """PostgreSQL: ``ON CONFLICT DO UPDATE`` fires the BEFORE UPDATE trigger (restrict_violation).
    SQLite: the BEFORE INSERT guard refuses it, or skips it on a DO NOTHING key."""
    table, key, column, value, do_nothing = WORM[name]
    before = await everything(engine)
    values = await first_row(engine, table)
    statement = (
        _insert(backend, table)
        .values(values)
        .on_conflict_do_update(index_elements=list(key), set_={column: value})
    )
    await refused_or_skipped(engine, statement, skipped=backend == "sqlite" and do_nothing)
    assert await everything(engine) == before


@pytest.mark.parametrize("name", [name for name, spec in WORM.items() if spec[4]])
async def test_on_conflict_do_nothing_still_inserts_nothing_without_an_error(
    filled: None, engine: AsyncEngine, backend: str, name: str
) -> None:
    """What the ledger (exactly-once posting, checkpoints) and the messages (a lost append)
    rely on: a conflicting ``ON CONFLICT DO NOTHING RETURNING`` returns nothing, raises nothing."""
    table, _, column, value, _ = WORM[name]
    before = await everything(engine)
    values = {**await first_row(engine, table), column: value}
    returning = next(iter(table.primary_key.columns))
    async with engine.begin() as connection:
        result = await connection.execute(
            _insert(backend, table).values(values).on_conflict_do_nothing().returning(returning)
        )
        assert result.first() is None
    assert await everything(engine) == before


async def test_the_application_paths_still_work(
    filled: None, uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    """Reposting a key answers AlreadyPosted; a checkpoint again is kept once; a plain
    duplicate of an audit entry still fails (IntegrityError, as a UNIQUE violation did)."""
    before = await everything(engine)
    async with uow_factory() as uow:
        assert isinstance((await uow.ledger.post(CAPTURE)).unwrap(), AlreadyPosted)
        await uow.commit()
    async with uow_factory() as uow:
        account = CAPTURE.postings[0].account
        await uow.ledger.checkpoint(MX, account, MXN)
        await uow.commit()
    assert await everything(engine) == before

    duplicate = await first_row(engine, audit_log)
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(audit_log).values(duplicate))

    async with uow_factory() as uow:  # and the chain goes on
        entry = await uow.audit.append(audit_draft(4))
        await uow.commit()
    assert entry.sequence == len(before["audit_log"]) + 1
    assert await verified_entries(engine) == entry.sequence
    async with uow_factory() as uow:
        case = await uow.cases.get(MX, "c1")
        assert case is not None
        case.add_note(case_builders.T0 + timedelta(minutes=1), case_builders.AGENT, "more")
        assert await uow.cases.save(case) == Success(None)
        await uow.commit()
    assert len(await contents(engine, case_timeline)) == len(before["case_timeline"]) + 1


def test_every_worm_table_is_guarded() -> None:
    """The guards of 0024 cover the tables these tests cover, and the ABORT/IGNORE split
    follows the application's DO NOTHING inserts."""
    guards = importlib.import_module(
        "adapters.persistence.migrations.versions.0024_worm_refuse_replace"
    ).GUARDS
    assert {guard.table for guard in guards} == set(WORM)
    assert {guard.table for guard in guards if guard.ignore} == {n for n, s in WORM.items() if s[4]}
