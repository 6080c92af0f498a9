"""Snapshot summary: exact nearest-rank percentiles and a least-squares latency trend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.diagnostics.metrics import (
    TREND_THRESHOLD,
    LatencySample,
    Snapshot,
    Trend,
    latency_trend,
    least_squares_slope,
    summarise_snapshot,
)
from domain.shared.statistics import nearest_rank

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def series(values: list[float], step: timedelta = timedelta(minutes=1)) -> tuple[LatencySample, ...]:
    return tuple(LatencySample(T0 + i * step, v) for i, v in enumerate(values))


def test_nearest_rank_is_exact_and_never_interpolates() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank(values, 95) == 95.0
    assert nearest_rank(values, 99) == 99.0
    small = [10.0, 20.0, 30.0, 40.0]
    assert nearest_rank(small, 50) == 20.0  # rank ceil(0.5 * 4) = 2
    assert nearest_rank(small, 95) == 40.0  # rank ceil(3.8) = 4
    assert nearest_rank([7.0], 99) == 7.0
    assert nearest_rank([], 50) is None


def test_nearest_rank_refuses_a_percentile_out_of_range() -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([1.0], 0)


def test_least_squares_slope() -> None:
    assert least_squares_slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    assert least_squares_slope([(0, 1), (0, 2)]) is None
    assert least_squares_slope([(0, 1)]) is None


@pytest.mark.parametrize(
    ("values", "trend"),
    [
        ([100, 110, 120, 130, 140, 150], Trend.RISING),
        ([150, 140, 130, 120, 110, 100], Trend.FALLING),
        ([100, 101, 99, 100, 102, 100], Trend.FLAT),
    ],
)
def test_trend_direction(values: list[float], trend: Trend) -> None:
    assert latency_trend(series(values)).direction is trend


def test_a_noisy_series_is_judged_by_its_fitted_line() -> None:
    # Sxy = 300, Sxx = 17.5: slope 17.1 ms/min, +85.7 ms over 5 minutes on a mean of 200 ms
    result = latency_trend(series([100, 300, 100, 300, 100, 300]))
    assert result.direction is Trend.RISING
    assert result.slope_ms_per_minute == pytest.approx(300 / 17.5)
    assert result.relative_change == pytest.approx(300 / 17.5 * 5 / 200)


def test_trend_threshold_is_ten_percent_of_the_mean_over_the_series() -> None:
    # slope 1 ms/min over 10 minutes on a mean of ~100 ms: a 10 % change is the boundary
    just_below = latency_trend(series([95.0 + 0.99 * i for i in range(11)]))
    just_above = latency_trend(series([95.0 + 1.01 * i for i in range(11)]))
    assert TREND_THRESHOLD == 0.10
    assert just_below.direction is Trend.FLAT
    assert just_above.direction is Trend.RISING
    assert just_above.slope_ms_per_minute == pytest.approx(1.01)


def test_trend_is_flat_without_enough_data() -> None:
    assert latency_trend(()).direction is Trend.FLAT
    assert latency_trend(series([100.0])).direction is Trend.FLAT
    assert latency_trend(series([100.0, 900.0], step=timedelta(0))).direction is Trend.FLAT
    assert latency_trend(series([0.0, 0.0, 0.0])).direction is Trend.FLAT


def test_trend_orders_samples_by_time() -> None:
    rising = series([100.0, 150.0, 200.0])
    assert latency_trend(tuple(reversed(rising))).direction is Trend.RISING


def test_summary() -> None:
    snapshot = Snapshot(
        captured_at=T0,
        queue_depth=42,
        queues={"retry": 2, "outbound": 40},
        error_counts={"CLIENT_OFFLINE": 1, "GATEWAY_TIMEOUT": 3, "A_CODE": 1},
        latency=series([float(v) for v in range(100, 0, -1)]),
    )
    summary = summarise_snapshot(snapshot)
    assert (summary.p50_ms, summary.p95_ms, summary.p99_ms) == (50.0, 95.0, 99.0)
    assert summary.samples == 100
    assert summary.total_errors == 5
    assert list(summary.error_counts) == ["GATEWAY_TIMEOUT", "A_CODE", "CLIENT_OFFLINE"]
    assert list(summary.queues) == ["outbound", "retry"]
    assert summary.trend.direction is Trend.FALLING
