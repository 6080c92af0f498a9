"""Live incidents on orders in flight (SPEC §6): opening one, and the four actions.

Opening an incident creates an ``ORDER_INCIDENT`` case (at tier L0: the rules look first,
application/cases/l0.py) and freezes the order's payout (``Order.freeze`` with the case id
as the hold's reference) in the same transaction. One live incident per order.

Actions, each checked against the permission matrix, recorded on the case's timeline and
audited in the transaction that carries it out:

- ``RETRY`` (L1+): re-dispatch: the seller and the courier are sent the order again
  (``order.dispatch`` notification jobs through the outbox, application/cases/dispatch.py).
- ``URGENT_REPLACEMENT`` (L2+): reassign the courier (while the order is on its way) or the
  seller (only before capture: the snapshot names who is paid) to ``replacement_id``; the
  order is saved with its new party, the order's conversation follows it, and the new and
  the replaced party are notified through the outbox (D72).
- ``OPERATIONAL_CANCELLATION`` (L2+): the order is cancelled (its hold lifted first). If
  money was captured, a dispute is opened with ``Dispute.open_for_operational_cancellation``
  (born decided: ``FULL_REFUND``) and its plan's first step is enqueued exactly as
  ``decide_dispute`` does (``schedule_first_step``): the saga refunds the buyer; nothing is
  refunded by hand here. The dispute gets its case like every dispute. The incident is
  resolved.
- ``FORCE_COMPLETE`` (L3, reason required, at most once per order): the order is
  force-completed and released by ``force_complete_in`` (application/orders/force_complete.py);
  the incident is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.dispatch import Notice, dispatch_jobs, redispatch_notices, replacement_notices
from application.cases.errors import IncidentAlreadyOpen, NotAnIncident
from application.cases.l0 import run_l0
from application.cases.scheduler import audit_late_breaches
from application.cases.use_cases import (
    actor_of,
    case_summary,
    last_entry,
    load_case,
    publish_changes,
    release_order_hold,
)
from application.context import RequestContext, Services
from application.disputes.cancellation import open_refund_of_capture
from application.errors import DisputeAlreadyOpen, NotCaptured, NotFound
from application.orders.couriers import follow_parties
from application.orders.force_complete import ForceCompleteFailure, force_complete_in
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.case import Case
from domain.cases.errors import CaseClosed, CaseError
from domain.cases.kinds import CaseKind, IncidentAction, IncidentType, Severity, Tier
from domain.orders import (
    MAX_PARTY_ID_LENGTH,
    FreezeError,
    Order,
    OrderStatus,
    ReassignError,
    ReplacementNotCancellable,
    TransitionError,
    UnfreezeError,
)
from domain.shared import CountryCode, DomainEvent, InvalidInput
from domain.shared.ids import OrderId

ACTION_OPERATIONS: Final = {
    IncidentAction.RETRY: Operation.INCIDENT_ACTION_RETRY,
    IncidentAction.URGENT_REPLACEMENT: Operation.INCIDENT_ACTION_URGENT_REPLACEMENT,
    IncidentAction.OPERATIONAL_CANCELLATION: Operation.INCIDENT_ACTION_OPERATIONAL_CANCELLATION,
    IncidentAction.FORCE_COMPLETE: Operation.INCIDENT_ACTION_FORCE_COMPLETE,
}
MAX_REASON_CHARS: Final = 2_000


# ---------------------------------------------------------------------------- open


@dataclass(frozen=True, slots=True)
class OpenOrderIncident:
    country: CountryCode
    order_id: OrderId
    incident_type: IncidentType
    severity: Severity
    description: str


OpenIncidentFailure = (
    Forbidden | NotFound | IncidentAlreadyOpen | InvalidInput | FreezeError | ConcurrencyConflict
)


async def open_order_incident(
    svc: Services, ctx: RequestContext, cmd: OpenOrderIncident
) -> Result[Case, OpenIncidentFailure]:
    """Open the incident and freeze the order's payout in one transaction; then L0 looks
    at it (acting as actor L0, in transactions of its own). Answers the case as it is
    after L0."""
    allowed = authorize(ctx.principal, Operation.INCIDENT_OPEN, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        if order is None:
            return Failure(NotFound("order", cmd.order_id))
        for existing in await uow.cases.for_order(cmd.country, order.id):
            if existing.state.kind is CaseKind.ORDER_INCIDENT and existing.state.is_open:
                return Failure(IncidentAlreadyOpen(order.id, existing.case_id))
        policy = await uow.sla_policies.current(cmd.country, CaseKind.ORDER_INCIDENT)
        opened = Case.open(
            case_id=svc.ids.new_id("case"),
            country=cmd.country,
            kind=CaseKind.ORDER_INCIDENT,
            severity=cmd.severity,
            title=cmd.description,
            opened_by=actor_of(ctx.principal),
            at=now,
            policy=policy,
            calendar=svc.calendars.calendar_for(cmd.country),
            tier=Tier.L0,
            order_id=order.id,
            incident_type=cmd.incident_type,
        )
        if isinstance(opened, Failure):
            return opened
        case = opened.unwrap()
        frozen = order.freeze(now, incident_ref=case.case_id)
        if isinstance(frozen, Failure):
            return frozen
        saved = await uow.orders.save(order)
        if isinstance(saved, Failure):
            return saved
        await uow.cases.add(case)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="incident.opened",
            target_type="case",
            target_id=case.case_id,
            at=now,
            after={
                **case_summary(case),
                "incident_type": cmd.incident_type.value,
                "order_status": order.status.value,
                "frozen_from": order.frozen_from.value if order.frozen_from else None,
            },
        )
        events: list[DomainEvent] = list(case.pull_events())
        await uow.commit()
    await publish_changes(svc, events)
    return Success(await run_l0(svc, cmd.country, case.case_id) or case)


# ------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class ApplyIncidentAction:
    """``reason`` is required for ``FORCE_COMPLETE``; ``replace`` names who an
    ``URGENT_REPLACEMENT`` replaces (``SELLER`` or ``COURIER``, default ``COURIER``) and
    ``replacement_id`` (required for it) who takes over."""

    country: CountryCode
    case_id: str
    action: IncidentAction
    reason: str = ""
    replace: str | None = None
    replacement_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentActionReceipt:
    """The case after the action, the order's status, and (operational cancellation after
    capture) the dispute that refunds the buyer and what it refunds."""

    case: Case
    order_status: OrderStatus
    dispute_id: str | None = None
    refund_minor: int = 0
    released_minor: int = 0
    currency: str | None = None
    ledger_keys: tuple[str, ...] = ()


ActionFailure = (
    Forbidden
    | NotFound
    | NotAnIncident
    | CaseError
    | InvalidInput
    | TransitionError
    | UnfreezeError
    | DisputeAlreadyOpen
    | NotCaptured
    | ForceCompleteFailure
    | ReassignError
    | ConcurrencyConflict
)

_REPLACEABLE: Final = frozenset({"SELLER", "COURIER"})


def _input_problem(cmd: ApplyIncidentAction) -> InvalidInput | None:
    if cmd.action is IncidentAction.URGENT_REPLACEMENT:
        if (cmd.replace or "COURIER") not in _REPLACEABLE:
            return InvalidInput("replace", "must be SELLER or COURIER")
        replacement = (cmd.replacement_id or "").strip()
        if not replacement:
            return InvalidInput("replacement_id", "is required for URGENT_REPLACEMENT")
        if len(replacement) > MAX_PARTY_ID_LENGTH:
            return InvalidInput("replacement_id", f"must be at most {MAX_PARTY_ID_LENGTH} characters")
    if len(cmd.reason) > MAX_REASON_CHARS:
        return InvalidInput("reason", f"must be at most {MAX_REASON_CHARS} characters")
    return None


async def apply_incident_action(
    svc: Services, ctx: RequestContext, cmd: ApplyIncidentAction
) -> Result[IncidentActionReceipt, ActionFailure]:
    allowed = authorize(ctx.principal, ACTION_OPERATIONS[cmd.action], cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    problem = _input_problem(cmd)
    if problem is not None:
        return Failure(problem)
    now = svc.clock.now()
    async with svc.uow() as uow:
        loaded = await load_case(uow, cmd.country, cmd.case_id)
        if isinstance(loaded, Failure):
            return loaded
        case = loaded.unwrap()
        state = case.state
        if state.kind is not CaseKind.ORDER_INCIDENT or state.order_id is None:
            return Failure(NotAnIncident(case.case_id, state.kind.value))
        if not state.is_open:
            return Failure(CaseClosed(case.case_id, state.status.value))
        order = await uow.orders.get(cmd.country, OrderId(state.order_id))
        if order is None:  # pragma: no cover - an incident's order is never deleted
            return Failure(NotFound("order", state.order_id))
        before = case_summary(case)
        done = await _carry_out(uow, svc, ctx, case=case, order=order, cmd=cmd, now=now)
        if isinstance(done, Failure):
            return done
        receipt, dispute_case = done.unwrap()
        saved = await uow.cases.save(case)
        if isinstance(saved, Failure):
            return saved
        await audit_late_breaches(uow, ctx, case, now)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="incident.action_applied",
            target_type="case",
            target_id=case.case_id,
            at=now,
            before=before,
            after={
                **case_summary(case),
                "action": cmd.action.value,
                "reason": cmd.reason.strip() or None,
                "order_status": order.status.value,
                "dispute_id": receipt.dispute_id,
                "refund_minor": receipt.refund_minor,
                "released_minor": receipt.released_minor,
                "currency": receipt.currency,
                "ledger_keys": list(receipt.ledger_keys),
                "entry": last_entry(case),
            },
        )
        events: list[DomainEvent] = list(case.pull_events())
        if dispute_case is not None:
            events.extend(dispute_case.pull_events())
        await uow.commit()
    await publish_changes(svc, events)
    if dispute_case is not None:
        await run_l0(svc, cmd.country, dispute_case.case_id)
    return Success(IncidentActionReceipt(case=case, order_status=order.status, **_money(receipt)))


@dataclass(frozen=True, slots=True)
class _Done:
    dispute_id: str | None = None
    refund_minor: int = 0
    released_minor: int = 0
    currency: str | None = None
    ledger_keys: tuple[str, ...] = ()


def _money(done: _Done) -> dict[str, Any]:
    return {
        "dispute_id": done.dispute_id,
        "refund_minor": done.refund_minor,
        "released_minor": done.released_minor,
        "currency": done.currency,
        "ledger_keys": done.ledger_keys,
    }


async def _carry_out(
    uow: UnitOfWork,
    svc: Services,
    ctx: RequestContext,
    *,
    case: Case,
    order: Order,
    cmd: ApplyIncidentAction,
    now: datetime,
) -> Result[tuple[_Done, Case | None], ActionFailure]:
    match cmd.action:
        case IncidentAction.RETRY:
            retried = await _retry(uow, ctx, case=case, order=order, cmd=cmd, now=now)
            return retried.map(lambda done: (done, None))
        case IncidentAction.URGENT_REPLACEMENT:
            replaced = await _replace(uow, ctx, case=case, order=order, cmd=cmd, now=now)
            return replaced.map(lambda done: (done, None))
        case IncidentAction.FORCE_COMPLETE:
            forced = await _force_complete(uow, ctx, case=case, order=order, cmd=cmd, now=now)
            return forced.map(lambda done: (done, None))
        case IncidentAction.OPERATIONAL_CANCELLATION:
            return await _cancel(uow, svc, ctx, case=case, order=order, now=now)


def _with_reason(summary: str, data: dict[str, str], cmd: ApplyIncidentAction) -> str:
    if cmd.reason.strip():
        data["reason"] = cmd.reason.strip()
        return f"{summary} ({cmd.reason.strip()})"
    return summary


async def _retry(
    uow: UnitOfWork, ctx: RequestContext, *, case: Case, order: Order, cmd: ApplyIncidentAction, now: datetime
) -> Result[_Done, CaseError]:
    """Send the order to its seller and courier again (one notification job each)."""
    notices = redispatch_notices(order)
    sent_to = ", ".join(f"{notice.role.lower()} {notice.recipient_id}" for notice in notices)
    data = {"dispatched_to": ",".join(f"{notice.role}:{notice.recipient_id}" for notice in notices)}
    summary = _with_reason(f"RETRY: order re-dispatched to {sent_to}", data, cmd)
    return await _record_and_dispatch(
        uow, ctx, case=case, order=order, cmd=cmd, summary=summary, data=data, notices=notices, now=now
    )


async def _replace(
    uow: UnitOfWork, ctx: RequestContext, *, case: Case, order: Order, cmd: ApplyIncidentAction, now: datetime
) -> Result[_Done, CaseError | ReassignError | ConcurrencyConflict]:
    """Reassign the courier or the seller, let the order's conversation follow, record the
    action and notify the new and the replaced party."""
    role = cmd.replace or "COURIER"
    new_id = (cmd.replacement_id or "").strip()
    reassign = order.reassign_seller if role == "SELLER" else order.reassign_courier
    reassigned = reassign(now, new_id)
    if isinstance(reassigned, Failure):
        return reassigned
    event = reassigned.unwrap()
    saved = await uow.orders.save(order)
    if isinstance(saved, Failure):
        return saved
    followed = await follow_parties(uow, order, now)
    if isinstance(followed, Failure):
        return followed
    data = {"replace": role, "replacement_id": event.to_id}
    if event.from_id is not None:
        data["replaced_id"] = event.from_id
    replaced = f"{role.lower()} {event.from_id}" if event.from_id is not None else f"no {role.lower()}"
    summary = _with_reason(f"URGENT_REPLACEMENT: {replaced} replaced by {event.to_id}", data, cmd)
    notices = replacement_notices(role, event.from_id, event.to_id)
    return await _record_and_dispatch(
        uow, ctx, case=case, order=order, cmd=cmd, summary=summary, data=data, notices=notices, now=now
    )


async def _record_and_dispatch(
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    case: Case,
    order: Order,
    cmd: ApplyIncidentAction,
    summary: str,
    data: dict[str, str],
    notices: list[Notice],
    now: datetime,
) -> Result[_Done, CaseError]:
    """Record the action on the case's timeline and enqueue its dispatch jobs, keyed by that
    entry. A failure commits nothing (an order already changed is rolled back with it)."""
    recorded = case.record_action(now, actor_of(ctx.principal), cmd.action.value, summary, data)
    if isinstance(recorded, Failure):
        return recorded
    sequence = case.state.timeline[-1].sequence
    for job in dispatch_jobs(order, case_id=case.case_id, sequence=sequence, notices=notices, now=now):
        await uow.outbox.enqueue(job, now=now)
    return Success(_Done())


async def _force_complete(
    uow: UnitOfWork, ctx: RequestContext, *, case: Case, order: Order, cmd: ApplyIncidentAction, now: datetime
) -> Result[_Done, ForceCompleteFailure | CaseError]:
    forced = await force_complete_in(uow, ctx, order, cmd.reason, now)
    if isinstance(forced, Failure):
        return forced
    completion = forced.unwrap()
    actor = actor_of(ctx.principal)
    reason = order.force_complete_reason or cmd.reason.strip()
    snapshot = order.snapshot
    recorded = case.record_action(
        now,
        actor,
        IncidentAction.FORCE_COMPLETE.value,
        f"FORCE_COMPLETE: order released to the seller ({reason})",
        {"reason": reason, "ledger_keys": ",".join(completion.ledger_keys)},
    )
    if isinstance(recorded, Failure):
        return recorded
    resolved = case.resolve(now, actor, f"order force-completed: {reason}")
    if isinstance(resolved, Failure):
        return resolved
    return Success(
        _Done(
            # a replacement holds nothing: its original's escrow is released by the saga (D75)
            released_minor=snapshot.total_charged.minor if snapshot and not order.is_replacement else 0,
            currency=snapshot.currency.code if snapshot else None,
            ledger_keys=completion.ledger_keys,
        )
    )


async def _cancel(
    uow: UnitOfWork, svc: Services, ctx: RequestContext, *, case: Case, order: Order, now: datetime
) -> Result[
    tuple[_Done, Case | None],
    TransitionError | UnfreezeError | DisputeAlreadyOpen | ConcurrencyConflict | CaseError,
]:
    """Cancel the order (lifting this incident's hold first); after a capture, the refund
    is a ``FULL_REFUND`` dispute carried out by the saga. A replacement that will not arrive
    is cancelled the same way, and the refund is its original's: the original's snapshot,
    from the original's escrow, which only the replacement's delivery would have released
    (D115); nothing was charged for the replacement itself."""
    released = await release_order_hold(uow, ctx, case, now)
    if isinstance(released, Failure):
        return released
    refunded = order  # the order whose captured money goes back
    if order.replaces is None:
        cancelled = order.transition_to(OrderStatus.CANCELLED, now)
    else:
        original = await uow.orders.get(order.country, order.replaces)
        if original is None or original.status is not OrderStatus.DISPUTED:
            # its escrow is no longer held for the replacement (released or refunded already)
            return Failure(ReplacementNotCancellable(order.id, order.replaces))
        refunded = original
        cancelled = order.cancel_replacement(now)
    if isinstance(cancelled, Failure):
        return cancelled
    snapshot = refunded.snapshot
    extra = {} if refunded is order else {"cancelled_replacement_id": order.id}
    opened = await open_refund_of_capture(
        uow, svc, ctx, order=refunded, now=now, audit={**extra, "incident_case_id": case.case_id}
    )
    if isinstance(opened, Failure):
        return opened
    refund = opened.unwrap()
    dispute_case: Case | None = None if refund is None else refund.case
    done = (
        _Done()
        if refund is None
        else _Done(dispute_id=refund.dispute.id, refund_minor=refund.refund_minor, currency=refund.currency)
    )
    saved = await uow.orders.save(order)
    if isinstance(saved, Failure):
        return saved
    actor = actor_of(ctx.principal)
    how = (
        f"refund of {snapshot.total_charged.format()} through dispute {done.dispute_id}"
        if snapshot is not None
        else "nothing was captured"
    )
    recorded = case.record_action(
        now,
        actor,
        IncidentAction.OPERATIONAL_CANCELLATION.value,
        f"OPERATIONAL_CANCELLATION: order cancelled; {how}",
        {"dispute_id": done.dispute_id or ""},
    )
    if isinstance(recorded, Failure):
        return recorded
    resolved = case.resolve(now, actor, f"order cancelled operationally; {how}")
    if isinstance(resolved, Failure):
        return resolved
    return Success((done, dispute_case))
