"""Case use cases: acknowledge, assign, escalate, status updates, wait on the customer and
the answer, mitigate, resolve, close, rate — and the hooks that give every dispute its case.

Every use case authorizes first (application/security/principal.py), loads the case of
the country (another country's case is ``NOT_FOUND``), asks the :class:`Case` aggregate
(which owns the status edges and the SLA clocks), saves it optimistically and writes the
audit entry in the same transaction. Time comes from the clock port, the business
calendar from ``svc.calendars`` and the SLA policy is the version the case opened under.

Resolving or closing an order incident lifts the order's payout hold (``Order.unfreeze``)
when the hold is still this case's; an order that moved on (force-completed, cancelled)
is left alone. A dispute's case is opened with the dispute (:func:`open_case_for_dispute`)
and resolved with it (:func:`resolve_cases_for_dispute`); it is not resolved by hand
while its dispute is still undecided (``CASE_FOLLOWS_DISPUTE``). A platform incident's own
case moves with its incident (application/cases/platform.py, which drives the case itself):
acknowledging, status updates, mitigating, waiting on the customer and the answer, resolving
and closing it here are ``CASE_FOLLOWS_PLATFORM_INCIDENT``, refused before anything is
written; assignment, escalation and notes stay allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget, record_denial
from application.audit.trail import record
from application.cases.errors import CaseFollowsDispute, CaseFollowsPlatformIncident
from application.cases.feed import announce_case_changes
from application.cases.scheduler import audit_late_breaches, count_late_breaches
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, Principal, authorize
from domain.cases.calendar import BusinessCalendar
from domain.cases.case import Case, Rating
from domain.cases.errors import CaseError, RateError
from domain.cases.kinds import CaseKind, CaseStatus, Severity, Tier
from domain.cases.l0 import DISPUTE_SEVERITY, OPERATIONAL_CANCELLATION_SEVERITY
from domain.cases.sla import SlaPolicy
from domain.disputes import Dispute
from domain.disputes.evidence import ActorRef
from domain.disputes.status import DisputeOrigin, DisputeStatus
from domain.orders import UnfreezeError
from domain.shared import CountryCode, DomainEvent, InvalidInput
from domain.shared.ids import ActorId, DisputeId, OrderId

E = TypeVar("E")

CaseFailure = Forbidden | NotFound | CaseError | ConcurrencyConflict
FollowFailure = CaseFailure | CaseFollowsPlatformIncident
ResolveFailure = FollowFailure | CaseFollowsDispute | UnfreezeError

DISPUTE_FINAL = frozenset({DisputeStatus.RESOLVED, DisputeStatus.WITHDRAWN})


def actor_of(principal: Principal) -> ActorRef:
    return ActorRef(ActorId(principal.actor_id), principal.role.value)


def case_summary(case: Case) -> dict[str, Any]:
    """What the audit log keeps of a case before and after a change."""
    state = case.state
    summary: dict[str, Any] = {
        "kind": state.kind.value,
        "status": state.status.value,
        "severity": state.severity.value,
        "tier": state.tier.value,
        "assignee": state.assignee,
        "version": state.version,
        "breaches": state.breaches,
    }
    if state.order_id is not None:
        summary["order_id"] = state.order_id
    if state.subject_ref is not None:
        summary["subject_ref"] = state.subject_ref
    if state.resolved_tier is not None:
        summary["resolved_tier"] = state.resolved_tier.value
    return summary


def last_entry(case: Case) -> dict[str, Any]:
    entry = case.state.timeline[-1]
    return {"sequence": entry.sequence, "kind": entry.kind.value, "summary": entry.summary, **entry.data}


async def sla_of(svc: Services, uow: UnitOfWork, case: Case) -> tuple[SlaPolicy, BusinessCalendar]:
    """The policy version the case opened under (the current one if that version is gone)
    and the country's business calendar."""
    state = case.state
    policy = await uow.sla_policies.version(state.country, state.kind, state.policy_version)
    if policy is None:
        policy = await uow.sla_policies.current(state.country, state.kind)
    return policy, svc.calendars.calendar_for(state.country)


async def load_case(uow: UnitOfWork, country: CountryCode, case_id: str) -> Result[Case, NotFound]:
    case = await uow.cases.get(country, case_id)
    if case is None:
        return Failure(NotFound("case", case_id))
    return Success(case)


def follows_platform_incident(case: Case) -> Result[None, CaseFollowsPlatformIncident]:
    """A platform incident's own case takes its status changes from the incident (D46):
    ``update_platform_incident`` / ``close_platform_incident`` change it directly, never
    through the use cases below, which refuse it with this."""
    state = case.state
    if state.kind is not CaseKind.PLATFORM_INCIDENT:
        return Success(None)
    return Failure(CaseFollowsPlatformIncident(state.case_id, state.subject_ref or "-"))


async def release_order_hold(
    uow: UnitOfWork, ctx: RequestContext, case: Case, now: datetime
) -> Result[None, UnfreezeError | ConcurrencyConflict]:
    """Lift the payout hold of the case's order if it is still this case's (an order that
    moved on — force-completed, cancelled, frozen by something else — is left alone)."""
    state = case.state
    if state.kind is not CaseKind.ORDER_INCIDENT or state.order_id is None:
        return Success(None)
    order = await uow.orders.get(state.country, OrderId(state.order_id))
    if order is None or order.frozen_by_incident != state.case_id:
        return Success(None)
    unfrozen = order.unfreeze(now)
    if isinstance(unfrozen, Failure):
        return unfrozen
    closes = order.dispute_window_closes_at
    saved = await uow.orders.save(order)
    if isinstance(saved, Failure):
        return saved
    await record(
        uow,
        ctx,
        country=state.country,
        action="order.unfrozen",
        target_type="order",
        target_id=order.id,
        at=now,
        before={"status": "FROZEN", "incident_ref": state.case_id},
        after={
            "status": order.status.value,
            "version": order.version,
            # later by the time the hold kept a delivered order frozen (D127)
            "dispute_window_closes_at": None if closes is None else closes.isoformat(),
        },
    )
    return Success(None)


async def publish_changes(svc: Services, events: list[DomainEvent]) -> None:
    """After commit: announce the case changes on the change feed (the country's live
    queue, application/cases/feed.py; ``NO_CHANGES`` unless the composition root wires one)."""
    count_late_breaches(svc, events)
    await announce_case_changes(svc.changes, events)


Change = Callable[[UnitOfWork, Case, datetime], Awaitable[Result[Any, E]]]


async def change_case(
    svc: Services,
    ctx: RequestContext,
    *,
    operations: tuple[Operation, ...],
    country: CountryCode,
    case_id: str,
    action: str,
    change: Change[E],
    audit_extra: dict[str, Any] | None = None,
) -> Result[Case, E | Forbidden | NotFound | ConcurrencyConflict]:
    """The shape of every case command: authorize, load, change, save, audit, commit, publish.
    ``audit_extra`` (filled by ``change`` if it likes) joins the audit entry's ``after``."""
    for operation in operations:
        allowed = authorize(ctx.principal, operation, country)
        if isinstance(allowed, Failure):
            return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        loaded = await load_case(uow, country, case_id)
        if isinstance(loaded, Failure):
            return loaded
        case = loaded.unwrap()
        before = case_summary(case)
        changed = await change(uow, case, now)
        if isinstance(changed, Failure):
            return changed
        saved = await uow.cases.save(case)
        if isinstance(saved, Failure):
            return saved
        await audit_late_breaches(uow, ctx, case, now)
        await record(
            uow,
            ctx,
            country=country,
            action=action,
            target_type="case",
            target_id=case.case_id,
            at=now,
            before=before,
            after={**case_summary(case), "entry": last_entry(case), **(audit_extra or {})},
        )
        events: list[DomainEvent] = list(case.pull_events())
        await uow.commit()
    await publish_changes(svc, events)
    return Success(case)


# ----------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class AcknowledgeCase:
    country: CountryCode
    case_id: str


@dataclass(frozen=True, slots=True)
class AssignCase:
    """``assignee`` ``None`` hands the case back to its tier's queue."""

    country: CountryCode
    case_id: str
    assignee: str | None


@dataclass(frozen=True, slots=True)
class EscalateCase:
    country: CountryCode
    case_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PostStatusUpdate:
    """A status update for the people affected, optionally moving the case on at the same
    time: ``ACKNOWLEDGED``, ``MITIGATED``, ``WAITING_ON_CUSTOMER`` or ``RESOLVED`` (the text
    is then also the mitigation note, the reason for waiting or — unless ``resolution`` is
    given — the resolution), or ``CLOSED`` for a resolved case (the text is kept as a note)."""

    country: CountryCode
    case_id: str
    text: str
    status: CaseStatus | None = None
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class WaitOnCustomer:
    country: CountryCode
    case_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CustomerReplied:
    country: CountryCode
    case_id: str


@dataclass(frozen=True, slots=True)
class MitigateCase:
    country: CountryCode
    case_id: str
    note: str


@dataclass(frozen=True, slots=True)
class ResolveCase:
    country: CountryCode
    case_id: str
    resolution: str


@dataclass(frozen=True, slots=True)
class CloseCase:
    country: CountryCode
    case_id: str


@dataclass(frozen=True, slots=True)
class RateCase:
    """The customer's rating: the order's buyer, once, 1-5 and a comment."""

    country: CountryCode
    case_id: str
    score: int
    comment: str = ""


# -------------------------------------------------------------------- use cases


async def acknowledge_case(
    svc: Services, ctx: RequestContext, cmd: AcknowledgeCase
) -> Result[Case, FollowFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, FollowFailure]:
        follows = follows_platform_incident(case)
        if isinstance(follows, Failure):
            return follows
        policy, calendar = await sla_of(svc, uow, case)
        return case.acknowledge(now, actor_of(ctx.principal), calendar, policy)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_ACKNOWLEDGE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.acknowledged",
        change=change,
    )


async def assign_case(svc: Services, ctx: RequestContext, cmd: AssignCase) -> Result[Case, CaseFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, CaseError]:
        return case.assign(now, actor_of(ctx.principal), cmd.assignee)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_ASSIGN,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.assigned",
        change=change,
    )


async def escalate_case(svc: Services, ctx: RequestContext, cmd: EscalateCase) -> Result[Case, CaseFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, CaseError]:
        return case.escalate(now, actor_of(ctx.principal), cmd.reason)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_ESCALATE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.escalated",
        change=change,
    )


STATUS_UPDATE_TARGETS = frozenset(
    {
        CaseStatus.ACKNOWLEDGED,
        CaseStatus.MITIGATED,
        CaseStatus.WAITING_ON_CUSTOMER,
        CaseStatus.RESOLVED,
        CaseStatus.CLOSED,
    }
)
"""The statuses a status update may move a case to (NEW is where cases start, never a target)."""


async def post_status_update(
    svc: Services, ctx: RequestContext, cmd: PostStatusUpdate
) -> Result[Case, ResolveFailure]:
    if cmd.status is not None and cmd.status not in STATUS_UPDATE_TARGETS:
        return Failure(
            InvalidInput("status", "may be ACKNOWLEDGED, MITIGATED, WAITING_ON_CUSTOMER, RESOLVED or CLOSED")
        )
    if cmd.resolution is not None and cmd.status is not CaseStatus.RESOLVED:
        return Failure(InvalidInput("resolution", "is given with status RESOLVED only"))
    operations: tuple[Operation, ...] = (Operation.CASE_UPDATE,)
    if cmd.status is CaseStatus.ACKNOWLEDGED:
        operations += (Operation.CASE_ACKNOWLEDGE,)
    if cmd.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        operations += (Operation.CASE_RESOLVE,)

    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, ResolveFailure]:
        owned = follows_platform_incident(case)  # a refusal must change nothing
        if isinstance(owned, Failure):
            return owned
        actor = actor_of(ctx.principal)
        policy, calendar = await sla_of(svc, uow, case)
        if cmd.status is CaseStatus.RESOLVED:  # checked first: a refusal must change nothing
            follows = await _dispute_still_open(uow, case)
            if isinstance(follows, Failure):
                return follows
        if cmd.status is CaseStatus.CLOSED:  # a resolved case: the text stays as a note
            noted = case.add_note(now, actor, cmd.text)
            if isinstance(noted, Failure):
                return noted
            closed = case.close(now, actor)
            if isinstance(closed, Failure):
                return closed
            return await release_order_hold(uow, ctx, case, now)
        posted = case.post_status_update(now, actor, cmd.text, calendar, policy)
        if isinstance(posted, Failure):
            return posted
        match cmd.status:
            case None:
                return Success(None)
            case CaseStatus.ACKNOWLEDGED:
                return case.acknowledge(now, actor, calendar, policy)
            case CaseStatus.MITIGATED:
                return case.mitigate(now, actor, cmd.text, calendar, policy)
            case CaseStatus.WAITING_ON_CUSTOMER:
                return case.wait_on_customer(now, actor, cmd.text, calendar)
            case _:
                return await _resolve(uow, ctx, case, now, cmd.resolution or cmd.text)

    return await change_case(
        svc,
        ctx,
        operations=operations,
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.status_updated",
        change=change,
    )


async def wait_on_customer(
    svc: Services, ctx: RequestContext, cmd: WaitOnCustomer
) -> Result[Case, FollowFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, FollowFailure]:
        follows = follows_platform_incident(case)
        if isinstance(follows, Failure):
            return follows
        _, calendar = await sla_of(svc, uow, case)
        return case.wait_on_customer(now, actor_of(ctx.principal), cmd.reason, calendar)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_UPDATE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.waiting_on_customer",
        change=change,
    )


async def customer_replied(
    svc: Services, ctx: RequestContext, cmd: CustomerReplied
) -> Result[Case, FollowFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, FollowFailure]:
        follows = follows_platform_incident(case)
        if isinstance(follows, Failure):
            return follows
        _, calendar = await sla_of(svc, uow, case)
        return case.customer_replied(now, actor_of(ctx.principal), calendar)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_UPDATE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.customer_replied",
        change=change,
    )


async def mitigate_case(svc: Services, ctx: RequestContext, cmd: MitigateCase) -> Result[Case, FollowFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, FollowFailure]:
        follows = follows_platform_incident(case)
        if isinstance(follows, Failure):
            return follows
        policy, calendar = await sla_of(svc, uow, case)
        return case.mitigate(now, actor_of(ctx.principal), cmd.note, calendar, policy)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_UPDATE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.mitigated",
        change=change,
    )


async def _dispute_still_open(uow: UnitOfWork, case: Case) -> Result[None, CaseFollowsDispute]:
    state = case.state
    if state.kind is not CaseKind.DISPUTE or state.subject_ref is None:
        return Success(None)
    dispute = await uow.disputes.get(state.country, DisputeId(state.subject_ref))
    if dispute is None or dispute.status in DISPUTE_FINAL:
        return Success(None)
    return Failure(CaseFollowsDispute(state.case_id, state.subject_ref, dispute.status.value))


async def _resolve(
    uow: UnitOfWork, ctx: RequestContext, case: Case, now: datetime, resolution: str
) -> Result[None, ResolveFailure]:
    resolved = case.resolve(now, actor_of(ctx.principal), resolution)
    if isinstance(resolved, Failure):
        return resolved
    return await release_order_hold(uow, ctx, case, now)


async def resolve_case(svc: Services, ctx: RequestContext, cmd: ResolveCase) -> Result[Case, ResolveFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, ResolveFailure]:
        owned = follows_platform_incident(case)
        if isinstance(owned, Failure):
            return owned
        follows = await _dispute_still_open(uow, case)
        if isinstance(follows, Failure):
            return follows
        return await _resolve(uow, ctx, case, now, cmd.resolution)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_RESOLVE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.resolved",
        change=change,
    )


async def close_case(svc: Services, ctx: RequestContext, cmd: CloseCase) -> Result[Case, ResolveFailure]:
    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, ResolveFailure]:
        owned = follows_platform_incident(case)
        if isinstance(owned, Failure):
            return owned
        closed = case.close(now, actor_of(ctx.principal))
        if isinstance(closed, Failure):
            return closed
        return await release_order_hold(uow, ctx, case, now)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_RESOLVE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="case.closed",
        change=change,
    )


RateFailure = Forbidden | NotFound | RateError | ConcurrencyConflict


async def rate_case(svc: Services, ctx: RequestContext, cmd: RateCase) -> Result[Rating, RateFailure]:
    """Only the buyer of the case's order rates it; anyone else is answered ``NOT_FOUND``
    and the attempt is audited as a denial."""
    allowed = authorize(ctx.principal, Operation.CASE_RATE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    rated: Result[Rating, RateError] | None = None
    events: list[DomainEvent] = []
    async with svc.uow() as uow:
        case = await uow.cases.get(cmd.country, cmd.case_id)
        order = None
        if case is not None and case.state.order_id is not None:
            order = await uow.orders.get(cmd.country, OrderId(case.state.order_id))
        if case is not None and order is not None and order.buyer_id == ctx.principal.actor_id:
            rated = case.rate(now, actor_of(ctx.principal), cmd.score, cmd.comment)
            if isinstance(rated, Failure):
                return rated
            saved = await uow.cases.save(case)
            if isinstance(saved, Failure):
                return saved
            await record(
                uow,
                ctx,
                country=cmd.country,
                action="case.rated",
                target_type="case",
                target_id=case.case_id,
                at=now,
                after={**case_summary(case), "score": cmd.score},
            )
            events = list(case.pull_events())
            await uow.commit()
    if rated is None:
        if case is not None:  # someone else's case: audited; a case that does not exist is not
            refusal = Forbidden(
                Operation.CASE_RATE.value, cmd.country.value, "not the buyer of the case's order"
            )
            await record_denial(svc, ctx, refusal, DenialTarget("case", cmd.case_id))
        return Failure(NotFound("case", cmd.case_id))
    await publish_changes(svc, events)
    return rated


# ------------------------------------------------------------- dispute hooks


async def open_case_for_dispute(
    svc: Services, uow: UnitOfWork, ctx: RequestContext, dispute: Dispute, now: datetime
) -> Case:
    """The case of a new dispute, in the dispute's own transaction (called by
    ``open_dispute`` and by the operational cancellation). It opens at tier L0: the rules
    look at it first (application/cases/l0.py) and route it."""
    if dispute.origin is DisputeOrigin.OPERATIONAL_CANCELLATION:
        severity: Severity = OPERATIONAL_CANCELLATION_SEVERITY
        title = f"Refund after the operational cancellation of order {dispute.order_id}"
    else:
        severity = DISPUTE_SEVERITY[dispute.reason]
        title = f"{dispute.reason.value} dispute on order {dispute.order_id}"
    policy = await uow.sla_policies.current(dispute.country, CaseKind.DISPUTE)
    opened = Case.open(
        case_id=svc.ids.new_id("case"),
        country=dispute.country,
        kind=CaseKind.DISPUTE,
        severity=severity,
        title=title,
        opened_by=actor_of(ctx.principal),
        at=now,
        policy=policy,
        calendar=svc.calendars.calendar_for(dispute.country),
        tier=Tier.L0,
        order_id=dispute.order_id,
        subject_ref=dispute.id,
    )
    case = opened.unwrap()  # every input is the platform's own: a refusal is a bug
    await uow.cases.add(case)
    await record(
        uow,
        ctx,
        country=dispute.country,
        action="case.opened",
        target_type="case",
        target_id=case.case_id,
        at=now,
        after={**case_summary(case), "dispute_id": dispute.id},
    )
    return case


async def resolve_cases_for_dispute(
    uow: UnitOfWork, ctx: RequestContext, dispute: Dispute, now: datetime
) -> list[Case]:
    """Resolve the open cases of a dispute that reached RESOLVED or WITHDRAWN, in the same
    transaction (called by the saga's last step and by ``withdraw_dispute``). A concurrent
    change of the case raises (the caller's transaction is retried), never half-records."""
    resolution = (
        f"dispute {dispute.id} withdrawn"
        if dispute.status is DisputeStatus.WITHDRAWN
        else f"dispute {dispute.id} resolved: {dispute.decision.outcome.value if dispute.decision else '-'}"
    )
    resolved: list[Case] = []
    for case in await uow.cases.for_subject(dispute.country, CaseKind.DISPUTE, dispute.id):
        if not case.state.is_open:
            continue
        before = case_summary(case)
        done = case.resolve(now, actor_of(ctx.principal), resolution)
        if isinstance(done, Failure):  # pragma: no cover - an open case can always resolve
            raise RuntimeError(done.failure().message)
        saved = await uow.cases.save(case)
        if isinstance(saved, Failure):
            raise RuntimeError(saved.failure().message)
        await audit_late_breaches(uow, ctx, case, now)
        await record(
            uow,
            ctx,
            country=dispute.country,
            action="case.resolved",
            target_type="case",
            target_id=case.case_id,
            at=now,
            before=before,
            after={**case_summary(case), "entry": last_entry(case)},
        )
        resolved.append(case)
    return resolved
