"""Baseline against candidate, interleaved: closed loop for throughput, then open loop for latency.

1. ``rounds`` closed-loop rounds; in each, baseline and candidate run back to back (the order
   alternates between rounds, so neither always gets the warmer machine).
2. The open-loop rate is half the baseline's median closed-loop throughput (its saturation
   rate); ``rounds`` open-loop rounds at that rate, interleaved the same way, give
   p50/p95/p99 from the scheduled send times.

Every run is a fresh ``bench.load`` child process. The result is a list of :class:`Row`
(medians, ratio, target) ready for :func:`bench.load.render_table`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench.load import HttpRequest, LoadResult, LoadSpec, Mode, Row, median, run_load


@dataclass(frozen=True, slots=True)
class Contestant:
    name: str
    url: str
    requests: Sequence[HttpRequest]
    expect: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def spec(
        self, *, mode: Mode, concurrency: int, duration: float, warmup: float, rate: float = 0.0
    ) -> LoadSpec:
        return LoadSpec(
            url=self.url,
            requests=self.requests,
            expect=self.expect,
            headers=self.headers,
            mode=mode,
            concurrency=concurrency,
            duration=duration,
            warmup=warmup,
            rate=rate,
        )


@dataclass(frozen=True, slots=True)
class Settings:
    rounds: int = 3
    duration: float = 10.0
    warmup: float = 2.0
    concurrency: int = 16  # closed loop: connections
    open_connections: int = 64  # open loop: at most this many connections
    open_fraction: float = 0.5  # of the baseline's saturation rate


@dataclass(slots=True)
class Measurements:
    closed: dict[str, list[LoadResult]] = field(default_factory=dict)
    open: dict[str, list[LoadResult]] = field(default_factory=dict)
    open_rate: float = 0.0

    def series(self, mode: str, name: str, metric: str) -> list[float]:
        runs = (self.closed if mode == "closed" else self.open)[name]
        return [float(getattr(r, metric)) for r in runs]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check(result: LoadResult, who: str) -> LoadResult:
    _log(
        f"  {who:<10} {result.mode:<6} {result.throughput:>9.1f} req/s  p50 {result.p50_ms:.2f}  "
        f"p99 {result.p99_ms:.2f} ms  ok {result.ok}  errors {result.errors}"
    )
    if result.errors:
        _log(f"    error samples: {list(result.error_samples)}")
    if result.ok == 0:
        raise RuntimeError(f"{who}: no successful request: {list(result.error_samples)}")
    return result


def interleave(baseline: Contestant, candidate: Contestant, settings: Settings) -> Measurements:
    out = Measurements(
        closed={baseline.name: [], candidate.name: []}, open={baseline.name: [], candidate.name: []}
    )
    pair = (baseline, candidate)
    for round_no in range(settings.rounds):
        _log(f"closed loop, round {round_no + 1}/{settings.rounds}")
        for who in pair if round_no % 2 == 0 else pair[::-1]:
            spec = who.spec(
                mode="closed",
                concurrency=settings.concurrency,
                duration=settings.duration,
                warmup=settings.warmup,
            )
            out.closed[who.name].append(_check(run_load(spec), who.name))
    out.open_rate = round(
        settings.open_fraction * median(out.series("closed", baseline.name, "throughput")), 1
    )
    for round_no in range(settings.rounds):
        _log(f"open loop at {out.open_rate} req/s, round {round_no + 1}/{settings.rounds}")
        for who in pair if round_no % 2 == 0 else pair[::-1]:
            spec = who.spec(
                mode="open",
                rate=out.open_rate,
                concurrency=settings.open_connections,
                duration=settings.duration,
                warmup=settings.warmup,
            )
            out.open[who.name].append(_check(run_load(spec), who.name))
    return out


def standard_rows(
    m: Measurements,
    baseline: str,
    candidate: str,
    *,
    throughput_target: str,
    p99_target: str = "<= 2.00x",
) -> list[Row]:
    """Throughput (closed loop) and p50/p95/p99 (open loop at half the baseline's saturation)."""
    rows = [
        Row(
            "throughput, closed loop",
            m.series("closed", baseline, "throughput"),
            m.series("closed", candidate, "throughput"),
            throughput_target,
            "req/s",
        )
    ]
    for pct, target in (("p50", ""), ("p95", ""), ("p99", p99_target)):
        rows.append(
            Row(
                f"{pct} at {m.open_rate:g} req/s, open loop",
                m.series("open", baseline, f"{pct}_ms"),
                m.series("open", candidate, f"{pct}_ms"),
                target,
                "ms",
            )
        )
    return rows


def with_rounds(settings: Settings, rounds: int | None, duration: float | None) -> Settings:
    updated = settings
    if rounds is not None:
        updated = replace(updated, rounds=rounds)
    if duration is not None:
        updated = replace(updated, duration=duration, warmup=min(updated.warmup, duration / 4))
    return updated
