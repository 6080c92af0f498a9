"""Turning a decided outcome into outbox jobs (the saga's first move).

Steps run one at a time, in plan order: deciding enqueues the first immediate step; the
worker that completes a step enqueues the next one in the same transaction. Each job
carries what is needed to recompute the plan (a pure function) and the plan's
fingerprint, so a worker never executes a plan that differs from the one decided.
"""

from __future__ import annotations

from datetime import datetime

from application.ports.outbox import PAYMENTS_PROVIDER, NewJob
from application.ports.unit_of_work import UnitOfWork
from domain.disputes.outcomes import ExecutionPlan, ExecutionStep, StepKind
from domain.shared import CountryCode

JOB_KIND = "dispute.step"

_PROVIDER_OF: dict[StepKind, str] = {
    StepKind.PROVIDER_REFUND: PAYMENTS_PROVIDER,
    StepKind.NOTIFICATION: "notifications",
    StepKind.LEDGER_POSTING: "internal",
    StepKind.CREATE_REPLACEMENT_ORDER: "internal",
}


def new_step_job(
    plan: ExecutionPlan, step: ExecutionStep, *, dispute_id: str, country: CountryCode, now: datetime
) -> NewJob:
    return NewJob(
        country=country,
        idempotency_key=step.idempotency_key,
        kind=JOB_KIND,
        provider=_PROVIDER_OF[step.kind],
        reference=plan.reference,
        payload={
            "dispute_id": dispute_id,
            "step": step.name,
            "escrow": plan.escrow.value,
            "fingerprint": plan.fingerprint(),
        },
        available_at=now,
    )


def next_immediate_step(plan: ExecutionPlan, after: ExecutionStep | None) -> ExecutionStep | None:
    steps = plan.immediate_steps()
    if after is None:
        return steps[0] if steps else None
    later = [s for s in steps if s.index > after.index]
    return later[0] if later else None


async def schedule_first_step(
    uow: UnitOfWork, plan: ExecutionPlan, *, dispute_id: str, country: CountryCode, now: datetime
) -> ExecutionStep | None:
    first = next_immediate_step(plan, None)
    if first is not None:
        await uow.outbox.enqueue(
            new_step_job(plan, first, dispute_id=dispute_id, country=country, now=now), now=now
        )
    return first
