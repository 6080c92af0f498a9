"""What the delivery side reported about an order, as the platform recorded it (D90).

The courier app and the dispatch system report three kinds of facts, each in a signed
webhook (``tracking.*`` events), and each is kept as one immutable :class:`TrackingRecord`:

- ``PROMISED``: when the buyer was told the order would arrive, and the geocoded address;
- ``POSITIONS``: a batch of the courier's GPS points;
- ``DELIVERED``: the hand-over's proof: when, the GPS fixes, the photos' sha256 hashes.

:func:`fold_track` turns an order's records into the :class:`~domain.cases.l0.DeliveryTrack`
L0's rules and the dispute's platform facts read: the newest promise and proof win (a
correction is a new report), the positions of every batch are merged (a point reported twice
counts once) and the newest ``MAX_TRACE_POINTS`` kept. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.cases.l0 import DeliveryTrack, Point
from domain.disputes.evidence import DeliveryProof, GpsPoint
from domain.shared import CountryCode, InvariantViolation

MAX_POINTS_PER_REPORT: Final = 500
"""GPS points one report may carry (a courier app reports every few seconds, in batches)."""
MAX_PHOTOS_PER_REPORT: Final = 20
MAX_TRACE_POINTS: Final = 2_000
"""The newest positions a track keeps (L0 looks at the last 15 minutes)."""


class TrackingKind(StrEnum):
    PROMISED = "PROMISED"
    POSITIONS = "POSITIONS"
    DELIVERED = "DELIVERED"


@dataclass(frozen=True, slots=True)
class TrackingRecord:
    """One report. ``source``/``source_id`` (the webhook provider and its webhook id) make it
    unique: a redelivered webhook is the same record. ``reported_at`` orders reports of one
    kind (the newest promise or proof wins)."""

    country: CountryCode
    order_id: str
    kind: TrackingKind
    source: str
    source_id: str
    reported_at: datetime
    promised_at: datetime | None = None
    destination: Point | None = None
    points: tuple[GpsPoint, ...] = ()
    proof: DeliveryProof | None = None

    def __post_init__(self) -> None:
        if self.reported_at.tzinfo is None:
            raise InvariantViolation("reported_at must be timezone-aware")
        shape = {
            TrackingKind.PROMISED: self.promised_at is not None and not self.points and self.proof is None,
            TrackingKind.POSITIONS: 0 < len(self.points) <= MAX_POINTS_PER_REPORT
            and self.promised_at is None
            and self.destination is None
            and self.proof is None,
            TrackingKind.DELIVERED: self.proof is not None
            and not self.points
            and self.promised_at is None
            and self.destination is None,
        }[self.kind]
        if not shape:
            raise InvariantViolation(f"a {self.kind} tracking record does not carry what its kind needs")


def fold_track(records: Iterable[TrackingRecord]) -> DeliveryTrack | None:
    """The order's track from its records (``None`` when there are none)."""
    ordered = sorted(records, key=lambda record: (record.reported_at, record.source, record.source_id))
    if not ordered:
        return None
    promise = next((r for r in reversed(ordered) if r.kind is TrackingKind.PROMISED), None)
    proof = next((r.proof for r in reversed(ordered) if r.kind is TrackingKind.DELIVERED), None)
    points = {
        point.sort_key(): point for r in ordered if r.kind is TrackingKind.POSITIONS for point in r.points
    }
    trace = tuple(points[key] for key in sorted(points)[-MAX_TRACE_POINTS:])
    return DeliveryTrack(
        promised_at=None if promise is None else promise.promised_at,
        destination=None if promise is None else promise.destination,
        courier_trace=trace,
        delivery_proof=proof,
    )
