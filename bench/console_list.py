"""console-list: a ``disputes`` page of 50 with two nested relations against a raw-driver route.

    .venv/bin/python -m bench.console_list [--rounds 3] [--duration 10] [--disputes 3000]

The console's list: an L2 agent's ``disputes(countryCode: "MX", first: 50)`` with each
dispute's ``order`` (and its snapshot) and ``ledgerTransactions`` nested, over HTTP with a
bearer token, on a fresh PostgreSQL database (``supportos_bench_console_list``: migrated,
``seed-demo``, the Mexican orders and disputes multiplied with batched inserts).

The baseline (:func:`baseline_app`) issues the same SQL statements the service does for the
page (captured with the statement counter below): the keyset page of disputes, then one
statement for the orders of the page and one for its ledger transactions (idempotency-key
prefix ranges), each scoped with ``set_config`` — on asyncpg, with the JWT checked by PyJWT,
answering the same JSON. Target: throughput >= 0.33x the baseline's.

The statement count is measured in-process: the real app (``container.http_app()``) over
httpx's ASGI transport on the same database, with :class:`StatementCounter` listening on
every engine of the container; the same query at 50 and at 200 rows must send the same
number of statements (dataloaders batch each relation into one query per page).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import httpx
import jwt
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench import server
from bench.harness import Contestant, Settings, interleave, standard_rows, with_rounds
from bench.load import HttpRequest, Row, render_table
from interfaces.auth import AUDIENCE, ISSUER

COUNTRY: Final = "MX"
PAGE: Final = 50
QUERY: Final = (
    'query($n: Int!) { disputes(countryCode: "MX", first: $n) { __typename ... on DisputeConnection { '
    "nodes { id status reason openedAt decision { outcome decidedAt } "
    "order { id status snapshot { totalCharged { minor currency } } } "
    "ledgerTransactions { idempotencyKey kind amount { minor currency } } } "
    "pageInfo { hasNextPage endCursor } } ... on Error { code message } } }"
)
EXPECT: Final = '"__typename":"DisputeConnection"'

SET_SCOPE: Final = "SELECT set_config('supportos.countries', $1, true)"
DISPUTE_PAGE: Final = (
    "SELECT country_code, id, order_id, reason, origin, status, opened_by_actor_id, opened_by_role, "
    "opened_at, evidence_deadline, evidence, evidence_sha256, decision, withdrawal, last_execution_error, "
    "version, updated_at FROM disputes WHERE country_code = $1 ORDER BY opened_at DESC, id DESC LIMIT $2"
)
ORDERS_BY_ID: Final = (
    "SELECT country_code, id, buyer_id, seller_id, courier_id, status, frozen_from, frozen_by_incident, "
    "delivered_at, force_completed, force_complete_reason, version, created_at, updated_at, currency, "
    "items_subtotal_minor, delivery_fee_minor, service_fee_minor, tax_minor, discount_minor, "
    "total_charged_minor, commission_bp, snapshot_courier_id, policy_version, policy_terms, captured_at, "
    "payment_partner_id, frozen_at, dispute_window_paused_us, courier_assigned_at FROM orders "
    "WHERE country_code = $1 AND id = ANY($2::varchar[])"
)
LEDGER_COLUMNS: Final = (
    "SELECT id, country_code, idempotency_key, kind, currency, amount_minor, memo, reverses, created_at "
    "FROM ledger_transactions WHERE country_code = $1 AND ("
)


# --------------------------------------------------------------------------- statement counter


@dataclass(slots=True)
class StatementCounter:
    """Counts the SQL statements the given engines send while :meth:`counting` is active."""

    statements: list[str] = field(default_factory=list)
    active: bool = False

    def attach(self, engines: Iterable[AsyncEngine]) -> StatementCounter:
        for engine in {id(e): e for e in engines}.values():
            event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)
        return self

    def _on_execute(self, _conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.active:
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


async def count_statements(db: server.BenchDatabase, token: str, sizes: Sequence[int]) -> dict[int, int]:
    """Statements per request of the console query at each page size (the real app, in-process)."""
    from interfaces.container import build_container, dispose_engines  # noqa: PLC0415 - only here
    from interfaces.settings import Settings as ServiceSettings  # noqa: PLC0415

    container = build_container(ServiceSettings(database_url=db.app_url, log_level="WARNING"))
    counter = StatementCounter().attach([container.engine(), container.read_engine()])
    counts: dict[int, int] = {}
    transport = httpx.ASGITransport(app=container.http_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for size in sizes:
                body = {"query": QUERY, "variables": {"n": size}}
                headers = {"Authorization": f"Bearer {token}"}
                await client.post("/graphql", json=body, headers=headers)  # warm: caches, pool
                with counter.counting() as statements:
                    answer = await client.post("/graphql", json=body, headers=headers)
                nodes = answer.json()["data"]["disputes"]["nodes"]
                if len(nodes) != size:
                    raise RuntimeError(f"asked for {size} disputes, got {len(nodes)}")
                counts[size] = len(statements)
    finally:
        await dispose_engines(container)
    return counts


# --------------------------------------------------------------------------- the baseline


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _money(minor: int, currency: str) -> dict[str, Any]:
    return {"minor": minor, "currency": currency}


def _ledger_statement(prefix_count: int) -> str:
    ranges = " OR ".join(
        f"idempotency_key >= ${2 * i + 2} AND idempotency_key < ${2 * i + 3}" for i in range(prefix_count)
    )
    return f"{LEDGER_COLUMNS}{ranges}) ORDER BY id"


def baseline_app() -> Starlette:
    """The raw route (``uvicorn --factory bench.console_list:baseline_app``).

    Reads ``BENCH_DSN`` and ``BENCH_JWT_SECRET`` from the environment."""
    pool: asyncpg.Pool | None = None
    secret = os.environ["BENCH_JWT_SECRET"]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=10)
        yield
        await pool.close()

    async def disputes(request: Request) -> Response:
        body = await request.json()
        size = int(body["variables"]["n"])
        claims = jwt.decode(
            request.headers["authorization"].removeprefix("Bearer "),
            secret,
            ["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
        )
        if COUNTRY not in claims.get("countries", []):
            return JSONResponse({"data": {"disputes": {"__typename": "Error", "code": "FORBIDDEN"}}})
        assert pool is not None
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(SET_SCOPE, COUNTRY)
            rows = await conn.fetch(DISPUTE_PAGE, COUNTRY, size + 1)
            page = rows[:size]
            prefixes = [f"dispute:{r['id']}/" for r in page]
            bounds = [b for p in prefixes for b in (p, p[:-1] + "0")]
            await conn.fetchval(SET_SCOPE, COUNTRY)
            ledger = await conn.fetch(_ledger_statement(len(prefixes)), COUNTRY, *bounds)
            await conn.fetchval(SET_SCOPE, COUNTRY)
            orders = await conn.fetch(ORDERS_BY_ID, COUNTRY, [r["order_id"] for r in page])
        order_of = {o["id"]: o for o in orders}
        ledger_of: dict[str, list[dict[str, Any]]] = {}
        for t in ledger:
            dispute_id = t["idempotency_key"].split(":", 1)[1].split("/", 1)[0]
            ledger_of.setdefault(dispute_id, []).append(
                {
                    "idempotencyKey": t["idempotency_key"],
                    "kind": t["kind"],
                    "amount": {"minor": t["amount_minor"], "currency": t["currency"]},
                }
            )
        nodes = []
        for r in page:
            decision = None if r["decision"] is None else json.loads(r["decision"])
            order = order_of.get(r["order_id"])
            nodes.append(
                {
                    "id": r["id"],
                    "status": r["status"],
                    "reason": r["reason"],
                    "openedAt": _iso(r["opened_at"]),
                    "decision": None
                    if decision is None
                    else {"outcome": decision["outcome"], "decidedAt": decision["decided_at"]},
                    "order": None
                    if order is None
                    else {
                        "id": order["id"],
                        "status": order["status"],
                        "snapshot": None
                        if order["currency"] is None
                        else {"totalCharged": _money(order["total_charged_minor"], order["currency"])},
                    },
                    "ledgerTransactions": ledger_of.get(r["id"], []),
                }
            )
        last = page[-1] if page else None
        cursor = (
            None
            if last is None
            else base64.urlsafe_b64encode(f"{_iso(last['opened_at'])}|{last['id']}".encode()).decode()
        )
        return JSONResponse(
            {
                "data": {
                    "disputes": {
                        "__typename": "DisputeConnection",
                        "nodes": nodes,
                        "pageInfo": {"hasNextPage": len(rows) > size, "endCursor": cursor},
                    }
                }
            }
        )

    return Starlette(routes=[Route("/graphql", disputes, methods=["POST"])], lifespan=lifespan)


# --------------------------------------------------------------------------- main


async def seed(db: server.BenchDatabase, disputes: int) -> int:
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        template = await conn.fetchval("SELECT count(*) FROM disputes WHERE country_code = $1", COUNTRY)
        copies = max(1, disputes // max(1, template))
        await server.clone_rows(conn, "orders", where=f"country_code = '{COUNTRY}'", copies=copies)
        await server.clone_rows(
            conn, "disputes", where=f"country_code = '{COUNTRY}'", copies=copies, suffixed=("id", "order_id")
        )
        return int(await conn.fetchval("SELECT count(*) FROM disputes WHERE country_code = $1", COUNTRY))
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console_list", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float, help="seconds per run (warm-up included)")
    parser.add_argument("--disputes", type=int, default=3000)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes for the service and the baseline alike"
    )
    args = parser.parse_args(argv)
    settings = with_rounds(Settings(concurrency=8), args.rounds, args.duration)
    from interfaces.settings import DEV_JWT_SECRET  # noqa: PLC0415 - the bench service's secret

    with server.fresh_database("console_list", keep=args.keep_database) as db:
        server.supportos(["migrate"], db.env())
        server.supportos(["seed-demo"], db.env(SUPPORTOS_DATABASE_URL=db.owner_url))
        total = asyncio.run(seed(db, args.disputes))
        print(f"{total} disputes in {COUNTRY}", file=sys.stderr)
        minted = server.supportos(["token", "--role", "L2", "--countries", COUNTRY], db.env())
        token = minted.strip().splitlines()[-1]
        counts = asyncio.run(count_statements(db, token, (PAGE, 200)))
        requests = [HttpRequest(body=json.dumps({"query": QUERY, "variables": {"n": PAGE}}))]
        headers = {"Authorization": f"Bearer {token}"}
        baseline_env = {**os.environ, "BENCH_DSN": db.app_dsn, "BENCH_JWT_SECRET": DEV_JWT_SECRET}
        with (
            server.start_app(
                "bench.console_list:baseline_app", baseline_env, processes=args.processes
            ) as base,
            server.start_service(db, processes=args.processes) as service,
        ):
            baseline = Contestant("baseline", base.url(), requests, EXPECT, headers)
            candidate = Contestant("service", service.url(), requests, EXPECT, headers)
            measured = interleave(baseline, candidate, settings)
    rows = standard_rows(measured, "baseline", "service", throughput_target=">= 0.33x", p99_target="")
    rows.append(Row("SQL statements per request, 200 rows vs 50", [counts[PAGE]], [counts[200]], "<= 1.00x"))
    title = f"console-list: disputes(first: {PAGE}) with order and ledgerTransactions (PostgreSQL)"
    print(render_table(title, rows))
    print(f"\nstatements per request: {counts[PAGE]} at {PAGE} rows, {counts[200]} at 200 rows")
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
