"""resolve: ``disputeResolve`` end to end vs ``pgbench -f`` running the same SQL statements.

    .venv/bin/python -m bench.resolve [--requests 2000] [--concurrency 8] [--rounds 3]

Starts everything itself: a fresh PostgreSQL database ``supportos_bench_resolve`` (migrated,
dropped at the end), seeded with batched inserts with enough UNDER_REVIEW disputes for
every round (each request decides its own dispute, with its own idempotency key).

- Candidate: the service under uvicorn (``supportos serve``, the service's own role under
  row-level security), driven by the shared load generator (``bench/load.py``, closed loop,
  ``--concurrency`` connections, each request once) with an L2 agent's token. One request is
  the whole mutation: the idempotency key reserved, then decision, outbox job, audit entry
  and key completion in one transaction, then the dispute read back for the answer.
- Baseline: one sample request is first decided in-process with every statement recorded
  (``bench/statements.py``); the recording becomes a pgbench script (literals inlined, the
  sample's ids replaced by a per-transaction sequence number, the audit chain's tail read
  with ``\\gset``), run by ``pgbench -c <concurrency> -j 2`` as the same role. One pgbench
  transaction = one request's statements.

Rounds are interleaved (candidate, baseline, candidate, ...); the table has the medians of
requests per second and their ratio (target >= 0.4x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from adapters.persistence.database import create_engine
from adapters.persistence.row_level_security import scope_everything
from application.security.principal import Role
from application.security.scope import scoped_to
from bench.dispute_seed import DisputeSpec, seed_start, seed_under_review
from bench.load import HttpRequest, LoadSpec, Row, render_table, run_load
from bench.server import APP_ROLE, BenchDatabase, fresh_database, start_service, supportos
from bench.statements import StatementRecorder, Step, pgbench_script, statement_count, transactions
from domain.shared import CountryCode
from interfaces.auth import TokenKeys, mint_token
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings

TARGET: Final = ">= 0.40x"
SEQUENCE: Final = "bench_pgbench_n"
RESOLVE: Final = """mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) {
    __typename
    ... on DisputeResolveSuccess { receipt { disputeId status steps } dispute { status } }
    ... on Error { code message }
  }
}"""
SUCCESS: Final = '"DisputeResolveSuccess"'


def resolve_body(dispute_id: str, key: str, outcome: str = "FULL_REFUND") -> str:
    variables = {
        "input": {
            "countryCode": "MX",
            "disputeId": dispute_id,
            "outcome": outcome,
            "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
            "idempotencyKey": key,
        }
    }
    return json.dumps({"query": RESOLVE, "variables": variables})


def agent_token(settings: Settings, countries: frozenset[CountryCode]) -> str:
    return mint_token(
        TokenKeys.from_settings(settings),
        subject="l2-bench",
        role=Role.L2,
        countries=countries,
        now=datetime.now(UTC),
        ttl=timedelta(hours=3),
    )


async def capture_sample(database: BenchDatabase, spec: DisputeSpec, key: str) -> list[Step]:
    """Decide ``spec``'s dispute in-process through the real app, recording every statement."""
    settings = Settings(database_url=database.app_url, log_level="WARNING")
    container = build_container(settings)
    recorder = StatementRecorder()
    recorder.attach(container.engine())
    token = agent_token(settings, frozenset({CountryCode(spec.country)}))
    transport = httpx.ASGITransport(app=container.http_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            with scoped_to(None), recorder.recording() as steps:
                response = await client.post(
                    "/graphql",
                    content=resolve_body(spec.dispute_id, key),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
        if SUCCESS not in response.text:
            raise RuntimeError(f"the sample request failed: {response.text[:500]}")
        return list(steps)
    finally:
        await dispose_engines(container)


def pgbench_target(database: BenchDatabase) -> list[str]:
    """libpq options for ``database`` as the service's role (the host of its DSN)."""
    host = database.app_dsn.rsplit("@", 1)[-1].split("/", 1)[0]
    name, _, port = host.partition(":")
    return ["-h", name, "-p", port or "5432", "-U", APP_ROLE, database.name]


def run_pgbench(database: BenchDatabase, script: Path, *, clients: int, transactions_each: int) -> float:
    """pgbench's tps (without the initial connection time)."""
    done = subprocess.run(
        [
            "pgbench",
            "-n",
            "-f",
            str(script),
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-t",
            str(transactions_each),
            *pgbench_target(database),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or match is None or (failed is not None and int(failed.group(1)) > 0):
        raise RuntimeError(
            f"pgbench failed ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    return float(match.group(1))


@dataclass(frozen=True, slots=True)
class Plan:
    requests: int
    concurrency: int
    rounds: int

    @property
    def per_client(self) -> int:
        return max(1, self.requests // self.concurrency)


async def prepare(database: BenchDatabase, plan: Plan) -> tuple[list[Step], str]:
    owner = create_engine(database.owner_url, poolclass=NullPool)
    try:
        pool = plan.rounds * (plan.requests + plan.concurrency)
        pg_pool = plan.rounds * plan.per_client * plan.concurrency + plan.concurrency
        specs = [DisputeSpec("sample")]
        specs += [DisputeSpec(f"s{i}") for i in range(pool)]
        specs += [DisputeSpec(f"p{i}") for i in range(1, pg_pool + 1)]
        print(f"seeding {len(specs):,} disputes under review ...", flush=True)
        await seed_under_review(owner, specs, start=seed_start())
        async with owner.begin() as connection:
            await connection.execute(text(f"CREATE SEQUENCE {SEQUENCE}"))
            await connection.execute(text(f"GRANT USAGE ON SEQUENCE {SEQUENCE} TO {APP_ROLE}"))
            await connection.execute(text("ANALYZE"))
    finally:
        await owner.dispose()
    steps = await capture_sample(database, DisputeSpec("sample"), "key-sample")
    script = pgbench_script(
        steps,
        sequence=SEQUENCE,
        substitutions={"dsp_sample": "dsp_p:n", "ord_sample": "ord_p:n", "key-sample": "pg-key-:n"},
    )
    return steps, script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolve", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests (and pgbench transactions) a round"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-script", type=Path, help="also write the pgbench script here")
    args = parser.parse_args(argv)
    plan = Plan(args.requests, args.concurrency, args.rounds)
    with fresh_database("resolve") as database:
        supportos(["migrate"], database.env())
        steps, script = asyncio.run(prepare(database, plan))
        print(
            f"one request: {statement_count(steps)} statements in {transactions(steps)} transactions",
            flush=True,
        )
        if args.keep_script is not None:
            args.keep_script.write_text(script)
        candidate, baseline = rounds(database, plan, script)
        asyncio.run(_check_decided(database))
    row = Row("disputeResolve throughput", baseline, candidate, TARGET, "req/s")
    print()
    print(
        render_table(
            f"resolve: disputeResolve over HTTP vs pgbench -f (same {statement_count(steps)} statements), "
            f"{plan.concurrency} clients, {plan.requests} requests a round",
            [row],
        )
    )
    return 0 if row.met else 1


def rounds(database: BenchDatabase, plan: Plan, script: str) -> tuple[list[float], list[float]]:
    """Interleaved rounds: (service req/s, pgbench tps) per round."""
    token = agent_token(Settings(), frozenset({CountryCode("MX")}))
    candidate: list[float] = []
    baseline: list[float] = []
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="bench-resolve-") as handle:
        handle.write(script)
        handle.flush()
        with start_service(database) as server:
            for round_no in range(plan.rounds):
                first = round_no * plan.requests
                bodies = [
                    HttpRequest(resolve_body(f"dsp_s{i}", f"key-s{i}"))
                    for i in range(first, first + plan.requests)
                ]
                result = run_load(
                    LoadSpec(
                        url=server.url(),
                        requests=bodies,
                        concurrency=plan.concurrency,
                        duration=900.0,
                        warmup=0.0,
                        expect=SUCCESS,
                        unique=True,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                if result.errors:
                    raise RuntimeError(f"{result.errors} failed requests: {result.error_samples}")
                candidate.append(result.throughput)
                tps = run_pgbench(
                    database, Path(handle.name), clients=plan.concurrency, transactions_each=plan.per_client
                )
                baseline.append(tps)
                print(
                    f"round {round_no + 1}: service {result.throughput:,.1f} req/s "
                    f"(p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms); pgbench {tps:,.1f} tps",
                    flush=True,
                )
    return candidate, baseline


async def _check_decided(database: BenchDatabase) -> None:
    """Every request really decided its dispute (and pgbench's transactions theirs)."""
    owner = create_engine(database.owner_url, poolclass=NullPool)
    try:
        async with owner.begin() as connection:
            await connection.run_sync(scope_everything)
            counts: dict[str, Any] = dict(
                (
                    await connection.execute(
                        text(
                            "SELECT left(id, 5), count(*) FROM disputes WHERE status = 'DECIDED'"
                            " GROUP BY left(id, 5)"
                        )
                    )
                ).all()
            )
    finally:
        await owner.dispose()
    print(f"decided disputes by id prefix: {counts}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
