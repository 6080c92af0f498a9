"""The schema is built by the Alembic migrations alone, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.api_keys import key_by_id
from adapters.persistence.database import create_engine
from adapters.persistence.migrate import (
    current_revision,
    downgrade_to,
    head_revision,
    is_at_head,
    upgrade_to_head,
)
from adapters.persistence.tables import metadata
from application.security.api_keys import hash_key, new_key
from application.security.principal import PartnerKind


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


def _order_columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("orders")}


async def test_0021_keeps_every_existing_key_a_seller_org_and_round_trips(migrated_url: str) -> None:
    """Keys made before partner kinds existed are seller orgs' (what they always meant); the
    key lookup (on PostgreSQL the SECURITY DEFINER function) returns the kind, and going back
    to 0020 restores the lookup's former shape."""
    assert await downgrade_to(migrated_url, "0020_outbox_provider_keys") == "0020_outbox_provider_keys"
    raw = new_key("mx_key_old")
    engine = create_engine(migrated_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO api_keys (country_code, key_id, partner_id, label, key_sha256, created_at)"
                    " VALUES ('MX', 'mx_key_old', 'sel_9', 'before 0021', :digest, :at)"
                ),
                {"digest": hash_key(raw), "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        assert await upgrade_to_head(migrated_url) == head_revision()
        async with engine.connect() as connection:
            record = await key_by_id(connection, "mx_key_old")
            columns = await connection.run_sync(_order_columns)
        assert record is not None
        assert (record.partner_id, record.partner_kind) == ("sel_9", PartnerKind.SELLER_ORG)
        assert "payment_partner_id" in columns
        assert await downgrade_to(migrated_url, "0020_outbox_provider_keys") == "0020_outbox_provider_keys"
        async with engine.connect() as connection:
            kept = (await connection.execute(text("SELECT partner_id FROM api_keys"))).scalars().all()
            columns = await connection.run_sync(_order_columns)
            if connection.dialect.name == "postgresql":
                old_shape = await connection.execute(text("SELECT * FROM api_key_by_id('MX', 'mx_key_old')"))
                assert "partner_kind" not in list(old_shape.keys())
        assert kept == ["sel_9"] and "payment_partner_id" not in columns
        assert await upgrade_to_head(migrated_url) == head_revision()
    finally:
        await engine.dispose()


async def test_0022_refuses_a_key_of_an_unknown_partner_kind_and_keeps_the_keys(migrated_url: str) -> None:
    insert = text(
        "INSERT INTO api_keys (country_code, key_id, partner_id, label, key_sha256, created_at, partner_kind)"
        " VALUES ('MX', :key_id, 'p_1', 'kinds', :digest, :at, :kind)"
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    engine = create_engine(migrated_url)
    try:
        assert await downgrade_to(migrated_url, "0021_partner_kinds") == "0021_partner_kinds"
        async with engine.begin() as connection:
            values = {"key_id": "mx_psp", "digest": hash_key(new_key("mx_psp")), "at": at}
            await connection.execute(insert, {**values, "kind": "PAYMENT_PARTNER"})
        assert await upgrade_to_head(migrated_url) == head_revision()  # SQLite rebuilds the table
        async with engine.connect() as connection:
            record = await key_by_id(connection, "mx_psp")
        assert record is not None and record.partner_kind is PartnerKind.PAYMENT_PARTNER
        for kind in ("BANK", "seller_org", ""):
            with pytest.raises(IntegrityError):
                async with engine.begin() as connection:
                    values = {"key_id": f"mx_{kind}", "digest": hash_key(new_key("x")), "at": at}
                    await connection.execute(insert, {**values, "kind": kind})
        async with engine.connect() as connection:
            keys = (await connection.execute(text("SELECT key_id FROM api_keys"))).scalars().all()
        assert keys == ["mx_psp"]
    finally:
        await engine.dispose()
