"""sqlite: partner-read and resolve on the embedded SQLite vs raw ``sqlite3`` replaying the same statements.

    .venv/bin/python -m bench.sqlite_bench [--rounds 3] [--duration 8] [--writes 1500]

Everything runs on one SQLite file in a temporary directory (``supportos migrate``, then
disputes seeded with batched inserts from ``dispute_seed.rows_for``: UNDER_REVIEW disputes
of seller ``sel_bench`` with their captured payment), and ``supportos serve`` on it, as
``make run`` does by default.

- **Statements.** One sample of each request is first run in-process through the real app
  (``container.http_app()`` over httpx's ASGI transport) with every statement recorded on
  both engines (the write engine, ``BEGIN IMMEDIATE``, and the read engine, ``BEGIN
  DEFERRED``), tagged by engine; the service's ids come from a counter with the marker
  ``sample`` in them, so replaying a recording for another dispute is one substitution
  (``sample`` -> that dispute's key) in every string parameter.
- **Baseline** (:func:`baseline_app`, ``uvicorn --factory``): a bare Starlette route on two
  raw ``sqlite3`` connections (one per engine, the same pragmas) that replays the recorded
  statements for the dispute named in the body (reads: the API key, the dispute, its order,
  its ledger; writes: the idempotency key, the decision, the outbox job, the audit entry -
  its ``sequence``/``previous_hash``/``entry_hash`` recomputed from the tail it reads, as the
  pgbench replay of ``resolve`` does - and the read-back) and answers a small JSON with the
  same ``__typename``.
- **partner-read**: ``disputeState`` with the partner's ``X-Api-Key``; interleaved closed-loop
  rounds, then open-loop rounds at half the baseline's saturation (``harness.py``).
  Target >= 0.3x throughput.
- **resolve**: ``disputeResolve`` by an L2 agent, each request once on its own dispute
  (closed loop, ``unique``), interleaved rounds. Target >= 0.25x.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import pickle
import re
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import event, insert
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.persistence.database import create_engine
from adapters.persistence.tables import (
    disputes,
    ledger_accounts,
    ledger_postings,
    ledger_transactions,
    orders,
)
from bench import server
from bench.dispute_seed import DisputeSpec, rows_for, seed_start
from bench.harness import Contestant, Settings, interleave, standard_rows, with_rounds
from bench.load import HttpRequest, LoadResult, LoadSpec, Row, median, render_table, run_load
from bench.resolve import SUCCESS as RESOLVE_SUCCESS
from bench.resolve import agent_token, resolve_body
from domain.shared import CountryCode
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings as ServiceSettings

MARKER: Final = "sample"
SELLER: Final = "sel_bench"
READ_QUERY: Final = (
    'query($id: String!) { disputeState(countryCode: "MX", id: $id) { __typename '
    "... on DisputeState { status outcome evidenceDeadline decidedAt amountRefunded { minor currency } } "
    "... on Error { code message } } }"
)
READ_EXPECT: Final = '"__typename":"DisputeState"'
WRITE_EXPECT: Final = RESOLVE_SUCCESS
CHUNK: Final = 400
_AUDIT_INSERT: Final = re.compile(r"INSERT INTO audit_log \((?P<columns>[^)]*)\)")


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True, slots=True)
class Step:
    engine: str  # "write" | "read"
    sql: str  # a statement, or COMMIT / ROLLBACK
    params: tuple[Any, ...] = ()


@dataclass
class TaggedRecorder:
    """Every statement (and commit/rollback) of the given engines, tagged by engine."""

    steps: list[Step] = field(default_factory=list)
    active: bool = False

    def attach(self, engine: AsyncEngine, tag: str) -> None:
        sync = engine.sync_engine

        def execute(_c: Connection, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
            if self.active:
                params = tuple(parameters) if isinstance(parameters, list | tuple) else ()
                self.steps.append(Step(tag, statement, params))

        def end(name: str) -> Any:
            def listener(_c: Connection) -> None:
                if self.active:
                    self.steps.append(Step(tag, name))

            return listener

        event.listen(sync, "before_cursor_execute", execute)
        event.listen(sync, "commit", end("COMMIT"))
        event.listen(sync, "rollback", end("ROLLBACK"))

    @contextmanager
    def recording(self) -> Iterator[list[Step]]:
        self.steps = []
        self.active = True
        try:
            yield self.steps
        finally:
            self.active = False


class MarkedIds:
    """The service's ids during a capture: ``<prefix>_sample<n>`` (replaced per replay)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{MARKER}{next(self._counter)}"


async def capture(url: str, api_key: str) -> tuple[list[Step], list[Step]]:
    """(read steps, write steps) of one disputeState and one disputeResolve on ``dsp_sample``."""
    from dependency_injector import providers  # noqa: PLC0415 - bench only

    settings = ServiceSettings(database_url=url, log_level="WARNING")
    container = build_container(settings)
    container.ids.override(providers.Object(MarkedIds()))
    recorder = TaggedRecorder()
    recorder.attach(container.engine(), "write")
    if container.read_engine() is not container.engine():
        recorder.attach(container.read_engine(), "read")
    token = agent_token(settings, frozenset({CountryCode("MX")}))
    sample = DisputeSpec(MARKER)
    transport = httpx.ASGITransport(app=container.http_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = json.dumps({"query": READ_QUERY, "variables": {"id": sample.dispute_id}})
            headers = {"X-Api-Key": api_key, "Content-Type": "application/json"}
            await client.post("/graphql", content=body, headers=headers)  # warm: caches
            with recorder.recording() as reads:
                answer = await client.post("/graphql", content=body, headers=headers)
            if READ_EXPECT not in answer.text:
                raise RuntimeError(f"the sample read failed: {answer.text[:500]}")
            with recorder.recording() as writes:
                answer = await client.post(
                    "/graphql",
                    content=resolve_body(sample.dispute_id, f"key-{MARKER}"),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
            if WRITE_EXPECT not in answer.text:
                raise RuntimeError(f"the sample resolve failed: {answer.text[:500]}")
        return list(reads), list(writes)
    finally:
        await dispose_engines(container)


# --------------------------------------------------------------------------- the baseline


def _connect(path: str) -> sqlite3.Connection:
    """As the service's engines connect (``adapters/persistence/database.py``)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 30000")
    connection.execute("PRAGMA journal_mode = WAL")
    return connection


def _substitute(params: tuple[Any, ...], key: str) -> tuple[Any, ...]:
    return tuple(p.replace(MARKER, key) if isinstance(p, str) else p for p in params)


def replay(connections: dict[str, sqlite3.Connection], steps: Sequence[Step], key: str) -> list[Any]:
    """Run ``steps`` for the dispute ``dsp_<key>``; the rows each statement returned."""
    tail: tuple[int, str] | None = None
    results: list[Any] = []
    for step in steps:
        connection = connections[step.engine]
        if step.sql in {"COMMIT", "ROLLBACK"}:
            if connection.in_transaction:
                connection.execute(step.sql)
            continue
        params = _substitute(step.params, key)
        audit = _AUDIT_INSERT.search(step.sql)
        if audit is not None and tail is not None:
            columns = [c.strip() for c in audit.group("columns").split(",")]
            values = list(params)
            sequence, previous = tail[0] + 1, tail[1]
            values[columns.index("sequence")] = sequence
            values[columns.index("previous_hash")] = previous
            values[columns.index("entry_hash")] = hashlib.sha256(f"{previous}{sequence}".encode()).hexdigest()
            params = tuple(values)
        rows = connection.execute(step.sql, params).fetchall()
        if "FROM audit_log" in step.sql and "DESC" in step.sql:
            tail = (int(rows[0][0]), str(rows[0][1])) if rows else (0, "0" * 64)
        results.append(rows)
    return results


def baseline_app() -> Starlette:
    """The raw route (``uvicorn --factory bench.sqlite_bench:baseline_app``): ``BENCH_SQLITE``
    (the database file) and ``BENCH_STEPS`` (the pickled recordings)."""
    path = os.environ["BENCH_SQLITE"]
    stored: dict[str, list[tuple[str, str, tuple[Any, ...]]]] = pickle.loads(
        Path(os.environ["BENCH_STEPS"]).read_bytes()
    )
    recorded = {name: [Step(*step) for step in steps] for name, steps in stored.items()}
    connections = {"write": _connect(path), "read": _connect(path)}

    async def graphql(request: Request) -> Response:
        body = await request.json()
        variables = body["variables"]
        if "input" in variables:
            key = str(variables["input"]["disputeId"]).removeprefix("dsp_")
            replay(connections, recorded["write"], key)
            answer = {
                "disputeResolve": {"__typename": "DisputeResolveSuccess", "receipt": {"disputeId": key}}
            }
            return JSONResponse({"data": answer})
        key = str(variables["id"]).removeprefix("dsp_")
        results = replay(connections, recorded["read"], key)
        found: list[Any] = next((rows for rows in results if rows and len(rows[0]) > 10), [])
        state = {"__typename": "DisputeState", "status": None if not found else str(found[0][5])}
        return JSONResponse({"data": {"disputeState": state}})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


# --------------------------------------------------------------------------- data


async def seed(url: str, keys: Sequence[str]) -> int:
    """UNDER_REVIEW disputes ``dsp_<key>`` of ``sel_bench`` in MX, in batches."""
    engine = create_engine(url)
    start = seed_start()
    try:
        for first in range(0, len(keys), CHUNK):
            rows = rows_for([DisputeSpec(k, seller=SELLER) for k in keys[first : first + CHUNK]], start=start)
            async with engine.begin() as connection:
                await connection.execute(insert(orders).values(rows["orders"]))
                await connection.execute(insert(disputes).values(rows["disputes"]))
                await connection.execute(
                    sqlite_dialect.insert(ledger_accounts).values(rows["accounts"]).on_conflict_do_nothing()
                )
                ids: dict[str, int] = {}
                for transaction in rows["transactions"]:
                    inserted = await connection.execute(insert(ledger_transactions).values(transaction))
                    primary_key = inserted.inserted_primary_key
                    assert primary_key is not None
                    ids[transaction["idempotency_key"]] = int(primary_key[0])
                postings = [
                    {
                        "transaction_id": ids[p["transaction_key"]],
                        **{k: v for k, v in p.items() if k != "transaction_key"},
                    }
                    for p in rows["postings"]
                ]
                await connection.execute(insert(ledger_postings).values(postings))
    finally:
        await engine.dispose()
    return len(keys)


# --------------------------------------------------------------------------- main


def write_blocks(rounds: int, per_block: int) -> dict[tuple[int, str], list[str]]:
    return {
        (r, who): [f"w{r}{who[0]}{i}" for i in range(per_block)]
        for r in range(rounds)
        for who in ("baseline", "service")
    }


def run_writes(
    base: server.Server,
    service: server.Server,
    blocks: dict[tuple[int, str], list[str]],
    token: str,
    settings: Settings,
) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {"baseline": [], "service": []}
    headers = {"Authorization": f"Bearer {token}"}
    for round_no in range(settings.rounds):
        print(f"resolve, round {round_no + 1}/{settings.rounds}", file=sys.stderr, flush=True)
        order = [("baseline", base), ("service", service)]
        for who, target in order if round_no % 2 == 0 else order[::-1]:
            requests = [
                HttpRequest(body=resolve_body(f"dsp_{k}", f"key-{k}")) for k in blocks[(round_no, who)]
            ]
            spec = LoadSpec(
                url=target.url(),
                requests=requests,
                headers=headers,
                expect=WRITE_EXPECT,
                mode="closed",
                concurrency=8,
                duration=settings.duration,
                warmup=0.0,
                unique=True,
            )
            result = run_load(spec)
            print(
                f"  {who:<10} {result.throughput:>9.1f} req/s  ok {result.ok}  errors {result.errors}",
                file=sys.stderr,
                flush=True,
            )
            if result.errors:
                print(f"    error samples: {list(result.error_samples)}", file=sys.stderr)
            results[who].append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float, help="seconds per run (warm-up included)")
    parser.add_argument("--reads", type=int, default=1000, help="disputes read (cycled)")
    parser.add_argument("--writes", type=int, default=1500, help="disputes per resolve run")
    args = parser.parse_args(argv)
    settings = with_rounds(Settings(duration=8.0), args.rounds, args.duration)
    with tempfile.TemporaryDirectory(prefix="supportos-bench-sqlite-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'supportos.db'}"
        env = {**os.environ, "SUPPORTOS_DATABASE_URL": url, "SUPPORTOS_LOG_LEVEL": "WARNING"}
        env.pop("SUPPORTOS_MIGRATION_DATABASE_URL", None)
        server.supportos(["migrate"], env)
        read_keys = [f"r{i}" for i in range(args.reads)]
        blocks = write_blocks(settings.rounds, args.writes)
        all_keys = [MARKER, *read_keys, *(k for block in blocks.values() for k in block)]
        print(f"seeding {len(all_keys)} disputes", file=sys.stderr, flush=True)
        asyncio.run(seed(url, all_keys))
        api_key = server.supportos(["apikey", "create", "--partner", SELLER, "--country", "MX"], env)
        api_key = api_key.strip().splitlines()[-1]
        reads, writes = asyncio.run(capture(url, api_key))
        steps_file = Path(tmp) / "steps.pickle"
        plain = {
            name: [(s.engine, s.sql, s.params) for s in steps]
            for name, steps in (("read", reads), ("write", writes))
        }
        steps_file.write_bytes(pickle.dumps(plain))
        statements = {
            name: sum(1 for s in steps if s.sql not in {"COMMIT", "ROLLBACK"})
            for name, steps in (("read", reads), ("write", writes))
        }
        print(
            f"recorded statements: read {statements['read']}, resolve {statements['write']}", file=sys.stderr
        )
        token = agent_token(ServiceSettings(database_url=url), frozenset({CountryCode("MX")}))
        read_requests = [
            HttpRequest(body=json.dumps({"query": READ_QUERY, "variables": {"id": f"dsp_{k}"}}))
            for k in read_keys
        ]
        baseline_env = {
            **env,
            "BENCH_SQLITE": str(Path(tmp) / "supportos.db"),
            "BENCH_STEPS": str(steps_file),
        }
        dummy = server.BenchDatabase("sqlite", "", "")
        with (
            server.start_app("bench.sqlite_bench:baseline_app", baseline_env) as base,
            server.start_service(
                dummy, SUPPORTOS_DATABASE_URL=url, SUPPORTOS_MIGRATION_DATABASE_URL=url
            ) as service,
        ):
            headers = {"X-Api-Key": api_key}
            measured = interleave(
                Contestant("baseline", base.url(), read_requests, READ_EXPECT, headers),
                Contestant("service", service.url(), read_requests, READ_EXPECT, headers),
                settings,
            )
            written = run_writes(base, service, blocks, token, settings)
    rows = standard_rows(measured, "baseline", "service", throughput_target=">= 0.30x", p99_target="")
    rows.append(
        Row(
            "resolve throughput, closed loop",
            [r.throughput for r in written["baseline"]],
            [r.throughput for r in written["service"]],
            ">= 0.25x",
            "req/s",
        )
    )
    print(render_table("sqlite: partner-read and resolve on the embedded SQLite vs raw sqlite3", rows))
    print(f"\nrecorded statements per request: read {statements['read']}, resolve {statements['write']}")
    resolve = rows[-1]
    medians = f"baseline {median(resolve.baseline):.1f}, service {median(resolve.candidate):.1f}"
    print(f"median resolve: {medians} req/s")
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
