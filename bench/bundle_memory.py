"""Inspecting a ~1 GB diagnostics bundle needs about the memory of inspecting a 10 MB one.

    .venv/bin/python -m bench.bundle_memory                 # or: make bench-bundle
    .venv/bin/python -m bench.bundle_memory --size-mb 256   # a quicker run

Builds two bundles in a temporary directory, streamed to disk (never held in memory):
the same ``metadata.json``, ``snapshot.json`` and ``trace.json``, and a ``logs/app.log`` of
``--baseline-mb`` (10) and ``--size-mb`` (1024) megabytes of realistic, varied log lines
(deflated about 2:1) with a leak every 50,000 lines. Each bundle is inspected in a fresh
child process exactly as ``supportos inspect`` does (the container's inspector: hostile-input
reader, schemas, catalogue, phonenumbers), which reports its peak RSS
(``resource.getrusage``), its RSS before inspecting (the imports) and the time taken.

The result is the ratio of the two peaks, measured in the same run on the same machine:
near 1 means memory stays bounded whatever the bundle's size. Appends a section to
``bench/RESULTS.md`` (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

MIB: Final = 1024 * 1024
RESULTS: Final = Path(__file__).resolve().parent / "RESULTS.md"
LEAK_EVERY: Final = 50_000
SPANS: Final = 5_000
SAMPLES: Final = 2_000


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _documents(now: datetime) -> dict[str, object]:
    rng = random.Random(1)
    spans = []
    for n in range(SPANS):
        start = now - timedelta(seconds=SPANS - n)
        failed = n % 97 == 0
        spans.append(
            {
                "span_id": f"s{n}",
                "parent_id": None,
                "name": "gateway.outbound" if n % 3 == 0 else "client.sync",
                "start": _iso(start),
                "end": _iso(start + timedelta(milliseconds=rng.randint(5, 900))),
                "status": "ERROR" if failed else "OK",
                "error_code": "GATEWAY_TIMEOUT" if failed else None,
                "attributes": {
                    "http.method": "POST",
                    "http.status_code": 504 if failed else 200,
                    "retry": n % 4,
                },
            }
        )
    return {
        "metadata.json": {
            "customer_id": "cus_bench",
            "country": "MX",
            "channel": "bench",
            "created_at": _iso(now),
            "telemetry_consent": {"granted": True, "recorded_at": _iso(now - timedelta(days=1))},
        },
        "snapshot.json": {
            "captured_at": _iso(now),
            "queue_depth": 17,
            "error_counts": {"GATEWAY_TIMEOUT": SPANS // 97 + 1},
            "latency_ms": [
                {"at": _iso(now - timedelta(seconds=SAMPLES - n)), "ms": 100 + rng.random() * 50 + n / 40}
                for n in range(SAMPLES)
            ],
        },
        "trace.json": {"trace_id": "bench", "spans": spans},
    }


def _log_pool(rng: random.Random) -> list[str]:
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    events = ("gateway.outbound", "client.sync", "queue.flush", "render.frame", "cache.miss", "auth.refresh")
    return [
        f"2026-03-01T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}.{n % 1000:03d}Z {rng.choice(levels)} "
        f"{rng.choice(events)} req={rng.getrandbits(64):016x} status={rng.choice((200, 200, 204, 429, 504))} "
        f"took={rng.randint(1, 2500)}ms queue={rng.randint(0, 80)} user=[REDACTED] "
        f'msg="{rng.getrandbits(96):x}"\n'
        for n in range(8192)
    ]


def build_bundle(directory: Path, log_bytes: int, now: datetime) -> Path:
    """A bundle with ``log_bytes`` of log text, written to disk one megabyte at a time."""
    path = directory / f"trace-{now.strftime('%Y%m%dT%H%M%SZ')}-bench{log_bytes // MIB}.zip"
    rng = random.Random(log_bytes)
    pool = _log_pool(rng)
    leak = "2026-03-01T12:00:00.000Z WARN support.note contact ana.perez@acme.io\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, document in _documents(now).items():
            archive.writestr(name, json.dumps(document))
        with archive.open("logs/app.log", "w", force_zip64=True) as log:
            written = lines = 0
            while written < log_bytes:
                block = rng.choices(pool, k=8192)
                for index in range(-lines % LEAK_EVERY, len(block), LEAK_EVERY):
                    block[index] = leak
                lines += len(block)
                data = "".join(block).encode()[: log_bytes - written]
                log.write(data)
                written += len(data)
    return path


# ----------------------------------------------------------------------------- the child


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def inspect_in_this_process(path: Path) -> dict[str, object]:
    from returns.result import Success  # noqa: PLC0415 - imports are part of the measured baseline

    from interfaces.container import bundle_inspector  # noqa: PLC0415

    inspector = bundle_inspector()
    before = _rss_kib()
    started = time.perf_counter()
    result = inspector.inspect(path)
    seconds = time.perf_counter() - started
    outcome: dict[str, object] = {"rss_before_kib": before, "peak_rss_kib": _rss_kib(), "seconds": seconds}
    if isinstance(result, Success):
        report = result.unwrap()
        outcome |= {"pii_total": report.pii.total, "pii_listed": len(report.pii.findings)}
        outcome |= {"failed_spans": len(report.failed_spans), "p95_ms": report.snapshot.p95_ms}
    else:
        outcome["refused"] = result.failure().code
    return outcome


# ----------------------------------------------------------------------------- the parent


@dataclass(frozen=True)
class Run:
    label: str
    archive_bytes: int
    content_bytes: int
    outcome: dict[str, object]

    @property
    def peak_mib(self) -> float:
        return int(str(self.outcome["peak_rss_kib"])) / 1024

    @property
    def growth_mib(self) -> float:
        return (int(str(self.outcome["peak_rss_kib"])) - int(str(self.outcome["rss_before_kib"]))) / 1024

    @property
    def seconds(self) -> float:
        return float(str(self.outcome["seconds"]))


def _measure(label: str, path: Path) -> Run:
    child = subprocess.run(
        [sys.executable, "-m", "bench.bundle_memory", "--inspect", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(path) as archive:
        content = sum(info.file_size for info in archive.infolist())
    return Run(label, path.stat().st_size, content, outcome)


def _table(runs: list[Run]) -> str:
    rows = [
        "| bundle | on disk | content | peak RSS | RSS growth while inspecting | time | throughput "
        "| leaks found |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        rows.append(
            f"| {run.label} | {run.archive_bytes / MIB:,.0f} MiB | {run.content_bytes / MIB:,.0f} MiB "
            f"| {run.peak_mib:,.1f} MiB | {run.growth_mib:,.1f} MiB | {run.seconds:,.1f} s "
            f"| {run.content_bytes / MIB / run.seconds:,.1f} MiB/s | {run.outcome.get('pii_total', '-')} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024, help="log megabytes in the large bundle")
    parser.add_argument("--baseline-mb", type=int, default=10, help="log megabytes in the baseline bundle")
    parser.add_argument("--no-write", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--inspect", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.inspect is not None:
        print(json.dumps(inspect_in_this_process(args.inspect)))
        return 0

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bundle-bench-") as tmp:
        runs = []
        for label, megabytes in (("baseline", args.baseline_mb), ("large", args.size_mb)):
            started = time.perf_counter()
            path = build_bundle(Path(tmp), megabytes * MIB, now)
            built = time.perf_counter() - started
            print(
                f"built {label} bundle: {path.stat().st_size / MIB:,.0f} MiB on disk in {built:,.1f} s",
                flush=True,
            )
            runs.append(_measure(label, path))
            path.unlink()
            print(f"inspected {label}: {runs[-1].outcome}", flush=True)
    baseline, large = runs
    ratio = large.peak_mib / baseline.peak_mib
    content_ratio = large.content_bytes / baseline.content_bytes
    summary = (
        f"content {content_ratio:,.0f}x larger; peak RSS {ratio:.2f}x the baseline's "
        f"(RSS growth while inspecting: {large.growth_mib:,.1f} MiB vs {baseline.growth_mib:,.1f} MiB)"
    )
    table = _table(runs)
    print()
    print(table)
    print()
    print(summary)
    if not args.no_write:
        machine = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
        section = (
            f"\n## Bundle inspection memory ({now.date().isoformat()}, {machine})\n\n"
            f"`python -m bench.bundle_memory --size-mb {args.size_mb} --baseline-mb {args.baseline_mb}`: "
            "each bundle inspected in a fresh process, as `supportos inspect` does.\n\n"
            f"{table}\n\n**{summary}.**\n"
        )
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nRatios against a baseline measured in the same run.\n")
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(section)
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
