"""hot-account: resolving disputes whose postings all touch the same accounts vs spread over many.

    .venv/bin/python -m bench.hot_account [--disputes 600] [--concurrency 8] [--workers 2] [--rounds 3]

A dispute's money moves when its saga runs (``application/saga/executor.py``): the
``disputeResolve`` mutation decides and enqueues the first step; ``supportos worker``
processes then run the steps, each posting in its own transaction
(``adapters/persistence/ledger.py``: the debited escrow's account row locked ``FOR
UPDATE``, shared advisory locks on every account touched, append-only postings). So one
resolution here is end to end: the mutation over HTTP (the service under uvicorn) *and*
the saga until the dispute is RESOLVED, with real worker processes running meanwhile.
Outcomes alternate FULL_REFUND (provider refund, then escrow -> ``psp:clearing``) and
REJECTED (escrow -> the seller's payable + ``platform:revenue:commission``).

- hot: every order in MX, of one seller and one buyer: every posting touches the same
  ``psp:clearing`` / ``platform:revenue:commission`` / ``seller:payable:<one>`` rows.
- spread (the baseline): orders over 16 countries (each its own platform accounts), each
  of its own seller and buyer.

Throughput is disputes resolved per second, from the first request to the last dispute
RESOLVED. After the run it checks, and prints: no deadlock (``pg_stat_database``), no job
dead-lettered, every dispute resolved, and the ledger invariants (every transaction
balances, every (country, currency) sums to zero, no escrow below zero). Target: hot >=
0.75x spread.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import asyncpg
from sqlalchemy.pool import NullPool

from adapters.persistence.database import create_engine
from bench.dispute_seed import DisputeSpec, seed_start, seed_under_review
from bench.load import HttpRequest, LoadSpec, Row, render_table, run_load
from bench.resolve import SUCCESS, agent_token, resolve_body
from bench.server import BIN, ROOT, BenchDatabase, fresh_database, start_service, supportos
from domain.shared import CountryCode
from interfaces.settings import Settings

TARGET: Final = ">= 0.75x"
SPREAD_COUNTRIES: Final = (
    "MX",
    "CO",
    "AR",
    "CL",
    "PE",
    "BR",
    "UY",
    "EC",
    "ES",
    "PT",
    "US",
    "CA",
    "GT",
    "CR",
    "PA",
    "DO",
)
OUTCOMES: Final = ("FULL_REFUND", "REJECTED")
RESOLVE_TIMEOUT_S: Final = 900.0


def specs(mode: str, round_no: int, count: int) -> list[DisputeSpec]:
    """The disputes of one round: ``hot`` (one country, seller, buyer) or ``spread``."""
    out = []
    for i in range(count):
        key = f"{mode[0]}{round_no}x{i}"
        if mode == "hot":
            out.append(DisputeSpec(key, "MX", "MXN", buyer="buy_hot", seller="sel_hot"))
        else:
            country = SPREAD_COUNTRIES[i % len(SPREAD_COUNTRIES)]
            out.append(DisputeSpec(key, country, "MXN", buyer=f"buy_{key}", seller=f"sel_{key}"))
    return out


# ----------------------------------------------------------------------------- invariants


@dataclass
class Invariants:
    transactions: int = 0
    unbalanced: list[int] = field(default_factory=list)  # transaction ids whose legs do not sum to 0
    nonzero_books: dict[tuple[str, str], int] = field(default_factory=dict)  # (country, currency) -> sum
    negative_escrows: dict[tuple[str, str], int] = field(
        default_factory=dict
    )  # (country, account) -> balance

    @property
    def hold(self) -> bool:
        return not (self.unbalanced or self.nonzero_books or self.negative_escrows)

    def report(self) -> str:
        return (
            f"ledger: {self.transactions:,} transactions; unbalanced: {len(self.unbalanced)}; "
            f"(country, currency) books not summing to zero: {len(self.nonzero_books)}; "
            f"escrow accounts below zero: {len(self.negative_escrows)} -> "
            f"{'invariants hold' if self.hold else 'INVARIANTS BROKEN'}"
        )


def check_ledger(postings: Iterable[tuple[int, str, str, str, int]]) -> Invariants:
    """From every posting ``(transaction_id, country, currency, account, signed_minor)``:
    each transaction balances, each (country, currency) sums to zero, and no escrow account
    (a liability: its balance is ``-sum(signed)``) is below zero."""
    by_transaction: dict[int, int] = defaultdict(int)
    by_book: dict[tuple[str, str], int] = defaultdict(int)
    by_escrow: dict[tuple[str, str], int] = defaultdict(int)
    for transaction_id, country, currency, account, signed in postings:
        by_transaction[transaction_id] += signed
        by_book[(country, currency)] += signed
        if account.startswith("escrow:order:"):
            by_escrow[(country, account)] -= signed
    return Invariants(
        transactions=len(by_transaction),
        unbalanced=sorted(t for t, total in by_transaction.items() if total != 0),
        nonzero_books={book: total for book, total in by_book.items() if total != 0},
        negative_escrows={escrow: balance for escrow, balance in by_escrow.items() if balance < 0},
    )


async def ledger_postings(db: BenchDatabase) -> list[tuple[int, str, str, str, int]]:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        await conn.execute("SELECT set_config('supportos.countries', '*', false)")
        rows = await conn.fetch(
            "SELECT transaction_id, country_code, currency, account, signed_minor FROM ledger_postings"
        )
    finally:
        await conn.close()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class Health:
    deadlocks: int
    dead_jobs: int
    unresolved: int


async def _scalar(db: BenchDatabase, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        await conn.execute("SELECT set_config('supportos.countries', '*', false)")
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def deadlocks(db: BenchDatabase) -> int:
    return await _scalar(db, "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", db.name)


async def health(db: BenchDatabase, before_deadlocks: int) -> Health:
    return Health(
        deadlocks=await deadlocks(db) - before_deadlocks,
        dead_jobs=await _scalar(db, "SELECT count(*) FROM outbox_jobs WHERE status = 'DEAD'"),
        unresolved=await _scalar(db, "SELECT count(*) FROM disputes WHERE status <> 'RESOLVED'"),
    )


def start_workers(db: BenchDatabase, count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    command = [str(BIN / "supportos"), "worker", "--concurrency", str(concurrency), "--poll-interval", "0.05"]
    return [
        subprocess.Popen(command, env=db.env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(count)
    ]


def stop_workers(workers: Sequence[subprocess.Popen[bytes]]) -> list[str]:
    """SIGTERM each (a graceful stop), then collect what they logged."""
    logs = []
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        logs.append(err.decode(errors="replace"))
    return logs


async def wait_resolved(db: BenchDatabase, keys: Sequence[str]) -> None:
    ids = [f"dsp_{k}" for k in keys]
    deadline = time.monotonic() + RESOLVE_TIMEOUT_S
    while time.monotonic() < deadline:
        left = await _scalar(
            db, "SELECT count(*) FROM disputes WHERE id = ANY($1) AND status <> 'RESOLVED'", ids
        )
        if left == 0:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"disputes still not resolved after {RESOLVE_TIMEOUT_S:.0f} s")


def one_round(
    db: BenchDatabase, url: str, token: str, batch: Sequence[DisputeSpec], concurrency: int
) -> float:
    """Decide ``batch`` over HTTP while the workers run; disputes resolved per second."""
    bodies = [
        HttpRequest(
            resolve_body(s.dispute_id, f"key-{s.key}", OUTCOMES[i % 2]).replace('"MX"', f'"{s.country}"')
        )
        for i, s in enumerate(batch)
    ]
    started = time.perf_counter()
    result = run_load(
        LoadSpec(
            url=url,
            requests=bodies,
            concurrency=concurrency,
            duration=RESOLVE_TIMEOUT_S,
            warmup=0.0,
            expect=SUCCESS,
            unique=True,
            headers={"Authorization": f"Bearer {token}"},
        ),
        timeout=RESOLVE_TIMEOUT_S + 60,
    )
    if result.errors:
        raise RuntimeError(f"{result.errors} failed requests: {result.error_samples}")
    asyncio.run(wait_resolved(db, [s.key for s in batch]))
    return len(batch) / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hot_account", description=__doc__.split("\n")[0])
    parser.add_argument("--disputes", type=int, default=600, help="disputes resolved per round and mode")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP connections")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    modes = ("spread", "hot")
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    token = agent_token(Settings(), frozenset(CountryCode(c) for c in SPREAD_COUNTRIES))
    logs: list[str] = []
    with fresh_database("hot_account") as db:
        supportos(["migrate"], db.env())
        plan = {(m, r): specs(m, r, args.disputes) for m in modes for r in range(args.rounds)}
        asyncio.run(_seed(db, [s for batch in plan.values() for s in batch]))
        before = asyncio.run(deadlocks(db))
        with start_service(db) as server:
            workers = start_workers(db, args.workers, args.worker_concurrency)
            try:
                for round_no in range(args.rounds):
                    order = modes if round_no % 2 == 0 else modes[::-1]
                    for mode in order:
                        rate = one_round(db, server.url(), token, plan[(mode, round_no)], args.concurrency)
                        results[mode].append(rate)
                        print(f"round {round_no + 1}: {mode:6} {rate:7.1f} disputes resolved/s", flush=True)
            finally:
                logs = stop_workers(workers)
        state = asyncio.run(health(db, before))
        invariants = check_ledger(asyncio.run(ledger_postings(db)))
    deadlock_lines = sum("deadlock" in log.lower() for log in logs)
    print()
    print(
        f"deadlocks (pg_stat_database): {state.deadlocks}; worker log lines mentioning a deadlock: "
        f"{deadlock_lines}; dead-lettered jobs: {state.dead_jobs}; disputes not resolved: {state.unresolved}"
    )
    print(invariants.report())
    row = Row("disputes resolved/s: hot vs spread", results["spread"], results["hot"], TARGET, "disputes/s")
    print()
    print(
        render_table(
            f"hot-account: disputeResolve + saga, {args.disputes} disputes a round, {args.concurrency} "
            f"connections, {args.workers} workers x {args.worker_concurrency} loops",
            [row],
        )
    )
    healthy = state.deadlocks == 0 and deadlock_lines == 0 and state.dead_jobs == 0 and state.unresolved == 0
    return 0 if row.met and healthy and invariants.hold else 1


async def _seed(db: BenchDatabase, all_specs: list[DisputeSpec]) -> None:
    print(f"seeding {len(all_specs):,} disputes under review ...", flush=True)
    owner = create_engine(db.owner_url, poolclass=NullPool)
    try:
        await seed_under_review(owner, all_specs, start=seed_start())
    finally:
        await owner.dispose()


if __name__ == "__main__":
    sys.exit(main())
