"""The refund of a captured order that will not be fulfilled: a ``FULL_REFUND`` dispute born
decided (``Dispute.open_for_operational_cancellation``), whose plan's first step is enqueued as
``decide_dispute`` does; the saga refunds the buyer exactly once. Opened by an incident's
``OPERATIONAL_CANCELLATION`` (the order, or a replacement's original, D115) and by a capture
reported for an order cancelled before it (D116). Nothing is refunded by hand here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.use_cases import open_case_for_dispute
from application.context import RequestContext, Services
from application.disputes.facts import platform_facts_for, recorded_timeline
from application.disputes.use_cases import dispute_summary, escrow_state_of
from application.errors import DisputeAlreadyOpen
from application.messaging.queries import transcript_for_order
from application.ports.unit_of_work import UnitOfWork
from application.saga.scheduling import schedule_first_step
from domain.cases.case import Case
from domain.disputes import Dispute
from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import plan_execution
from domain.disputes.references import dispute_reference
from domain.orders import Order
from domain.shared.ids import ActorId, DisputeId


@dataclass(frozen=True, slots=True)
class RefundOpened:
    dispute: Dispute
    refund_minor: int
    currency: str
    case: Case | None  # the dispute's own case


async def open_refund_of_capture(
    uow: UnitOfWork,
    svc: Services,
    ctx: RequestContext,
    *,
    order: Order,
    now: datetime,
    audit: dict[str, Any],
) -> Result[RefundOpened | None, DisputeAlreadyOpen]:
    """In ``uow``: the ``FULL_REFUND`` dispute of ``order``'s captured total, its first step
    enqueued, ``dispute.opened`` audited (with ``audit`` added) and its case opened; ``None``
    when nothing was captured for ``order``."""
    snapshot = order.snapshot
    if snapshot is None:
        return Success(None)
    dispute = Dispute.open_for_operational_cancellation(
        dispute_id=DisputeId(svc.ids.new_id("dsp")),
        order_id=order.id,
        country=order.country,
        actor=ActorId(ctx.principal.actor_id),
        role=ctx.principal.role.value,
        now=now,
        # the trident as far as it goes without parties: the order's recorded timeline and
        # its conversation as they stand (D82, D86)
        platform_facts=platform_facts_for(order, recorded=await recorded_timeline(uow, order)),
        transcript=await transcript_for_order(uow, order.country, order.id),
    ).unwrap()  # every input is the platform's own
    plan = plan_execution(
        reference=dispute_reference(dispute.id),
        snapshot=snapshot,
        outcome=OutcomeCode.FULL_REFUND,
        escrow=escrow_state_of(order),
    ).unwrap()  # FULL_REFUND takes no tier: planning it cannot fail
    if not await uow.disputes.add(dispute):
        return Failure(DisputeAlreadyOpen(order.id))
    await schedule_first_step(uow, plan, dispute_id=dispute.id, country=order.country, now=now)
    await record(
        uow,
        ctx,
        country=order.country,
        action="dispute.opened",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        after={
            **dispute_summary(dispute),
            "order_id": order.id,
            "origin": dispute.origin.value,
            **audit,
            "plan_fingerprint": plan.fingerprint(),
            "refund_to_card_minor": plan.refund_to_card.minor,
            "currency": plan.refund_to_card.currency.code,
        },
    )
    case = await open_case_for_dispute(svc, uow, ctx, dispute, now)
    return Success(RefundOpened(dispute, plan.refund_to_card.minor, plan.refund_to_card.currency.code, case))
