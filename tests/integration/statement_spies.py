"""Spies on where statements run: past SQLAlchemy on the driver (D61, D145), and calls
sent to aiosqlite's thread (D145, D146)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Hops:
    """Calls sent to aiosqlite's thread (every aiosqlite call goes through ``_execute``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original: Any = aiosqlite.Connection._execute

        async def counted(
            connection: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kw: Any
        ) -> Any:
            called = getattr(fn, "__wrapped__", fn)  # sqlite_calls.py's counting wrapper
            self.calls.append(getattr(called, "__name__", repr(called)))
            return await original(connection, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


class DriverStatements:
    """Statements announced with no cursor: the ones the driver path sent (asyncpg, or the
    ``sqlite3`` connection on the loop's thread); listening on ``engine`` when given."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.driver: list[str] = []
        self.through_sqlalchemy: list[str] = []
        if engine is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", self)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        (self.driver if cursor is None else self.through_sqlalchemy).append(statement)
