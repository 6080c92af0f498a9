"""CPU per request of the read benchmarks' requests, in-process, before and after a change.

    .venv/bin/python -m bench.inprocess console-list|partner-read|sqlite-read [--requests 400]
        [--concurrency 8] [--profile pyinstrument|cprofile] [--output FILE] [--gc]

The real app (``container.http_app()``) over httpx's ASGI transport, no socket and no
uvicorn: ``--concurrency`` requests at a time, the collector tuned as ``supportos serve``
tunes it (``tune_gc``, after a warm-up), CPU milliseconds (this process; PostgreSQL's own
CPU is not in it) and wall milliseconds per request. The database is the one the HTTP
benchmark builds (``bench.console_list.seed``, ``bench.partner_read.prepare``), fresh, and
dropped at the end; ``sqlite-read`` is ``bench.sqlite_bench``'s partner-read on the
embedded SQLite (a file in a temporary directory; the aiosqlite thread's CPU is counted).
With ``--profile`` the measured requests run under pyinstrument (a call tree, including the
dataloaders' batch tasks, which a profile of the request's coroutine alone misses) or
cProfile (by own time); ``--output`` writes it to a file. ``--gc`` also reports the
cyclic collector: its passes and their time during the measured requests, then what further
requests leave that only the collector frees (objects a request, by type: D161 found every
execution held in a reference cycle this way; httpx's own client objects are this harness's).

Not a ratio: compare two builds by running it on each, alternately, in the same half hour
(``git worktree add /tmp/base <commit>``, then ``cd /tmp/base && PYTHONPATH=/tmp/base
/work/main/.venv/bin/python -m bench.inprocess ...``). The closed-loop benchmarks measure
the targets; this finds where a request's CPU goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import importlib
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import console_list, partner_read, server, sqlite_bench


@dataclass(frozen=True)
class Workload:
    database: str
    bodies: list[bytes]
    headers: dict[str, str]
    expect: str


def _console_list(db: server.BenchDatabase) -> Workload:
    server.supportos(["migrate"], db.env())
    server.supportos(["seed-demo"], db.env(SUPPORTOS_DATABASE_URL=db.owner_url))
    asyncio.run(console_list.seed(db, 3000))
    minted = server.supportos(["token", "--role", "L2", "--countries", console_list.COUNTRY], db.env())
    token = minted.strip().splitlines()[-1]
    body = json.dumps({"query": console_list.QUERY, "variables": {"n": console_list.PAGE}}).encode()
    return Workload(db.app_url, [body], {"Authorization": f"Bearer {token}"}, console_list.EXPECT)


def _partner_read(db: server.BenchDatabase) -> Workload:
    key, ids = partner_read.prepare(db, 3000)
    bodies = [request.body.encode() for request in partner_read.requests_for(ids)]
    return Workload(db.app_url, bodies, {"X-Api-Key": key}, partner_read.EXPECT)


def _sqlite_read(directory: Path) -> Workload:
    url = f"sqlite+aiosqlite:///{directory / 'supportos.db'}"
    env = {**os.environ, "SUPPORTOS_DATABASE_URL": url, "SUPPORTOS_LOG_LEVEL": "WARNING"}
    env.pop("SUPPORTOS_MIGRATION_DATABASE_URL", None)
    server.supportos(["migrate"], env)
    keys = [f"r{n}" for n in range(1000)]
    asyncio.run(sqlite_bench.seed(url, [sqlite_bench.MARKER, *keys]))
    created = server.supportos(["apikey", "create", "--partner", sqlite_bench.SELLER, "--country", "MX"], env)
    bodies = [
        json.dumps({"query": sqlite_bench.READ_QUERY, "variables": {"id": f"dsp_{key}"}}).encode()
        for key in keys
    ]
    return Workload(url, bodies, {"X-Api-Key": created.strip().splitlines()[-1]}, sqlite_bench.READ_EXPECT)


WORKLOADS = {"console-list": _console_list, "partner-read": _partner_read}


class _Passes:
    """The cyclic collector's passes (by generation) and their time, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.passes: collections.Counter[int] = collections.Counter()
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.passes[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._started

    def report(self) -> str:
        by_generation = ", ".join(f"generation {g}: {n}" for g, n in sorted(self.passes.items())) or "none"
        return f"collector passes while measured: {by_generation} ({self.seconds * 1000:.0f} ms)"


class _Profiling:
    """The measured requests' profiler (pyinstrument's or cProfile's), started at once."""

    def __init__(self, profile: str | None) -> None:
        self.profile = profile
        self.profiler: Any = None
        if profile == "pyinstrument":
            pyinstrument = importlib.import_module("pyinstrument")  # the bench extra
            self.profiler = pyinstrument.Profiler(interval=0.0005, async_mode="disabled")
            self.profiler.start()
        elif profile == "cprofile":
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def stop(self) -> str:
        """The profile's text ("" without one)."""
        if self.profile == "pyinstrument":
            self.profiler.stop()
            return str(self.profiler.output_text(unicode=False, color=False))
        if self.profile == "cprofile":
            self.profiler.disable()
            out = io.StringIO()
            pstats.Stats(self.profiler, stream=out).sort_stats("tottime").print_stats(60)
            return out.getvalue()
        return ""


async def _left_in_cycles(one: Any, requests: int) -> str:
    """What ``requests`` more requests leave that only the cyclic collector frees."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(requests):
            await one()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kinds = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    lines = [f"left for the collector: {sum(kinds.values()) / requests:.1f} objects a request"]
    lines += [f"  {count / requests:7.1f}  {kind}" for kind, count in kinds.most_common(12)]
    return "\n".join(lines)


async def measure(
    work: Workload, requests: int, concurrency: int, profile: str | None, census: bool = False
) -> tuple[float, float, str]:
    """(CPU ms, wall ms) per request, and the profile's text ("" without one) followed by the
    collector's report when ``census``."""
    from interfaces.container import build_container, dispose_engines  # noqa: PLC0415 - the service
    from interfaces.runtime import tune_gc  # noqa: PLC0415
    from interfaces.settings import Settings  # noqa: PLC0415

    container = build_container(Settings(database_url=work.database, log_level="WARNING"))
    headers = {**work.headers, "content-type": "application/json"}
    sent = 0
    try:
        transport = httpx.ASGITransport(app=container.http_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def one() -> None:
                nonlocal sent
                body = work.bodies[sent % len(work.bodies)]
                sent += 1
                answer = await client.post("/graphql", content=body, headers=headers)
                if work.expect not in answer.text:
                    raise RuntimeError(f"unexpected answer: {answer.text[:300]}")

            for _ in range(50):  # warm: caches, pools, prepared statements
                await one()
            tune_gc()
            passes = _Passes()
            gc.callbacks.append(passes)
            passes.on = census
            rounds = max(1, requests // concurrency)
            profiling = _Profiling(profile)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                await asyncio.gather(*(one() for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            text = profiling.stop()
            passes.on = False
            gc.callbacks.remove(passes)
            if census:
                text = "\n".join(filter(None, [text, passes.report(), await _left_in_cycles(one, 100)]))
    finally:
        await dispose_engines(container)
    done = rounds * concurrency
    return cpu / done * 1000, wall / done * 1000, text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=sorted([*WORKLOADS, "sqlite-read"]))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", choices=("pyinstrument", "cprofile"))
    parser.add_argument("--output", help="write the profile here instead of printing it")
    parser.add_argument(
        "--gc", action="store_true", help="report the cyclic collector's passes and leftovers"
    )
    args = parser.parse_args(argv)
    if args.workload == "sqlite-read":
        with tempfile.TemporaryDirectory(prefix="supportos-inprocess-") as directory:
            work = _sqlite_read(Path(directory))
            cpu, wall, text = asyncio.run(
                measure(work, args.requests, args.concurrency, args.profile, args.gc)
            )
    else:
        with server.fresh_database(f"inprocess_{args.workload.replace('-', '_')}") as db:
            work = WORKLOADS[args.workload](db)
            cpu, wall, text = asyncio.run(
                measure(work, args.requests, args.concurrency, args.profile, args.gc)
            )
    if text and args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    elif text:
        print(text)
    at_once = f"{args.concurrency} at a time"
    print(f"{args.workload}: CPU {cpu:.2f} ms/request, wall {wall:.2f} ms/request ({at_once})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
