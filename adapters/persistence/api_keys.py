"""``ApiKeyRepository`` on SQLAlchemy Core, and the authenticator the HTTP app is given.

A key id begins with its country (``co_key_...``, see ``application/security/api_keys``),
so ``get`` is a primary-key lookup ``(country_code, key_id)`` in that country; an id that
names no country finds nothing. On PostgreSQL ``get`` goes through ``api_key_by_id``, a
``SECURITY DEFINER`` function, because it runs before any country scope is bound and
row-level security would hide the row (D22). Rows never leave this module. Nothing here
commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from returns.result import Result
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from adapters.persistence.prepared import POSTGRESQL, PreparedRead, text_read
from adapters.persistence.tables import api_keys
from application.ports.api_keys import ApiKeyRecord
from application.security.api_keys import InvalidApiKey, authenticate, country_of_key_id
from application.security.principal import PartnerKind, Principal
from domain.shared import CountryCode


class SqlAlchemyApiKeyRepository:
    """``ApiKeyRepository`` inside a session (a unit of work's, or a read-only one)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: ApiKeyRecord) -> None:
        if country_of_key_id(record.key_id) != record.country:
            raise ValueError(f"key id {record.key_id!r} does not begin with its country {record.country}")
        await self._session.execute(
            insert(api_keys).values(
                country_code=record.country.value,
                key_id=record.key_id,
                partner_id=record.partner_id,
                label=record.label,
                key_sha256=record.key_sha256,
                created_at=record.created_at,
                revoked_at=record.revoked_at,
                partner_kind=record.partner_kind.value,
            )
        )

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        return await key_by_id(await self._session.connection(), key_id)

    async def revoke(self, key_id: str, at: datetime) -> bool:
        country = country_of_key_id(key_id)
        if country is None:
            return False
        result = await self._session.execute(
            update(api_keys)
            .where(
                api_keys.c.country_code == country.value,
                api_keys.c.key_id == key_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return isinstance(result, CursorResult) and result.rowcount == 1


async def key_by_id(connection: AsyncConnection, key_id: str) -> ApiKeyRecord | None:
    """The key's record, in the country its id names (none for an id that names none)."""
    country = country_of_key_id(key_id)
    if country is None:
        return None
    # Authentication runs before any country scope is bound: on PostgreSQL row-level
    # security would hide the key, so it is read through the one narrow SECURITY DEFINER
    # function made for this (migration 0006_row_level_security, D22), which ignores the
    # scope and so may run outside the request's transaction (D61).
    query = _KEY_BY_ID if connection.dialect.name == POSTGRESQL else _KEY_SELECT
    row = await query.first(connection, {"wanted_country": country.value, "wanted_key_id": key_id})
    return None if row is None else _record(row)


_KEY_SELECT: Final = PreparedRead(
    select(api_keys).where(
        api_keys.c.country_code == bindparam("wanted_country"),
        api_keys.c.key_id == bindparam("wanted_key_id"),
    )
)
_KEY_BY_ID: Final = PreparedRead(
    text_read(
        "SELECT country_code, key_id, partner_id, label, key_sha256, created_at, revoked_at, partner_kind"
        " FROM api_key_by_id(:wanted_country, :wanted_key_id)",
        list(api_keys.c),
    ),
    transactional=False,
)


def _record(values: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=str(values["key_id"]),
        partner_id=str(values["partner_id"]),
        country=CountryCode(str(values["country_code"])),
        key_sha256=str(values["key_sha256"]),
        label=str(values["label"]),
        created_at=values["created_at"],
        revoked_at=values["revoked_at"],
        partner_kind=PartnerKind(str(values["partner_kind"])),
    )


def api_key_authenticator(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[str], Awaitable[Result[Principal, InvalidApiKey]]]:
    """Checks a raw key in a short read-only session of its own (for the HTTP app)."""

    async def check(raw_key: str) -> Result[Principal, InvalidApiKey]:
        async with session_factory() as session:
            try:
                return await authenticate(SqlAlchemyApiKeyRepository(session), raw_key)
            finally:
                await session.rollback()

    return check
