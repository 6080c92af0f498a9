"""``snapshot.json`` summarised: queue depth, error counts, latency percentiles and trend.

Percentiles are **exact nearest-rank** (no interpolation): p-th percentile of n sorted
samples is the sample at rank ``ceil(p/100 * n)`` (1-based), computed in integers. Every
reported value is therefore a latency that was really observed.

The trend is the slope of the ordinary least-squares line through (seconds since the
first sample, latency ms). It is judged against the series' own size: the *fitted change*
is ``slope * (last time - first time)``, and the trend is ``rising`` when that change is
more than :data:`TREND_THRESHOLD` (10 %) of the mean latency, ``falling`` when it is less
than -10 %, and ``flat`` otherwise — also when there are fewer than two samples, when all
samples share one instant, or when the mean latency is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.shared.statistics import nearest_rank

TREND_THRESHOLD: Final = 0.10
PERCENTILES: Final = (50, 95, 99)


class Trend(StrEnum):
    RISING = "rising"
    FLAT = "flat"
    FALLING = "falling"


@dataclass(frozen=True, slots=True)
class LatencySample:
    at: datetime
    ms: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The parsed ``snapshot.json``."""

    captured_at: datetime
    queue_depth: int
    queues: Mapping[str, int]
    error_counts: Mapping[str, int]
    latency: tuple[LatencySample, ...]


@dataclass(frozen=True, slots=True)
class LatencyTrend:
    direction: Trend
    slope_ms_per_minute: float
    relative_change: float  # fitted change over the series / mean latency


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    captured_at: datetime
    queue_depth: int
    queues: Mapping[str, int]
    error_counts: Mapping[str, int]  # most frequent first
    total_errors: int
    samples: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    trend: LatencyTrend


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Slope of the least-squares line through ``(x, y)`` points; ``None`` if x never varies."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx


def latency_trend(samples: Sequence[LatencySample], threshold: float = TREND_THRESHOLD) -> LatencyTrend:
    if len(samples) < 2:
        return LatencyTrend(Trend.FLAT, 0.0, 0.0)
    ordered = sorted(samples, key=lambda s: s.at)
    origin = ordered[0].at
    points = [((s.at - origin).total_seconds(), s.ms) for s in ordered]
    slope = least_squares_slope(points)
    mean = sum(s.ms for s in ordered) / len(ordered)
    if slope is None or mean <= 0:
        return LatencyTrend(Trend.FLAT, 0.0, 0.0)
    relative = slope * points[-1][0] / mean
    if relative > threshold:
        direction = Trend.RISING
    elif relative < -threshold:
        direction = Trend.FALLING
    else:
        direction = Trend.FLAT
    return LatencyTrend(direction, slope * 60, relative)


def summarise_snapshot(snapshot: Snapshot) -> SnapshotSummary:
    values = sorted(s.ms for s in snapshot.latency)
    p50, p95, p99 = (nearest_rank(values, p) for p in PERCENTILES)
    errors = dict(sorted(snapshot.error_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return SnapshotSummary(
        captured_at=snapshot.captured_at,
        queue_depth=snapshot.queue_depth,
        queues=dict(sorted(snapshot.queues.items())),
        error_counts=errors,
        total_errors=sum(errors.values()),
        samples=len(values),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        trend=latency_trend(snapshot.latency),
    )
