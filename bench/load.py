"""The shared load generator: HTTP/1.1 keep-alive over raw asyncio sockets, in its own process.

    .venv/bin/python -m bench.load --url http://127.0.0.1:8000/graphql --body '{"query": "{ version }"}' \
        [-H 'X-Api-Key: ...'] [--mode closed --concurrency 16 | --mode open --rate 400] \
        [--duration 10] [--warmup 2] [--expect '"status"']

Two modes (both record every request whose *scheduled* start is after the warm-up):

- ``closed``: ``concurrency`` connections, each sending its next request as soon as the
  previous answer is read. The throughput mode: it finds the rate at which the server
  saturates. Latency is from send to the end of the answer.
- ``open``: requests are *scheduled* at a fixed ``rate`` whatever the server does, and each
  latency is measured from its scheduled send time, not from when a connection became free
  (no coordinated omission: a stalled server makes the queued requests' latencies grow, as a
  real client's would). Up to ``concurrency`` connections are opened as needed.

A request succeeds when the status is 200 and, if ``expect`` is given, the body contains it
(GraphQL answers errors with HTTP 200, so the benchmarks pass a substring of the success
type). ``requests`` are cycled; with ``unique=True`` each is sent at most once (a mutation
with its own idempotency key) and the run ends early when they run out.

From Python, :func:`run_load` writes a :class:`LoadSpec` to a file and runs this module in a
child process (so the generator never shares an interpreter, or a GIL, with the server or the
harness) and returns its :class:`LoadResult`. The arithmetic the benchmarks print
(:func:`percentile`, :func:`median`, :func:`ratio`) and the table (:func:`render_table`) live
here too; ``tests/unit/bench`` checks them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

Mode = Literal["closed", "open"]

DRAIN_TIMEOUT_S: Final = 15.0  # open loop: how long in-flight requests may finish after the end
MAX_ERROR_SAMPLES: Final = 3


# --------------------------------------------------------------------------- arithmetic


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as ``numpy.percentile``'s default and ``statistics.quantiles(...,
    method="inclusive")``: rank ``(n - 1) * q / 100`` in the sorted values.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(candidate: float, baseline: float) -> float:
    """``candidate / baseline``; ``inf`` for a zero baseline (never a ZeroDivisionError)."""
    if baseline == 0:
        return math.inf if candidate > 0 else math.nan
    return candidate / baseline


# --------------------------------------------------------------------------- spec and result


@dataclass(frozen=True, slots=True)
class HttpRequest:
    body: str
    method: str = "POST"
    path: str | None = None  # default: the spec URL's path
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    requests: Sequence[HttpRequest]
    mode: Mode = "closed"
    concurrency: int = 16
    rate: float = 0.0  # open loop: requests per second
    duration: float = 5.0  # seconds, warm-up included
    warmup: float = 1.0
    expect: str | None = None
    unique: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        requests = [HttpRequest(**r) for r in data.pop("requests")]
        return cls(requests=requests, **data)


@dataclass(frozen=True, slots=True)
class LoadResult:
    mode: str
    ok: int  # successful requests after the warm-up
    errors: int  # failed (status, body or socket) after the warm-up
    elapsed: float  # measured window, seconds
    throughput: float  # successful requests per second in the window
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    offered_rate: float = 0.0  # open loop: the rate asked for
    scheduler_lag_ms: float = 0.0  # open loop: worst delay of the scheduler itself
    error_samples: tuple[str, ...] = ()

    @property
    def error_rate(self) -> float:
        total = self.ok + self.errors
        return self.errors / total if total else 0.0

    @classmethod
    def from_samples(
        cls,
        *,
        mode: str,
        latencies_s: Sequence[float],
        errors: int,
        elapsed: float,
        offered_rate: float = 0.0,
        scheduler_lag_s: float = 0.0,
        error_samples: Sequence[str] = (),
    ) -> LoadResult:
        ms = [x * 1000.0 for x in latencies_s]

        def pct(q: float) -> float:
            return round(percentile(ms, q), 3) if ms else math.nan

        return cls(
            mode=mode,
            ok=len(ms),
            errors=errors,
            elapsed=round(elapsed, 3),
            throughput=round(len(ms) / elapsed, 2) if elapsed > 0 else 0.0,
            p50_ms=pct(50),
            p95_ms=pct(95),
            p99_ms=pct(99),
            max_ms=round(max(ms), 3) if ms else math.nan,
            mean_ms=round(sum(ms) / len(ms), 3) if ms else math.nan,
            offered_rate=offered_rate,
            scheduler_lag_ms=round(scheduler_lag_s * 1000.0, 3),
            error_samples=tuple(error_samples)[:MAX_ERROR_SAMPLES],
        )


# --------------------------------------------------------------------------- HTTP/1.1 client


class _Target:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only http://host:port/path URLs: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        if parts.query:
            self.path += "?" + parts.query

    def encode(self, request: HttpRequest, common: dict[str, str]) -> bytes:
        body = request.body.encode()
        lines = [
            f"{request.method} {request.path or self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in {**common, **request.headers}.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, target: _Target) -> _Connection:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        return cls(reader, writer)

    async def exchange(self, payload: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read one answer: (status, body, server wants to close)."""
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, body, headers.get("connection", "").lower() == "close"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Recorder:
    def __init__(self, spec: LoadSpec) -> None:
        self.expect = spec.expect.encode() if spec.expect else None
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []

    def success(self, status: int, body: bytes) -> bool:
        return status == 200 and (self.expect is None or self.expect in body)

    def record(self, *, counted: bool, ok: bool, latency: float, detail: str) -> None:
        if not counted:
            return
        if ok:
            self.latencies.append(latency)
        else:
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(detail[:300])


class _Payloads:
    """Encoded requests, cycled (or each once when unique)."""

    def __init__(self, spec: LoadSpec, target: _Target) -> None:
        if not spec.requests:
            raise ValueError("a load spec needs at least one request")
        self.items = [target.encode(r, spec.headers) for r in spec.requests]
        self.unique = spec.unique
        self.next_index = 0

    def take(self) -> bytes | None:
        if self.unique and self.next_index >= len(self.items):
            return None
        item = self.items[self.next_index % len(self.items)]
        self.next_index += 1
        return item


async def _send(
    conn: _Connection | None, target: _Target, payload: bytes, recorder: _Recorder
) -> tuple[_Connection | None, bool, str]:
    """One exchange; a broken or closing connection is dropped (the caller opens another)."""
    try:
        if conn is None:
            conn = await _Connection.open(target)
        status, body, closing = await conn.exchange(payload)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        if conn is not None:
            conn.close()
        return None, False, f"{type(exc).__name__}: {exc}"
    ok = recorder.success(status, body)
    if closing:
        conn.close()
        conn = None
    return conn, ok, "" if ok else f"HTTP {status}: {body[:300].decode(errors='replace')}"


async def _closed_loop(spec: LoadSpec, target: _Target) -> LoadResult:
    recorder = _Recorder(spec)
    payloads = _Payloads(spec, target)
    start = time.perf_counter()
    measure_from = start + spec.warmup
    deadline = start + spec.duration

    async def worker() -> None:
        conn: _Connection | None = None
        while True:
            sent_at = time.perf_counter()
            if sent_at >= deadline:
                break
            payload = payloads.take()
            if payload is None:
                break
            conn, ok, detail = await _send(conn, target, payload, recorder)
            done = time.perf_counter()
            recorder.record(counted=sent_at >= measure_from, ok=ok, latency=done - sent_at, detail=detail)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    end = min(time.perf_counter(), max(deadline, measure_from))
    return LoadResult.from_samples(
        mode="closed",
        latencies_s=recorder.latencies,
        errors=recorder.errors,
        elapsed=max(end - measure_from, 1e-9),
        error_samples=recorder.error_samples,
    )


async def _open_loop(spec: LoadSpec, target: _Target) -> LoadResult:
    if spec.rate <= 0:
        raise ValueError("open loop needs a rate > 0")
    recorder = _Recorder(spec)
    payloads = _Payloads(spec, target)
    idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
    for _ in range(spec.concurrency):
        idle.put_nowait(None)  # a slot: None opens a connection on first use
    interval = 1.0 / spec.rate
    start = time.perf_counter()
    measure_from = start + spec.warmup
    deadline = start + spec.duration
    in_flight: set[asyncio.Task[None]] = set()
    worst_lag = 0.0

    async def one(scheduled: float, payload: bytes) -> None:
        conn = await idle.get()  # waiting here counts: latency runs from the schedule
        try:
            conn, ok, detail = await _send(conn, target, payload, recorder)
        finally:
            idle.put_nowait(conn)
        recorder.record(
            counted=scheduled >= measure_from,
            ok=ok,
            latency=time.perf_counter() - scheduled,
            detail=detail,
        )

    index = 0
    while True:
        scheduled = start + index * interval
        if scheduled >= deadline:
            break
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        else:
            worst_lag = max(worst_lag, now - scheduled)
        payload = payloads.take()
        if payload is None:
            break
        task = asyncio.create_task(one(scheduled, payload))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        index += 1
    end_of_schedule = time.perf_counter()
    if in_flight:
        _done, pending = await asyncio.wait(set(in_flight), timeout=DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        recorder.errors += len(pending)  # never answered: counted, not dropped
    while not idle.empty():
        conn = idle.get_nowait()
        if conn is not None:
            conn.close()
    return LoadResult.from_samples(
        mode="open",
        latencies_s=recorder.latencies,
        errors=recorder.errors,
        elapsed=max(min(end_of_schedule, deadline) - measure_from, 1e-9),
        offered_rate=spec.rate,
        scheduler_lag_s=worst_lag,
        error_samples=recorder.error_samples,
    )


async def generate(spec: LoadSpec) -> LoadResult:
    """Run the load in this process (the child side of :func:`run_load`)."""
    target = _Target(spec.url)
    if spec.mode == "closed":
        return await _closed_loop(spec, target)
    return await _open_loop(spec, target)


def _event_loop_runner(coro: Any) -> Any:
    try:
        import uvloop  # noqa: PLC0415 - optional: a faster loop if installed (uvicorn[standard] brings it)
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


# --------------------------------------------------------------------------- the parent side


def run_load(spec: LoadSpec, *, timeout: float | None = None) -> LoadResult:
    """Run ``spec`` in a child process (``python -m bench.load --spec FILE``) and return its result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="load-spec-", delete=False) as handle:
        json.dump(spec.to_json(), handle)
        spec_path = Path(handle.name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.load", "--spec", str(spec_path)],
            capture_output=True,
            text=True,
            timeout=timeout if timeout is not None else spec.duration + DRAIN_TIMEOUT_S + 30,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        spec_path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["error_samples"] = tuple(data.get("error_samples", ()))
    return LoadResult(**data)


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a comparison: per-round values of the baseline and the candidate."""

    metric: str
    baseline: Sequence[float]
    candidate: Sequence[float]
    target: str = ""  # e.g. ">= 0.50x" or "<= 2.00x"; empty: shown, not judged
    unit: str = ""

    @property
    def ratio(self) -> float:
        return ratio(median(self.candidate), median(self.baseline))

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        op, _, number = self.target.partition(" ")
        bound = float(number.rstrip("x"))
        if op == ">=":
            return self.ratio >= bound
        if op == "<=":
            return self.ratio <= bound
        raise ValueError(f"target must be '>= N' or '<= N': {self.target!r}")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _verdict(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "**no**"


def render_table(title: str, rows: Sequence[Row]) -> str:
    """A Markdown table: medians over the rounds, the ratio candidate/baseline, target met."""
    out = [
        f"### {title}",
        "",
        "| metric | baseline (median) | candidate (median) | ratio | target | met "
        "| rounds (baseline / candidate) |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        rounds = " / ".join(", ".join(_fmt(v) for v in values) for values in (row.baseline, row.candidate))
        out.append(
            f"| {row.metric}{f' ({row.unit})' if row.unit else ''} | {_fmt(median(row.baseline))} "
            f"| {_fmt(median(row.candidate))} | {row.ratio:.2f}x | {row.target or '-'} "
            f"| {_verdict(row.met)} | {rounds} |"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI


def _parse(argv: Sequence[str] | None) -> LoadSpec:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, help="a LoadSpec as JSON (what run_load passes)")
    parser.add_argument("--url")
    parser.add_argument("--body", default="", help="the request body (JSON)")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--mode", choices=["closed", "open"], default="closed")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--expect")
    args = parser.parse_args(argv)
    if args.spec is not None:
        return LoadSpec.from_json(json.loads(args.spec.read_text()))
    if not args.url:
        parser.error("--url (or --spec) is required")
    headers = dict(h.split(":", 1) for h in args.header)
    return LoadSpec(
        url=args.url,
        requests=[HttpRequest(body=args.body)],
        mode=args.mode,
        concurrency=args.concurrency,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        expect=args.expect,
        headers={k.strip(): v.strip() for k, v in headers.items()},
    )


def main(argv: Sequence[str] | None = None) -> int:
    spec = _parse(argv)
    result: LoadResult = _event_loop_runner(generate(spec))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
