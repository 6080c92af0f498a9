"""Where an SQLite call runs: on aiosqlite's thread, or on the event loop's (D145, D146).

aiosqlite runs every call on the connection's own thread, in the order the calls were made
(one queue), and the caller awaits each one. Some calls can never wait - a read in a WAL
database, a ``BEGIN DEFERRED``, a ``ROLLBACK``, any statement inside a transaction that
already holds the write lock - and for those the trip to the thread and back costs several
times the call, so they may run on the ``sqlite3`` connection directly, on the loop's
thread. That is safe only while the thread owes nothing on that connection: a call still
queued or running there (a ``COMMIT`` whose caller was cancelled, say) must run first, or
the two threads would use one connection at once and the calls would run out of order.

:func:`use_loop_thread` (called by ``database.py`` when a connection is opened) gives an
aiosqlite connection a :class:`LoopThreadCalls`: it counts the calls sent to the thread and
the ones the thread finished, and, for a connection whose transactions hold the write lock
(``inside_transactions``), runs the calls made inside a transaction on this thread.
:func:`sqlite_handle` gives the ``sqlite3`` connection only while that connection has one
and the thread owes nothing. A connection without it - an in-memory database (its one
connection is shared by every task, StaticPool, so another task's transaction may be open
on it) or one that is not in WAL mode (where a read can wait for a writer) - keeps
aiosqlite's thread for everything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy.exc import DBAPIError

_CALLS: Final = "supportos_loop_thread_calls"


class LoopThreadCalls:
    """Calls of one aiosqlite connection sent to its thread, and the ones it finished."""

    __slots__ = ("finished", "sent")

    def __init__(self) -> None:
        self.sent = 0  # written on the loop's thread only
        self.finished = 0  # written on aiosqlite's thread only

    @property
    def owed(self) -> bool:
        return self.sent != self.finished


def use_loop_thread(driver_connection: Any, *, inside_transactions: bool) -> None:
    """Count ``driver_connection``'s calls to its thread (aiosqlite sends every call, a
    cursor's too, through ``Connection._execute``: this wraps that one method of this one
    object), and, with ``inside_transactions``, run the calls made inside a transaction on
    this thread - except ``COMMIT`` (it may wait for the disk) and ``close``."""
    if not callable(getattr(driver_connection, "_execute", None)):
        return
    calls = LoopThreadCalls()

    async def execute(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if inside_transactions and not calls.owed:
            handle = _open(driver_connection)
            if handle is not None and handle.in_transaction and function not in (handle.commit, handle.close):
                return function(*args, **kwargs)

        def on_the_thread() -> Any:
            try:
                return function(*args, **kwargs)
            finally:
                calls.finished += 1

        on_the_thread.__wrapped__ = function  # type: ignore[attr-defined]
        calls.sent += 1
        # looked up on the class at each call, so a spy on it (the tests) sees every call
        return await type(driver_connection)._execute(driver_connection, on_the_thread)

    setattr(driver_connection, "_execute", execute)  # noqa: B010 - an instance attribute
    setattr(driver_connection, _CALLS, calls)


def sqlite_handle(driver_connection: object) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under an aiosqlite connection, when this thread may use it
    now: the connection was given :func:`use_loop_thread`, is open, and its thread owes
    nothing (``None`` otherwise: another driver, in memory, not WAL, closing, or busy)."""
    calls = getattr(driver_connection, _CALLS, None)
    if not isinstance(calls, LoopThreadCalls) or calls.owed:
        return None
    return _open(driver_connection)


def _open(driver_connection: object) -> sqlite3.Connection | None:
    # aiosqlite 0.20-0.22 keep the sqlite3 connection as ``_connection``; ``_running`` goes
    # False when its close is queued (``stop``, which does not go through ``_execute``)
    if not getattr(driver_connection, "_running", False):
        return None
    handle = getattr(driver_connection, "_connection", None)
    return handle if isinstance(handle, sqlite3.Connection) else None


def run_on_handle(handle: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Any]:
    """``sql``'s rows from ``handle``; an ``sqlite3`` error raised as SQLAlchemy wraps it
    (``sqlalchemy.exc.OperationalError`` and the rest), parameters hidden as the engines hide them."""
    try:
        cursor = handle.execute(sql, args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, tuple(args), error, sqlite3.Error, hide_parameters=True) from error
