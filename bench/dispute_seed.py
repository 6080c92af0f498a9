"""Disputes ready to decide, for the write benchmarks (resolve, hot-account).

``seed_under_review`` writes, into a migrated database (``bench/server.py``'s
``fresh_database`` + ``supportos migrate``), disputes that ``disputeResolve`` can decide:
each a DISPUTED order with its payment captured into escrow (the capture's ledger
transaction and postings) and an UNDER_REVIEW dispute. The aggregates are built with the
domain's own methods and turned into rows by the persistence mappers, then written with
batched multi-row INSERTs (``CHUNK`` rows a statement) instead of one audited use-case call
per row, so tens of thousands take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.mappers import dispute_to_row, order_to_row
from adapters.persistence.row_level_security import scope_everything
from adapters.persistence.tables import (
    disputes,
    ledger_accounts,
    ledger_postings,
    ledger_transactions,
    orders,
)
from application.orders.use_cases import capture_key
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.ledger import rules
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency
from domain.shared.ids import ActorId, BuyerId, CourierId, DisputeId, OrderId, SellerId
from domain.snapshots import OrderSnapshot, RefundPolicy

CHUNK: Final = 500


# ----------------------------------------------------------------------------- disputes


@dataclass(frozen=True, slots=True)
class DisputeSpec:
    """One dispute to seed: ids ``ord_<key>`` / ``dsp_<key>``, in ``country``."""

    key: str
    country: str = "MX"
    currency: str = "MXN"
    buyer: str = "buy_bench"
    seller: str = "sel_bench"

    @property
    def order_id(self) -> str:
        return f"ord_{self.key}"

    @property
    def dispute_id(self) -> str:
        return f"dsp_{self.key}"


def build(spec: DisputeSpec, *, start: datetime) -> tuple[Order, Dispute, OrderSnapshot]:
    """A DISPUTED order (captured, delivered at ``start + 5 min``) and its UNDER_REVIEW dispute."""
    country = CountryCode(spec.country)
    policy = RefundPolicy.create(
        country=country,
        version=f"{spec.country}-bench",
        currency=Currency.of(spec.currency),
        goodwill_credit_minor=10_000,
        partial_refund_tiers_bp=(2_500, 5_000),
    ).unwrap()
    order = Order.create(
        id=OrderId(spec.order_id),
        country=country,
        buyer_id=BuyerId(spec.buyer),
        seller_id=SellerId(spec.seller),
        courier_id=CourierId("cou_bench"),
        created_at=start,
    ).unwrap()
    snapshot = OrderSnapshot.capture(
        order_id=order.id,
        country=country,
        currency=Currency.of(spec.currency),
        items_subtotal_minor=100_000,
        delivery_fee_minor=5_000,
        service_fee_minor=2_000,
        tax_minor=16_000,
        discount_minor=0,
        commission_bp=1_500,
        policy=policy,
        buyer_id=order.buyer_id,
        seller_id=order.seller_id,
        courier_id=CourierId("cou_bench"),
        captured_at=start + timedelta(minutes=1),
    ).unwrap()
    order.capture_payment(snapshot, start + timedelta(minutes=1)).unwrap()
    for minute, status in enumerate(
        (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED),
        start=2,
    ):
        order.transition_to(status, start + timedelta(minutes=minute)).unwrap()
    order.transition_to(OrderStatus.DISPUTED, start + timedelta(minutes=30)).unwrap()
    assert order.delivered_at is not None
    dispute = Dispute.open(
        dispute_id=DisputeId(spec.dispute_id),
        order_id=order.id,
        country=country,
        reason=DisputeReason.DAMAGED,
        opened_by_actor=ActorId(spec.buyer),
        opened_by_role="BUYER",
        statement="The gift arrived broken.",
        delivered_at=order.delivered_at,
        now=start + timedelta(minutes=30),
        dispute_window=timedelta(hours=72),
        evidence_window=timedelta(hours=48),
    ).unwrap()
    dispute.start_review(start + timedelta(minutes=40)).unwrap()
    return order, dispute, snapshot


def rows_for(specs: Sequence[DisputeSpec], *, start: datetime) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``specs``: orders, disputes, capture transactions (keyed by their
    idempotency key; their postings are attached once the transaction ids are known)."""
    out: dict[str, list[dict[str, Any]]] = {"orders": [], "disputes": [], "transactions": [], "postings": []}
    accounts: dict[tuple[str, str, str], str] = {}
    for spec in specs:
        order, dispute, snapshot = build(spec, start=start)
        out["orders"].append({**order_to_row(order), "updated_at": start + timedelta(minutes=30)})
        out["disputes"].append(dispute_to_row(dispute))
        capture = rules.capture(snapshot, capture_key(order.id))
        out["transactions"].append(
            {
                "country_code": spec.country,
                "idempotency_key": capture.idempotency_key,
                "kind": capture.kind.value,
                "currency": spec.currency,
                "amount_minor": capture.amount.minor,
                "memo": capture.memo,
                "reverses": None,
            }
        )
        for posting in capture.postings:
            out["postings"].append(
                {
                    "transaction_key": capture.idempotency_key,
                    "country_code": spec.country,
                    "account": posting.account.name,
                    "currency": spec.currency,
                    "side": posting.side.value,
                    "amount_minor": posting.amount.minor,
                    "signed_minor": posting.signed_minor,
                }
            )
            accounts[(spec.country, posting.account.name, spec.currency)] = posting.account.kind.value
    out["accounts"] = [
        {"country_code": c, "account": a, "currency": cur, "kind": kind}
        for (c, a, cur), kind in accounts.items()
    ]
    return out


async def seed_under_review(engine: AsyncEngine, specs: Sequence[DisputeSpec], *, start: datetime) -> int:
    """Write ``specs`` (owner engine) in batches; the number of disputes written."""
    for first in range(0, len(specs), CHUNK):
        rows = rows_for(specs[first : first + CHUNK], start=start)
        async with engine.begin() as connection:
            await connection.run_sync(scope_everything)
            await connection.execute(insert(orders).values(rows["orders"]))
            await connection.execute(insert(disputes).values(rows["disputes"]))
            await connection.execute(
                postgresql.insert(ledger_accounts).values(rows["accounts"]).on_conflict_do_nothing()
            )
            ids = {
                key: ident
                for ident, key in (
                    await connection.execute(
                        insert(ledger_transactions)
                        .values(rows["transactions"])
                        .returning(ledger_transactions.c.id, ledger_transactions.c.idempotency_key)
                    )
                ).all()
            }
            postings = [
                {
                    "transaction_id": ids[p["transaction_key"]],
                    **{k: v for k, v in p.items() if k != "transaction_key"},
                }
                for p in rows["postings"]
            ]
            await connection.execute(insert(ledger_postings).values(postings))
    return len(specs)


def seed_start() -> datetime:
    """Orders were created a day ago (the service decides with the real clock)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
