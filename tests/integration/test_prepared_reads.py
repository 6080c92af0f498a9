"""Prepared reads on the driver (D61): the same domain objects as through SQLAlchemy, only
inside the scope's transaction, counted like any statement, and nothing left open.

Runs on SQLite and PostgreSQL; on PostgreSQL the driver is asyncpg, on SQLite the
``sqlite3`` connection under aiosqlite, used on the event loop's thread (D145;
``test_sqlite_loop_reads.py`` has the rest of that path's tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pytest
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.prepared import PreparedRead, begin_on_driver
from adapters.persistence.read_models import _TRANSACTIONS_IN_RANGES, read_models
from adapters.persistence.request_reads import RequestTransaction
from adapters.persistence.tables import disputes
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import TimeOrderedIds
from application.demo.seed import DEMO_COUNTRIES, seed_demo
from application.ports.read_models import DisputeFilter, PageRequest
from application.security.scope import scoped_to
from domain.disputes.references import ledger_prefix
from domain.shared import CountryCode
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock
from tests.integration.aggregate_builders import dispute_state, order_state
from tests.integration.statement_spies import DriverStatements

pytestmark = pytest.mark.slow
T = TypeVar("T")


def everything(country: CountryCode) -> frozenset[CountryCode]:
    return frozenset({country})


def states(found: Mapping[str, T], state: Callable[[T], dict[str, object]]) -> dict[str, dict[str, object]]:
    return {key: state(value) for key, value in found.items()}


async def test_driver_reads_give_the_same_domain_objects(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], app_engine: AsyncEngine, backend: str
) -> None:
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())
    seen = DriverStatements()
    event.listen(app_engine.sync_engine, "before_cursor_execute", seen)
    compared = 0
    for code in DEMO_COUNTRIES:
        country = CountryCode(code)
        with scoped_to(everything(country)):
            plain = read_models(app_engine)  # one transaction per read: SQLAlchemy begins each
            listed = await plain.disputes.list_disputes(country, DisputeFilter(), PageRequest(first=200))
            wanted = [d.id for d in listed.unwrap().items]
            order_ids = [d.order_id for d in listed.unwrap().items]
            prefixes = [ledger_prefix(d.id) for d in listed.unwrap().items]
            assert wanted, code
            transaction = RequestTransaction(app_engine)
            request = read_models(transaction)
            try:
                for reads in (plain, request):
                    assert await reads.disputes.get_many(country, []) == {}
                driver_disputes = await request.disputes.get_many(country, wanted)
                driver_orders = await request.orders.get_many(country, order_ids)
                driver_ledger = await request.ledger.transactions_by_prefix(country, prefixes)
                driver_by_order = await request.disputes.by_order_ids(country, order_ids)
            finally:
                await transaction.close()
            assert states(driver_disputes, dispute_state) == states(
                await plain.disputes.get_many(country, wanted), dispute_state
            )
            assert states(driver_orders, order_state) == states(
                await plain.orders.get_many(country, order_ids), order_state
            )
            assert driver_ledger == await plain.ledger.transactions_by_prefix(country, prefixes)
            assert {k: [dispute_state(d) for d in v] for k, v in driver_by_order.items()} == {
                k: [dispute_state(d) for d in v]
                for k, v in (await plain.disputes.by_order_ids(country, order_ids)).items()
            }
            assert set(driver_disputes) == set(wanted)
            assert any(driver_ledger.values()), "the demo has refunds and releases in every country"
            compared += len(wanted)
    assert compared > 0
    if backend == "postgresql":
        # the request's reads went through the driver; the one-transaction-per-read ones not
        assert any("ANY" in s for s in seen.driver), seen.driver
        assert any("set_config" in s for s in seen.driver)  # the request's scope, in its transaction
    else:
        # the lists of ids are one JSON parameter (json_each), the ledger's ranges too
        assert any("json_each(?) AS anon_1" in s for s in seen.driver), seen.driver
        assert any("json_each(?) AS r CROSS JOIN" in s for s in seen.driver), seen.driver


async def test_a_scoped_read_never_takes_the_driver_outside_a_transaction(
    app_engine: AsyncEngine, backend: str
) -> None:
    seen = DriverStatements()
    event.listen(app_engine.sync_engine, "before_cursor_execute", seen)
    statement = PreparedRead(select(disputes.c.id).where(disputes.c.country_code == bindparam("country")))
    with scoped_to(everything(CountryCode("MX"))):
        async with app_engine.connect() as connection:
            assert await statement.rows(connection, {"country": "MX"}) == []
            assert connection.in_transaction()
    if backend == "postgresql":
        assert seen.driver == []  # SQLAlchemy began the transaction (and set the scope in it)
        assert seen.through_sqlalchemy
    else:
        # SQLAlchemy began the transaction first (the write engine's BEGIN IMMEDIATE, on
        # aiosqlite's thread), then the read ran in it on the loop's thread
        assert seen.through_sqlalchemy == ["BEGIN IMMEDIATE"]
        assert len(seen.driver) == 1 and "FROM disputes" in seen.driver[0]


async def test_a_transaction_begun_on_the_driver_ends_with_the_connection(
    migrated_url: str, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the driver path is asyncpg's; SQLite has none to begin")
    engine = create_engine(migrated_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            driver = await begin_on_driver(connection)
            assert driver is not None
            assert driver.is_in_transaction()
            await driver.fetch("SELECT set_config('supportos.test', 'inside', true)")
            # SQLAlchemy's own statements run in the same transaction
            seen = (await connection.execute(text("SELECT current_setting('supportos.test', true)"))).scalar()
            assert seen == "inside"
        async with engine.connect() as again:  # the same pooled connection (pool of one)
            raw: Any = again.sync_connection.connection.driver_connection  # type: ignore[union-attr]
            assert raw is driver
            assert not raw.is_in_transaction()
            after = (await again.execute(text("SELECT current_setting('supportos.test', true)"))).scalar()
            assert after in (None, "")
    finally:
        await engine.dispose()


async def test_with_statement_caches_off_the_driver_prepares_nothing_named(
    migrated_url: str, backend: str
) -> None:
    """What PgBouncer in transaction mode needs (docs/scaling.md): the URL's
    ``statement_cache_size=0`` reaches asyncpg, whose statements the prepared reads use."""
    if backend != "postgresql":
        pytest.skip("asyncpg's statement cache is PostgreSQL's")
    statement = PreparedRead(select(disputes.c.id).where(disputes.c.country_code == bindparam("country")))
    named: dict[str, int] = {}
    for label, url in (("cached", migrated_url), ("off", f"{migrated_url}&statement_cache_size=0")):
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as connection:
                driver: Any = await begin_on_driver(connection)
                assert driver is not None
                for _ in range(3):
                    assert await statement.rows(connection, {"country": "MX"}) == []
                named[label] = int(await driver.fetchval("SELECT count(*) FROM pg_prepared_statements"))
        finally:
            await engine.dispose()
    assert named["cached"] >= 1  # asyncpg's default: named statements kept on the connection
    assert named["off"] == 0


async def test_the_ledger_ranges_statement_is_driven_by_the_ranges(
    app_engine: AsyncEngine, engine: AsyncEngine, backend: str
) -> None:
    """One statement for any number of key prefixes (D61): each range must be an index range
    on ``(country_code, idempotency_key)``. A plain join with ``DISTINCT ON (id)`` walked the
    whole ledger in id order instead once it was large (1.7 s at 1M orders): 50,000 rows here."""
    if backend != "postgresql":
        pytest.skip("unnest and LATERAL are PostgreSQL's (SQLite's JSON ranges: test_sqlite_loop_reads.py)")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO ledger_transactions (country_code, idempotency_key, kind, currency,"
                " amount_minor, memo, reverses, created_at)"
                " SELECT 'MX', 'order:bulk' || g || '/capture', 'CAPTURE', 'MXN', 100, 'bulk', NULL, now()"
                " FROM generate_series(1, 50000) AS g"
            )
        )
        await connection.execute(text("ANALYZE ledger_transactions"))
    sql = _TRANSACTIONS_IN_RANGES.driver_sql(app_engine.dialect)
    lows = [f"dispute:d{n}/" for n in range(50)]
    highs = [f"dispute:d{n}0" for n in range(50)]
    async with app_engine.connect() as connection:
        driver: Any = await begin_on_driver(connection)
        await driver.execute("SELECT set_config('supportos.countries', 'MX', true)")
        plan = "\n".join(row[0] for row in await driver.fetch("EXPLAIN " + sql, lows, highs, "MX"))
    assert "uq_ledger_transactions_country_code_idempotency_key" in plan, plan
    assert "(idempotency_key)::text >= (r.low)::text" in plan, plan  # an index range per range
    assert "pk_ledger_transactions" not in plan and "Seq Scan on ledger_transactions" not in plan, plan


async def test_a_page_of_disputes_is_one_statement_per_shape_whatever_its_values(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], app_engine: AsyncEngine, backend: str
) -> None:
    """D160: a page's statement is built once per shape (which filters, how many values), its
    values bound as parameters: every filter and cursor answers what it should, pages of one
    shape send one text, on the driver in a request's transaction on PostgreSQL and on
    aiosqlite's thread on SQLite (a list stays off the loop's thread, D147)."""
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())
    country = CountryCode("MX")
    with scoped_to(everything(country)):
        plain = read_models(app_engine)
        every = (
            await plain.disputes.list_disputes(country, DisputeFilter(), PageRequest(first=200))
        ).unwrap()
        disputes_ = every.items
        orders_ = await plain.orders.get_many(country, [d.order_id for d in disputes_])
        assert len(disputes_) >= 3 and len({d.status for d in disputes_}) >= 2
        assert [(d.opened_at, d.id) for d in disputes_] == sorted(
            ((d.opened_at, d.id) for d in disputes_), reverse=True
        )
        middle = disputes_[len(disputes_) // 2]
        filters = [
            *(DisputeFilter(statuses=frozenset({status})) for status in {d.status for d in disputes_}),
            DisputeFilter(statuses=frozenset(d.status for d in disputes_)),
            *(DisputeFilter(reasons=frozenset({reason})) for reason in {d.reason for d in disputes_}),
            DisputeFilter(opened_before=middle.opened_at),
            DisputeFilter(opened_from=middle.opened_at),
            DisputeFilter(evidence_deadline_before=middle.evidence_deadline),
            *(DisputeFilter(seller_id=orders_[d.order_id].seller_id) for d in disputes_[:2]),
            DisputeFilter(buyer_id=orders_[middle.order_id].buyer_id, statuses=frozenset({middle.status})),
            DisputeFilter(order_ids=frozenset({disputes_[0].order_id, disputes_[-1].order_id})),
            DisputeFilter(order_ids=frozenset()),
        ]

        def matches(where: DisputeFilter, dispute: Any) -> bool:
            order = orders_[dispute.order_id]
            return (
                (not where.statuses or dispute.status in where.statuses)
                and (not where.reasons or dispute.reason in where.reasons)
                and (where.opened_before is None or dispute.opened_at < where.opened_before)
                and (where.opened_from is None or dispute.opened_at >= where.opened_from)
                and (
                    where.evidence_deadline_before is None
                    or dispute.evidence_deadline < where.evidence_deadline_before
                )
                and (where.order_ids is None or dispute.order_id in where.order_ids)
                and (where.seller_id is None or order.seller_id == where.seller_id)
                and (where.buyer_id is None or order.buyer_id == where.buyer_id)
            )

        seen = DriverStatements(app_engine)
        transaction = RequestTransaction(app_engine)
        request = read_models(transaction)
        try:
            for where in filters:
                found = await request.disputes.list_disputes(country, where, PageRequest(first=200))
                assert [d.id for d in found.unwrap().items] == [d.id for d in disputes_ if matches(where, d)]
            walked: list[str] = []
            after: str | None = None
            walks = 0
            while True:  # pages of two, each after the last one's cursor
                listed = await request.disputes.list_disputes(country, DisputeFilter(), PageRequest(2, after))
                page = listed.unwrap()
                walks += 1
                walked.extend(d.id for d in page.items)
                if not page.has_next_page:
                    break
                after = page.end_cursor
            assert walked == [d.id for d in disputes_]
        finally:
            await transaction.close()
    pages = [s for s in seen.driver + seen.through_sqlalchemy if "FROM disputes" in s and "LIMIT" in s]
    statuses_alone = len({d.status for d in disputes_})
    assert len(pages) == len(filters) + walks
    assert len(set(pages[:statuses_alone])) == 1  # one status each, other values: one text
    if backend == "postgresql":
        assert all(s in seen.driver for s in pages)
    else:
        assert all(s in seen.through_sqlalchemy for s in pages)
