"""scale: the console's ``disputes`` and ``cases`` queries and one SLA scheduler tick at 10k and at 1M orders.

    .venv/bin/python -m bench.scale [--rounds 3] [--duration 5] [--ticks 5] \
        [--sizes 10000,1000000] [--keep] [--reuse]

Two fresh PostgreSQL databases (``supportos_bench_scale_10k`` and ``supportos_bench_scale_1m``),
migrated with the project's migrations, filled by ``bench/scale_data.py`` (orders with their
snapshots and captures, disputes, cases with their clocks and timelines; five countries)
through asyncpg's ``copy_records_to_table`` (chunks made by two worker processes while the
previous chunk is copied), then ``VACUUM ANALYZE``. ``supportos serve`` (uvicorn) runs on
each. Measured, interleaved over ``--rounds`` rounds (the order of the two databases
alternates between rounds):

- ``disputes``: an L2 agent's console page, ``disputes(countryCode: "MX", first: 50)`` with
  ``order`` and ``ledgerTransactions`` nested (the console-list query), first page and a
  deep page (``after`` the cursor halfway down the country's list, at most 60 rows from its end);
- ``cases``: the work queue, ``cases(countryCode: "MX", filter: {kinds, severities}, first:
  20)`` ordered by the nearest SLA deadline, with each case's clocks (a filter that fills the
  page at both sizes: the open backlog is the last week's, 4 MX cases at 10k, so a
  status filter would compare a page of 4 with a page of 20);
- ``tick``: one SLA scheduler tick (``run_tick`` with the tasks of ``supportos scheduler``,
  in this process, on the service's role) at a fixed ``now`` at which exactly
  ``tick_clocks`` clocks are due in either database (each tick uses a fresh slot of
  ``bench/scale_data.py``'s tick cases).

A query's latency is measured by ``bench/load.py`` (its own process) in a closed loop with one
connection for ``--duration`` seconds: p50 and p95 of each run; the table shows the median
over the rounds at 10k (the baseline) and at 1M and their ratio. Target: 1M <= 1.3x 10k.

``--keep`` keeps both databases; ``--reuse`` reuses kept ones of the same size (applying new
migrations, then ``ANALYZE``) instead of generating them again.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from sqlalchemy import JSON, Table

from adapters.persistence import tables
from adapters.persistence.read_models import encode_cursor
from bench import server
from bench.console_list import QUERY as CONSOLE_QUERY
from bench.load import HttpRequest, LoadSpec, Row, percentile, render_table, run_load
from bench.scale_data import TABLES, ScalePlan, chunk_rows, chunk_starts, default_now, tick_now

COUNTRY: Final = "MX"
PAGE: Final = 50
QUEUE_PAGE: Final = 20
DEEP_FROM_END: Final = PAGE + 10  # the deep page starts halfway down the list, with a full page left
TARGET: Final = "<= 1.30x"

DISPUTES_QUERY: Final = CONSOLE_QUERY.replace("query($n: Int!)", "query($n: Int!, $after: String)").replace(
    "first: $n)", "first: $n, after: $after)"
)
DISPUTES_EXPECT: Final = '"__typename":"DisputeConnection"'
CASES_QUERY: Final = (
    'query($n: Int!) { cases(countryCode: "MX", first: $n, filter: {kinds: [DISPUTE, ORDER_INCIDENT], '
    "severities: [SEV1, SEV2, SEV3]}) { __typename ... on CaseConnection { "
    "nodes { id kind severity tier status title nextDeadline breaches orderId "
    "clocks { kind state deadline overdue breachedAt } } pageInfo { hasNextPage endCursor } } "
    "... on Error { code message } } }"
)
CASES_EXPECT: Final = '"__typename":"CaseConnection"'
PLAN_TABLE: Final = "bench_scale_plan"


def label(orders: int) -> str:
    if orders % 1_000_000 == 0:
        return f"{orders // 1_000_000}m"
    if orders % 1_000 == 0:
        return f"{orders // 1_000}k"
    return str(orders)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- loading


def _columns(table: Table) -> tuple[list[str], set[str]]:
    names = [column.name for column in table.columns]
    return names, {column.name for column in table.columns if isinstance(column.type, JSON)}


def records(table: str, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``rows`` as tuples in the table's column order, JSON documents as text (what COPY takes)."""
    names, documents = _columns(tables.metadata.tables[table])
    return [
        tuple(
            json.dumps(row[name]) if name in documents and row[name] is not None else row.get(name)
            for name in names
        )
        for row in rows
    ]


def chunk_records(plan: ScalePlan, first: int) -> dict[str, list[tuple[Any, ...]]]:
    """A chunk's rows as COPY records (runs in a worker process)."""
    return {table: records(table, rows) for table, rows in chunk_rows(plan, first).items()}


async def load(db: server.BenchDatabase, plan: ScalePlan, *, workers: int = 2) -> dict[str, int]:
    """Generate and COPY ``plan`` into ``db`` (owner); the rows per table."""
    counts = dict.fromkeys(TABLES, 0)
    conn = await asyncpg.connect(db.owner_dsn)
    loop = asyncio.get_running_loop()
    try:
        await conn.execute("SET synchronous_commit = off")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            pending: list[asyncio.Future[dict[str, list[tuple[Any, ...]]]]] = []
            queue = list(chunk_starts(plan))
            while queue or pending:
                while queue and len(pending) < workers + 1:
                    pending.append(loop.run_in_executor(pool, chunk_records, plan, queue.pop(0)))
                chunk = await pending.pop(0)
                async with conn.transaction():
                    for table in TABLES:
                        if chunk[table]:
                            names, _ = _columns(tables.metadata.tables[table])
                            await conn.copy_records_to_table(table, records=chunk[table], columns=names)
                            counts[table] += len(chunk[table])
                _log(f"  {db.name}: {counts['orders']:,} / {plan.orders:,} orders")
        for table in ("ledger_transactions", "ledger_postings"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await conn.execute(
            f"CREATE TABLE {PLAN_TABLE} (orders bigint NOT NULL, seed int NOT NULL, now timestamptz NOT NULL,"
            " tick_slots int NOT NULL, tick_clocks int NOT NULL, next_slot int NOT NULL)"
        )
        await conn.execute(
            f"INSERT INTO {PLAN_TABLE} VALUES ($1, $2, $3, $4, $5, 0)",
            plan.orders,
            plan.seed,
            plan.now,
            plan.tick_slots,
            plan.tick_clocks,
        )
    finally:
        await conn.close()
    return counts


async def stored_plan(db: server.BenchDatabase) -> tuple[ScalePlan, int] | None:
    """The plan a kept database was generated with, and its next unused tick slot."""
    try:
        conn = await asyncpg.connect(db.owner_dsn)
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        if await conn.fetchval("SELECT to_regclass($1)", PLAN_TABLE) is None:
            return None
        row = await conn.fetchrow(f"SELECT * FROM {PLAN_TABLE}")
    finally:
        await conn.close()
    if row is None:
        return None
    plan = ScalePlan(
        orders=row["orders"],
        now=row["now"],
        seed=row["seed"],
        tick_slots=row["tick_slots"],
        tick_clocks=row["tick_clocks"],
    )
    return plan, int(row["next_slot"])


async def _owner(db: server.BenchDatabase, *statements: str) -> None:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass(slots=True)
class Prepared:
    db: server.BenchDatabase
    plan: ScalePlan
    next_slot: int
    service: server.Server | None = None
    deep_cursor: str = ""


@contextlib.contextmanager
def database(orders: int, *, keep: bool, reuse: bool, now: datetime) -> Iterator[Prepared]:
    """A migrated, loaded and analysed database of ``orders`` orders."""
    name = f"scale_{label(orders)}"
    existing = server.BenchDatabase(
        f"supportos_bench_{name}",
        server._dsn("postgres", f"supportos_bench_{name}"),
        server._dsn(server.APP_ROLE, f"supportos_bench_{name}"),
    )
    found = asyncio.run(stored_plan(existing)) if reuse else None
    if found is not None and found[0].orders == orders:
        _log(f"{existing.name}: reused ({orders:,} orders, next tick slot {found[1]})")
        server.supportos(["migrate"], existing.env())
        asyncio.run(_owner(existing, "ANALYZE"))
        try:
            yield Prepared(existing, found[0], found[1])
        finally:
            if not keep:
                asyncio.run(server._admin(f'DROP DATABASE IF EXISTS "{existing.name}" WITH (FORCE)'))
        return
    with server.fresh_database(name, keep=keep or reuse) as db:
        server.supportos(["migrate"], db.env())
        plan = ScalePlan(orders=orders, now=now)
        started = time.perf_counter()
        counts = asyncio.run(load(db, plan))
        loaded = time.perf_counter() - started
        asyncio.run(_owner(db, "VACUUM ANALYZE"))
        _log(
            f"{db.name}: generated and copied in {loaded:.0f} s (VACUUM ANALYZE after): "
            + ", ".join(f"{table} {count:,}" for table, count in counts.items())
        )
        yield Prepared(db, plan, 0)


async def deep_cursor(db: server.BenchDatabase) -> str:
    """The cursor of the disputes list halfway down (at most ``DEEP_FROM_END`` rows before its end),
    as the API makes it."""
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        total = await conn.fetchval("SELECT count(*) FROM disputes WHERE country_code = $1", COUNTRY)
        row = await conn.fetchrow(
            "SELECT opened_at, id FROM disputes WHERE country_code = $1 "
            "ORDER BY opened_at DESC, id DESC OFFSET $2 LIMIT 1",
            COUNTRY,
            max(0, min(total // 2, total - DEEP_FROM_END)),
        )
    finally:
        await conn.close()
    assert row is not None
    return encode_cursor("disputes", row["opened_at"].isoformat(), row["id"])


async def save_next_slot(prepared: Prepared) -> None:
    await _owner(prepared.db, f"UPDATE {PLAN_TABLE} SET next_slot = {prepared.next_slot}")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    expect: str

    def body(self, prepared: Prepared) -> str:
        if self.name.startswith("cases"):
            return json.dumps({"query": CASES_QUERY, "variables": {"n": QUEUE_PAGE}})
        after = prepared.deep_cursor if self.name == "disputes, deep page" else None
        return json.dumps({"query": DISPUTES_QUERY, "variables": {"n": PAGE, "after": after}})


QUERIES: Final = (
    Query("disputes, first page", DISPUTES_EXPECT),
    Query("disputes, deep page", DISPUTES_EXPECT),
    Query("cases work queue", CASES_EXPECT),
)


def latency(prepared: Prepared, query: Query, token: str, duration: float) -> tuple[float, float]:
    """p50 and p95 (ms) of one closed-loop run with one connection."""
    assert prepared.service is not None
    spec = LoadSpec(
        url=prepared.service.url(),
        requests=[HttpRequest(body=query.body(prepared))],
        expect=query.expect,
        headers={"Authorization": f"Bearer {token}"},
        mode="closed",
        concurrency=1,
        duration=duration,
        warmup=min(1.0, duration / 4),
    )
    result = run_load(spec)
    if result.ok == 0 or result.errors:
        raise RuntimeError(
            f"{query.name} on {prepared.db.name}: {result.errors} errors {list(result.error_samples)}"
        )
    return result.p50_ms, result.p95_ms


class Ticker:
    """The SLA scheduler's tick on one database, in this process (the service's role)."""

    def __init__(self, prepared: Prepared) -> None:
        from application.cases.scheduler import SchedulerTask  # noqa: PLC0415 - composition
        from interfaces.cli.scheduler import scheduler_tasks  # noqa: PLC0415
        from interfaces.container import build_container  # noqa: PLC0415
        from interfaces.settings import Settings as ServiceSettings  # noqa: PLC0415

        self.prepared = prepared
        self.container = build_container(
            ServiceSettings(database_url=prepared.db.app_url, log_level="WARNING")
        )
        self.tasks: tuple[SchedulerTask, ...] = scheduler_tasks(self.container)

    async def tick(self) -> float:
        """One tick at the next slot's ``now``; its duration in ms (checks it breached the slot)."""
        from application.cases.scheduler import run_tick  # noqa: PLC0415

        plan = self.prepared.plan
        slot = self.prepared.next_slot
        if slot >= plan.tick_slots:
            raise RuntimeError(f"{self.prepared.db.name}: every tick slot is used (regenerate: drop --reuse)")
        started = time.perf_counter()
        report = await run_tick(self.container.services(), self.tasks, now=tick_now(plan, slot))
        elapsed = (time.perf_counter() - started) * 1000.0
        self.prepared.next_slot = slot + 1
        # the tick's other tasks (update reminders, ledger checkpoints, key expiry: D69, D71) run too; the
        # slot's clocks are what every tick must have breached
        breached = sum(done for name, done in report.done.items() if name.endswith(":SlaBreaches"))
        if report.failed or breached != plan.tick_clocks:
            raise RuntimeError(
                f"{self.prepared.db.name}: tick of slot {slot} did {report.done} (failed {report.failed}); "
                f"expected {plan.tick_clocks} breaches"
            )
        return elapsed

    async def close(self) -> None:
        from interfaces.container import dispose_engines  # noqa: PLC0415

        await dispose_engines(self.container)


@dataclass(slots=True)
class Series:
    """Per metric and database size: one value per round."""

    values: dict[tuple[str, int], list[float]]

    def add(self, metric: str, orders: int, value: float) -> None:
        self.values.setdefault((metric, orders), []).append(round(value, 3))


async def measure(
    prepared: Sequence[Prepared], token: str, *, rounds: int, duration: float, ticks: int
) -> Series:
    series = Series({})
    tickers = [Ticker(p) for p in prepared]
    try:
        _log("warm-up")
        for p, ticker in zip(prepared, tickers, strict=True):
            for query in QUERIES:
                latency(p, query, token, min(duration, 2.0))
            await ticker.tick()
        for round_no in range(rounds):
            _log(f"round {round_no + 1}/{rounds}")
            pairs = list(zip(prepared, tickers, strict=True))
            for p, ticker in pairs if round_no % 2 == 0 else pairs[::-1]:
                for query in QUERIES:
                    p50, p95 = latency(p, query, token, duration)
                    series.add(f"{query.name} p50", p.plan.orders, p50)
                    series.add(f"{query.name} p95", p.plan.orders, p95)
                    _log(f"  {label(p.plan.orders):>4} {query.name:<22} p50 {p50:8.2f}  p95 {p95:8.2f} ms")
                times = [await ticker.tick() for _ in range(ticks)]
                series.add("scheduler tick p50", p.plan.orders, percentile(times, 50))
                series.add("scheduler tick p95", p.plan.orders, percentile(times, 95))
                shown = ", ".join(f"{t:.1f}" for t in times)
                _log(f"  {label(p.plan.orders):>4} {'scheduler tick':<22} {shown} ms")
    finally:
        for ticker in tickers:
            await ticker.close()
    return series


def rows(series: Series, small: int, large: int) -> list[Row]:
    out = []
    metrics = [f"{q.name} {pct}" for q in QUERIES for pct in ("p50", "p95")]
    metrics += ["scheduler tick p50", "scheduler tick p95"]
    for metric in metrics:
        out.append(
            Row(
                f"{metric}, {label(large)} vs {label(small)}",
                series.values[(metric, small)],
                series.values[(metric, large)],
                TARGET if metric.endswith("p50") else "",
                "ms",
            )
        )
    return out


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per latency run")
    parser.add_argument("--ticks", type=int, default=5, help="scheduler ticks per database and round")
    parser.add_argument(
        "--sizes", default="10000,1000000", help="orders in the baseline and the large database"
    )
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    parser.add_argument("--reuse", action="store_true", help="reuse kept databases of the same sizes")
    args = parser.parse_args(argv)
    small, large = (int(x) for x in args.sizes.split(","))
    if 1 + args.rounds * args.ticks > ScalePlan.__dataclass_fields__["tick_slots"].default:
        parser.error("--rounds x --ticks must stay below the tick slots (64)")
    now = default_now()
    with contextlib.ExitStack() as stack:
        prepared = [
            stack.enter_context(database(n, keep=args.keep, reuse=args.reuse, now=now))
            for n in (small, large)
        ]
        for p in prepared:
            if p.next_slot + 1 + args.rounds * args.ticks > p.plan.tick_slots:
                raise SystemExit(f"{p.db.name}: too few tick slots left; run without --reuse")
            p.deep_cursor = asyncio.run(deep_cursor(p.db))
        minted = server.supportos(["token", "--role", "L2", "--countries", COUNTRY], prepared[0].db.env())
        token = minted.strip().splitlines()[-1]
        for p in prepared:
            p.service = stack.enter_context(server.start_service(p.db))
        try:
            series = asyncio.run(
                measure(prepared, token, rounds=args.rounds, duration=args.duration, ticks=args.ticks)
            )
        finally:
            for p in prepared:
                asyncio.run(save_next_slot(p))
    table = rows(series, small, large)
    title = f"scale: latency at {label(large)} orders vs {label(small)} (PostgreSQL, one connection)"
    print(render_table(title, table))
    return 0 if all(r.met is not False for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
