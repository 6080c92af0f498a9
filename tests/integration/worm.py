"""One check for the append-only (WORM) tables: every statement given is refused by the
database, and on PostgreSQL so is a TRUNCATE of each table named."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Executable, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine


async def assert_append_only(
    engine: AsyncEngine, backend: str, refused: Sequence[Executable], *, truncated: Sequence[str]
) -> None:
    """Each of ``refused`` (UPDATEs, DELETEs) fails with "append-only", in a transaction of
    its own; on PostgreSQL ``TRUNCATE <table> CASCADE`` fails too for each of ``truncated``."""
    for statement in refused:
        with pytest.raises(IntegrityError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(statement)
    if backend == "postgresql":
        for table in truncated:
            with pytest.raises(IntegrityError, match="append-only"):
                async with engine.begin() as connection:
                    await connection.execute(text(f"TRUNCATE {table} CASCADE"))
