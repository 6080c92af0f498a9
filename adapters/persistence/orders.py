"""``OrderRepository`` on SQLAlchemy Core: orders with their snapshots, optimistic concurrency.

Every query filters by country. Within a unit of work an order is one object (an identity
map): loading it again returns the instance already loaded. ``save`` is an optimistic
``UPDATE ... WHERE country_code = :c AND id = :id AND version = :read``: if no row matched,
someone else changed (or removed) the order since it was read, nothing is written and a
``ConcurrencyConflict`` comes back. ``updated_at`` is bookkeeping, not domain state: the
time of the latest change the order recorded (its newest pending event), else unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import Executable, Row, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import IdentityMap, insert_ignoring_conflict, key_of
from adapters.persistence.mappers import order_from_row, order_to_row
from adapters.persistence.prepared import PreparedRead
from adapters.persistence.tables import orders
from application.ports.concurrency import ConcurrencyConflict
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import OrderId

AGGREGATE = "order"


def _last_change(order: Order) -> datetime | None:
    events = order.pending_events
    return max((event.occurred_at for event in events), default=None)


class SqlAlchemyOrderRepository:
    """``OrderRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identity: IdentityMap[Order] = IdentityMap()

    @property
    def seen(self) -> tuple[Order, ...]:
        """Every order loaded or added in this unit of work, in the order first seen."""
        return self._identity.seen

    async def add(self, order: Order) -> None:
        """Insert a new order (an order already stored raises ``IntegrityError``: a bug)."""
        row = {**order_to_row(order), "updated_at": _last_change(order) or order.created_at}
        await self._execute(insert(orders).values(row))
        self._identity.remember(key_of(order.country, order.id), order, order.version)

    async def get(self, country: CountryCode, order_id: OrderId) -> Order | None:
        tracked = self._identity.get(key_of(country, order_id))
        if tracked is not None:
            return tracked
        connection = await self._session.connection()
        row = await _GET.first(connection, {"w_country": country.value, "w_id": order_id})
        return None if row is None else self._remember(row)

    async def save(self, order: Order) -> Result[None, ConcurrencyConflict]:
        key = key_of(order.country, order.id)
        expected = self._identity.expected_version(key, order)
        if expected is None:
            return await self._insert_untracked(order)
        values = order_to_row(order)
        del values["country_code"], values["id"]
        if (changed_at := _last_change(order)) is not None:
            values["updated_at"] = changed_at
        statement = (
            update(orders)
            .where(
                orders.c.country_code == order.country.value,
                orders.c.id == order.id,
                orders.c.version == expected,
            )
            .values(values)
        )
        if (await self._execute(statement)).rowcount != 1:
            return Failure(ConcurrencyConflict(AGGREGATE, order.id, expected))
        self._identity.saved(key, order.version)
        return Success(None)

    async def delivered_before(
        self,
        country: CountryCode,
        delivered_before: datetime,
        *,
        limit: int,
        after: tuple[datetime, OrderId] | None = None,
        paused: bool = False,
    ) -> list[Order]:
        """DELIVERED orders of ``country`` with ``delivered_at <= delivered_before``, oldest
        delivery first (ties by id), at most ``limit``, after ``after`` (keyset page; the
        index on ``(country_code, status, delivered_at)`` serves it, the paused filter applied
        to the rows it reads); only those whose dispute window a live incident paused
        (``paused``), or only the others."""
        if limit < 1:
            return []
        window_paused = orders.c.dispute_window_paused_us
        query = (
            select(orders)
            .where(
                orders.c.country_code == country.value,
                orders.c.status == OrderStatus.DELIVERED.value,
                orders.c.delivered_at <= delivered_before,
                window_paused > 0 if paused else window_paused == 0,
            )
            .order_by(orders.c.delivered_at, orders.c.id)
            .limit(limit)
        )
        if after is not None:
            at, order_id = after
            query = query.where(
                or_(
                    orders.c.delivered_at > at,
                    and_(orders.c.delivered_at == at, orders.c.id > order_id),
                )
            )
        return [self._load(row) for row in (await self._execute(query)).all()]

    async def count_by_status(self, country: CountryCode) -> dict[OrderStatus, int]:
        """How many orders of ``country`` are in each status (statuses with none are absent)."""
        query = (
            select(orders.c.status, func.count().label("n"))
            .where(orders.c.country_code == country.value)
            .group_by(orders.c.status)
        )
        rows = (await self._execute(query)).all()
        return {OrderStatus(str(row.status)): int(row.n) for row in rows}

    # -- internals --------------------------------------------------------------------

    def _load(self, row: Row[Any]) -> Order:
        return self._remember(row._mapping)

    def _remember(self, values: Mapping[Any, Any]) -> Order:
        key = (str(values["country_code"]), str(values["id"]))
        tracked = self._identity.get(key)
        if tracked is not None:
            return tracked
        order = order_from_row(values)
        return self._identity.remember(key, order, order.version)

    async def _insert_untracked(self, order: Order) -> Result[None, ConcurrencyConflict]:
        """``save`` of an order this unit of work never loaded: insert it if it is not stored
        yet; if it is, its stored version cannot be checked, so it is a conflict."""
        row = {**order_to_row(order), "updated_at": _last_change(order) or order.created_at}
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name, orders, row, index_elements=("country_code", "id")
        )
        if (await connection.execute(statement)).first() is None:
            return Failure(ConcurrencyConflict(AGGREGATE, order.id, order.version))
        self._identity.remember(key_of(order.country, order.id), order, order.version)
        return Success(None)

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)


# Built once (D60): ``get`` is on every money-moving path; inside the unit of work's
# transaction it runs on the driver (D61).
_GET: Final = PreparedRead(
    select(orders).where(orders.c.country_code == bindparam("w_country"), orders.c.id == bindparam("w_id"))
)
