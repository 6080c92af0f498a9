"""resolve, in-process: CPU and statements per ``decide_dispute`` (the use case under
``disputeResolve``), one request at a time, without HTTP or GraphQL.

    .venv/bin/python -m bench.resolve_profile [--requests 300] [--profile cprofile|pyinstrument]
        [--http] [--show-sql] [--sqlite]

A fresh ``supportos_bench_resolve_profile`` database (migrated, seeded like ``bench.resolve``,
dropped at the end); the use case runs through the composition root's ``Services`` as the
service's own role under row-level security, with an L2 agent's scope bound. Prints CPU
milliseconds (this process only: PostgreSQL's own CPU is not in it) and wall milliseconds per
request, and the statements and transactions one request sends on the write engine.
``--http`` sends the whole GraphQL mutation through the ASGI app instead (httpx's
ASGITransport, no socket), which adds authentication, GraphQL and the read-back (whose
statements go to the read engine and are not counted). ``--sqlite`` does the same on the
embedded SQLite default (a file in a temporary directory, seeded like ``bench.sqlite_bench``;
the aiosqlite thread's CPU is counted). Run it under ``flock /tmp/bench.lock``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from returns.result import Success
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from adapters.persistence.database import create_engine
from application.context import RequestContext
from application.disputes.use_cases import DecideDispute, decide_dispute
from application.security.principal import Principal, Role
from application.security.scope import bind_scope
from bench import sqlite_bench
from bench.dispute_seed import DisputeSpec, seed_start, seed_under_review
from bench.resolve import SUCCESS, agent_token, resolve_body
from bench.server import BenchDatabase, fresh_database, supportos
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from domain.shared import CountryCode
from domain.shared.ids import DisputeId
from interfaces.container import Container, build_container, dispose_engines
from interfaces.settings import Settings

WARMUP = 30
MX = CountryCode("MX")


class Counter:
    """Statements and commits on an engine; prints the statements while ``show``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements = 0
        self.commits = 0
        self.show = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements += 1
        if self.show:
            print(" ".join(statement.split())[:300], parameters if len(str(parameters)) < 300 else "...")

    def _commit(self, *_: Any) -> None:
        self.commits += 1


def requester(container: Container, settings: Settings, *, http: bool) -> Callable[[int], Awaitable[None]]:
    """``one(i)`` decides ``dsp_s<i>`` with key ``key-s<i>``, through the use case or over HTTP."""
    svc = container.services()
    principal = Principal("l2-bench", Role.L2, frozenset({MX}))
    ctx = RequestContext(principal, "req-profile")
    bind_scope(principal)
    headers = {
        "Authorization": f"Bearer {agent_token(settings, frozenset({MX}))}",
        "Content-Type": "application/json",
    }
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=container.http_app()), base_url="http://b")

    async def one(i: int) -> None:
        if http:
            response = await client.post(
                "/graphql", content=resolve_body(f"dsp_s{i}", f"key-s{i}"), headers=headers
            )
            if SUCCESS not in response.text:
                raise RuntimeError(response.text[:500])
            return
        command = DecideDispute(
            MX,
            DisputeId(f"dsp_s{i}"),
            OutcomeCode.FULL_REFUND,
            DecisionReasonCode.ITEM_DAMAGED_IN_TRANSIT,
            f"key-s{i}",
        )
        result = await decide_dispute(svc, ctx, command)
        if not isinstance(result, Success):
            raise RuntimeError(str(result))

    return one


async def measure(
    one: Callable[[int], Awaitable[None]], requests: int, profile: str | None
) -> tuple[float, float]:
    """CPU and wall seconds of ``requests`` requests (after the warm-up), profiled if asked."""
    cprofiler = cProfile.Profile() if profile == "cprofile" else None
    sampler: Any = None
    if profile == "pyinstrument":  # the bench extra's; imported only when asked for
        sampler = importlib.import_module("pyinstrument").Profiler(interval=0.0005, async_mode="enabled")
    if cprofiler is not None:
        cprofiler.enable()
    if sampler is not None:
        sampler.start()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(WARMUP, WARMUP + requests):
        await one(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if cprofiler is not None:
        cprofiler.disable()
        stats = pstats.Stats(cprofiler)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    if sampler is not None:
        sampler.stop()
        print(sampler.output_text(unicode=False, color=False, show_all=False))
    return cpu, wall


async def seed_postgresql(database: BenchDatabase, requests: int) -> str:
    """``dsp_s<i>`` for the warm-up, the measured requests and ``--show-sql``; the app's URL."""
    owner = create_engine(database.owner_url, poolclass=NullPool)
    try:
        specs = [DisputeSpec(f"s{i}") for i in range(WARMUP + requests + 1)]
        await seed_under_review(owner, specs, start=seed_start())
        async with owner.begin() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await owner.dispose()
    return database.app_url


async def run(url: str, requests: int, profile: str | None, http: bool, show_sql: bool) -> None:
    settings = Settings(database_url=url, log_level="WARNING")
    container = build_container(settings)
    counter = Counter(container.engine())
    one = requester(container, settings, http=http)
    try:
        for i in range(WARMUP):
            await one(i)
        if show_sql:
            counter.show = True
            await one(WARMUP + requests)
            counter.show = False
        counter.statements = counter.commits = 0
        cpu, wall = await measure(one, requests, profile)
        print(
            f"{'http' if http else 'use case'}: {requests} requests: "
            f"CPU {1000 * cpu / requests:.2f} ms/request, wall {1000 * wall / requests:.2f} ms/request, "
            f"{counter.statements / requests:.1f} statements and {counter.commits / requests:.1f} commits "
            "a request (write engine)"
        )
    finally:
        await dispose_engines(container)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.resolve_profile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    parser.add_argument("--http", action="store_true", help="the whole mutation through the ASGI app")
    parser.add_argument("--show-sql", action="store_true", help="print one request's statements")
    parser.add_argument("--sqlite", action="store_true", help="on the embedded SQLite default")
    args = parser.parse_args(argv)
    measured = (args.requests, args.profile, args.http, args.show_sql)
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="supportos-resolve-profile-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'supportos.db'}"
            env = {**os.environ, "SUPPORTOS_DATABASE_URL": url, "SUPPORTOS_LOG_LEVEL": "WARNING"}
            env.pop("SUPPORTOS_MIGRATION_DATABASE_URL", None)
            supportos(["migrate"], env)
            asyncio.run(sqlite_bench.seed(url, [f"s{i}" for i in range(WARMUP + args.requests + 1)]))
            asyncio.run(run(url, *measured))
        return 0
    with fresh_database("resolve_profile") as database:
        supportos(["migrate"], database.env())
        url = asyncio.run(seed_postgresql(database, args.requests))
        asyncio.run(run(url, *measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
