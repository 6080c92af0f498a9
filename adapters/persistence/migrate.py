"""Running the Alembic migrations from Python (``supportos migrate``, tests, start-up checks).

All functions are coroutines, safe to call from a running event loop: Alembic is
synchronous, so it runs inside ``AsyncConnection.run_sync`` on a connection this module
opens (``NullPool``, disposed afterwards). An upgrade runs in one transaction; on
PostgreSQL concurrent upgraders are serialised by an advisory lock, on SQLite by
``BEGIN IMMEDIATE``.

The configuration is built here (``script_location`` is this package's ``migrations``
directory), so it works from an installed wheel without ``alembic.ini``.

On PostgreSQL, run migrations as the schema's owner (``SUPPORTOS_MIGRATION_DATABASE_URL``),
not as the service's role: migration ``0006_row_level_security`` creates that role if
needed and grants it only what the service uses (``app_role``, default ``supportos_app``).
A migration's transaction sees every country (row-level security is forced on the
owner too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection

from adapters.persistence.database import create_engine
from adapters.persistence.row_level_security import APP_ROLE_ATTRIBUTE

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY: Final = 0x5355_4F53_4D49_4752  # "SUOSMIGR"

_T = TypeVar("_T")


def alembic_config(url: str | None = None, *, app_role: str | None = None) -> Config:
    """An Alembic ``Config`` for this project's migrations (``url`` is not interpolated).

    ``app_role``: the service's PostgreSQL role the migrations grant to (default
    ``SUPPORTOS_DATABASE_APP_ROLE``, else ``supportos_app``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["url"] = url
    if app_role is not None:
        config.attributes[APP_ROLE_ATTRIBUTE] = app_role
    return config


def head_revision() -> str | None:
    """The newest revision in the migrations directory."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade_to_head(url: str, *, app_role: str | None = None) -> str | None:
    """Bring the database at ``url`` to the newest revision (a no-op when already there).

    Returns the revision the database is at afterwards.
    """
    return await upgrade_to(url, "head", app_role=app_role)


async def upgrade_to(url: str, revision: str, *, app_role: str | None = None) -> str | None:
    def run(connection: Connection) -> str | None:
        _command(connection, url, lambda config: command.upgrade(config, revision), app_role)
        return _current(connection)

    return await _with_connection(url, run)


async def downgrade_to(url: str, revision: str = "base", *, app_role: str | None = None) -> str | None:
    """Step the database back to ``revision`` (``"base"``: an empty schema)."""

    def run(connection: Connection) -> str | None:
        _command(connection, url, lambda config: command.downgrade(config, revision), app_role)
        return _current(connection)

    return await _with_connection(url, run)


async def current_revision(url: str) -> str | None:
    """The revision the database is at, ``None`` for a database never migrated."""
    return await _with_connection(url, _current)


async def is_at_head(url: str) -> bool:
    return await current_revision(url) == head_revision()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _command(connection: Connection, url: str, run: Callable[[Config], None], app_role: str | None) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = alembic_config(url, app_role=app_role)
    config.attributes["connection"] = connection
    run(config)


async def _with_connection(url: str, work: Callable[[Connection], _T]) -> _T:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()
