"""The schema is built by the Alembic migrations alone, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.migrate import (
    current_revision,
    downgrade_to,
    head_revision,
    is_at_head,
    upgrade_to_head,
)
from adapters.persistence.tables import metadata


async def test_an_empty_database_reaches_head_and_upgrading_again_changes_nothing(database_url: str) -> None:
    assert await current_revision(database_url) is None
    assert not await is_at_head(database_url)

    assert await upgrade_to_head(database_url) == head_revision()
    assert await is_at_head(database_url)

    assert await upgrade_to_head(database_url) == head_revision()
    assert await current_revision(database_url) == head_revision()


async def test_downgrading_to_base_and_upgrading_again_works(migrated_url: str) -> None:
    assert await downgrade_to(migrated_url, "base") is None
    assert await upgrade_to_head(migrated_url) == head_revision()


async def test_the_migrated_schema_matches_the_table_definitions(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_every_table_has_a_country_code(engine: AsyncEngine) -> None:
    def tables_without_country(connection: Connection) -> list[str]:
        inspector = inspect(connection)
        return [
            table
            for table in inspector.get_table_names()
            if table != "alembic_version"
            and "country_code" not in {column["name"] for column in inspector.get_columns(table)}
        ]

    async with engine.connect() as connection:
        assert await connection.run_sync(tables_without_country) == []
