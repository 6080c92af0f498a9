"""Many decided disputes, fast: the state ``decide_dispute`` leaves behind (a DISPUTED order
with its payment captured into escrow, a DECIDED dispute with the full evidence pack, the
plan's first step in the outbox), built with the domain's own methods and written through
the repositories a hundred at a time, instead of nine audited use-case calls per dispute.
"""

from __future__ import annotations

from datetime import datetime

from application.context import Services
from application.disputes.use_cases import escrow_state_of
from application.orders.use_cases import capture_key
from application.saga.scheduling import schedule_first_step
from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import ExecutionPlan, plan_execution
from domain.disputes.references import dispute_reference
from domain.ledger import rules
from tests.integration.aggregate_builders import decided, ok, open_dispute, order_in, with_all_prongs

CHUNK = 100


async def decided_full_refunds(
    svc: Services, count: int, *, now: datetime, prefix: str = "b"
) -> list[ExecutionPlan]:
    """``count`` MX disputes decided FULL_REFUND (T = 123_000 MXN each); their plans."""
    plans: list[ExecutionPlan] = []
    for start in range(0, count, CHUNK):
        async with svc.uow() as uow:
            for n in range(start, min(count, start + CHUNK)):
                order = order_in("DISPUTED", f"{prefix}{n:05d}")
                snapshot = order.snapshot
                assert snapshot is not None
                await uow.orders.add(order)
                ok(await uow.ledger.post(rules.capture(snapshot, capture_key(order.id))))
                dispute = decided(
                    with_all_prongs(open_dispute(order, f"dsp_{prefix}{n:05d}")), OutcomeCode.FULL_REFUND
                )
                await uow.disputes.add(dispute)
                plan = ok(
                    plan_execution(
                        reference=dispute_reference(dispute.id),
                        snapshot=snapshot,
                        outcome=OutcomeCode.FULL_REFUND,
                        tier_bp=None,
                        escrow=escrow_state_of(order),
                    )
                )
                await schedule_first_step(uow, plan, dispute_id=dispute.id, country=order.country, now=now)
                plans.append(plan)
            await uow.commit()
    return plans
