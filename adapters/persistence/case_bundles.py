"""``CaseBundleRepository`` on SQLAlchemy Core: one append-only row per bundle on a case (D48)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import insert_ignoring_conflict
from adapters.persistence.tables import case_bundles
from domain.diagnostics.attachment import BundleAttachment, BundleVerdict
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode
from domain.shared.ids import ActorId


def _row(attachment: BundleAttachment) -> dict[str, Any]:
    return {
        "country_code": attachment.country.value,
        "case_id": attachment.case_id,
        "sha256": attachment.sha256,
        "blob_key": attachment.blob_key,
        "filename": attachment.filename,
        "size_bytes": attachment.size_bytes,
        "verdict": attachment.verdict.value,
        "leak_count": attachment.leak_count,
        "report": dict(attachment.report),
        "attached_by_id": attachment.attached_by.actor_id,
        "attached_by_role": attachment.attached_by.role,
        "attached_at": attachment.attached_at,
    }


def _attachment(row: RowMapping) -> BundleAttachment:
    return BundleAttachment(
        country=CountryCode(row["country_code"]),
        case_id=row["case_id"],
        sha256=row["sha256"],
        blob_key=row["blob_key"],
        filename=row["filename"],
        size_bytes=row["size_bytes"],
        verdict=BundleVerdict(row["verdict"]),
        leak_count=row["leak_count"],
        report=MappingProxyType(dict(row["report"])),
        attached_by=ActorRef(ActorId(row["attached_by_id"]), row["attached_by_role"]),
        attached_at=row["attached_at"],
    )


class SqlAlchemyCaseBundleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, attachment: BundleAttachment) -> bool:
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            case_bundles,
            _row(attachment),
            index_elements=["country_code", "case_id", "sha256"],
        )
        inserted = (await self._session.execute(statement)).first()
        return inserted is not None

    async def get(self, country: CountryCode, case_id: str, sha256: str) -> BundleAttachment | None:
        row = (
            (
                await self._session.execute(
                    select(case_bundles).where(
                        case_bundles.c.country_code == country.value,
                        case_bundles.c.case_id == case_id,
                        case_bundles.c.sha256 == sha256,
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _attachment(row)

    async def for_case(self, country: CountryCode, case_id: str) -> list[BundleAttachment]:
        rows = (
            await self._session.execute(
                select(case_bundles)
                .where(case_bundles.c.country_code == country.value, case_bundles.c.case_id == case_id)
                .order_by(case_bundles.c.attached_at, case_bundles.c.sha256)
            )
        ).mappings()
        return [_attachment(row) for row in rows]
