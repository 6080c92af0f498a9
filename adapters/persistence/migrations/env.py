"""Alembic environment, async-capable.

Two ways in:

- programmatic (``adapters.persistence.migrate``): the caller passes an open synchronous
  connection (from ``AsyncConnection.run_sync``) in ``config.attributes["connection"]``
  and owns its transaction;
- the ``alembic`` command line (``alembic upgrade head`` from the repository root): the
  URL comes from ``config.attributes["url"]``, else ``SUPPORTOS_MIGRATION_DATABASE_URL``
  (the schema owner's), else ``SUPPORTOS_DATABASE_URL``, else ``sqlalchemy.url`` in
  ``alembic.ini``; migrations run in one transaction on an engine
  made by ``adapters.persistence.database.create_engine`` (same URL handling as the app);
- offline, ``alembic upgrade head --sql`` (PostgreSQL): the same URL, for its dialect and
  ``search_path`` only (nothing connects); the SQL script goes to stdout (D129).
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from adapters.persistence.database import create_engine, normalise_url
from adapters.persistence.row_level_security import ALL_COUNTRIES, SCOPE_SETTING, literal, scope_everything
from adapters.persistence.tables import metadata

config = context.config

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("SUPPORTOS_MIGRATION_DATABASE_URL")
    url = url or os.environ.get("SUPPORTOS_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set SUPPORTOS_MIGRATION_DATABASE_URL or SUPPORTOS_DATABASE_URL")
    return str(url)


def _run(connection: Connection) -> None:
    scope_everything(connection)  # row-level security binds the owner too (FORCE): see all
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    """``alembic upgrade head --sql``: the script on stdout, for review, PostgreSQL only (D129).

    The script does what an online run does on the same URL: its ``search_path`` (if the URL
    names one), one transaction that sees every country, the migrations; every decision the
    migrations make about the database is taken in SQL when the script runs (the
    ``DO`` blocks of ``row_level_security``). SQLite's batch mode (a table rebuilt to change a
    constraint) reflects the live table, so there is no offline script for SQLite.
    """
    url = normalise_url(_url())
    if url.get_backend_name() != "postgresql":
        raise CommandError(
            "offline SQL (--sql) is produced for PostgreSQL only: SQLite's table rebuilds need"
            " the live database; run `alembic upgrade head` (or `supportos migrate`) instead"
        )
    context.configure(
        url=url.difference_update_query(["search_path"]),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    search_path = url.query.get("search_path")
    if search_path:  # as the online engine does (a server setting of every connection)
        paths = ",".join([search_path] if isinstance(search_path, str) else search_path)
        context.execute(f"SELECT pg_catalog.set_config('search_path', {literal(paths)}, false)")
    with context.begin_transaction():
        # row-level security binds the owner too (FORCE): see all, for this transaction only
        context.execute(
            f"SELECT pg_catalog.set_config({literal(SCOPE_SETTING)}, {literal(ALL_COUNTRIES)}, true)"
        )
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    asyncio.run(_run_online())
