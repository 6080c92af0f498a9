"""Circuit breakers in ``provider_circuits`` (see ``application/ports/circuits.py``).

Compare-and-set
    ``replace(expected, new)`` is ``UPDATE ... WHERE country_code = :c AND provider = :p
    AND version = :expected_version`` (version + 1), or, for a circuit never stored
    (version 0), ``INSERT ... ON CONFLICT DO NOTHING``. At READ COMMITTED a concurrent
    writer's committed change makes the condition false when PostgreSQL re-checks the
    row, so of two workers that read the same circuit only one writes; the other gets
    ``False``, reads again and decides again (and finds the trial taken). On SQLite the
    writer already holds the database's write lock.

Rows never leave this module. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.tables import provider_circuits
from domain.integrations import Circuit, CircuitState
from domain.shared import CountryCode

_C: Final = provider_circuits.c


class SqlAlchemyCircuitBreakers:
    """``CircuitBreakers`` port inside a unit of work's session. Never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, country: CountryCode, provider: str) -> Circuit:
        row = (
            await self._session.execute(
                select(provider_circuits).where(_C.country_code == country.value, _C.provider == provider)
            )
        ).first()
        return Circuit.closed(country, provider) if row is None else _circuit(row)

    async def replace(self, expected: Circuit, new: Circuit) -> bool:
        if (expected.country, expected.provider) != (new.country, new.provider):
            raise ValueError("a circuit can only be replaced by a circuit of the same country and provider")
        if new.updated_at is None:
            raise ValueError("a stored circuit needs updated_at")
        connection = await self._session.connection()
        values: dict[str, Any] = {
            "state": new.state.value,
            "consecutive_failures": new.consecutive_failures,
            "opened_at": new.opened_at,
            "half_open_trial_owner": new.trial_owner,
            "half_open_trial_until": new.trial_until,
            "version": expected.version + 1,
            "updated_at": new.updated_at,
        }
        if expected.version == 0:
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            inserted = await connection.execute(
                insert(provider_circuits)
                .values(country_code=new.country.value, provider=new.provider, **values)
                .on_conflict_do_nothing(index_elements=["country_code", "provider"])
                .returning(_C.version)
            )
            return inserted.first() is not None
        result = await connection.execute(
            provider_circuits.update()
            .where(
                _C.country_code == new.country.value,
                _C.provider == new.provider,
                _C.version == expected.version,
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def clear_failures(self, country: CountryCode, provider: str, *, now: datetime) -> bool:
        connection = await self._session.connection()
        result = await connection.execute(
            provider_circuits.update()
            .where(
                _C.country_code == country.value,
                _C.provider == provider,
                _C.state == CircuitState.CLOSED.value,
                _C.consecutive_failures > 0,
            )
            .values(consecutive_failures=0, version=_C.version + 1, updated_at=now)
        )
        return result.rowcount == 1

    async def in_country(self, country: CountryCode) -> list[Circuit]:
        rows = (
            await self._session.execute(
                select(provider_circuits).where(_C.country_code == country.value).order_by(_C.provider)
            )
        ).all()
        return [_circuit(row) for row in rows]

    async def everywhere(self) -> list[Circuit]:
        rows = (
            await self._session.execute(select(provider_circuits).order_by(_C.country_code, _C.provider))
        ).all()
        return [_circuit(row) for row in rows]


def _circuit(row: Row[Any]) -> Circuit:
    values = row._mapping
    return Circuit(
        country=CountryCode(values["country_code"]),
        provider=values["provider"],
        state=CircuitState(values["state"]),
        consecutive_failures=int(values["consecutive_failures"]),
        opened_at=values["opened_at"],
        trial_owner=values["half_open_trial_owner"],
        trial_until=values["half_open_trial_until"],
        updated_at=values["updated_at"],
        version=int(values["version"]),
    )
