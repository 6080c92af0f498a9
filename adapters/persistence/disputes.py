"""``DisputeRepository`` on SQLAlchemy Core: disputes with their evidence pack and decision.

Same rules as the order repository: country in every query, one object per dispute in a
unit of work, optimistic ``save`` (``... AND version = :read``; no row matched means a
``ConcurrencyConflict`` and nothing written).

An order has at most one dispute in progress (any status but RESOLVED and WITHDRAWN): a
partial unique index says so, and ``add`` inserts with ``ON CONFLICT ... DO NOTHING`` on
exactly that index, so a second one is refused with ``False`` without spoiling the
transaction (and two racing transactions cannot both succeed).

The statements of the decide path (``get``, ``save``) are built once, at import, with bound
parameters only (D60): a call fills a parameter dict and hits the compiled cache; ``get``
is a ``PreparedRead``, run on the driver once the unit of work's transaction is open (D61).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from returns.result import Failure, Result, Success
from sqlalchemy import Executable, Row, bindparam, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import IdentityMap, insert_ignoring_conflict, key_of
from adapters.persistence.mappers import dispute_from_row, dispute_to_row
from adapters.persistence.prepared import PreparedRead
from adapters.persistence.tables import OPEN_DISPUTE_PREDICATE, disputes
from application.ports.concurrency import ConcurrencyConflict
from domain.disputes import Dispute
from domain.shared import CountryCode
from domain.shared.ids import DisputeId, OrderId

AGGREGATE = "dispute"


class SqlAlchemyDisputeRepository:
    """``DisputeRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._identity: IdentityMap[Dispute] = IdentityMap()

    @property
    def seen(self) -> tuple[Dispute, ...]:
        """Every dispute loaded or added in this unit of work, in the order first seen."""
        return self._identity.seen

    async def add(self, dispute: Dispute) -> bool:
        """Insert a new dispute; ``False`` (nothing written) if its order already has one in
        progress. A dispute id already stored raises ``IntegrityError`` (a bug)."""
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            disputes,
            dispute_to_row(dispute),
            index_elements=("country_code", "order_id"),
            index_where=text(OPEN_DISPUTE_PREDICATE),
        )
        if (await connection.execute(statement)).first() is None:
            return False
        self._identity.remember(key_of(dispute.country, dispute.id), dispute, dispute.version)
        return True

    async def get(self, country: CountryCode, dispute_id: DisputeId) -> Dispute | None:
        tracked = self._identity.get(key_of(country, dispute_id))
        if tracked is not None:
            return tracked
        connection = await self._session.connection()
        row = await _GET.first(connection, {"w_country": country.value, "w_id": dispute_id})
        return None if row is None else self._remember(row)

    async def save(self, dispute: Dispute) -> Result[None, ConcurrencyConflict]:
        """Write a dispute loaded or added in this unit of work, if nobody changed it since.

        A dispute this unit of work never loaded is inserted like ``add`` if absent; if it
        is stored already (or its order has another dispute in progress) it is a conflict.
        """
        key = key_of(dispute.country, dispute.id)
        expected = self._identity.expected_version(key, dispute)
        if expected is None:
            if not await self._stored(dispute.country, dispute.id) and await self.add(dispute):
                return Success(None)
            return Failure(ConcurrencyConflict(AGGREGATE, dispute.id, dispute.version))
        values = dispute_to_row(dispute)
        del values["country_code"], values["id"]
        values |= {"w_country": dispute.country.value, "w_id": dispute.id, "w_version": expected}
        connection = await self._session.connection()
        if (await connection.execute(_SAVE, values)).rowcount != 1:
            return Failure(ConcurrencyConflict(AGGREGATE, dispute.id, expected))
        self._identity.saved(key, dispute.version)
        return Success(None)

    async def for_order(self, country: CountryCode, order_id: OrderId) -> list[Dispute]:
        """Every dispute of the order, oldest first."""
        query = (
            select(disputes)
            .where(disputes.c.country_code == country.value, disputes.c.order_id == order_id)
            .order_by(disputes.c.opened_at, disputes.c.id)
        )
        return [self._load(row) for row in (await self._execute(query)).all()]

    # -- internals --------------------------------------------------------------------

    def _load(self, row: Row[Any]) -> Dispute:
        return self._remember(row._mapping)

    def _remember(self, values: Mapping[Any, Any]) -> Dispute:
        key = (str(values["country_code"]), str(values["id"]))
        tracked = self._identity.get(key)
        if tracked is not None:
            return tracked
        dispute = dispute_from_row(values)
        return self._identity.remember(key, dispute, dispute.version)

    async def _stored(self, country: CountryCode, dispute_id: DisputeId) -> bool:
        query = select(disputes.c.id).where(
            disputes.c.country_code == country.value, disputes.c.id == dispute_id
        )
        return (await self._execute(query)).first() is not None

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)


# Built once (D60); ``w_*`` parameters never clash with the columns an UPDATE sets.
_GET: Final = PreparedRead(  # inside the transaction, on the driver (D61)
    select(disputes).where(
        disputes.c.country_code == bindparam("w_country"), disputes.c.id == bindparam("w_id")
    )
)
_SAVE: Final = update(disputes).where(
    disputes.c.country_code == bindparam("w_country"),
    disputes.c.id == bindparam("w_id"),
    disputes.c.version == bindparam("w_version"),
)
