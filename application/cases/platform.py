"""Platform-incident use cases: open, update (links, status updates, mitigate, resolve),
close with its post-incident review, and the reads (D46).

Each platform incident has a case of kind ``PLATFORM_INCIDENT`` (``subject_ref`` = the
incident id) that carries its SLA clocks; every command changes both in one unit of
work. Opening acknowledges the case at once (whoever opens an outage is working it), so
its ``STATUS_UPDATE`` clock starts then; every status update posts to the case too and
restarts that clock, and the incident keeps the new deadline (``update_due_at``) for the
reminder task. Closing resolves and closes the case and writes the review, built from
the recorded timelines and the ledger postings of the affected orders' dispute outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.scheduler import audit_late_breaches, count_late_breaches
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.platform_incidents import StoredReview
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.calendar import BusinessCalendar
from domain.cases.case import Case, CaseState
from domain.cases.errors import CaseError
from domain.cases.kinds import CaseKind, ClockKind, Severity, Tier
from domain.cases.platform import (
    ActionItem,
    PlatformIncident,
    PlatformIncidentClosed,
    PlatformIncidentError,
    PlatformIncidentStatus,
)
from domain.cases.review import DisputeOutcome, PostIncidentReview, build_review
from domain.cases.sla import SlaPolicy
from domain.disputes.evidence import ActorRef
from domain.disputes.references import ledger_prefix
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import ActorId, OrderId

KIND = CaseKind.PLATFORM_INCIDENT
TARGET = "platform_incident"
LINK_NOTE = "linked to platform incident {incident_id}: {title}"

PlatformFailure = (
    Forbidden | NotFound | InvalidInput | PlatformIncidentError | CaseError | ConcurrencyConflict
)


def actor_of(ctx: RequestContext) -> ActorRef:
    return ActorRef(ActorId(ctx.principal.actor_id), ctx.principal.role.value)


def incident_summary(incident: PlatformIncident) -> dict[str, Any]:
    state = incident.state
    return {
        "status": state.status.value,
        "severity": state.severity.value,
        "version": state.version,
        "case_id": state.case_id,
        "orders": len(state.order_ids),
        "cases": len(state.case_ids),
        "updates": len(state.updates),
    }


def _update_due(case: Case) -> datetime | None:
    clock = case.state.clocks.get(ClockKind.STATUS_UPDATE)
    return None if clock is None else clock.due_at


async def _policy_of(uow: UnitOfWork, state: CaseState) -> SlaPolicy:
    stored = await uow.sla_policies.version(state.country, state.kind, state.policy_version)
    return stored if stored is not None else await uow.sla_policies.current(state.country, state.kind)


async def _link(
    uow: UnitOfWork,
    incident: PlatformIncident,
    actor: ActorRef,
    now: datetime,
    *,
    order_ids: Sequence[str],
    case_ids: Sequence[str],
) -> Result[None, PlatformFailure]:
    """Link orders and cases that exist in the incident's country; each newly linked case
    gets a note on its timeline."""
    country = incident.country
    for order_id in dict.fromkeys(order_ids):
        if await uow.orders.get(country, OrderId(order_id)) is None:
            return Failure(NotFound("order", order_id))
    linked_cases: list[Case] = []
    for case_id in dict.fromkeys(case_ids):
        case = await uow.cases.get(country, case_id)
        if case is None:
            return Failure(NotFound("case", case_id))
        linked_cases.append(case)
    linked = incident.link(now, actor, order_ids=order_ids, case_ids=case_ids)
    if isinstance(linked, Failure):
        return Failure(linked.failure())
    fresh = {link.ref for link in linked.unwrap()}
    note = LINK_NOTE.format(incident_id=incident.incident_id, title=incident.state.title)
    for case in linked_cases:
        if case.case_id not in fresh:
            continue
        noted = case.add_note(now, actor, note)
        if isinstance(noted, Failure):
            return Failure(noted.failure())
        saved = await uow.cases.save(case)
        if isinstance(saved, Failure):
            return saved
    return Success(None)


# ----------------------------------------------------------------------------- open


@dataclass(frozen=True, slots=True)
class OpenPlatformIncident:
    country: CountryCode
    severity: Severity
    title: str
    order_ids: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()


async def open_platform_incident(
    svc: Services, ctx: RequestContext, cmd: OpenPlatformIncident
) -> Result[PlatformIncident, PlatformFailure]:
    allowed = authorize(ctx.principal, Operation.PLATFORM_INCIDENT_MANAGE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    actor = actor_of(ctx)
    calendar = svc.calendars.calendar_for(cmd.country)
    incident_id, case_id = svc.ids.new_id("pinc"), svc.ids.new_id("case")
    tier = Tier(ctx.principal.role.value) if ctx.principal.role.value in ("L1", "L2", "L3") else Tier.L1
    async with svc.uow() as uow:
        policy = await uow.sla_policies.current(cmd.country, KIND)
        opened_case = Case.open(
            case_id=case_id,
            country=cmd.country,
            kind=KIND,
            severity=cmd.severity,
            title=cmd.title,
            opened_by=actor,
            at=now,
            policy=policy,
            calendar=calendar,
            tier=tier,
            subject_ref=incident_id,
        )
        if isinstance(opened_case, Failure):
            return opened_case
        case = opened_case.unwrap()
        acknowledged = case.acknowledge(now, actor, calendar, policy)
        if isinstance(acknowledged, Failure):
            return acknowledged
        opened = PlatformIncident.open(
            incident_id=incident_id,
            country=cmd.country,
            severity=cmd.severity,
            title=cmd.title,
            opened_by=actor,
            at=now,
            case_id=case_id,
            update_due_at=_update_due(case),
        )
        if isinstance(opened, Failure):
            return opened
        incident = opened.unwrap()
        linked = await _link(uow, incident, actor, now, order_ids=cmd.order_ids, case_ids=cmd.case_ids)
        if isinstance(linked, Failure):
            return linked
        await uow.cases.add(case)
        await uow.platform_incidents.add(incident)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="platform_incident.opened",
            target_type=TARGET,
            target_id=incident_id,
            at=now,
            after={**incident_summary(incident), "title": incident.state.title},
        )
        await uow.commit()
    return Success(incident)


# ----------------------------------------------------------------------------- update


@dataclass(frozen=True, slots=True)
class UpdatePlatformIncident:
    """A status update (``text``), optionally moving the incident to MITIGATED or
    RESOLVED, and/or more affected orders and cases; at least one of the two."""

    country: CountryCode
    incident_id: str
    text: str | None = None
    status: PlatformIncidentStatus | None = None
    order_ids: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()


async def _load(
    uow: UnitOfWork, country: CountryCode, incident_id: str
) -> Result[tuple[PlatformIncident, Case], NotFound]:
    incident = await uow.platform_incidents.get(country, incident_id)
    if incident is None:
        return Failure(NotFound(TARGET, incident_id))
    case = await uow.cases.get(country, incident.state.case_id)
    if case is None:  # pragma: no cover - opened in the same transaction as the incident
        return Failure(NotFound("case", incident.state.case_id))
    return Success((incident, case))


def _post_to_case(
    case: Case,
    change: PlatformIncidentStatus | None,
    text: str,
    *,
    at: datetime,
    actor: ActorRef,
    context: tuple[BusinessCalendar, SlaPolicy],
) -> Result[None, CaseError]:
    calendar, policy = context
    posted = case.post_status_update(at, actor, text, calendar, policy)
    if isinstance(posted, Failure):
        return posted
    if change is PlatformIncidentStatus.MITIGATED:
        return case.mitigate(at, actor, text, calendar, policy)
    if change is PlatformIncidentStatus.RESOLVED:
        return case.resolve(at, actor, text)
    return Success(None)


def _update_problem(cmd: UpdatePlatformIncident, text: str) -> InvalidInput | None:
    if not text and not cmd.order_ids and not cmd.case_ids:
        return InvalidInput("text", "give a status update, affected orders or cases, or both")
    if cmd.status is not None and not text:
        return InvalidInput("text", "a change of status comes with a status update")
    if cmd.status in (PlatformIncidentStatus.OPEN, PlatformIncidentStatus.CLOSED):
        return InvalidInput("status", "an update may move the incident to MITIGATED or RESOLVED")
    return None


async def update_platform_incident(
    svc: Services, ctx: RequestContext, cmd: UpdatePlatformIncident
) -> Result[PlatformIncident, PlatformFailure]:
    allowed = authorize(ctx.principal, Operation.PLATFORM_INCIDENT_MANAGE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    text = (cmd.text or "").strip()
    problem = _update_problem(cmd, text)
    if problem is not None:
        return Failure(problem)
    now = svc.clock.now()
    actor = actor_of(ctx)
    async with svc.uow() as uow:
        loaded = await _load(uow, cmd.country, cmd.incident_id)
        if isinstance(loaded, Failure):
            return loaded
        incident, case = loaded.unwrap()
        before = incident_summary(incident)
        if cmd.order_ids or cmd.case_ids:
            linked = await _link(uow, incident, actor, now, order_ids=cmd.order_ids, case_ids=cmd.case_ids)
            if isinstance(linked, Failure):
                return linked
        if text:
            if not incident.state.is_live:
                return Failure(PlatformIncidentClosed(incident.incident_id))
            change = cmd.status if cmd.status is not incident.state.status else None
            context = (svc.calendars.calendar_for(cmd.country), await _policy_of(uow, case.state))
            posted_to_case = _post_to_case(case, change, text, at=now, actor=actor, context=context)
            if isinstance(posted_to_case, Failure):
                return posted_to_case
            posted = incident.post_update(now, actor, text, status=change, update_due_at=_update_due(case))
            if isinstance(posted, Failure):
                return posted
            saved_case = await uow.cases.save(case)
            if isinstance(saved_case, Failure):
                return saved_case
            await audit_late_breaches(uow, ctx, case, now)
        saved = await uow.platform_incidents.save(incident)
        if isinstance(saved, Failure):
            return saved
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="platform_incident.updated",
            target_type=TARGET,
            target_id=incident.incident_id,
            at=now,
            before=before,
            after={
                **incident_summary(incident),
                "text": text,
                "status_change": cmd.status.value if cmd.status else None,
            },
        )
        await uow.commit()
    count_late_breaches(svc, case.pull_events())
    return Success(incident)


# ----------------------------------------------------------------------------- close


@dataclass(frozen=True, slots=True)
class ActionItemInput:
    description: str
    owner: str


@dataclass(frozen=True, slots=True)
class ClosePlatformIncident:
    country: CountryCode
    incident_id: str
    root_cause: str
    action_items: tuple[ActionItemInput, ...] = field(default_factory=tuple)


async def outcomes_of_orders(
    uow: UnitOfWork, country: CountryCode, order_ids: Sequence[str]
) -> list[DisputeOutcome]:
    """Every dispute of these orders with the ledger postings of its outcome."""
    outcomes: list[DisputeOutcome] = []
    for order_id in dict.fromkeys(order_ids):
        for dispute in await uow.disputes.for_order(country, OrderId(order_id)):
            transactions = await uow.ledger.transactions_for(country, ledger_prefix(dispute.id))
            decided = dispute.decision.outcome.value if dispute.decision is not None else None
            outcomes.append(DisputeOutcome(order_id, dispute.id, decided, tuple(transactions)))
    return outcomes


async def _write_review(
    uow: UnitOfWork, incident: PlatformIncident, own_case: Case, actor: ActorRef
) -> PostIncidentReview:
    state = incident.state
    cases: list[CaseState] = [own_case.state]
    for case_id in state.case_ids:
        linked = await uow.cases.get(state.country, case_id)
        if linked is not None:
            cases.append(linked.state)
    orders = list(state.order_ids) + [c.order_id for c in cases[1:] if c.order_id is not None]
    outcomes = await outcomes_of_orders(uow, state.country, orders)
    review = build_review(state, cases, outcomes)
    await uow.platform_incidents.add_review(
        StoredReview(
            country=state.country,
            incident_id=state.incident_id,
            written_at=review.written_at,
            written_by=actor,
            markdown=review.markdown,
            orders_affected=len(review.orders_affected),
            cases_affected=len(review.cases_affected),
            disputes=review.disputes,
            refunded=review.refunded,
            credited=review.credited,
        )
    )
    return review


async def close_platform_incident(
    svc: Services, ctx: RequestContext, cmd: ClosePlatformIncident
) -> Result[tuple[PlatformIncident, PostIncidentReview], PlatformFailure]:
    allowed = authorize(ctx.principal, Operation.PLATFORM_INCIDENT_CLOSE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    items: list[ActionItem] = []
    for item in cmd.action_items:
        built = ActionItem.build(item.description, item.owner)
        if isinstance(built, Failure):
            return built
        items.append(built.unwrap())
    now = svc.clock.now()
    actor = actor_of(ctx)
    async with svc.uow() as uow:
        loaded = await _load(uow, cmd.country, cmd.incident_id)
        if isinstance(loaded, Failure):
            return loaded
        incident, case = loaded.unwrap()
        before = incident_summary(incident)
        closed = incident.close(now, actor, root_cause=cmd.root_cause, action_items=items)
        if isinstance(closed, Failure):
            return closed
        if case.state.is_open:
            resolved = case.resolve(
                now, actor, f"platform incident closed; root cause: {cmd.root_cause.strip()}"
            )
            if isinstance(resolved, Failure):
                return resolved
        closed_case = case.close(now, actor)
        if isinstance(closed_case, Failure):
            return closed_case
        for saved in (await uow.cases.save(case), await uow.platform_incidents.save(incident)):
            if isinstance(saved, Failure):
                return saved
        await audit_late_breaches(uow, ctx, case, now)
        review = await _write_review(uow, incident, case, actor)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="platform_incident.closed",
            target_type=TARGET,
            target_id=incident.incident_id,
            at=now,
            before=before,
            after={
                **incident_summary(incident),
                "root_cause": incident.state.root_cause,
                "action_items": [{"description": i.description, "owner": i.owner} for i in items],
                "review": {
                    "orders_affected": len(review.orders_affected),
                    "cases_affected": len(review.cases_affected),
                    "disputes": review.disputes,
                    "refunded": {code: money.minor for code, money in review.refunded.items()},
                    "credited": {code: money.minor for code, money in review.credited.items()},
                },
            },
        )
        await uow.commit()
    count_late_breaches(svc, case.pull_events())
    return Success((incident, review))


# ----------------------------------------------------------------------------- reads


async def get_platform_incident(
    svc: Services, ctx: RequestContext, country: CountryCode, incident_id: str
) -> Result[PlatformIncident, Forbidden | NotFound]:
    allowed = authorize(ctx.principal, Operation.PLATFORM_INCIDENT_READ, country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        incident = await uow.platform_incidents.get(country, incident_id)
    return Success(incident) if incident is not None else Failure(NotFound(TARGET, incident_id))


async def get_review(
    svc: Services, ctx: RequestContext, country: CountryCode, incident_id: str
) -> Result[StoredReview, Forbidden | NotFound]:
    allowed = authorize(ctx.principal, Operation.PLATFORM_INCIDENT_READ, country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        review = await uow.platform_incidents.review(country, incident_id)
    return Success(review) if review is not None else Failure(NotFound("post_incident_review", incident_id))
