"""partner-read: ``disputeState`` by id through GraphQL over HTTP against a bare Starlette route.

    .venv/bin/python -m bench.partner_read [--rounds 3] [--duration 10] [--disputes 3000]

Both sides run under uvicorn in their own processes on one fresh PostgreSQL database
(``supportos_bench_partner_read``: migrated, ``seed-demo``, then the Mexican orders and
disputes multiplied with batched ``INSERT ... SELECT``), connected as the service's role
under row-level security, and both are called the way a partner's back office calls the
service: ``POST /graphql`` with ``X-Api-Key`` and the same GraphQL body, cycling over
1,000 disputes of the partner's seller id.

The baseline (:func:`baseline_app`) is what a hand-written endpoint on the same driver
(asyncpg, a pool of 10) has to do for the same answer: in one transaction, bind the
country scope (``set_config``), look the key up (``api_key_by_id``) and check its sha256,
``SELECT`` the dispute, its order (the seller check and the currency) and the dispute's
ledger transactions (and their postings when there are any), then answer the same JSON.
Targets: throughput >= 0.5x the baseline's; p99 <= 2x at half the baseline's saturation.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench import server
from bench.harness import Contestant, Settings, interleave, standard_rows, with_rounds
from bench.load import HttpRequest, render_table

COUNTRY: Final = "MX"
PARTNER: Final = "mx-seller-1"
QUERY: Final = (
    'query($id: String!) { disputeState(countryCode: "MX", id: $id) { __typename '
    "... on DisputeState { status outcome evidenceDeadline decidedAt amountRefunded { minor currency } } "
    "... on Error { code message } } }"
)
EXPECT: Final = '"__typename":"DisputeState"'
REFUND_KINDS: Final = frozenset({"REFUND", "PARTIAL_REFUND", "CLAWBACK", "REFUND_REISSUED"})
RETURNED: Final = "REFUND_RETURNED"  # a refund the provider took back (D136)

# The statements the service sends for one disputeState (captured with an engine event hook).
SET_SCOPE: Final = "SELECT set_config('supportos.countries', $1, true)"
KEY_BY_ID: Final = (
    "SELECT country_code, key_id, partner_id, label, key_sha256, created_at, revoked_at, partner_kind "
    "FROM api_key_by_id($1, $2)"
)
DISPUTE_BY_ID: Final = (
    "SELECT country_code, id, order_id, reason, origin, status, opened_by_actor_id, opened_by_role, "
    "opened_at, evidence_deadline, evidence, evidence_sha256, decision, withdrawal, last_execution_error, "
    "version, updated_at FROM disputes WHERE country_code = $1 AND id = $2"
)
ORDER_BY_ID: Final = (
    "SELECT country_code, id, buyer_id, seller_id, courier_id, status, frozen_from, frozen_by_incident, "
    "delivered_at, force_completed, force_complete_reason, version, created_at, updated_at, currency, "
    "items_subtotal_minor, delivery_fee_minor, service_fee_minor, tax_minor, discount_minor, "
    "total_charged_minor, commission_bp, snapshot_courier_id, policy_version, policy_terms, captured_at, "
    "payment_partner_id, frozen_at, dispute_window_paused_us, courier_assigned_at FROM orders "
    "WHERE country_code = $1 AND id = $2"
)
LEDGER_BY_PREFIX: Final = (
    "SELECT id, country_code, idempotency_key, kind, currency, amount_minor, memo, reverses, created_at "
    "FROM ledger_transactions WHERE country_code = $1 AND idempotency_key >= $2 AND idempotency_key < $3 "
    "ORDER BY id"
)
POSTINGS: Final = (
    "SELECT transaction_id, account, side, amount_minor FROM ledger_postings "
    "WHERE country_code = $1 AND transaction_id = ANY($2::bigint[])"
)


# --------------------------------------------------------------------------- the baseline


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _error(code: str, message: str) -> Response:
    return JSONResponse({"data": {"disputeState": {"__typename": "Error", "code": code, "message": message}}})


def baseline_app() -> Starlette:
    """The bare route (``uvicorn --factory bench.partner_read:baseline_app``; DSN in ``BENCH_DSN``)."""
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=10)
        yield
        await pool.close()

    async def dispute_state(request: Request) -> Response:
        body = await request.json()
        dispute_id = body["variables"]["id"]
        raw_key = request.headers.get("x-api-key", "")
        parts = raw_key.split("_")
        key_id = "_".join(parts[1:-1])
        country = key_id[:2].upper()
        assert pool is not None
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(SET_SCOPE, country)
            key = await conn.fetchrow(KEY_BY_ID, country, key_id)
            digest = hashlib.sha256(raw_key.encode()).hexdigest()
            if (
                key is None
                or key["revoked_at"] is not None
                or not hmac.compare_digest(key["key_sha256"], digest)
            ):
                return _error("UNAUTHENTICATED", "Invalid credentials.")
            dispute = await conn.fetchrow(DISPUTE_BY_ID, country, dispute_id)
            if dispute is None:
                return _error("NOT_FOUND", "No such dispute.")
            order = await conn.fetchrow(ORDER_BY_ID, country, dispute["order_id"])
            owner = "payment_partner_id" if key["partner_kind"] == "PAYMENT_PARTNER" else "seller_id"
            if order is None or order[owner] != key["partner_id"]:
                return _error("NOT_FOUND", "No such dispute.")
            prefix = f"dispute:{dispute_id}/"
            transactions = await conn.fetch(LEDGER_BY_PREFIX, country, prefix, prefix[:-1] + "0")
            postings = (
                await conn.fetch(POSTINGS, country, [t["id"] for t in transactions]) if transactions else []
            )
        decision = None if dispute["decision"] is None else json.loads(dispute["decision"])
        currency = transactions[0]["currency"] if transactions else order["currency"]
        kinds = {t["id"]: t["kind"] for t in transactions if t["currency"] == currency}
        refunded = max(
            0,
            sum(
                p["amount_minor"] if p["side"] == "CREDIT" else -p["amount_minor"]
                for p in postings
                if p["account"] == "psp:clearing"
                and (
                    (kinds.get(p["transaction_id"]) in REFUND_KINDS and p["side"] == "CREDIT")
                    or (kinds.get(p["transaction_id"]) == RETURNED and p["side"] == "DEBIT")
                )
            ),
        )
        return JSONResponse(
            {
                "data": {
                    "disputeState": {
                        "__typename": "DisputeState",
                        "status": dispute["status"],
                        "outcome": None if decision is None else decision["outcome"],
                        "evidenceDeadline": _iso(dispute["evidence_deadline"]),
                        "decidedAt": None if decision is None else decision["decided_at"],
                        "amountRefunded": None
                        if currency is None
                        else {"minor": refunded, "currency": currency},
                    }
                }
            }
        )

    return Starlette(routes=[Route("/graphql", dispute_state, methods=["POST"])], lifespan=lifespan)


# --------------------------------------------------------------------------- data


async def seed(db: server.BenchDatabase, disputes: int) -> list[str]:
    """Multiply the demo's Mexican orders and disputes to about ``disputes``; the partner's ids."""
    conn = await asyncpg.connect(db.owner_dsn)
    try:
        template = await conn.fetchval("SELECT count(*) FROM disputes WHERE country_code = $1", COUNTRY)
        copies = max(1, disputes // max(1, template))
        await server.clone_rows(conn, "orders", where=f"country_code = '{COUNTRY}'", copies=copies)
        await server.clone_rows(
            conn, "disputes", where=f"country_code = '{COUNTRY}'", copies=copies, suffixed=("id", "order_id")
        )
        rows = await conn.fetch(
            "SELECT d.id FROM disputes d "
            "JOIN orders o ON o.country_code = d.country_code AND o.id = d.order_id "
            "WHERE d.country_code = $1 AND o.seller_id = $2",
            COUNTRY,
            PARTNER,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def prepare(db: server.BenchDatabase, disputes: int) -> tuple[str, list[str]]:
    """Migrate, seed, multiply; (the partner's API key, its dispute ids)."""
    server.supportos(["migrate"], db.env())
    # seed-demo writes as the schema owner: the data is the fixture, not the thing measured.
    server.supportos(["seed-demo"], db.env(SUPPORTOS_DATABASE_URL=db.owner_url))
    ids = asyncio.run(seed(db, disputes))
    return server.api_key(db, partner=PARTNER, country=COUNTRY), ids


def requests_for(ids: Sequence[str], *, sample: int = 1000, seed_value: int = 7) -> list[HttpRequest]:
    chosen = random.Random(seed_value).sample(list(ids), min(sample, len(ids)))
    return [HttpRequest(body=json.dumps({"query": QUERY, "variables": {"id": i}})) for i in chosen]


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.partner_read", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float, help="seconds per run (warm-up included)")
    parser.add_argument("--disputes", type=int, default=3000)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes for the service and the baseline alike"
    )
    args = parser.parse_args(argv)
    settings = with_rounds(Settings(), args.rounds, args.duration)
    with server.fresh_database("partner_read", keep=args.keep_database) as db:
        key, ids = prepare(db, args.disputes)
        print(f"{len(ids)} disputes of {PARTNER} (of about {args.disputes} in {COUNTRY})", file=sys.stderr)
        requests = requests_for(ids)
        headers = {"X-Api-Key": key}
        with (
            server.start_app(
                "bench.partner_read:baseline_app",
                {**os.environ, "BENCH_DSN": db.app_dsn},
                processes=args.processes,
            ) as base,
            server.start_service(db, processes=args.processes) as service,
        ):
            baseline = Contestant("baseline", base.url(), requests, EXPECT, headers)
            candidate = Contestant("service", service.url(), requests, EXPECT, headers)
            measured = interleave(baseline, candidate, settings)
    rows = standard_rows(measured, "baseline", "service", throughput_target=">= 0.50x", p99_target="<= 2.00x")
    print(
        render_table("partner-read: disputeState over GraphQL vs a bare Starlette route (PostgreSQL)", rows)
    )
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
