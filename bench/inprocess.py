"""CPU per request of the read benchmarks' requests, in-process, before and after a change.

    .venv/bin/python -m bench.inprocess console-list|partner-read|sqlite-read [--requests 400]
        [--concurrency 8] [--profile pyinstrument|cprofile] [--output FILE]

The real app (``container.http_app()``) over httpx's ASGI transport, no socket and no
uvicorn: ``--concurrency`` requests at a time, the collector tuned as ``supportos serve``
tunes it (``tune_gc``, after a warm-up), CPU milliseconds (this process; PostgreSQL's own
CPU is not in it) and wall milliseconds per request. The database is the one the HTTP
benchmark builds (``bench.console_list.seed``, ``bench.partner_read.prepare``), fresh, and
dropped at the end; ``sqlite-read`` is ``bench.sqlite_bench``'s partner-read on the
embedded SQLite (a file in a temporary directory; the aiosqlite thread's CPU is counted).
With ``--profile`` the measured requests run under pyinstrument (a call tree, including the
dataloaders' batch tasks, which a profile of the request's coroutine alone misses) or
cProfile (by own time); ``--output`` writes it to a file.

Not a ratio: compare two builds by running it on each, alternately, in the same half hour
(``git worktree add /tmp/base <commit>``, then ``cd /tmp/base && PYTHONPATH=/tmp/base
/work/main/.venv/bin/python -m bench.inprocess ...``). The closed-loop benchmarks measure
the targets; this finds where a request's CPU goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
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


async def measure(
    work: Workload, requests: int, concurrency: int, profile: str | None
) -> tuple[float, float, str]:
    """(CPU ms, wall ms) per request, and the profile's text ("" without one)."""
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
            rounds = max(1, requests // concurrency)
            profiler: Any = None
            if profile == "pyinstrument":
                pyinstrument = importlib.import_module("pyinstrument")  # the bench extra
                profiler = pyinstrument.Profiler(interval=0.0005, async_mode="disabled")
                profiler.start()
            elif profile == "cprofile":
                profiler = cProfile.Profile()
                profiler.enable()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                await asyncio.gather(*(one() for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            text = ""
            if profile == "pyinstrument":
                profiler.stop()
                text = profiler.output_text(unicode=False, color=False)
            elif profile == "cprofile":
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(60)
                text = out.getvalue()
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
    args = parser.parse_args(argv)
    if args.workload == "sqlite-read":
        with tempfile.TemporaryDirectory(prefix="supportos-inprocess-") as directory:
            work = _sqlite_read(Path(directory))
            cpu, wall, text = asyncio.run(measure(work, args.requests, args.concurrency, args.profile))
    else:
        with server.fresh_database(f"inprocess_{args.workload.replace('-', '_')}") as db:
            work = WORKLOADS[args.workload](db)
            cpu, wall, text = asyncio.run(measure(work, args.requests, args.concurrency, args.profile))
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
