"""``alembic upgrade head --sql``: the script a DBA reviews builds what an online run builds (D129).

The offline script of ``head`` is produced by the real command line (``alembic.ini``,
``env.py``), applied as one text to an empty database (what ``psql -f`` does), and the
result is compared with a database migrated online, catalog by catalog: tables, columns,
constraints, indexes, row-level security, policies, triggers, functions, every grant and
default privilege in the schema, ``alembic_version``. A helper that emitted nothing offline
(or something else) shows as a difference. The script also refuses what an online run
refuses: the service's role being the migrating role, or a superuser / ``BYPASSRLS`` role.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from adapters.persistence.database import create_engine
from adapters.persistence.migrate import head_revision, upgrade_to_head
from adapters.persistence.row_level_security import APP_ROLE_ENV, DEFAULT_APP_ROLE

REPOSITORY: Final = Path(__file__).resolve().parents[2]
APP_ROLE: Final = os.environ.get(APP_ROLE_ENV, DEFAULT_APP_ROLE)

# Each query reads one catalog of the current schema; rows are compared as sorted lists.
CATALOG: Final = {
    "relations": """
        SELECT c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity, c.relacl::text
        FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
    """,
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,
               numeric_precision, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = current_schema()
    """,
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype::text, pg_get_constraintdef(c.oid)
        FROM pg_constraint c WHERE c.connamespace = current_schema()::regnamespace
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "policies": """
        SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = current_schema()
    """,
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, t.tgenabled::text, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               p.prosecdef, p.provolatile::text, p.prosrc, p.proacl::text,
               array_to_string(ARRAY(SELECT unnest(p.proconfig) ORDER BY 1), ' | ')
        FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
    """,
    "schema": "SELECT nspname, nspacl::text FROM pg_namespace WHERE oid = current_schema()::regnamespace",
    "default privileges": """
        SELECT d.defaclobjtype::text, d.defaclacl::text FROM pg_default_acl d
        WHERE d.defaclnamespace = current_schema()::regnamespace
    """,
    "service role grants": """
        SELECT table_name, privilege_type FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND grantee = :role
    """,
    "service role": """
        SELECT rolname, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole
        FROM pg_roles WHERE rolname = :role
    """,
    "alembic_version": "SELECT version_num FROM alembic_version",
}


async def catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return {
                name: sorted(
                    (tuple(row) for row in await connection.execute(text(query), {"role": APP_ROLE})),
                    key=repr,
                )
                for name, query in CATALOG.items()
            }
    finally:
        await engine.dispose()


async def alembic_offline(url: str, *, app_role: str = APP_ROLE) -> tuple[int | None, str, str]:
    """(exit code, stdout, stderr) of ``alembic upgrade head --sql`` for ``url``, run as a
    DBA would run it (the repository's ``alembic.ini``)."""
    environment = {**os.environ, "SUPPORTOS_MIGRATION_DATABASE_URL": url, APP_ROLE_ENV: app_role}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        "upgrade",
        "head",
        "--sql",
        cwd=REPOSITORY,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def offline_script(url: str, *, app_role: str = APP_ROLE) -> str:
    code, script, err = await alembic_offline(url, app_role=app_role)
    assert code == 0, err
    return script


async def apply_script(url: str, script: str) -> None:
    """``script`` sent as one text (the simple query protocol, as ``psql -f`` sends it)."""
    dsn = make_url(url).difference_update_query(["search_path"]).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await connection.execute(script)
    finally:
        await connection.close()


@asynccontextmanager
async def another_database(url: str) -> AsyncIterator[str]:
    """A second empty database on the same server, with the same schema as ``url``'s."""
    parsed = make_url(url)
    database, schema = f"t_{uuid.uuid4().hex[:16]}", str(parsed.query["search_path"])
    admin = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    other = parsed.set(database=database).render_as_string(hide_password=False)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{database}"'))
        engine = create_engine(other, poolclass=pool.NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        finally:
            await engine.dispose()
        yield other
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await admin.dispose()


async def relations(url: str) -> list[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            names = await connection.execute(
                text("SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace")
            )
            return [str(name) for (name,) in names]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_the_offline_script_builds_what_an_online_run_builds(database_url: str) -> None:
    script = await offline_script(database_url)
    await apply_script(database_url, script)
    offline = await catalog(database_url)
    async with another_database(database_url) as online_url:
        assert await upgrade_to_head(online_url) == head_revision()
        online = await catalog(online_url)

    # not two empty answers agreeing: the online schema has what the helpers make
    tables = {row[0] for row in online["relations"] if row[1] == "r"} - {"alembic_version"}
    assert online["alembic_version"] == [(head_revision(),)]
    assert {row[0] for row in online["relations"] if row[1] == "r" and row[3]} == tables  # FORCEd RLS
    assert {row[0] for row in online["policies"]} == tables
    assert {row[0] for row in online["service role grants"]} == tables | {"alembic_version"}
    assert len(online["functions"]) >= 3 and online["triggers"] and online["default privileges"]
    assert APP_ROLE in str(online["schema"])
    assert "BEGIN;" in script and "COMMIT;" in script
    for name in CATALOG:
        assert offline[name] == online[name], name


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_the_offline_script_refuses_the_migrating_role_as_the_service_role(database_url: str) -> None:
    """Run as ``postgres`` with the service's role set to ``postgres``: refused online and
    offline alike, and nothing is left behind (one transaction)."""
    me = make_url(database_url).username or "postgres"
    expected = f"migrations run as '{me}', the service's own role"
    with pytest.raises(DBAPIError, match=expected):
        await upgrade_to_head(database_url, app_role=me)
    assert await relations(database_url) == []

    script = await offline_script(database_url, app_role=me)
    with pytest.raises(asyncpg.exceptions.RaiseError, match=expected):
        await apply_script(database_url, script)
    assert await relations(database_url) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_the_offline_script_refuses_a_service_role_that_bypasses_row_level_security(
    database_url: str,
) -> None:
    role = f"offline_bypass_{uuid.uuid4().hex[:12]}"
    expected = f"role '{role}' is a superuser or has BYPASSRLS"
    admin = create_engine(database_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN BYPASSRLS'))
        with pytest.raises(DBAPIError, match=expected):
            await upgrade_to_head(database_url, app_role=role)
        assert await relations(database_url) == []
        script = await offline_script(database_url, app_role=role)
        with pytest.raises(asyncpg.exceptions.RaiseError, match=expected):
            await apply_script(database_url, script)
        assert await relations(database_url) == []
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        await admin.dispose()


async def test_there_is_no_offline_script_for_sqlite(tmp_path: Path) -> None:
    """SQLite's table rebuilds (batch mode) reflect the live table: refused, with the way out."""
    code, out, err = await alembic_offline(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert code != 0
    assert "offline SQL (--sql) is produced for PostgreSQL only" in err
    assert "CREATE TABLE" not in out
