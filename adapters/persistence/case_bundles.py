"""``CaseBundleRepository`` on SQLAlchemy Core: one append-only row per bundle on a case (D48)
and, once its retention ended, one append-only purge row (D57); reads join the two."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import RowMapping, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import insert_ignoring_conflict
from adapters.persistence.tables import case_bundle_purges, case_bundles
from domain.diagnostics.attachment import BundleAttachment, BundlePurge, BundleVerdict
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
        purged_at=row["purged_at"],
    )


_JOINED: Final = case_bundles.outerjoin(
    case_bundle_purges,
    (case_bundle_purges.c.country_code == case_bundles.c.country_code)
    & (case_bundle_purges.c.case_id == case_bundles.c.case_id)
    & (case_bundle_purges.c.sha256 == case_bundles.c.sha256),
)
MAX_IDS_PER_QUERY: Final = 500


def _with_purges() -> Select[Any]:
    return select(case_bundles, case_bundle_purges.c.purged_at).select_from(_JOINED)


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
                    _with_purges().where(
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
                _with_purges()
                .where(case_bundles.c.country_code == country.value, case_bundles.c.case_id == case_id)
                .order_by(case_bundles.c.attached_at, case_bundles.c.sha256)
            )
        ).mappings()
        return [_attachment(row) for row in rows]

    async def for_cases(
        self, country: CountryCode, case_ids: Collection[str]
    ) -> dict[str, list[BundleAttachment]]:
        found: dict[str, list[BundleAttachment]] = defaultdict(list)
        ids = sorted(set(case_ids))
        for start in range(0, len(ids), MAX_IDS_PER_QUERY):
            rows = (
                await self._session.execute(
                    _with_purges()
                    .where(
                        case_bundles.c.country_code == country.value,
                        case_bundles.c.case_id.in_(ids[start : start + MAX_IDS_PER_QUERY]),
                    )
                    .order_by(case_bundles.c.case_id, case_bundles.c.attached_at, case_bundles.c.sha256)
                )
            ).mappings()
            for row in rows:
                found[row["case_id"]].append(_attachment(row))
        return dict(found)

    async def expired_stored(self, cutoff: datetime) -> list[BundleAttachment]:
        rows = (
            await self._session.execute(
                _with_purges()
                .where(
                    case_bundles.c.attached_at < cutoff,
                    case_bundles.c.blob_key.is_not(None),
                    case_bundle_purges.c.sha256.is_(None),
                )
                .order_by(
                    case_bundles.c.attached_at,
                    case_bundles.c.country_code,
                    case_bundles.c.case_id,
                    case_bundles.c.sha256,
                )
            )
        ).mappings()
        return [_attachment(row) for row in rows]

    async def live_blob_keys(self, blob_keys: Collection[str], cutoff: datetime) -> set[str]:
        keys = sorted(set(blob_keys))
        live: set[str] = set()
        for start in range(0, len(keys), MAX_IDS_PER_QUERY):
            rows = await self._session.execute(
                select(case_bundles.c.blob_key)
                .select_from(_JOINED)
                .where(
                    case_bundles.c.blob_key.in_(keys[start : start + MAX_IDS_PER_QUERY]),
                    case_bundles.c.attached_at >= cutoff,
                    case_bundle_purges.c.sha256.is_(None),
                )
                .distinct()
            )
            live.update(str(key) for (key,) in rows)
        return live

    async def add_purge(self, purge: BundlePurge) -> bool:
        connection = await self._session.connection()
        statement = insert_ignoring_conflict(
            connection.dialect.name,
            case_bundle_purges,
            {
                "country_code": purge.country.value,
                "case_id": purge.case_id,
                "sha256": purge.sha256,
                "purged_at": purge.purged_at,
                "retention_days": purge.retention_days,
                "bytes_deleted": purge.bytes_deleted,
                "purged_by_id": purge.purged_by.actor_id,
                "purged_by_role": purge.purged_by.role,
            },
            index_elements=["country_code", "case_id", "sha256"],
        )
        inserted = (await self._session.execute(statement)).first()
        return inserted is not None
