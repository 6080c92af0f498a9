"""``PolicyRepository`` on SQLAlchemy Core: versioned refund policies per country.

Versions are inserted, never edited: storing a version twice, or two versions taking
effect at the same instant in one country, raises ``IntegrityError`` (a seeding bug).
The version in force at an instant is the one with the latest ``effective_from`` at or
before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, func, insert, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.mappers import policy_from_row, policy_to_row
from adapters.persistence.tables import refund_policies
from domain.shared import CountryCode
from domain.snapshots import RefundPolicy


class SqlAlchemyPolicyRepository:
    """``PolicyRepository`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, policy: RefundPolicy, *, effective_from: datetime) -> None:
        await self._execute(insert(refund_policies).values(policy_to_row(policy, effective_from)))

    async def in_force(self, country: CountryCode, at: datetime) -> RefundPolicy | None:
        query = (
            select(refund_policies)
            .where(refund_policies.c.country_code == country.value, refund_policies.c.effective_from <= at)
            .order_by(refund_policies.c.effective_from.desc())
            .limit(1)
        )
        row = (await self._execute(query)).first()
        return None if row is None else policy_from_row(row._mapping)

    async def get(self, country: CountryCode, version: str) -> RefundPolicy | None:
        query = select(refund_policies).where(
            refund_policies.c.country_code == country.value, refund_policies.c.version == version
        )
        row = (await self._execute(query)).first()
        return None if row is None else policy_from_row(row._mapping)

    async def shortest_dispute_windows(self) -> dict[CountryCode, timedelta]:
        query = select(
            refund_policies.c.country_code,
            func.min(refund_policies.c.dispute_window_seconds).label("shortest"),
        ).group_by(refund_policies.c.country_code)
        rows = (await self._execute(query)).all()
        return {CountryCode(str(row.country_code)): timedelta(seconds=int(row.shortest)) for row in rows}

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        connection = await self._session.connection()
        return await connection.execute(statement)
