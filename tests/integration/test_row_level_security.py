"""The second wall of ScopeGuard on PostgreSQL: forced row-level security by country (D22).

The service's units of work here connect as ``supportos_app`` (``app_engine`` /
``uow_factory``), which owns nothing and is no superuser; ``engine`` is the owner, used to
see past the wall. Each test binds the scope it is about (``scoped_to``); the fixtures
otherwise bind every country.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import pytest
from returns.result import Success
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from adapters.persistence.api_keys import api_key_authenticator
from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.migrate import head_revision
from adapters.persistence.row_level_security import APP_ROLE_ENV, DEFAULT_APP_ROLE, SCOPE_SETTING
from adapters.persistence.tables import orders
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from adapters.system import TimeOrderedIds
from application.context import Services
from application.demo.seed import DEMO_COUNTRIES, seed_demo
from application.ports.outbox import NewJob
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.api_keys import new_key, new_key_id, record_for
from application.security.principal import Principal, Role
from application.security.scope import ALL, CountryScope, bind_scope, reset_scope, scope_for, scoped_to
from domain.audit import AuditDraft, AuditEntry
from domain.ledger import Account
from domain.shared import CountryCode, Currency
from domain.shared.ids import ActorId, OrderId
from interfaces.container import demo_providers, migrate_database
from interfaces.settings import Settings
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.fakes.time_and_ids import FixedClock
from tests.integration.aggregate_builders import CO, MX, new_order

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

UowFactory = Callable[[], SqlAlchemyUnitOfWork]
BR: Final = CountryCode("BR")
T0: Final = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
APP_ROLE: Final = os.environ.get(APP_ROLE_ENV, DEFAULT_APP_ROLE)
INSUFFICIENT_PRIVILEGE: Final = "42501"  # also what a WITH CHECK violation reports


def only(*codes: CountryCode) -> frozenset[CountryCode]:
    return frozenset(codes)


def sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)


async def country_scoped_tables(connection: AsyncConnection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name = 'country_code' ORDER BY table_name"
        )
    )
    return [str(name) for (name,) in rows]


async def countries_seen(uow_factory: UowFactory, table: str) -> list[str]:
    """Every row's country, by a query that forgot its country filter (no WHERE at all)."""
    async with uow_factory() as uow:
        rows = await uow.session.execute(text(f"SELECT country_code FROM {table}"))
        return sorted(str(country) for (country,) in rows)


async def owner_counts(engine: AsyncEngine, table: str) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT country_code, count(*) FROM {table} GROUP BY country_code")
        )
        return {str(country): int(n) for country, n in rows}


async def store_orders(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.orders.add(new_order("ord_mx_1", MX))
        await uow.orders.add(new_order("ord_mx_2", MX))
        await uow.orders.add(new_order("ord_co_1", CO))
        await uow.orders.add(new_order("ord_br_1", BR))
        await uow.commit()


# ----------------------------------------------------------------------------- the role


async def test_the_service_role_owns_nothing_bypasses_nothing_and_cannot_lift_the_wall(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    async with uow_factory() as uow:
        me = (
            await uow.session.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole"
                    " FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
        owned = (
            await uow.session.execute(
                text(
                    "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
                    " WHERE rolname = current_user)"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            )
        ).scalar_one()
    assert tuple(me) == (APP_ROLE, False, False, False)
    assert owned == 0
    async with engine.connect() as connection:
        owner = (await connection.execute(text("SELECT current_user"))).scalar_one()
    assert owner != APP_ROLE

    for statement in (
        "ALTER TABLE orders DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE orders NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY country_scope ON orders",
        "ALTER POLICY country_scope ON orders USING (true)",
        "CREATE POLICY see_all ON orders USING (true)",
        "TRUNCATE orders",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "SET ROLE postgres",
    ):
        async with uow_factory() as uow:
            with pytest.raises(DBAPIError) as refused:
                await uow.session.execute(text(statement))
            assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE, statement


async def test_every_country_scoped_table_is_behind_a_forced_policy_the_service_role_cannot_skip(
    engine: AsyncEngine,
) -> None:
    """The guard for future migrations: a table with ``country_code`` and no forced policy
    fails here (call ``apply_country_rls(op, table)`` in the migration that creates it)."""
    async with engine.connect() as connection:
        tables = await country_scoped_tables(connection)
        flags = {
            str(name): (bool(enabled), bool(forced))
            for name, enabled, forced in await connection.execute(
                text(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                    " WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
                )
            )
        }
        policies: dict[str, list[str]] = {}
        for table, qual, check in await connection.execute(
            text("SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = current_schema()")
        ):
            policies.setdefault(str(table), []).append(f"{qual} {check}")
        readable = {
            table: (
                await connection.execute(
                    text("SELECT has_table_privilege(:role, :table, 'SELECT')"),
                    {"role": APP_ROLE, "table": table},
                )
            ).scalar_one()
            for table in tables
        }
    assert len(tables) >= 11
    for table in tables:
        assert flags[table] == (True, True), f"{table}: row-level security not enabled and forced"
        assert policies.get(table), f"{table}: no policy"
        assert all(SCOPE_SETTING in text_ for text_ in policies[table]), f"{table}: {policies[table]}"
        assert readable[table], f"{table}: the service's role cannot read it"


# ----------------------------------------------------------------------------- reads


async def test_a_query_that_forgot_its_country_filter_returns_only_rows_of_the_scope(
    uow_factory: UowFactory,
) -> None:
    await store_orders(uow_factory)

    with scoped_to(only(MX)):
        async with uow_factory() as uow:
            unfiltered = (await uow.session.execute(select(orders.c.country_code, orders.c.id))).all()
            raw = (await uow.session.execute(text("SELECT * FROM orders"))).all()
            other_country = await uow.orders.get(CO, OrderId("ord_co_1"))
            counted = await uow.orders.count_by_status(CO)
    assert sorted((str(c), str(i)) for c, i in unfiltered) == [("MX", "ord_mx_1"), ("MX", "ord_mx_2")]
    assert len(raw) == 2
    assert other_country is None
    assert counted == {}

    with scoped_to(only(MX, CO)):
        assert await countries_seen(uow_factory, "orders") == ["CO", "MX", "MX"]
    with scoped_to(ALL):
        assert await countries_seen(uow_factory, "orders") == ["BR", "CO", "MX", "MX"]


async def test_a_transaction_with_no_country_set_sees_nothing(uow_factory: UowFactory, app_url: str) -> None:
    await store_orders(uow_factory)

    with scoped_to(None):
        assert await countries_seen(uow_factory, "orders") == []
        async with uow_factory() as uow:
            assert await uow.orders.get(MX, OrderId("ord_mx_1")) is None
            setting = (
                await uow.session.execute(text(f"SELECT current_setting('{SCOPE_SETTING}', true)"))
            ).scalar_one()
    assert setting == ""
    with scoped_to(frozenset()):
        assert await countries_seen(uow_factory, "orders") == []

    # Without this project's engine at all (so the setting was never even set: NULL).
    url = make_url(app_url)
    plain = create_async_engine(
        url.difference_update_query(["search_path"]),
        poolclass=NullPool,
        connect_args={"server_settings": {"search_path": str(url.query["search_path"])}},
    )
    try:
        async with plain.connect() as connection:
            setting = await connection.scalar(text(f"SELECT current_setting('{SCOPE_SETTING}', true)"))
            assert setting is None
            assert await connection.scalar(text("SELECT count(*) FROM orders")) == 0
            with pytest.raises(ProgrammingError) as refused:
                await connection.execute(
                    text(
                        "INSERT INTO refund_policies (country_code, version, currency,"
                        " goodwill_credit_minor, tiers_bp, dispute_window_seconds,"
                        " evidence_deadline_seconds, lateness_threshold_seconds, effective_from)"
                        " VALUES ('MX', 'v', 'MXN', 0, '[]', 1, 1, 1, now())"
                    )
                )
            assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE
    finally:
        await plain.dispose()


@pytest.fixture
async def demo_data(uow_factory: UowFactory) -> None:
    """Every table filled in four countries, through the real use cases and saga."""
    await seed_demo(uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock())
    async with uow_factory() as uow:
        for country in (MX, CO, BR):
            key_id = new_key_id(country, "key_rls")
            record = record_for(
                new_key(key_id), key_id=key_id, partner_id="p1", country=country, label="rls", now=T0
            )
            await uow.api_keys.add(record)
        accounts = await uow.session.execute(
            text(
                "SELECT DISTINCT ON (country_code) country_code, account, currency FROM ledger_accounts"
                " ORDER BY country_code, account"
            )
        )
        for country_code, account, currency in accounts.all():
            await uow.ledger.checkpoint(CountryCode(country_code), Account(account), Currency.of(currency))
        await uow.commit()


FILLED_BY_THE_DEMO: Final = frozenset(
    {
        "api_keys",
        "audit_log",
        "disputes",
        "idempotency_keys",
        "ledger_accounts",
        "ledger_balance_snapshots",
        "ledger_postings",
        "ledger_transactions",
        "orders",
        "outbox_jobs",
        "refund_policies",
    }
)
"""Tables the ``demo_data`` fixture fills in several countries (every other one is still
checked, but may be empty)."""


@pytest.mark.slow
@pytest.mark.usefixtures("demo_data")
async def test_every_country_scoped_table_shows_only_the_scope_and_nothing_without_one(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    async with engine.connect() as connection:
        tables = await country_scoped_tables(connection)
    for table in tables:
        everything = await owner_counts(engine, table)
        if table in FILLED_BY_THE_DEMO:
            assert len(everything) >= 2, f"{table}: the demo data should fill it in several countries"
        with scoped_to(only(MX)):
            assert await countries_seen(uow_factory, table) == ["MX"] * everything.get("MX", 0), table
        with scoped_to(only(CO, BR)):
            seen = await countries_seen(uow_factory, table)
            assert seen == sorted(["BR"] * everything.get("BR", 0) + ["CO"] * everything.get("CO", 0)), table
        with scoped_to(None):
            assert await countries_seen(uow_factory, table) == [], table
        with scoped_to(ALL):
            assert len(await countries_seen(uow_factory, table)) == sum(everything.values()), table
    assert set(DEMO_COUNTRIES) >= {"MX", "CO", "BR"}
    assert set(tables) >= FILLED_BY_THE_DEMO


# ----------------------------------------------------------------------------- writes


async def test_rows_of_another_country_can_be_neither_inserted_nor_changed_nor_deleted(
    uow_factory: UowFactory, engine: AsyncEngine
) -> None:
    await store_orders(uow_factory)

    with scoped_to(only(MX)):
        async with uow_factory() as uow:
            with pytest.raises(ProgrammingError) as refused:
                await uow.orders.add(new_order("ord_co_2", CO))
            assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE
            assert "row-level security" in str(refused.value)

        async with uow_factory() as uow:  # moving a row out of the scope is refused too
            with pytest.raises(ProgrammingError) as moved:
                await uow.session.execute(text("UPDATE orders SET country_code = 'CO' WHERE id = 'ord_mx_1'"))
            assert sqlstate(moved.value) == INSUFFICIENT_PRIVILEGE

        async with uow_factory() as uow:  # rows out of the scope are not there to change
            updated = await uow.session.execute(text("UPDATE orders SET version = 99 WHERE id = 'ord_co_1'"))
            deleted = await uow.session.execute(text("DELETE FROM orders WHERE country_code <> 'MX'"))
            await uow.commit()
    assert getattr(updated, "rowcount", None) == 0
    assert getattr(deleted, "rowcount", None) == 0
    assert await owner_counts(engine, "orders") == {"MX": 2, "CO": 1, "BR": 1}


# ----------------------------------------------------------------------------- audit


def draft(n: int, country: CountryCode) -> AuditDraft:
    return AuditDraft(
        actor_id=ActorId(f"agent-{n}"),
        actor_role="L2",
        country=country,
        action="dispute.decide",
        target_type="dispute",
        target_id=f"dsp_{n}",
        request_id=f"req-{n}",
        occurred_at=T0 + timedelta(seconds=n),
        before=None,
        after={"n": n},
    )


async def append(uow_factory: UowFactory, n: int, country: CountryCode, scope: CountryScope) -> AuditEntry:
    with scoped_to(scope):
        async with uow_factory() as uow:
            entry = await uow.audit.append(draft(n, country))
            await uow.commit()
            return entry


async def test_the_audit_log_stays_one_chain_whatever_the_scope_of_each_appender(
    uow_factory: UowFactory, migrated_url: str, app_url: str
) -> None:
    numbers = itertools.count(1)
    first = await append(uow_factory, next(numbers), MX, only(MX))
    second = await append(uow_factory, next(numbers), CO, only(CO))  # cannot see entry 1...
    assert (second.sequence, second.previous_hash) == (2, first.entry_hash)  # ...yet links to it
    third = await append(uow_factory, next(numbers), MX, only(MX))
    assert (third.sequence, third.previous_hash) == (3, second.entry_hash)
    # A denial is audited in the refused country, outside the caller's own scope.
    denial = await append(uow_factory, next(numbers), CO, only(MX))
    assert denial.previous_hash == third.entry_hash

    # Concurrent appenders, each in its own scope (tasks copy the context they start in).
    async def one(n: int) -> AuditEntry:
        country = (MX, CO, BR)[n % 3]
        return await append(uow_factory, n, country, only(country))

    concurrent = await asyncio.gather(*(one(next(numbers)) for _ in range(24)))
    assert sorted(entry.sequence for entry in concurrent) == list(range(5, 29))

    with scoped_to(None), pytest.raises(ProgrammingError) as unscoped:
        await append(uow_factory, 99, MX, None)
    assert sqlstate(unscoped.value) == INSUFFICIENT_PRIVILEGE

    with scoped_to(only(CO)):
        async with uow_factory() as uow:
            seen = [entry async for entry in uow.audit.entries()]
            tail = (
                await uow.session.execute(text("SELECT sequence, entry_hash FROM audit_log_tail()"))
            ).one()
    assert {entry.country for entry in seen if isinstance(entry, AuditEntry)} == {CO}
    assert len(seen) == 2 + sum(1 for entry in concurrent if entry.country == CO)
    newest = max(concurrent, key=lambda entry: entry.sequence)
    assert tuple(tail) == (28, newest.entry_hash)  # the global tail, of whatever country

    for url in (migrated_url, app_url):  # as the owner, and as the service's role
        code, report = await run_audit_verify(url)
        assert (code, report.splitlines()[0]) == (0, "audit chain intact: 28 entries verified")


# ----------------------------------------------------------------------------- pooling


async def test_a_pooled_connection_carries_no_scope_into_the_next_transaction(
    app_url: str, uow_factory: UowFactory
) -> None:
    await store_orders(uow_factory)
    engine = create_engine(app_url, pool_size=1, max_overflow=0)
    factory = unit_of_work_factory(create_session_factory(engine))

    async def look() -> tuple[int, str, list[str]]:
        async with factory() as uow:
            backend = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            setting = (
                await uow.session.execute(text(f"SELECT current_setting('{SCOPE_SETTING}', true)"))
            ).scalar_one()
            rows = (await uow.session.execute(text("SELECT country_code FROM orders"))).scalars().all()
            return int(backend), str(setting), sorted(str(country) for country in rows)

    try:
        with scoped_to(only(MX)):
            first = await look()
        with scoped_to(None):
            second = await look()
        with scoped_to(only(CO)):
            third = await look()
    finally:
        await engine.dispose()
    assert first == (first[0], "MX", ["MX", "MX"])
    assert second == (first[0], "", [])  # the same connection, and no trace of MX
    assert third == (first[0], "CO", ["CO"])


async def test_within_one_unit_of_work_every_transaction_is_scoped_again(
    session_factory: async_sessionmaker[AsyncSession], uow_factory: UowFactory
) -> None:
    await store_orders(uow_factory)
    with scoped_to(only(MX)):
        async with uow_factory() as uow:
            before = (await uow.session.execute(text("SELECT count(*) FROM orders"))).scalar_one()
            await uow.commit()  # the next statement begins a new transaction
            after = (await uow.session.execute(text("SELECT count(*) FROM orders"))).scalar_one()
    assert (before, after) == (2, 2)


async def test_a_binding_made_for_one_request_does_not_reach_another(uow_factory: UowFactory) -> None:
    await store_orders(uow_factory)
    started = asyncio.Event()
    release = asyncio.Event()

    async def request(principal: Principal | None) -> list[str]:
        with scoped_to(None):
            if principal is not None:
                token = bind_scope(principal)
                started.set()
                await release.wait()
                try:
                    return await countries_seen(uow_factory, "orders")
                finally:
                    reset_scope(token)
            await started.wait()
            release.set()
            return await countries_seen(uow_factory, "orders")

    agent = Principal("agent-1", Role.L1, only(CO))
    scoped, unscoped = await asyncio.gather(request(agent), request(None))
    assert (scoped, unscoped) == (["CO"], [])
    assert scope_for(Principal("worker", Role.SYSTEM, frozenset())) is ALL


# ----------------------------------------------------------------------------- exceptions


async def test_system_workers_see_every_country_even_when_nothing_was_bound(
    uow_factory: UowFactory,
) -> None:
    clock = FixedClock(T0)
    async with uow_factory() as uow:
        for country in (MX, CO, BR):
            job = NewJob(country, f"unknown:{country.value}", "unknown.kind", "internal", "r", {}, T0)
            await uow.outbox.enqueue(job, now=T0)
        await uow.commit()
    runner = SagaRunner(
        Services(uow=uow_factory, clock=clock, ids=TimeOrderedIds()),
        Providers(FakePayments(), FakeNotifications()),
    )
    with scoped_to(None):
        outcomes = await runner.run_once()
    assert outcomes == [StepOutcome.DEAD_LETTERED] * 3


async def test_an_api_key_is_found_by_id_before_any_scope_is_bound(
    uow_factory: UowFactory, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    key_id = new_key_id(CO, "key_1")
    raw = new_key(key_id)
    async with uow_factory() as uow:
        await uow.api_keys.add(record_for(raw, key_id=key_id, partner_id="p1", country=CO, label="", now=T0))
        await uow.commit()

    with scoped_to(None):
        authenticated = await api_key_authenticator(session_factory)(raw)
        async with uow_factory() as uow:
            listed = (await uow.session.execute(text("SELECT key_id FROM api_keys"))).all()
            found = await uow.api_keys.get(key_id)
            other = await uow.api_keys.get(new_key_id(MX, "key_1"))
    assert isinstance(authenticated, Success)
    assert authenticated.unwrap().countries == only(CO)
    assert listed == []  # the table itself stays behind the wall
    assert found is not None and found.country == CO
    assert other is None


async def test_the_unscoped_functions_are_for_the_service_role_only(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT p.proname, p.prosecdef, p.proconfig, p.provolatile::text AS provolatile,"
                    " has_function_privilege('public', p.oid, 'EXECUTE') AS public_may,"
                    " has_function_privilege(:role, p.oid, 'EXECUTE') AS app_may"
                    " FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace"
                    " AND p.proname IN ('audit_log_tail', 'audit_log_locked_tail', 'api_key_by_id')"
                    " ORDER BY p.proname"
                ),
                {"role": APP_ROLE},
            )
        ).all()
        schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
    assert [row.proname for row in rows] == ["api_key_by_id", "audit_log_locked_tail", "audit_log_tail"]
    # the locked tail reads after its lock with a fresh snapshot (D68); the others are STABLE
    assert {row.proname: row.provolatile for row in rows} == {
        "api_key_by_id": "s",
        "audit_log_locked_tail": "v",
        "audit_log_tail": "s",
    }
    for row in rows:
        assert row.prosecdef and row.app_may and not row.public_may
        assert sorted(row.proconfig) == sorted([f"search_path={schema}, pg_temp", f"{SCOPE_SETTING}=*"])


async def test_supportos_migrate_runs_as_the_owner_and_the_service_then_works_as_its_own_role(
    database_url: str,
) -> None:
    role = os.environ.get(APP_ROLE_ENV, DEFAULT_APP_ROLE)
    service_url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    settings = Settings(database_url=service_url, migration_database_url=database_url, database_app_role=role)
    assert await migrate_database(settings) == (None, head_revision())

    engine = create_engine(service_url)
    try:
        factory = unit_of_work_factory(create_session_factory(engine))
        with scoped_to(only(MX)):
            async with factory() as uow:
                await uow.orders.add(new_order("ord_mx_1", MX))
                await uow.audit.append(draft(1, MX))
                await uow.commit()
        with scoped_to(only(CO)):
            assert await countries_seen(factory, "orders") == []
        async with engine.connect() as connection:  # start-up checks may read the revision
            revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert revision == head_revision()
    assert await migrate_database(settings) == (head_revision(), head_revision())
