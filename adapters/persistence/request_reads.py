"""One connection and one read transaction for all the reads of a GraphQL request (D53).

Without this, every read port call (the API key, the dispute, its order, its ledger) checked
a connection out of the pool and ran its own transaction: ``BEGIN``, the country scope's
``set_config``, the ``SELECT``, ``ROLLBACK`` - about five round trips per read where one
would do. :class:`RequestTransaction` is a :class:`ReadConnections` that checks one
connection out at the first read of the request and keeps it, and its transaction, until
:meth:`RequestTransaction.close` (the end of the request):

- **The scope is still the request's.** The connection carries the ``SCOPE_MANAGED``
  execution option, so its ``BEGIN`` sends no ``set_config``; instead, before the first
  *scoped* read the bound scope (``application.security.scope``, bound by the GraphQL
  context after authentication) is set with ``set_config(..., true)`` - local to this
  transaction, so the pooled connection forgets it at the ``ROLLBACK`` - and set again only
  if the binding changes. The API-key lookup reads through the ``SECURITY DEFINER``
  function that ignores the scope, so it may run first, before any scope is set: the
  transaction then sees no country-scoped row at all (fails closed) until the scope is set.
- **Reads of one request share the connection one at a time** (an ``asyncio.Lock``):
  resolvers and dataloader batches run concurrently, a connection cannot.
- **A failed read ends the transaction** (PostgreSQL refuses every later statement of an
  aborted transaction); the next read begins a new one.
- :meth:`RequestTransaction.release` (sync, called when a mutation clears the dataloaders)
  makes the next read begin a new transaction, so reads after a mutation see its commit
  (on SQLite a read transaction keeps its snapshot).
- After :meth:`close`, or with ``one_transaction=False`` (websockets: their context lives
  as long as the socket), every read runs in a transaction of its own, as before.

Read connections come from a pool of their own (``interfaces/container.py``): a request
holding its read connection while a use case waits for a write connection can then never
exhaust the one pool both need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.persistence.api_keys import key_by_id
from adapters.persistence.prepared import begin_on_driver, driver_fetch
from adapters.persistence.read_models import read_models
from adapters.persistence.row_level_security import SCOPE_MANAGED, SCOPE_SETTING, SET_SCOPE, setting_value
from application.ports.api_keys import ApiKeyRecord
from application.ports.read_models import ReadModels, RequestReads, RequestReadsFactory
from application.security.scope import current_scope

_UNSET: Final = object()
SET_SCOPE_SQL: Final = "SELECT set_config($1, $2, true)"


class RequestTransaction:
    """``ReadConnections`` on one connection and one transaction, until :meth:`close`."""

    def __init__(self, engine: AsyncEngine, *, one_transaction: bool = True) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: AsyncConnection | None = None
        self._scope: object = _UNSET  # the supportos.countries value set in the open transaction
        self._stale = False
        self._closed = not one_transaction
        self._lock = asyncio.Lock()

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._use(scoped=True)

    def unscoped(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """For the API-key lookup only (a ``SECURITY DEFINER`` read that ignores the scope)."""
        return self._use(scoped=False)

    @asynccontextmanager
    async def _use(self, *, scoped: bool) -> AsyncIterator[AsyncConnection]:
        if self._closed:
            async with self._engine.connect() as own:
                yield own
            return
        async with self._lock:
            if self._stale:
                self._stale = False
                await self._end()
            try:
                connection = self._connection
                if connection is None:
                    connection = await self._engine.connect()
                    self._connection = connection
                    if self._postgres:
                        connection = await connection.execution_options(**{SCOPE_MANAGED: True})
                        self._connection = connection
                if scoped and self._postgres:
                    value = setting_value(current_scope())
                    if value != self._scope:
                        # begun on the driver (D61): no SQLAlchemy statement on the hot path
                        driver = await begin_on_driver(connection)
                        if driver is None:
                            await connection.execute(SET_SCOPE, {"name": SCOPE_SETTING, "value": value})
                        else:
                            await driver_fetch(connection, driver, SET_SCOPE_SQL, (SCOPE_SETTING, value))
                        self._scope = value
                yield connection
            except BaseException:
                await self._end()
                raise

    def release(self) -> None:
        self._stale = self._connection is not None

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            await self._end()

    async def _end(self) -> None:
        connection, self._connection, self._scope = self._connection, None, _UNSET
        if connection is not None:
            await connection.close()  # rolls the read transaction back; back to the pool


class _TransactionApiKeys:
    def __init__(self, transaction: RequestTransaction) -> None:
        self._transaction = transaction

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with self._transaction.unscoped() as connection:
            return await key_by_id(connection, key_id)


class SqlAlchemyRequestReads:
    """``RequestReads``: the read models and the API-key lookup on one request transaction."""

    def __init__(self, engine: AsyncEngine, *, one_transaction: bool = True) -> None:
        self._transaction = RequestTransaction(engine, one_transaction=one_transaction)
        self._reads = read_models(self._transaction)
        self._api_keys = _TransactionApiKeys(self._transaction)

    @property
    def reads(self) -> ReadModels:
        return self._reads

    @property
    def api_keys(self) -> _TransactionApiKeys:
        return self._api_keys

    def release(self) -> None:
        self._transaction.release()

    async def close(self) -> None:
        await self._transaction.close()


def request_reads_factory(engine: AsyncEngine, *, shared_sqlite: bool = False) -> RequestReadsFactory:
    """Per-request reads on ``engine``. ``shared_sqlite``: the read engine is the write
    engine of an SQLite database (in memory), whose ``BEGIN IMMEDIATE`` would make a held
    read transaction block the request's own writes: one transaction per read there."""

    def create(*, one_transaction: bool = True) -> RequestReads:
        return SqlAlchemyRequestReads(engine, one_transaction=one_transaction and not shared_sqlite)

    return create
