"""The ``REPLACEMENT`` outcome's deferred step: the original's escrow is released when its
replacement is delivered (SPEC §5).

Deciding ``REPLACEMENT`` plans ``create_replacement`` (immediate) and ``ledger_release`` with
the trigger ``ON_REPLACEMENT_DELIVERED``, which the saga never enqueues by itself
(``next_immediate_step`` skips it). :func:`schedule_replacement_release` is the trigger: the
use case that moves a replacement to ``DELIVERED`` (or force-completes it) calls it in the
same transaction, and it enqueues the deferred step's job exactly as the saga enqueues any
step (``new_step_job``: the plan's fingerprint, the step's idempotency key), so the worker
recomputes the plan, refuses a drifted one, posts the release once (the key is unique in
the outbox and in the ledger) and moves the original ``DISPUTED -> COMPLETED``.
"""

from __future__ import annotations

from datetime import datetime

from application.ports.unit_of_work import UnitOfWork
from application.saga.scheduling import new_step_job
from domain.disputes import Dispute
from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import EscrowState, ExecutionStep, StepTrigger, plan_execution
from domain.disputes.references import dispute_reference
from domain.orders import Order, OrderStatus


def replacement_dispute(disputes: list[Dispute]) -> Dispute | None:
    """The dispute whose ``REPLACEMENT`` decision created the replacement: an order is
    replaced at most once (one replacement per order), and its hold (``DISPUTED``) keeps
    any other dispute from opening until the release; the latest decided one if several."""
    decided = [
        (d.decision.decided_at, d.id, d)
        for d in disputes
        if d.decision is not None and d.decision.outcome is OutcomeCode.REPLACEMENT
    ]
    return max(decided, key=lambda found: (found[0], found[1]))[2] if decided else None


async def schedule_replacement_release(
    uow: UnitOfWork, replacement: Order, now: datetime
) -> tuple[ExecutionStep, ...]:
    """Enqueue the original dispute's ``ON_REPLACEMENT_DELIVERED`` steps for ``replacement``,
    in the caller's unit of work, and return them (their jobs enqueued now, or already:
    enqueuing is idempotent by the step's key). Empty when ``replacement`` is not a
    replacement or its original is no longer on the dispute's hold."""
    if replacement.replaces is None:
        return ()
    country = replacement.country
    original = await uow.orders.get(country, replacement.replaces)
    if original is None or original.snapshot is None or original.status is not OrderStatus.DISPUTED:
        return ()
    dispute = replacement_dispute(await uow.disputes.for_order(country, original.id))
    if dispute is None or dispute.decision is None:
        return ()
    # The plan as decided: the order was DISPUTED (the payout hold) when the outcome was
    # decided and still is, so its escrow was HELD; only a HELD plan defers a release.
    planned = plan_execution(
        reference=dispute_reference(dispute.id),
        snapshot=original.snapshot,
        outcome=dispute.decision.outcome,
        tier_bp=dispute.decision.partial_refund_tier_bp,
        escrow=EscrowState.HELD,
    )
    plan = planned.unwrap()  # REPLACEMENT takes no tier: planning it cannot fail
    deferred = tuple(s for s in plan.steps if s.trigger is StepTrigger.ON_REPLACEMENT_DELIVERED)
    for step in deferred:
        job = new_step_job(plan, step, dispute_id=dispute.id, country=country, now=now)
        await uow.outbox.enqueue(job, now=now)
    return deferred
