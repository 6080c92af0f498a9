"""Prong 1 of the trident, from what the platform itself recorded about an order.

Shared by the dispute use cases (attached before a decision freezes the pack) and by L0
(which attaches the courier's delivery proof to a "not delivered" dispute it routes).
"""

from __future__ import annotations

from domain.disputes.evidence import DeliveryProof, PlatformFacts, TimelineEntry
from domain.orders import Order


def platform_facts_for(order: Order, proof: DeliveryProof | None = None) -> PlatformFacts:
    """The order's timeline and its delivery proof: ``proof`` when the delivery side
    recorded one (photos, GPS), else just the delivery time when the order was delivered."""
    timeline = [TimelineEntry(order.created_at, "ORDER_CREATED")]
    if order.snapshot is not None:
        timeline.append(
            TimelineEntry(
                order.snapshot.captured_at,
                "PAYMENT_CAPTURED",
                f"{order.snapshot.total_charged.format()} under policy {order.snapshot.policy.version}",
            )
        )
    if order.delivered_at is not None:
        timeline.append(TimelineEntry(order.delivered_at, "DELIVERED"))
    if proof is None and order.delivered_at is not None:
        proof = DeliveryProof(delivered_at=order.delivered_at)
    return PlatformFacts(timeline=tuple(timeline), delivery_proof=proof)
