"""The delivery tracking feed: courier positions, promises and delivery proofs reported by
signed webhooks, recorded, and read back as the tracking port (D90).

Events (Standard Webhooks envelope; ``POST /webhooks/<source>`` with the source's secret):

``tracking.promised``
    ``{"country", "order_id", "promised_at", "destination": {"lat_microdeg", "lon_microdeg"}?}``
``tracking.positions``
    ``{"country", "order_id", "points": [{"at", "lat_microdeg", "lon_microdeg"}, ...]}`` (1..500)
``tracking.delivered``
    ``{"country", "order_id", "delivered_at", "gps_points": [...]?, "photo_sha256": [...]?}``

Coordinates are integer microdegrees (no floats), times ISO-8601 with an offset. An event
that does not parse is refused before it is stored (400, nothing recorded), and so is one
from a tracking source about an order not recorded yet (409 ``ORDER_NOT_YET_KNOWN``: the
sender retries it, D96); a parsed one is stored in the inbox like any webhook and processed
once: only a webhook provider listed as a tracking source may report
(``NOT_A_TRACKING_SOURCE`` otherwise), only about an order of that country
(``UNKNOWN_ORDER``, for rows stored before that check), and the report is recorded once (``RECORDED``; a
redelivery or a reprocessing after a crash inserts nothing more: the record's key is the
webhook's id).

``application/cases/tracks.py`` (``recorded_track``) folds an order's records into its track,
in the caller's transaction and country scope: what L0 and a dispute's decision read before
the tracking port. New positions or a new promise let L0 look again at the order's open late
incident (``revisit_late_incident``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from returns.result import Failure, Result, Success

from application.cases.l0 import revisit_late_incident
from application.context import Services
from application.integrations.feed_fields import BadField, instant
from application.ports.webhook_inbox import WebhookEvent
from application.security.scope import scoped_to
from domain.cases.l0 import Point
from domain.cases.tracking import (
    MAX_PHOTOS_PER_REPORT,
    MAX_POINTS_PER_REPORT,
    TrackingKind,
    TrackingRecord,
)
from domain.disputes.evidence import MAX_LATITUDE_MICRODEG, MAX_LONGITUDE_MICRODEG, DeliveryProof, GpsPoint
from domain.shared import InvalidInput, InvariantViolation
from domain.shared.ids import OrderId

TRACKING_EVENT_PREFIX: Final = "tracking."
EVENT_KINDS: Final[Mapping[str, TrackingKind]] = {
    "tracking.promised": TrackingKind.PROMISED,
    "tracking.positions": TrackingKind.POSITIONS,
    "tracking.delivered": TrackingKind.DELIVERED,
}
RECORDED: Final = "RECORDED"
UNKNOWN_ORDER: Final = "UNKNOWN_ORDER"
NOT_A_TRACKING_SOURCE: Final = "NOT_A_TRACKING_SOURCE"
MAX_ORDER_ID_LENGTH: Final = 200


def is_tracking_event(event_type: str) -> bool:
    return event_type.startswith(TRACKING_EVENT_PREFIX)


def parse_tracking(event: WebhookEvent) -> Result[TrackingRecord, InvalidInput]:
    """The record a verified ``tracking.*`` event reports, or why it cannot be recorded."""
    kind = EVENT_KINDS.get(event.event_type)
    if kind is None:
        known = ", ".join(sorted(EVENT_KINDS))
        return Failure(InvalidInput("type", f"unknown tracking event {event.event_type!r} (known: {known})"))
    data = event.payload.get("data")
    assert isinstance(data, dict)  # parse_event checked the envelope
    try:
        order_id = data.get("order_id")
        if not isinstance(order_id, str) or not 0 < len(order_id) <= MAX_ORDER_ID_LENGTH:
            raise BadField(
                "data.order_id", f"an order id of 1 to {MAX_ORDER_ID_LENGTH} characters is required"
            )

        def make(**facts: Any) -> TrackingRecord:
            return TrackingRecord(
                event.country, order_id, kind, event.provider, event.webhook_id, event.signed_at, **facts
            )

        if kind is TrackingKind.PROMISED:
            destination = data.get("destination")
            record = make(
                promised_at=instant(data.get("promised_at"), "data.promised_at"),
                destination=None if destination is None else _point(destination, "data.destination"),
            )
        elif kind is TrackingKind.POSITIONS:
            record = make(points=_points(data.get("points"), "data.points", required=True))
        else:
            photos = data.get("photo_sha256", [])
            if not isinstance(photos, list) or len(photos) > MAX_PHOTOS_PER_REPORT:
                raise BadField(
                    "data.photo_sha256", f"a list of at most {MAX_PHOTOS_PER_REPORT} sha256 hashes"
                )
            proof = DeliveryProof(
                delivered_at=instant(data.get("delivered_at"), "data.delivered_at"),
                gps_points=_points(data.get("gps_points", []), "data.gps_points", required=False),
                photo_sha256=tuple(_hash(photo) for photo in photos),
            )
            record = make(proof=proof)
    except BadField as bad:
        return Failure(InvalidInput(bad.field, bad.reason))
    except InvariantViolation as error:  # a point or a proof the domain refuses (ranges, hashes)
        return Failure(InvalidInput("data", str(error)))
    return Success(record)


def _microdegrees(raw: Mapping[str, Any], name: str, field: str) -> int:
    value = raw.get(name)
    if type(value) is not int:
        raise BadField(f"{field}.{name}", "integer microdegrees are required (no floats)")
    return value


def _point(raw: object, field: str) -> Point:
    if not isinstance(raw, dict):
        raise BadField(field, "an object with lat_microdeg and lon_microdeg")
    lat, lon = _microdegrees(raw, "lat_microdeg", field), _microdegrees(raw, "lon_microdeg", field)
    if not (
        -MAX_LATITUDE_MICRODEG <= lat <= MAX_LATITUDE_MICRODEG
        and -MAX_LONGITUDE_MICRODEG <= lon <= MAX_LONGITUDE_MICRODEG
    ):
        raise BadField(field, "outside the range of latitudes and longitudes")
    return Point(lat, lon)


def _points(raw: object, field: str, *, required: bool) -> tuple[GpsPoint, ...]:
    if not isinstance(raw, list) or (required and not raw) or len(raw) > MAX_POINTS_PER_REPORT:
        least = 1 if required else 0
        raise BadField(field, f"a list of {least} to {MAX_POINTS_PER_REPORT} points")
    points = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise BadField(where, "an object with at, lat_microdeg and lon_microdeg")
        at = instant(item.get("at"), f"{where}.at")
        points.append(
            GpsPoint(
                at, _microdegrees(item, "lat_microdeg", where), _microdegrees(item, "lon_microdeg", where)
            )
        )
    return tuple(points)


def _hash(raw: object) -> str:
    if not isinstance(raw, str):
        raise BadField("data.photo_sha256", "each photo is its sha256 hash, 64 lowercase hex characters")
    return raw


async def record_tracking(svc: Services, event: WebhookEvent, *, sources: frozenset[str]) -> str:
    """Record a verified ``tracking.*`` event (the webhook processing's step); the outcome.
    New positions or a new promise let L0 look again at the order's open late incident
    (``revisit_late_incident``: a courier may have stood still since the case opened)."""
    if event.provider not in sources:
        return NOT_A_TRACKING_SOURCE
    parsed = parse_tracking(event)
    if isinstance(parsed, Failure):  # refused before it was stored; kept for rows stored earlier
        return str(parsed.failure().code)
    record = parsed.unwrap()
    with scoped_to(frozenset({event.country})):
        async with svc.uow() as uow:
            if await uow.orders.get(event.country, OrderId(record.order_id)) is None:
                return UNKNOWN_ORDER
            await uow.tracking.add(record)
            await uow.commit()
        if record.kind is not TrackingKind.DELIVERED:
            await revisit_late_incident(svc, event.country, record.order_id)
    return RECORDED
