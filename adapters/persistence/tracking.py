"""Delivery tracking reports on SQLAlchemy Core (D90): insert-once, read by order.

A report's key is its webhook's (source, id): ``add`` is ``INSERT ... ON CONFLICT DO
NOTHING``, so a redelivered or reprocessed event records nothing more. ``for_order`` reads
the order's newest reports on ``(country_code, order_id, reported_at)``. Rows never leave
this module: they are rebuilt into domain ``TrackingRecord``s. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.aggregates import insert_ignoring_conflict
from adapters.persistence.prepared import PreparedRead
from adapters.persistence.row_level_security import admits
from adapters.persistence.tables import delivery_tracking
from application.security.scope import current_scope
from domain.cases.l0 import Point
from domain.cases.tracking import TrackingKind, TrackingRecord
from domain.disputes.evidence import DeliveryProof, GpsPoint, utc_iso
from domain.shared import CountryCode

_KEY = ("country_code", "source", "source_id")


class SqlAlchemyTrackingRecords:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: TrackingRecord) -> bool:
        connection = await self._session.connection()
        values = {
            "country_code": record.country.value,
            "source": record.source,
            "source_id": record.source_id,
            "order_id": record.order_id,
            "kind": record.kind.value,
            "reported_at": record.reported_at,
            "report": _report(record),
        }
        inserted = await connection.execute(
            insert_ignoring_conflict(connection.dialect.name, delivery_tracking, values, index_elements=_KEY)
        )
        return inserted.first() is not None

    async def for_order(self, country: CountryCode, order_id: str, *, limit: int) -> list[TrackingRecord]:
        if not admits(current_scope(), country):
            return []  # what the scope's filter would leave (PostgreSQL's RLS, on SQLite too)
        connection = await self._session.connection()
        rows = await _FOR_ORDER.rows(
            connection, {"w_country": country.value, "w_order": order_id, "w_limit": limit}
        )
        return [_record(row) for row in reversed(rows)]


# Built once (D150): a dispute decision reads the order's track. The scope's filter is the
# check above: with the country given, ``country_code IN scope`` keeps every row or none.
_TRACK: Final = delivery_tracking.c
_FOR_ORDER: Final = PreparedRead(
    select(delivery_tracking)
    .where(_TRACK.country_code == bindparam("w_country"), _TRACK.order_id == bindparam("w_order"))
    .order_by(_TRACK.reported_at.desc(), _TRACK.source.desc(), _TRACK.source_id.desc())
    .limit(bindparam("w_limit"))
)


def _gps(point: GpsPoint) -> dict[str, object]:
    return point.to_canonical()


def _report(record: TrackingRecord) -> dict[str, Any]:
    if record.kind is TrackingKind.PROMISED:
        assert record.promised_at is not None
        destination = record.destination
        return {
            "promised_at": utc_iso(record.promised_at),
            "destination": None
            if destination is None
            else {"lat_microdeg": destination.lat_microdeg, "lon_microdeg": destination.lon_microdeg},
        }
    if record.kind is TrackingKind.POSITIONS:
        return {"points": [_gps(point) for point in record.points]}
    assert record.proof is not None
    return {"proof": record.proof.to_canonical()}


def _point(raw: dict[str, Any]) -> GpsPoint:
    return GpsPoint(datetime.fromisoformat(raw["at"]), int(raw["lat_microdeg"]), int(raw["lon_microdeg"]))


def _record(row: Mapping[str, Any]) -> TrackingRecord:
    kind = TrackingKind(row["kind"])
    report: dict[str, Any] = row["report"]

    def make(**facts: Any) -> TrackingRecord:
        country = CountryCode(str(row["country_code"]))
        return TrackingRecord(
            country,
            str(row["order_id"]),
            kind,
            str(row["source"]),
            str(row["source_id"]),
            row["reported_at"],
            **facts,
        )

    if kind is TrackingKind.PROMISED:
        destination = report.get("destination")
        return make(
            promised_at=datetime.fromisoformat(report["promised_at"]),
            destination=None
            if destination is None
            else Point(int(destination["lat_microdeg"]), int(destination["lon_microdeg"])),
        )
    if kind is TrackingKind.POSITIONS:
        return make(points=tuple(_point(p) for p in report["points"]))
    proof = report["proof"]
    delivered_at = proof.get("delivered_at")
    return make(
        proof=DeliveryProof(
            delivered_at=None if delivered_at is None else datetime.fromisoformat(delivered_at),
            gps_points=tuple(_point(p) for p in proof.get("gps_points", [])),
            photo_sha256=tuple(str(photo) for photo in proof.get("photo_sha256", [])),
        ),
    )
