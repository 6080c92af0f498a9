"""Engine configuration: URL handling, SQLite pragmas, PostgreSQL search_path."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import normalise_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/supportos.db", "sqlite+aiosqlite:///var/supportos.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgres://app@db:5432/supportos", "postgresql+asyncpg://app@db:5432/supportos"),
        (
            "postgresql://app:pw@db/supportos?search_path=s1",
            "postgresql+asyncpg://app:pw@db/supportos?search_path=s1",
        ),
    ],
)
def test_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "given", ["mysql://db/x", "postgresql+psycopg://db/x", "sqlite+pysqlite:///x.db", "nonsense"]
)
def test_other_databases_and_drivers_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported|not a database URL"):
        normalise_url(given)


async def test_connections_are_configured_for_the_backend(engine: AsyncEngine, backend: str) -> None:
    async with engine.connect() as connection:
        if backend == "sqlite":
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA busy_timeout")) == 30_000
        else:
            # the URL's ?search_path= (a fresh t_... schema per test) became a server setting
            assert (await connection.scalar(text("SHOW search_path"))).startswith("t_")
            assert await connection.scalar(text("SHOW application_name")) == "supportos"
            assert await connection.scalar(text("SHOW jit")) == "off"
            assert await connection.scalar(text("SHOW transaction_isolation")) == "read committed"


async def test_a_failed_statement_names_no_parameter_in_its_error(engine: AsyncEngine) -> None:
    """D113: the error of a failed statement, logged with its exception, carried the
    statement's parameters (a message body, a name, an address) past the log redaction."""
    secret = "Hola, soy Juan Perez, vivo en Calle 45, mi clave es Tigre2024"
    with pytest.raises(DBAPIError) as failed:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT CAST(:value AS INTEGER) + no_such_column"), {"value": secret}
            )
    assert secret not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
