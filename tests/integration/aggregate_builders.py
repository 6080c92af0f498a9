"""Orders and disputes in every status, reached through the domain's own methods, and a
comparable view of their whole state (the aggregates have no ``__eq__``).

Shared by the repository contract tests (orders, disputes, policies) and the read-model
tests, with :func:`store`, which adds them through a unit of work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, TypeVar

from returns.result import Failure, Result

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from domain.disputes import (
    ConversationTranscript,
    DeliveryProof,
    Dispute,
    EvidenceSubmission,
    GpsPoint,
    PlatformFacts,
    TimelineEntry,
    TranscriptEntry,
)
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import ActorId, BuyerId, CourierId, DisputeId, OrderId, SellerId
from domain.snapshots import OrderSnapshot
from tests.strategies import snapshot

T = TypeVar("T")

MX: Final = CountryCode("MX")
CO: Final = CountryCode("CO")
T0: Final = datetime(2026, 3, 2, 15, 0, 0, 123_456, tzinfo=UTC)
"""With microseconds, so timestamp precision is part of every round trip."""
MEXICO_CITY: Final = timezone(timedelta(hours=-6))
WINDOW: Final = timedelta(hours=72)  # the default policy of tests.strategies


async def store(uow_factory: Callable[[], SqlAlchemyUnitOfWork], *items: Order | Dispute) -> None:
    """Add the orders and disputes (in this order) in one unit of work and commit it."""
    async with uow_factory() as uow:
        for item in items:
            if isinstance(item, Order):
                await uow.orders.add(item)
            else:
                assert await uow.disputes.add(item)
        await uow.commit()


def ok(result: Result[T, Any]) -> T:
    """Unwrap a ``Success``; fail loudly with the error otherwise."""
    if isinstance(result, Failure):
        raise AssertionError(f"expected a Success, got {result}")
    return result.unwrap()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- orders


def new_order(order_id: str = "ord_1", country: CountryCode = MX, *, courier: str | None = "cou_1") -> Order:
    return ok(
        Order.create(
            id=OrderId(order_id),
            country=country,
            buyer_id=BuyerId("buy_1"),
            seller_id=SellerId("sel_1"),
            courier_id=None if courier is None else CourierId(courier),
            created_at=T0,
        )
    )


def snapshot_for(order: Order, **amounts: Any) -> OrderSnapshot:
    currency = {"MX": "MXN", "CO": "COP", "CL": "CLP", "KW": "KWD"}[order.country.value]
    return snapshot(order_id=order.id, country=order.country.value, currency=currency, **amounts)


Step = Callable[[Order], object]


def capture(order: Order) -> object:
    return ok(order.capture_payment(snapshot_for(order), T0 + timedelta(minutes=1)))


def to(status: OrderStatus, minutes: int) -> Step:
    return lambda order: ok(order.transition_to(status, T0 + timedelta(minutes=minutes)))


def freeze(order: Order) -> object:
    return ok(order.freeze(T0 + timedelta(hours=1), "inc_42"))


def unfreeze(order: Order) -> object:
    return ok(order.unfreeze(T0 + timedelta(hours=2)))


def force_complete(order: Order) -> object:
    return ok(order.force_complete(T0 + timedelta(hours=3), "courier vanished; L3 released the payout"))


TO_IN_TRANSIT: Final[tuple[Step, ...]] = (
    capture,
    to(OrderStatus.ACCEPTED, 2),
    to(OrderStatus.IN_PREPARATION, 3),
    to(OrderStatus.IN_TRANSIT, 4),
)
TO_DELIVERED: Final = (*TO_IN_TRANSIT, to(OrderStatus.DELIVERED, 5))
AFTER_WINDOW: Final = 5 + int(WINDOW.total_seconds() // 60)

RECIPES: Final[dict[str, tuple[Step, ...]]] = {
    "CREATED": (),
    "CANCELLED before capture": (to(OrderStatus.CANCELLED, 1),),
    "FROZEN before capture": (freeze,),
    "PAID": (capture,),
    "ACCEPTED": TO_IN_TRANSIT[:2],
    "IN_PREPARATION": TO_IN_TRANSIT[:3],
    "IN_TRANSIT": TO_IN_TRANSIT,
    "CANCELLED after capture": (*TO_IN_TRANSIT[:3], to(OrderStatus.CANCELLED, 6)),
    "FROZEN in transit": (*TO_IN_TRANSIT, freeze),
    "unfrozen back to IN_TRANSIT": (*TO_IN_TRANSIT, freeze, unfreeze),
    "DELIVERED": TO_DELIVERED,
    "FROZEN after delivery": (*TO_DELIVERED, freeze),
    "unfrozen back to DELIVERED, its window paused": (*TO_DELIVERED, freeze, unfreeze),
    "COMPLETED after the window": (*TO_DELIVERED, to(OrderStatus.COMPLETED, AFTER_WINDOW)),
    "DISPUTED": (*TO_DELIVERED, to(OrderStatus.DISPUTED, 60)),
    "COMPLETED after a dispute": (*TO_DELIVERED, to(OrderStatus.DISPUTED, 60), to(OrderStatus.COMPLETED, 90)),
    "REFUNDED": (*TO_DELIVERED, to(OrderStatus.DISPUTED, 60), to(OrderStatus.REFUNDED, 90)),
    "PARTIALLY_REFUNDED": (
        *TO_DELIVERED,
        to(OrderStatus.DISPUTED, 60),
        to(OrderStatus.PARTIALLY_REFUNDED, 90),
    ),
    "FORCE_COMPLETED in transit": (*TO_IN_TRANSIT, force_complete),
    "FORCE_COMPLETED after delivery": (*TO_DELIVERED, force_complete),
    "FORCE_COMPLETED while frozen": (*TO_DELIVERED, freeze, force_complete),
}


def order_in(recipe: str, order_id: str = "ord_1", country: CountryCode = MX) -> Order:
    order = new_order(order_id, country)
    for step in RECIPES[recipe]:
        step(order)
    return order


def delivered(order_id: str, country: CountryCode = MX, *, minute: int = 5) -> Order:
    """A DELIVERED order, delivered at ``T0 + minute`` minutes."""
    order = new_order(order_id, country)
    for step in TO_IN_TRANSIT:
        step(order)
    ok(order.transition_to(OrderStatus.DELIVERED, T0 + timedelta(minutes=minute)))
    return order


def order_state(order: Order) -> dict[str, object]:
    return {
        "id": order.id,
        "country": order.country,
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "courier_id": order.courier_id,
        "status": order.status,
        "frozen_from": order.frozen_from,
        "frozen_by_incident": order.frozen_by_incident,
        "snapshot": order.snapshot,
        "delivered_at": order.delivered_at,
        "force_completed": order.force_completed,
        "force_complete_reason": order.force_complete_reason,
        "version": order.version,
        "created_at": order.created_at,
        "frozen_at": order.frozen_at,
        "window_paused": order.window_paused,
        "dispute_window_closes_at": order.dispute_window_closes_at,
    }


# ----------------------------------------------------------------------------- disputes

OPENED_AT: Final = T0 + timedelta(hours=1)


def at(hours: float) -> datetime:
    return OPENED_AT + timedelta(hours=hours)


def open_dispute(order: Order, dispute_id: str = "dsp_1", *, statement: str = "Llegó roto ✗") -> Dispute:
    assert order.delivered_at is not None
    return ok(
        Dispute.open(
            dispute_id=DisputeId(dispute_id),
            order_id=order.id,
            country=order.country,
            reason=DisputeReason.DAMAGED,
            opened_by_actor=ActorId("buy_1"),
            opened_by_role="BUYER",
            statement=statement,
            delivered_at=order.delivered_at,
            now=OPENED_AT,
            dispute_window=WINDOW,
            evidence_window=timedelta(hours=48),
        )
    )


def platform_facts() -> PlatformFacts:
    return PlatformFacts(
        timeline=(
            TimelineEntry(T0 + timedelta(minutes=5), "DELIVERED", "left at the door"),
            TimelineEntry(T0, "CREATED"),
            TimelineEntry(T0 + timedelta(minutes=1), "PAID", "card •••• 4242"),
        ),
        delivery_proof=DeliveryProof(
            delivered_at=(T0 + timedelta(minutes=5)).astimezone(MEXICO_CITY),
            gps_points=(
                GpsPoint(T0 + timedelta(minutes=5), 19_432_608, -99_133_209),
                GpsPoint(T0 + timedelta(minutes=4), 19_430_001, -99_130_002),
            ),
            photo_sha256=(sha("photo-b"), sha("photo-a")),
        ),
    )


def transcript() -> ConversationTranscript:
    return ConversationTranscript(
        conversation_id="conv_1",
        entries=(
            TranscriptEntry(
                "msg_2", "SELLER", T0 + timedelta(minutes=30), sha("¿Qué pasó?"), False, sha("c1")
            ),
            TranscriptEntry("msg_1", "BUYER", T0 + timedelta(minutes=20), sha("Llegó roto"), True, sha("c0")),
        ),
    )


def seller_photo() -> EvidenceSubmission:
    return ok(
        EvidenceSubmission.of_file(
            evidence_id="ev_photo",
            submitted_by_actor="sel_1",
            submitted_by_role="SELLER",
            submitted_at=at(2).astimezone(MEXICO_CITY),
            content_sha256=sha("packing photo"),
            filename="empaque.jpg",
            media_type="Image/JPEG",
            size_bytes=2_345_678,
        )
    )


def buyer_statement() -> EvidenceSubmission:
    return ok(
        EvidenceSubmission.of_statement(
            evidence_id="ev_note",
            submitted_by_actor="buy_1",
            submitted_by_role="BUYER",
            submitted_at=at(3),
            text='  The box was crushed — "fragile" 📦 was ignored.\n',
        )
    )


def with_all_prongs(dispute: Dispute) -> Dispute:
    """GATHERING_EVIDENCE, with platform facts, a transcript and two more submissions."""
    ok(dispute.submit_evidence(seller_photo(), at(2)))
    ok(dispute.submit_evidence(buyer_statement(), at(3)))
    ok(dispute.attach_platform_facts(platform_facts(), at(4)))
    ok(dispute.attach_transcript(transcript(), at(5)))
    return dispute


def decided(dispute: Dispute, outcome: OutcomeCode = OutcomeCode.PARTIAL_REFUND) -> Dispute:
    ok(dispute.start_review(at(6)))
    ok(
        dispute.decide(
            outcome=outcome,
            reason_code=DecisionReasonCode.ITEM_DAMAGED_IN_TRANSIT,
            decided_by_actor=ActorId("agent_7"),
            decided_by_role="L2",
            at=at(7),
            note="Fotos del empaque confirman daño",
            partial_refund_tier_bp=2_500 if outcome is OutcomeCode.PARTIAL_REFUND else None,
            allowed_tiers_bp=(2_500, 5_000),
        )
    )
    return dispute


def resolved(dispute: Dispute) -> Dispute:
    ok(dispute.start_execution(at(8)))
    ok(dispute.mark_resolved(at(9)))
    return dispute


def withdrawn(dispute: Dispute) -> Dispute:
    ok(dispute.withdraw(at=at(6), by_actor=ActorId("buy_1"), by_role="BUYER", reason="Seller replaced it"))
    return dispute


def dispute_state(dispute: Dispute) -> dict[str, object]:
    return {
        "id": dispute.id,
        "order_id": dispute.order_id,
        "country": dispute.country,
        "reason": dispute.reason,
        "origin": dispute.origin,
        "opened_by": dispute.opened_by,
        "opened_at": dispute.opened_at,
        "status": dispute.status,
        "evidence_deadline": dispute.evidence_deadline,
        "evidence": dispute.evidence,
        "evidence_hash": dispute.evidence.content_hash(),
        "decision": dispute.decision,
        "withdrawal": dispute.withdrawal,
        "last_execution_error": dispute.last_execution_error,
        "updated_at": dispute.updated_at,
        "version": dispute.version,
    }
