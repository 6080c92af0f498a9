"""Integration fixtures: every test runs on SQLite and on PostgreSQL, schema built by the migrations.

- ``database_url``: an empty database. SQLite: a fresh file in ``tmp_path``. PostgreSQL: a
  fresh database ``t_<random>`` on the server of ``SUPPORTOS_TEST_DATABASE_URL`` (default
  ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) holding one empty schema
  ``t_<session>``, selected through the URL's ``?search_path=`` (see
  ``adapters/persistence/database.py``), dropped afterwards. Safe with tests run one at a
  time or in parallel (each run has its own names).
- ``migrated_url``: the same database at head. The migrations run once per test session
  into a template (a SQLite file; a PostgreSQL template database), and each test gets a
  copy (``CREATE DATABASE ... TEMPLATE``; a file copy): a copy takes ~0.1 s where running
  every migration takes ~3 s on PostgreSQL, which over a thousand tests is the difference
  between minutes and most of an hour. ``tests/integration/test_migrations.py`` still runs
  the migrations themselves on empty databases.
- ``engine``: an engine on the migrated database as its owner (the role that ran the
  migrations): for raw reads, tampering and checks that must see past every guard.
- ``app_url`` / ``app_engine`` / ``session_factory`` / ``uow_factory``: the service's own
  view. On PostgreSQL they connect as the service's role (``supportos_app``: not the owner,
  not a superuser), so every test that goes through a unit of work also runs through the
  row-level-security wall (D22); on SQLite they are the same database as ``engine``.
- Every integration test runs with the country scope bound to ``ALL`` (the system's
  scope), as workers and CLI commands do; a test of the wall binds narrower scopes itself
  (``application.security.scope.scoped_to``).

PostgreSQL cases are marked ``postgres`` (``-m "not postgres"`` runs SQLite only). When
PostgreSQL is unreachable they are skipped, but fail when ``CI=true`` or
``SUPPORTOS_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import pytest
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.migrate import upgrade_to_head
from adapters.persistence.row_level_security import APP_ROLE_ENV, DEFAULT_APP_ROLE
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from application.security.scope import ALL, scoped_to

POSTGRES_URL_ENV: Final = "SUPPORTOS_TEST_DATABASE_URL"
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

_unreachable: list[str] = []  # remembered so an absent server costs one attempt, not one per test


def postgres_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("SUPPORTOS_REQUIRE_POSTGRES") == "1"


def _skip_or_fail(reason: str) -> NoReturn:
    if postgres_required():
        pytest.fail(f"{reason} (PostgreSQL is required: CI=true or SUPPORTOS_REQUIRE_POSTGRES=1)")
    pytest.skip(f"{reason}; set {POSTGRES_URL_ENV} to run the PostgreSQL cases")


@dataclass
class _PostgresTemplates:
    """Per test session: the schema name every test database uses, and two template
    databases holding it, empty and migrated to head."""

    base_url: str
    schema: str
    empty: str
    migrated: str


_postgres_templates: list[_PostgresTemplates] = []
_sqlite_template: list[Path] = []
_born_migrated: set[str] = set()  # test databases created as copies of the migrated template


def _admin_engine(base_url: str) -> AsyncEngine:
    return create_engine(
        base_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5}
    )


def _database_url(base_url: str, database: str, schema: str) -> str:
    return (
        make_url(base_url)
        .set(database=database)
        .update_query_dict({"search_path": schema})
        .render_as_string(hide_password=False)
    )


async def _templates(base_url: str) -> _PostgresTemplates:
    if _postgres_templates:
        return _postgres_templates[0]
    session = uuid.uuid4().hex[:12]
    templates = _PostgresTemplates(base_url, f"t_{session}", f"tpl_{session}_empty", f"tpl_{session}_head")
    admin = _admin_engine(base_url)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{templates.empty}"'))
        empty = create_engine(
            _database_url(base_url, templates.empty, templates.schema), poolclass=pool.NullPool
        )
        try:
            async with empty.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{templates.schema}"'))
        finally:
            await empty.dispose()
        async with admin.connect() as connection:
            await connection.execute(
                text(f'CREATE DATABASE "{templates.migrated}" TEMPLATE "{templates.empty}"')
            )
        await upgrade_to_head(_database_url(base_url, templates.migrated, templates.schema))
    finally:
        await admin.dispose()
    _postgres_templates.append(templates)
    return templates


async def _drop_templates() -> None:
    for templates in _postgres_templates:
        admin = _admin_engine(templates.base_url)
        try:
            async with admin.connect() as connection:
                for database in (templates.migrated, templates.empty):
                    await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        finally:
            await admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_templates_at_the_end() -> Iterator[None]:
    yield
    if _postgres_templates:
        asyncio.run(_drop_templates())
    for path in _sqlite_template:
        shutil.rmtree(path.parent, ignore_errors=True)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'supportos.db'}"
        return
    base_url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    if _unreachable:
        _skip_or_fail(_unreachable[0])
    try:
        templates = await _templates(base_url)
    except Exception as error:  # any failure to connect means: no PostgreSQL here
        _unreachable.append(f"PostgreSQL unreachable at {base_url}: {type(error).__name__}: {error}")
        _skip_or_fail(_unreachable[0])
    database = f"t_{uuid.uuid4().hex[:16]}"
    # a test that asks for ``migrated_url`` gets the migrated copy straight away
    migrated = "migrated_url" in request.fixturenames
    admin = _admin_engine(base_url)
    try:
        async with admin.connect() as connection:
            template = templates.migrated if migrated else templates.empty
            await connection.execute(text(f'CREATE DATABASE "{database}" TEMPLATE "{template}"'))
        url = _database_url(base_url, database, templates.schema)
        if migrated:
            _born_migrated.add(url)
        yield url
    finally:
        _born_migrated.discard(_database_url(base_url, database, templates.schema))
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await admin.dispose()


async def _migrated_copy(database_url: str) -> bool:
    """Replace the still-empty test database by a copy of the migrated template; ``False``
    when there is no template for it (the caller then runs the migrations)."""
    if database_url in _born_migrated:
        return True
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "")
        if os.path.exists(target) and os.path.getsize(target) > 0:  # noqa: ASYNC240 - one stat
            return False
        if not _sqlite_template:
            template = Path(tempfile.mkdtemp(prefix="supportos-tpl-")) / "head.db"
            await upgrade_to_head(f"sqlite+aiosqlite:///{template}")
            _sqlite_template.append(template)
        shutil.copyfile(_sqlite_template[0], target)
        return True
    if not _postgres_templates or url.database is None:
        return False
    templates = _postgres_templates[0]
    admin = _admin_engine(templates.base_url)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
            await connection.execute(
                text(f'CREATE DATABASE "{url.database}" TEMPLATE "{templates.migrated}"')
            )
    finally:
        await admin.dispose()
    return True


@pytest.fixture
def backend(database_url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return make_url(database_url).get_backend_name()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    if not await _migrated_copy(database_url):
        await upgrade_to_head(database_url)
    return database_url


@pytest.fixture(autouse=True)
def system_scope() -> Iterator[None]:
    """Every country, unless a test binds another scope."""
    with scoped_to(ALL):
        yield


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def app_url(migrated_url: str) -> str:
    """``migrated_url`` as the service's role on PostgreSQL (trust authentication here)."""
    url = make_url(migrated_url)
    if url.get_backend_name() != "postgresql":
        return migrated_url
    role = os.environ.get(APP_ROLE_ENV, DEFAULT_APP_ROLE)
    return url.set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture
async def app_engine(app_url: str, migrated_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    if app_url == migrated_url:
        yield engine
        return
    app_engine = create_engine(app_url)
    try:
        yield app_engine
    finally:
        await app_engine.dispose()


@pytest.fixture
def session_factory(app_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(app_engine)


@pytest.fixture
def uow_factory(session_factory: async_sessionmaker[AsyncSession]) -> Callable[[], SqlAlchemyUnitOfWork]:
    return unit_of_work_factory(session_factory)
