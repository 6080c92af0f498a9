"""Read statements built once and, on PostgreSQL, run on the driver itself (D61).

A hot read (the API key, a dispute, its order, its ledger: what every partner poll does)
costs ~250 us of Python per statement when it is a SQLAlchemy ``select`` built per call
(construction, cache key, parameter processing, the greenlet hop, the result proxy), and
~40 us on asyncpg directly. :class:`PreparedRead` keeps SQLAlchemy as the one place the SQL
is written - the statement is a ``select`` on the tables of ``tables.py``, with named
``bindparam`` s - but builds it once, compiles it once per dialect, and then:

- on PostgreSQL runs the compiled text on the connection's asyncpg connection
  (``fetch``, asyncpg's own prepared-statement cache), with the parameters in the compiled
  order through the types' bind processors, and gives every row back as a plain ``dict``
  through the same result processors SQLAlchemy would apply (the JSON documents, the UTC
  datetimes): the mappers see the same values either way (tested);
- on SQLite (aiosqlite) runs the compiled text on the connection's ``sqlite3`` connection
  itself, on the event loop's thread, with the same processors (D145): aiosqlite sends every
  call (the cursor, the execute, the fetch, the close: four per statement) to the
  connection's own thread and back, which costs several times the statement; a read in a
  WAL database takes no lock it could wait for, so it is a short function call;
- anywhere else it executes the prebuilt statement through SQLAlchemy, which at least
  skips building it.

**Only inside the connection's transaction.** On PostgreSQL the driver path is taken only when the
asyncpg connection is already in a transaction (``is_in_transaction()``) - the one
SQLAlchemy began, so its ``ROLLBACK`` (at close, or the pool's reset) ends it, and the
country scope set with ``set_config(..., true)`` in it applies - or when the statement is
marked ``transactional=False`` (the API-key lookup, a ``SECURITY DEFINER`` function that
ignores the scope). Otherwise it goes through SQLAlchemy, which begins the transaction as
usual. So the driver path can never run a scoped read outside the scope's transaction.
On SQLite the read first begins the connection's transaction through SQLAlchemy when none
is open (what SQLAlchemy's autobegin would do: the engine's ``BEGIN``, ``database.py``),
and takes the ``sqlite3`` path only when SQLite then reports a transaction open (not under
``AUTOCOMMIT``), so SQLAlchemy's ``ROLLBACK``/``COMMIT`` ends it as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from sqlalchemy import text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.selectable import TextualSelect

from adapters.persistence.sqlite_calls import run_on_handle, sqlite_handle

Row = Mapping[Any, Any]  # a dict on the driver path, a ``RowMapping`` through SQLAlchemy
_Processor = Callable[[Any], Any] | None


class _Driver(Protocol):
    """The part of an asyncpg connection used here."""

    def is_in_transaction(self) -> bool: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def execute(self, query: str, *args: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    parameters: tuple[tuple[str, _Processor], ...]  # in the compiled order
    keys: tuple[str, ...]  # the result's keys, in the select's order
    converters: tuple[tuple[str, Callable[[Any], Any]], ...]  # the columns with a result processor
    fixed: bool  # one text for every call (no expanding IN rendered per call): a driver may run it
    defaults: Mapping[str, Any]  # the values of the statement's own binds (an OFFSET 0 with a LIMIT)


POSTGRESQL: Final = "postgresql"
ASYNCPG: Final = "asyncpg"
SQLITE: Final = "sqlite"
AIOSQLITE: Final = "aiosqlite"


class PreparedRead:
    """One read statement, built once; see the module's docstring."""

    __slots__ = ("_compiled", "_sqlite_on_loop", "_statement", "_transactional")

    def __init__(
        self,
        statement: Select[Any] | TextualSelect,
        *,
        transactional: bool = True,
        sqlite_on_loop: bool = True,
    ) -> None:
        """``sqlite_on_loop=False``: on SQLite the statement keeps aiosqlite's thread (a list
        whose cost the caller chooses, D147); the driver path on PostgreSQL is unchanged."""
        self._statement = statement
        self._transactional = transactional
        self._sqlite_on_loop = sqlite_on_loop
        self._compiled: dict[str, _Compiled] = {}  # by dialect name

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        names = compiled.positiontup or ()
        parameters = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        )
        columns = tuple(
            (str(column.key), column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in self._statement.selected_columns
        )
        fixed = not (compiled.post_compile_params or compiled.literal_execute_params)
        defaults = {
            name: compiled.binds[name].effective_value for name in names if not compiled.binds[name].required
        }
        keys = tuple(key for key, _ in columns)
        converters = tuple((key, process) for key, process in columns if process is not None)
        return _Compiled(compiled.string, parameters, keys, converters, fixed, defaults)

    def driver_sql(self, dialect: Dialect) -> str:
        """The SQL text the driver path sends (tests EXPLAIN it)."""
        return self._compiled_for(dialect).sql

    def _compiled_for(self, dialect: Dialect) -> _Compiled:
        # once per dialect: a driver path exists for asyncpg's and for aiosqlite's
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    async def rows(self, connection: AsyncConnection, parameters: Mapping[str, Any]) -> list[Row]:
        compiled = self._compiled_for(connection.dialect)
        if compiled.fixed:
            driver = _driver(connection, transactional=self._transactional)
            if driver is not None:
                arguments = _arguments(compiled, parameters)
                return _mapped(compiled, await driver_fetch(connection, driver, compiled.sql, arguments))
            handle = await sqlite_in_transaction(connection) if self._sqlite_on_loop else None
            if handle is not None:
                arguments = _arguments(compiled, parameters)
                return _mapped(compiled, sqlite_fetch(connection, handle, compiled.sql, arguments))
        result = await connection.execute(self._statement, dict(parameters))
        return [row._mapping for row in result]

    async def first(self, connection: AsyncConnection, parameters: Mapping[str, Any]) -> Row | None:
        found = await self.rows(connection, parameters)
        return found[0] if found else None


def _arguments(compiled: _Compiled, parameters: Mapping[str, Any]) -> list[Any]:
    if compiled.defaults:
        parameters = {**compiled.defaults, **parameters}
    return [
        parameters[name] if process is None else process(parameters[name])
        for name, process in compiled.parameters
    ]


def _mapped(compiled: _Compiled, records: Sequence[Sequence[Any]]) -> list[Row]:
    keys = compiled.keys
    rows = [dict(zip(keys, record, strict=True)) for record in records]
    if compiled.converters:  # the few converted columns, after each dict is built in one go
        for row in rows:
            for key, process in compiled.converters:
                row[key] = process(row[key])
    return cast("list[Row]", rows)


def _usable(connection: AsyncConnection, name: str, driver: str) -> Connection | None:
    """``connection``'s sync connection when it is on that dialect and driver and usable."""
    dialect = connection.dialect
    if dialect.name != name or dialect.driver != driver:
        return None
    raw = connection.sync_connection
    if raw is None or raw.invalidated or raw.closed:
        return None
    return raw


def _driver(connection: AsyncConnection, *, transactional: bool) -> _Driver | None:
    """The asyncpg connection under ``connection`` when the driver path may be taken."""
    raw = _usable(connection, POSTGRESQL, ASYNCPG)
    if raw is None:
        return None
    driver: _Driver | None = getattr(raw.connection, "driver_connection", None)
    if driver is None or not hasattr(driver, "is_in_transaction"):
        return None
    if transactional and not driver.is_in_transaction():
        return None  # SQLAlchemy begins the transaction (and so ends it)
    return driver


def announce(connection: Connection | None, sql: str, args: Sequence[Any]) -> None:
    """Tell the engine's ``before_cursor_execute`` listeners (the statement counters of the
    tests and the benchmarks) about a statement sent past SQLAlchemy, as it would."""
    if connection is not None:
        listeners = connection.dispatch.before_cursor_execute
        if listeners:
            listeners(connection, None, sql, tuple(args), None, False)


async def driver_fetch(
    connection: AsyncConnection, driver: _Driver, sql: str, args: Sequence[Any]
) -> list[Any]:
    """``driver.fetch``, announced to the engine's ``before_cursor_execute`` listeners."""
    announce(connection.sync_connection, sql, args)
    return await driver.fetch(sql, *args)


async def sqlite_in_transaction(connection: AsyncConnection) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under ``connection`` with its transaction open, begun now
    through SQLAlchemy if none was (``None``: not aiosqlite, or no transaction to read in).

    ``sqlite_handle`` gives it only while aiosqlite's thread owes nothing on it
    (``sqlite_calls.py``); SQLAlchemy awaits each call it sends there, so between two of
    them this coroutine is the connection's only user."""
    raw = _usable(connection, SQLITE, AIOSQLITE)
    if raw is None:
        return None
    handle = sqlite_handle(raw.connection.driver_connection)
    if handle is None:
        return None
    if not handle.in_transaction:
        if connection.in_transaction():
            return None  # begun without a BEGIN (AUTOCOMMIT): SQLAlchemy's own path
        _ = await connection.begin()  # what autobegin would do: the engine's BEGIN (database.py)
        if not handle.in_transaction:
            return None
    return handle


def sqlite_fetch(
    connection: AsyncConnection, handle: sqlite3.Connection, sql: str, args: Sequence[Any]
) -> list[Any]:
    """The rows of ``sql`` run on ``handle`` on this thread, announced like :func:`driver_fetch`."""
    announce(connection.sync_connection, sql, args)
    return run_on_handle(handle, sql, args)


async def begin_on_driver(connection: AsyncConnection) -> _Driver | None:
    """Begin ``connection``'s transaction now, as SQLAlchemy's asyncpg adapter would at its
    first statement, and give back the asyncpg connection (``None``: not asyncpg, or an
    adapter without the hook; the caller then lets SQLAlchemy begin it).

    The adapter starts and owns the transaction, so SQLAlchemy ends it exactly as if one of
    its own statements had begun it: a ``ROLLBACK`` when the connection is closed (or
    rolled back, or reset by the pool). This is the one use of the adapter's private hook
    (``_start_transaction``, SQLAlchemy 2.x); tests check that the path is taken and that
    the transaction ends with the connection.
    """
    driver = _driver(connection, transactional=False)
    if driver is None:
        return None
    sync = connection.sync_connection
    adapted: Any = None if sync is None else sync.connection.dbapi_connection
    start = getattr(adapted, "_start_transaction", None)
    if start is None or not hasattr(adapted, "_transaction"):
        return None
    if adapted._transaction is None:
        await start()
    return driver


def text_read(sql: str, columns: Sequence[Any]) -> TextualSelect:
    """A textual ``SELECT`` typed by ``columns`` (for :class:`PreparedRead`)."""
    return text(sql).columns(*columns)
