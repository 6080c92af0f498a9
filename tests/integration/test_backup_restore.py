"""Backup and restore, as docs/runbooks/backup-restore.md does it: a PostgreSQL database
with the demo data is dumped with ``pg_dump --format=custom``, restored with ``pg_restore``
into a fresh database, and ``supportos audit-verify`` passes on the copy (the hash chain
survived byte for byte), with the same rows as the original. Both databases are dropped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.integration.conftest import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV, _skip_or_fail

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SUPPORTOS = str(Path(sys.executable).with_name("supportos"))
TABLES = ("audit_log", "orders", "disputes", "ledger_transactions", "ledger_postings", "outbox_jobs")


def _tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        _skip_or_fail(f"{name} is not installed")
    assert found is not None
    return found


@pytest.fixture
async def admin() -> AsyncIterator[AsyncEngine]:
    base = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    engine = create_async_engine(
        base, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5}
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        await engine.dispose()
        _skip_or_fail(f"PostgreSQL unreachable at {base}: {type(error).__name__}")
    yield engine
    await engine.dispose()


@pytest.fixture
async def databases(admin: AsyncEngine) -> AsyncIterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:12]
    names = (f"supportos_backup_src_{suffix}", f"supportos_backup_dst_{suffix}")
    async with admin.connect() as connection:
        for name in names:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield names
    finally:
        async with admin.connect() as connection:
            for name in names:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _urls(database: str) -> tuple[str, str]:
    """(SQLAlchemy URL for supportos, libpq URL for pg_dump / pg_restore)."""
    base = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)).set(database=database)
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    return base.render_as_string(hide_password=False), libpq


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(  # noqa: PLW1510 - checked below, with the output in the message
        command, capture_output=True, text=True, env=env, timeout=300
    )
    assert completed.returncode == 0, (
        f"{command[:2]} -> {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
    )
    return completed


async def _counts(admin: AsyncEngine, database: str) -> dict[str, int]:
    url, _ = _urls(database)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return {
                table: int((await connection.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())
                for table in TABLES
            }
    finally:
        await engine.dispose()


async def test_a_restored_backup_passes_audit_verify(
    admin: AsyncEngine, databases: tuple[str, str], tmp_path: Path
) -> None:
    source, copy = databases
    source_url, source_libpq = _urls(source)
    copy_url, copy_libpq = _urls(copy)
    env = {**os.environ, "SUPPORTOS_DATABASE_URL": source_url}
    env.pop("SUPPORTOS_MIGRATION_DATABASE_URL", None)
    _run(SUPPORTOS, "migrate", env=env)
    _run(SUPPORTOS, "seed-demo", env=env)
    original = _run(SUPPORTOS, "audit-verify", env=env).stdout

    dump = tmp_path / "supportos.dump"
    _run(_tool("pg_dump"), "--format=custom", "--no-password", f"--file={dump}", f"--dbname={source_libpq}")
    assert dump.stat().st_size > 0
    _run(
        _tool("pg_restore"),
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={copy_libpq}",
        str(dump),
    )

    verified = _run(SUPPORTOS, "audit-verify", env={**env, "SUPPORTOS_DATABASE_URL": copy_url}).stdout
    assert "audit chain intact" in verified
    assert verified == original  # the same number of entries verified
    counts = await _counts(admin, copy)
    assert counts == await _counts(admin, source)
    assert counts["audit_log"] > 0 and counts["ledger_postings"] > 0 and counts["disputes"] > 0
