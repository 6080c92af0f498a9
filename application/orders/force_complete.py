"""Use case: force-complete an order (L3, live incident; SPEC §3, §6).

``Order.force_complete`` decides whether the order may be force-completed (IN_TRANSIT,
DELIVERED, or frozen from one of them; at most once; a reason is required). The money
side is the ``FORCE_COMPLETE`` outcome's plan, computed by the same pure function as
every dispute outcome (``plan_execution(reference="order:<id>", ...)``): its ledger
release (``order:<id>/FORCE_COMPLETE/ledger_release``, kind ``FORCED_RELEASE``) is posted
through ``uow.ledger`` in the same transaction as the status change and the audit entry.
The key is deterministic, so the release posts at most once whatever happens.

A replacement order (the ``REPLACEMENT`` outcome of a dispute on its original) was never
charged: force-completing it posts nothing for it. Its seller's payout is its original's
escrow, which the dispute releases when the replacement is delivered; force-completing
the replacement ends its journey as its delivery would, so the same deferred step is
enqueued (``schedule_replacement_release``, one key: the release posts at most once), and
the worker completes the original. ``ledger_keys`` then names that step's key.

The plan's notifications are not sent from here. :func:`force_complete_in` is the same
change inside a caller's unit of work: the incident action ``FORCE_COMPLETE``
(application/cases/incidents.py) runs it in the transaction that resolves the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotCaptured, NotFound
from application.orders.use_cases import order_summary
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from application.saga.replacements import schedule_replacement_release
from application.security.principal import Forbidden, Operation, authorize
from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import EscrowState, plan_execution
from domain.ledger import EscrowOverdrawn
from domain.orders import ForceCompleteError, Order
from domain.shared import CountryCode
from domain.shared.ids import OrderId


def force_complete_reference(order_id: str) -> str:
    return f"order:{order_id}"


@dataclass(frozen=True, slots=True)
class ForceCompleteOrder:
    country: CountryCode
    order_id: OrderId
    reason: str


@dataclass(frozen=True, slots=True)
class ForceCompletion:
    """The order after the change, and the ledger keys of what the plan posted."""

    order: Order
    plan_fingerprint: str
    ledger_keys: tuple[str, ...]


ForceCompleteFailure = (
    Forbidden | NotFound | NotCaptured | ForceCompleteError | ConcurrencyConflict | EscrowOverdrawn
)


async def force_complete_order(
    svc: Services, ctx: RequestContext, cmd: ForceCompleteOrder
) -> Result[ForceCompletion, ForceCompleteFailure]:
    allowed = authorize(ctx.principal, Operation.ORDER_FORCE_COMPLETE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        if order is None:
            return Failure(NotFound("order", cmd.order_id))
        forced = await force_complete_in(uow, ctx, order, cmd.reason, now)
        if isinstance(forced, Failure):
            return forced
        await uow.commit()
    return forced


async def force_complete_in(
    uow: UnitOfWork, ctx: RequestContext, order: Order, reason: str, now: datetime
) -> Result[ForceCompletion, ForceCompleteFailure]:
    """Force-complete ``order`` inside the caller's unit of work (the incident action
    ``FORCE_COMPLETE`` runs it in the same transaction as the case's change); the caller
    has authorized and commits."""
    snapshot = order.snapshot
    before = order_summary(order)
    forced = order.force_complete(now, reason)
    if isinstance(forced, Failure):
        return forced
    if snapshot is None:  # pragma: no cover - force-completable statuses are all captured
        return Failure(NotCaptured(order.id))
    plan = plan_execution(
        reference=force_complete_reference(order.id),
        snapshot=snapshot,
        outcome=OutcomeCode.FORCE_COMPLETE,
        escrow=EscrowState.HELD,
    ).unwrap()  # FORCE_COMPLETE takes no tier: planning it cannot fail
    saved = await uow.orders.save(order)
    if isinstance(saved, Failure):
        return saved
    released = snapshot.total_charged.minor
    if order.is_replacement:
        # nothing was captured for it: its original's release is the dispute's deferred step
        scheduled = await schedule_replacement_release(uow, order, now)
        keys = tuple(step.idempotency_key for step in scheduled)
        released = 0
    else:
        for transaction in plan.ledger_transactions():
            posted = await uow.ledger.post(transaction)
            if isinstance(posted, Failure):
                return posted
        keys = tuple(t.idempotency_key for t in plan.ledger_transactions())
    await record(
        uow,
        ctx,
        country=order.country,
        action="order.force_completed",
        target_type="order",
        target_id=order.id,
        at=now,
        before=before,
        after={
            **order_summary(order),
            "reason": order.force_complete_reason,
            "plan_fingerprint": plan.fingerprint(),
            "ledger_keys": list(keys),
            "released_minor": released,
            "currency": snapshot.currency.code,
            "replaces": order.replaces,
        },
    )
    return Success(ForceCompletion(order, plan.fingerprint(), keys))
