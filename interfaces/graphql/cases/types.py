"""GraphQL types of cases (incidents, disputes' cases, platform incidents, diagnostics).

A :class:`Case` is built from the domain aggregate with ``from_domain(case, now,
calendar)``: the clocks' ``remainingSeconds`` are computed at read time, in each
target's basis (24x7 or the country's business time), from the service's clock. The
linked order and dispute are loaded through the request's dataloaders, so a page of the
work queue costs one order query and one dispute query, whatever its size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from application.security.principal import Operation, Principal
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
from domain.diagnostics.attachment import BundleAttachment
from domain.disputes import Dispute as DomainDispute
from domain.orders import Order as DomainOrder
from interfaces.graphql.common import Key, in_place_or_awaited, node_fields, preload
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.types import CaseBundle
from interfaces.graphql.disputes.types import ActorType, Dispute
from interfaces.graphql.orders.types import Order
from interfaces.graphql.scope import load_relation, relation_in_place, viewer

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


# A case's relations in a page of cases (D143): answered from what ``preload_relations``
# loaded when it is there, as a value; otherwise loaded (a coroutine). The same answer.


def _order_key(case: DomainCase, principal: Principal | None) -> Key | None:
    """The order the caller may read through the case, if any."""
    order_id = case.state.order_id
    if principal is None or order_id is None or not principal.in_scope(case.country):
        return None
    return (case.country, order_id)


def _order_shown(found: DomainOrder | None) -> Order | None:
    return None if found is None else Order.from_domain(found)


async def _load_case_order(root: Case, info: GraphQLInfo) -> Order | None:
    return await load_relation(info, root.domain, _order_key, info.context.loaders.orders, _order_shown, None)


def resolve_case_order(root: Case, info: GraphQLInfo) -> Order | Awaitable[Order | None] | None:
    loader = info.context.loaders.orders
    return relation_in_place(
        info, root.domain, _order_key, loader, _order_shown, None, lambda: _load_case_order(root, info)
    )


def _dispute_key(case: DomainCase, principal: Principal | None) -> Key | None:
    """The dispute of a DISPUTE case, when the caller may read it through the case."""
    state = case.state
    if principal is None or state.kind is not CaseKind.DISPUTE or state.subject_ref is None:
        return None
    return (state.country, state.subject_ref) if principal.in_scope(state.country) else None


def _dispute_shown(found: DomainDispute | None) -> Dispute | None:
    return None if found is None else Dispute.from_domain(found)


async def _load_case_dispute(root: Case, info: GraphQLInfo) -> Dispute | None:
    loader = info.context.loaders.disputes
    return await load_relation(info, root.domain, _dispute_key, loader, _dispute_shown, None)


def resolve_case_dispute(root: Case, info: GraphQLInfo) -> Dispute | Awaitable[Dispute | None] | None:
    loader = info.context.loaders.disputes
    return relation_in_place(
        info, root.domain, _dispute_key, loader, _dispute_shown, None, lambda: _load_case_dispute(root, info)
    )


def _bundles_key(case: DomainCase, principal: Principal | None) -> Key | None:
    """The case's bundles' key, when the caller may read cases in its country."""
    if principal is None or not principal.in_scope(case.country) or not principal.may(Operation.CASE_READ):
        return None
    return (case.country, case.case_id)


def _bundles_shown(found: list[BundleAttachment]) -> list[CaseBundle]:
    return [CaseBundle.from_domain(bundle) for bundle in found]


async def _load_case_bundles(root: Case, info: GraphQLInfo) -> list[CaseBundle]:
    loader = info.context.loaders.case_bundles
    return await load_relation(info, root.domain, _bundles_key, loader, _bundles_shown, [])


def resolve_case_bundles(root: Case, info: GraphQLInfo) -> list[CaseBundle] | Awaitable[list[CaseBundle]]:
    """The case's diagnostics bundles, oldest first, through the request's dataloader (one
    query per page of cases); empty for a caller who may not read cases in its country."""
    loader = info.context.loaders.case_bundles
    return relation_in_place(
        info, root.domain, _bundles_key, loader, _bundles_shown, [], lambda: _load_case_bundles(root, info)
    )


async def preload_relations(info: GraphQLInfo, cases: Sequence[DomainCase]) -> None:
    """Load the relations a page of cases' nodes ask for (their orders, their disputes, their
    bundles), as the caller may read them, before the page is answered, in the loaders' own
    batches, so the nested fields answer in place (D143)."""
    if not cases:
        return
    wanted = node_fields(info)
    if not wanted & {"order", "dispute", "bundles"}:
        return
    principal = await viewer(info)
    loaders = info.context.loaders
    loads: list[tuple[DataLoader[Any, Any], Sequence[Hashable]]] = []
    for name, loader, key_of in (
        ("order", loaders.orders, _order_key),
        ("dispute", loaders.disputes, _dispute_key),
        ("bundles", loaders.case_bundles, _bundles_key),
    ):
        if name in wanted and loader is not None:
            loads.append((loader, [key for case in cases if (key := key_of(case, principal)) is not None]))
    await preload(loads)


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
        resolver=in_place_or_awaited(resolve_case_order),
        description="The order an incident or dispute case is about.",
    )
    dispute: Dispute | None = strawberry.field(
        resolver=in_place_or_awaited(resolve_case_dispute), description="The dispute of a DISPUTE case."
    )
    bundles: list[CaseBundle] = strawberry.field(
        resolver=in_place_or_awaited(resolve_case_bundles),
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
