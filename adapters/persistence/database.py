"""Engines and sessions: SQLite through aiosqlite (the embedded default), PostgreSQL through asyncpg.

URLs
    ``sqlite+aiosqlite:///path/to/file.db`` and ``postgresql+asyncpg://user@host:5432/db``.
    ``sqlite://`` / ``sqlite:///...``, ``postgresql://`` and ``postgres://`` are accepted and
    given the async driver. A PostgreSQL URL may carry ``?search_path=schema[,schema]``: it
    is not passed to asyncpg as is but set as the ``search_path`` of every connection
    (so migrations, the app and ``audit-verify`` can all be pointed at one schema by URL).

SQLite
    Every connection gets ``foreign_keys=ON``, ``journal_mode=WAL`` and a ``busy_timeout``.
    SQLAlchemy, not the ``sqlite3`` driver, emits ``BEGIN``: by default ``BEGIN IMMEDIATE``,
    so a transaction takes SQLite's single write lock when it starts. Writers are therefore
    serialised for their whole transaction (what the audit chain's read-the-tail-then-append
    relies on), wait for each other through ``busy_timeout`` instead of failing with
    ``SQLITE_BUSY`` when a read turns into a write, and DDL is transactional. Read-only
    tools may pass ``sqlite_begin="DEFERRED"``: such an engine's connections are read-only
    (``PRAGMA query_only``, D147: a write through one fails at once). Do not use the
    ``isolation_level`` execution option on SQLite engines (only ``"AUTOCOMMIT"`` is
    honoured, by skipping the BEGIN).
    A ``BEGIN DEFERRED`` takes no lock, so it is sent on the event loop's thread, straight to
    the ``sqlite3`` connection (as the prepared reads are, D145), instead of through
    aiosqlite's thread, and so is every ``ROLLBACK`` (it waits for no lock); ``BEGIN
    IMMEDIATE`` may wait for the write lock and ``COMMIT`` for the disk: they keep the thread.
    Once a ``BEGIN IMMEDIATE`` (or ``EXCLUSIVE``) transaction holds the lock, no statement in
    it waits for one, so every call inside it runs on the loop's thread too (D146). A read
    engine's statements built per call (lists, filters: their cost is the caller's to choose)
    keep aiosqlite's thread, where SQLite runs them without holding the loop (D147).
    Connections are opened with ``check_same_thread=False`` for that; only those of a file in
    WAL mode use the loop's thread (an in-memory database's one connection is shared by every
    task and keeps aiosqlite's queue), and only while aiosqlite's thread owes them nothing.

PostgreSQL
    A bounded pool (10 + 10 overflow), connections recycled after 30 minutes; no
    ``pool_pre_ping`` (a round trip at every checkout, D53): a connection the server dropped
    fails its first statement, SQLAlchemy recognises the disconnect and invalidates the
    pool, so that one request fails and the next ones reconnect. ``application_name`` is
    ``supportos``. Transactions run at READ COMMITTED
    (the server default), which the audit chain's advisory lock relies on. Every
    transaction starts by setting ``supportos.countries`` (``SET LOCAL``) to the country
    scope bound for the current request, which the row-level-security policies read
    (``row_level_security.py``): connect as the service's own role, never as the owner.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from adapters.persistence.prepared import announce
from adapters.persistence.row_level_security import install_country_scope
from adapters.persistence.sqlite_calls import run_on_handle, sqlite_handle, use_loop_thread

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
POSTGRES_POOL_DEFAULTS: Final[dict[str, Any]] = {
    "pool_size": 10,
    "max_overflow": 10,
    "pool_timeout": 30,
    "pool_recycle": 1800,
    "pool_pre_ping": False,  # D53: disconnects invalidate the pool instead
}
_DRIVERS: Final = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}

SqliteBegin = Literal["IMMEDIATE", "DEFERRED", "EXCLUSIVE"]


def normalise_url(url: str | URL) -> URL:
    """``url`` with the async driver this project uses (aiosqlite or asyncpg)."""
    raw = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    scheme, separator, rest = raw.partition("://")
    if not separator:
        raise ValueError(f"not a database URL: {raw!r}")
    name, _, driver = scheme.partition("+")
    expected = _DRIVERS.get(name)
    if expected is None:
        raise ValueError(f"unsupported database {name!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    if driver and driver != expected.partition("+")[2]:
        raise ValueError(f"unsupported driver {driver!r} for {name}: use {expected}://")
    return make_url(f"{expected}://{rest}")


def backend_name(url: str | URL) -> Literal["sqlite", "postgresql"]:
    return "sqlite" if normalise_url(url).get_backend_name() == "sqlite" else "postgresql"


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_begin: SqliteBegin = "IMMEDIATE",
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """An ``AsyncEngine`` configured for this project; ``engine_kwargs`` go to SQLAlchemy.

    Pass ``poolclass=NullPool`` for short-lived tools (migrations, CLIs).

    Statement parameters are left out of SQLAlchemy's error messages (``hide_parameters``):
    they carry message bodies, statements, names and addresses, which an error logged with
    its exception would otherwise write to the logs, past the redaction of known shapes (D113).
    """
    engine_kwargs.setdefault("hide_parameters", True)
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo, sqlite_begin, sqlite_busy_timeout_ms, engine_kwargs)
    return _postgres_engine(parsed, echo, engine_kwargs)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work: objects stay readable after commit; no implicit commits."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(
    url: URL, echo: bool, begin: SqliteBegin, busy_timeout_ms: int, engine_kwargs: dict[str, Any]
) -> AsyncEngine:
    connect_args = {"check_same_thread": False, **engine_kwargs.pop("connect_args", {})}
    engine = create_async_engine(url, echo=echo, connect_args=connect_args, **engine_kwargs)
    statement = f"BEGIN {begin}"
    holds_write_lock = begin in ("IMMEDIATE", "EXCLUSIVE")  # from its BEGIN to its end
    read_only = begin == "DEFERRED"  # for reads only, and enforced (D147)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 driver (its legacy mode begins lazily, before
        # DML only); SQLAlchemy emits it in ``_on_begin`` below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            mode = cursor.fetchone()
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()
        # only where a read cannot wait for a writer, and a connection is not shared (D145):
        # an in-memory database answers "memory" (its one connection serves every task)
        if mode is not None and str(mode[0]).lower() == "wal":
            use_loop_thread(
                getattr(dbapi_connection, "driver_connection", None), inside_transactions=holds_write_lock
            )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        handle = sqlite_handle(connection.connection.driver_connection) if read_only else None
        if handle is None:
            connection.exec_driver_sql(statement)
            return
        announce(connection, statement, ())
        run_on_handle(handle, statement, ())

    thread_rollback = engine.sync_engine.dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        # A ROLLBACK waits for no lock (it only lets go of them): on this thread (D145).
        handle = sqlite_handle(getattr(dbapi_connection, "driver_connection", None))
        if handle is None:
            thread_rollback(dbapi_connection)
        else:
            handle.rollback()

    engine.sync_engine.dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    return engine


def _postgres_engine(url: URL, echo: bool, engine_kwargs: dict[str, Any]) -> AsyncEngine:
    search_path = url.query.get("search_path")
    statement_cache = url.query.get("statement_cache_size")  # asyncpg's own (PgBouncer: 0)
    url = url.difference_update_query(["search_path", "statement_cache_size"])
    connect_args = dict(engine_kwargs.pop("connect_args", {}))
    if statement_cache is not None:
        connect_args["statement_cache_size"] = int(
            statement_cache if isinstance(statement_cache, str) else statement_cache[-1]
        )
    # jit off: an OLTP service's statements do microseconds of work, and PostgreSQL's JIT
    # compiles (milliseconds) whenever an estimate is large - e.g. ranges given as parameters (D61)
    server_settings = {
        "application_name": "supportos",
        "jit": "off",
        **connect_args.get("server_settings", {}),
    }
    if search_path:
        paths = [search_path] if isinstance(search_path, str) else list(search_path)
        server_settings["search_path"] = ",".join(paths)
    connect_args["server_settings"] = server_settings
    options: dict[str, Any] = {} if "poolclass" in engine_kwargs else dict(POSTGRES_POOL_DEFAULTS)
    options.update(engine_kwargs)
    engine = create_async_engine(url, echo=echo, connect_args=connect_args, **options)
    install_country_scope(engine)
    return engine
