"""Integration fixtures: every test runs on SQLite and on PostgreSQL, schema built by the migrations.

- ``database_url``: an empty database. SQLite: a fresh file in ``tmp_path``. PostgreSQL: a
  fresh schema named ``t_<random>`` in the database at ``SUPPORTOS_TEST_DATABASE_URL``
  (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), selected through the
  URL's ``?search_path=`` (see ``adapters/persistence/database.py``) and dropped with
  everything in it afterwards. Safe with tests run one at a time or in parallel.
- ``migrated_url``: the same database brought to head by ``upgrade_to_head``.
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

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
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
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url, poolclass=pool.NullPool, connect_args={"timeout": 5})
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # any failure to connect means: no PostgreSQL here
        await admin.dispose()
        _unreachable.append(f"PostgreSQL unreachable at {base_url}: {type(error).__name__}: {error}")
        _skip_or_fail(_unreachable[0])
    try:
        yield (
            make_url(base_url)
            .update_query_dict({"search_path": schema})
            .render_as_string(hide_password=False)
        )
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return make_url(database_url).get_backend_name()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
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
