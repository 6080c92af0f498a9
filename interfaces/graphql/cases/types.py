"""GraphQL types of cases (incidents, disputes' cases, platform incidents, diagnostics).

A :class:`Case` is built from the domain aggregate with ``from_domain(case, now,
calendar)``: the clocks' ``remainingSeconds`` are computed at read time, in each
target's basis (24x7 or the country's business time), from the service's clock. The
linked order and dispute are loaded through the request's dataloaders, so a page of the
work queue costs one order query and one dispute query, whatever its size.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from application.security.principal import Operation
from domain.cases.calendar import BusinessCalendar
from domain.cases.case import Case as DomainCase
from domain.cases.case import ClockState, Rating, SlaClock, TimelineEntry, TimelineKind
from domain.cases.kinds import (
    CaseKind,
    CaseStatus,
    ClockKind,
    IncidentAction,
    IncidentType,
    Severity,
    Tier,
)
from domain.cases.sla import Basis
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.types import CaseBundle
from interfaces.graphql.disputes.types import ActorType, Dispute
from interfaces.graphql.orders.types import Order
from interfaces.graphql.scope import viewer

strawberry.enum(CaseKind, description="What a case is about (SPEC §6).")
strawberry.enum(Severity, description="SEV0 (total outage, critical risk) to SEV3 (non-blocking).")
strawberry.enum(Tier, description="Who holds a case: L0 (the rules) to L3.")
strawberry.enum(CaseStatus, description="Where a case is in its life.")
strawberry.enum(ClockKind, description="The three SLA targets of a case.")
strawberry.enum(ClockState, description="RUNNING, PAUSED (waiting on the customer), BREACHED or STOPPED.")
strawberry.enum(TimelineKind, name="CaseTimelineKind", description="What a timeline entry records.")
strawberry.enum(IncidentType, description="What went wrong with an order in flight.")
strawberry.enum(IncidentAction, description="What support does about an incident.")
strawberry.enum(Basis, name="SlaBasis", description="CONTINUOUS (24x7) or BUSINESS (the country's hours).")


@strawberry.type(name="SlaTarget", description="How long a clock may run.")
class SlaTargetType:
    basis: Basis
    description: str = strawberry.field(description='For people: "15 min, 24x7", "4 business hours"...')


@strawberry.type(name="SlaClock", description="One SLA clock of a case.")
class SlaClockType:
    kind: ClockKind
    state: ClockState
    target: SlaTargetType
    started_at: datetime
    deadline: datetime | None = strawberry.field(
        description="When it breaches (null while paused); once stopped, when it was due."
    )
    remaining_seconds: int | None = strawberry.field(
        description="Time left now, in the target's basis (0 when overdue); null once stopped."
    )
    overdue: bool = strawberry.field(description="Running past its deadline (breached or about to be).")
    breached_at: datetime | None
    stopped_at: datetime | None
    met_on_time: bool | None = strawberry.field(description="Null while live; then stopped before breaching.")

    @staticmethod
    def from_domain(clock: SlaClock, now: datetime, calendar: BusinessCalendar) -> SlaClockType:
        state = clock.state
        remaining: int | None = None
        if state is ClockState.PAUSED and clock.remaining is not None:
            remaining = int(clock.remaining.total_seconds())
        elif state in (ClockState.RUNNING, ClockState.BREACHED) and clock.deadline is not None:
            remaining = max(0, int(clock.target.remaining(clock.deadline, now, calendar).total_seconds()))
        live = state in (ClockState.RUNNING, ClockState.BREACHED)
        return SlaClockType(
            kind=clock.kind,
            state=state,
            target=SlaTargetType(basis=clock.target.basis, description=clock.target.describe()),
            started_at=clock.started_at,
            deadline=clock.deadline,
            remaining_seconds=remaining,
            overdue=live and clock.deadline is not None and clock.deadline <= now,
            breached_at=clock.breached_at,
            stopped_at=clock.stopped_at,
            met_on_time=clock.met_on_time(),
        )


@strawberry.type(name="KeyValue", description="One item of a small string map.")
class KeyValue:
    key: str
    value: str


@strawberry.type(name="CaseTimelineEntry", description="One entry of a case's append-only timeline.")
class CaseTimelineEntryType:
    sequence: int
    at: datetime
    kind: TimelineKind
    actor: ActorType
    summary: str
    data: list[KeyValue]

    @staticmethod
    def from_domain(entry: TimelineEntry) -> CaseTimelineEntryType:
        return CaseTimelineEntryType(
            sequence=entry.sequence,
            at=entry.at,
            kind=entry.kind,
            actor=ActorType.from_domain(entry.actor),
            summary=entry.summary,
            data=[KeyValue(key=key, value=value) for key, value in sorted(entry.data.items())],
        )


@strawberry.type(name="CaseRating", description="The customer's rating, given once after resolution.")
class CaseRatingType:
    score: int = strawberry.field(description="1 (bad) to 5 (excellent).")
    comment: str
    rated_by: ActorType
    rated_at: datetime

    @staticmethod
    def from_domain(rating: Rating) -> CaseRatingType:
        return CaseRatingType(
            score=rating.score,
            comment=rating.comment,
            rated_by=ActorType.from_domain(rating.rated_by),
            rated_at=rating.rated_at,
        )


async def resolve_case_order(root: Case, info: GraphQLInfo) -> Order | None:
    principal = await viewer(info)
    order_id = root.domain.state.order_id
    country = root.domain.country
    if principal is None or order_id is None or not principal.in_scope(country):
        return None
    found = await info.context.loaders.orders.load((country, order_id))
    return None if found is None else Order.from_domain(found)


async def resolve_case_dispute(root: Case, info: GraphQLInfo) -> Dispute | None:
    principal = await viewer(info)
    state = root.domain.state
    if principal is None or state.kind is not CaseKind.DISPUTE or state.subject_ref is None:
        return None
    if not principal.in_scope(state.country):
        return None
    found = await info.context.loaders.disputes.load((state.country, state.subject_ref))
    return None if found is None else Dispute.from_domain(found)


async def resolve_case_bundles(root: Case, info: GraphQLInfo) -> list[CaseBundle]:
    """The case's diagnostics bundles, oldest first, through the request's dataloader (one
    query per page of cases); empty for a caller who may not read cases in its country."""
    principal = await viewer(info)
    country = root.domain.country
    loader = info.context.loaders.case_bundles
    if principal is None or loader is None or not principal.in_scope(country):
        return []
    if not principal.may(Operation.CASE_READ):
        return []
    return [CaseBundle.from_domain(b) for b in await loader.load((country, root.domain.case_id))]


@strawberry.type(
    description="What support works on: an order incident, a dispute, a platform incident "
    "or a diagnostics ticket, with its severity, tier, status and SLA clocks."
)
class Case:
    id: str
    country_code: str
    kind: CaseKind
    severity: Severity
    tier: Tier
    status: CaseStatus
    title: str
    assignee: str | None = strawberry.field(description="The agent holding it; null: the tier's queue.")
    order_id: str | None
    subject_ref: str | None = strawberry.field(
        description="The dispute id, platform incident id or bundle name the case is about."
    )
    incident_type: IncidentType | None
    opened_at: datetime
    opened_by: ActorType
    policy_version: int = strawberry.field(description="The SLA policy version the case opened under.")
    next_deadline: datetime | None = strawberry.field(
        description="The nearest deadline of a running clock (the work queue's order)."
    )
    breaches: int = strawberry.field(description="SLA clocks breached so far.")
    clocks: list[SlaClockType]
    timeline: list[CaseTimelineEntryType] = strawberry.field(description="Oldest first.")
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    resolved_tier: Tier | None = strawberry.field(
        description="Who resolved it: L0 (the rules) or a human tier."
    )
    resolution: str | None
    closed_at: datetime | None
    rating: CaseRatingType | None
    updated_at: datetime
    version: int
    order: Order | None = strawberry.field(
        resolver=resolve_case_order, description="The order an incident or dispute case is about."
    )
    dispute: Dispute | None = strawberry.field(
        resolver=resolve_case_dispute, description="The dispute of a DISPUTE case."
    )
    bundles: list[CaseBundle] = strawberry.field(
        resolver=resolve_case_bundles,
        description="The diagnostics bundles attached to the case, oldest first (as `caseBundles`).",
    )
    domain: strawberry.Private[DomainCase]

    @staticmethod
    def from_domain(case: DomainCase, now: datetime, calendar: BusinessCalendar) -> Case:
        state = case.state
        return Case(
            id=state.case_id,
            country_code=state.country.value,
            kind=state.kind,
            severity=state.severity,
            tier=state.tier,
            status=state.status,
            title=state.title,
            assignee=state.assignee,
            order_id=state.order_id,
            subject_ref=state.subject_ref,
            incident_type=state.incident_type,
            opened_at=state.opened_at,
            opened_by=ActorType.from_domain(state.opened_by),
            policy_version=state.policy_version,
            next_deadline=state.next_deadline,
            breaches=state.breaches,
            clocks=[
                SlaClockType.from_domain(state.clocks[kind], now, calendar)
                for kind in ClockKind
                if kind in state.clocks
            ],
            timeline=[CaseTimelineEntryType.from_domain(entry) for entry in state.timeline],
            acknowledged_at=state.acknowledged_at,
            mitigated_at=state.mitigated_at,
            resolved_at=state.resolved_at,
            resolved_tier=state.resolved_tier,
            resolution=state.resolution,
            closed_at=state.closed_at,
            rating=None if state.rating is None else CaseRatingType.from_domain(state.rating),
            updated_at=state.timeline[-1].at if state.timeline else state.opened_at,
            version=state.version,
            domain=case,
        )


def case_of(info: GraphQLInfo, case: DomainCase) -> Case:
    """The GraphQL case, its clocks read against the service's clock and the case's calendar."""
    services = info.context.services
    return Case.from_domain(case, services.clock.now(), services.calendars.calendar_for(case.country))
