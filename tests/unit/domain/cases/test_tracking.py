"""Folding an order's tracking reports into its track (D90)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.cases.l0 import Point
from domain.cases.tracking import MAX_TRACE_POINTS, TrackingKind, TrackingRecord, fold_track
from domain.disputes.evidence import DeliveryProof, GpsPoint
from domain.shared import CountryCode, InvariantViolation

MX = CountryCode("MX")
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def record(kind: TrackingKind, source_id: str, at: datetime, **facts: Any) -> TrackingRecord:
    return TrackingRecord(MX, "o1", kind, "courier-tracking", source_id, at, **facts)


def point(minutes: int, lat: int = 1) -> GpsPoint:
    return GpsPoint(T0 + timedelta(minutes=minutes), lat, 2)


def test_no_reports_is_no_track() -> None:
    assert fold_track([]) is None


def test_the_newest_promise_and_proof_win_and_positions_merge_once() -> None:
    early = DeliveryProof(T0, (), ("a" * 64,))
    late = DeliveryProof(T0 + timedelta(minutes=1), (), ("b" * 64,))
    track = fold_track(
        [
            record(TrackingKind.PROMISED, "p2", T0 + timedelta(hours=1), promised_at=T0 + timedelta(hours=2)),
            record(
                TrackingKind.PROMISED, "p1", T0, promised_at=T0 + timedelta(hours=1), destination=Point(1, 1)
            ),
            record(TrackingKind.POSITIONS, "g2", T0 + timedelta(minutes=5), points=(point(3), point(4))),
            record(TrackingKind.POSITIONS, "g1", T0, points=(point(1), point(3))),
            record(TrackingKind.DELIVERED, "d2", T0 + timedelta(minutes=9), proof=late),
            record(TrackingKind.DELIVERED, "d1", T0 + timedelta(minutes=8), proof=early),
        ]
    )
    assert track is not None
    assert (track.promised_at, track.destination) == (T0 + timedelta(hours=2), None)  # a correction replaces
    assert track.courier_trace == (point(1), point(3), point(4))
    assert track.delivery_proof == late


def test_the_trace_keeps_the_newest_points() -> None:
    batches = [
        record(TrackingKind.POSITIONS, f"g{n}", T0, points=tuple(point(n * 500 + i) for i in range(500)))
        for n in range(5)
    ]
    track = fold_track(batches)
    assert track is not None and len(track.courier_trace) == MAX_TRACE_POINTS
    assert track.courier_trace[0] == point(2_500 - MAX_TRACE_POINTS)
    assert track.courier_trace[-1] == point(2_499)


@pytest.mark.parametrize(
    ("kind", "facts"),
    [
        (TrackingKind.PROMISED, {}),
        (TrackingKind.POSITIONS, {}),
        (TrackingKind.POSITIONS, {"points": tuple(point(i) for i in range(501))}),
        (TrackingKind.DELIVERED, {"points": (point(1),)}),
        (TrackingKind.PROMISED, {"promised_at": T0, "points": (point(1),)}),
    ],
)
def test_a_record_carries_exactly_what_its_kind_needs(kind: TrackingKind, facts: dict[str, object]) -> None:
    with pytest.raises(InvariantViolation):
        record(kind, "x", T0, **facts)


def test_a_record_needs_an_aware_time() -> None:
    with pytest.raises(InvariantViolation):
        record(TrackingKind.PROMISED, "x", datetime(2026, 1, 1), promised_at=T0)
