"""GraphQL types of platform incidents, post-incident reviews and the monthly case report.

Built from domain objects (``from_domain``); amounts are ``Money`` (integer minor units),
times in seconds, shares in basis points: no floats anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry

from application.cases.reports import to_markdown
from application.ports.platform_incidents import StoredReview
from domain.cases.kinds import Severity
from domain.cases.platform import (
    IncidentEntryKind,
    LinkKind,
    PlatformIncidentStatus,
)
from domain.cases.platform import (
    PlatformIncident as DomainIncident,
)
from domain.cases.report import CaseReport as DomainReport
from domain.cases.report import Durations
from domain.shared import Money as DomainMoney
from interfaces.graphql.cases.types import KeyValue  # also registers Severity with strawberry
from interfaces.graphql.common import Money
from interfaces.graphql.disputes.types import ActorType

strawberry.enum(PlatformIncidentStatus, description="OPEN -> MITIGATED -> RESOLVED -> CLOSED.")
strawberry.enum(IncidentEntryKind, name="PlatformIncidentEntryKind", description="What an entry records.")
strawberry.enum(LinkKind, name="PlatformIncidentLinkKind", description="An affected ORDER or CASE.")


def _amounts(amounts: Mapping[str, DomainMoney]) -> list[Money]:
    return [Money.from_domain(amount) for amount in amounts.values()]


@strawberry.type(name="PlatformIncidentUpdate", description="A status update for the people affected.")
class PlatformIncidentUpdateType:
    sequence: int
    at: datetime
    author: ActorType
    text: str
    status: PlatformIncidentStatus = strawberry.field(description="The incident's status once posted.")


@strawberry.type(name="PlatformIncidentEntry", description="One entry of the incident's own timeline.")
class PlatformIncidentEntryType:
    sequence: int
    at: datetime
    kind: IncidentEntryKind
    actor: ActorType
    summary: str
    data: list[KeyValue]


@strawberry.type(name="PlatformIncidentLink", description="An order or case the incident affects.")
class PlatformIncidentLinkType:
    kind: LinkKind
    ref: str = strawberry.field(description="The order id or case id.")
    linked_at: datetime
    linked_by: ActorType


@strawberry.type(name="ActionItem", description="A follow-up from the post-incident review, with its owner.")
class ActionItemType:
    description: str
    owner: str


@strawberry.type(
    description="An outage or degraded provider, with the orders and cases it affects (SPEC §6)."
)
class PlatformIncident:
    id: str
    country_code: str
    severity: Severity
    title: str
    status: PlatformIncidentStatus
    case_id: str = strawberry.field(description="Its PLATFORM_INCIDENT case (the SLA clocks).")
    opened_at: datetime
    opened_by: ActorType
    update_due_at: datetime | None = strawberry.field(
        description="When the next status update is due (the severity's cadence); null once resolved."
    )
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    root_cause: str | None
    action_items: list[ActionItemType]
    order_ids: list[str]
    case_ids: list[str]
    links: list[PlatformIncidentLinkType]
    updates: list[PlatformIncidentUpdateType] = strawberry.field(description="Oldest first.")
    timeline: list[PlatformIncidentEntryType] = strawberry.field(description="Oldest first.")
    version: int

    @staticmethod
    def from_domain(incident: DomainIncident) -> PlatformIncident:
        s = incident.state
        return PlatformIncident(
            id=s.incident_id,
            country_code=s.country.value,
            severity=s.severity,
            title=s.title,
            status=s.status,
            case_id=s.case_id,
            opened_at=s.opened_at,
            opened_by=ActorType.from_domain(s.opened_by),
            update_due_at=s.update_due_at,
            mitigated_at=s.mitigated_at,
            resolved_at=s.resolved_at,
            closed_at=s.closed_at,
            root_cause=s.root_cause,
            action_items=[ActionItemType(description=i.description, owner=i.owner) for i in s.action_items],
            order_ids=list(s.order_ids),
            case_ids=list(s.case_ids),
            links=[
                PlatformIncidentLinkType(
                    kind=link.kind,
                    ref=link.ref,
                    linked_at=link.linked_at,
                    linked_by=ActorType.from_domain(link.linked_by),
                )
                for link in s.links
            ],
            updates=[
                PlatformIncidentUpdateType(
                    sequence=u.sequence,
                    at=u.at,
                    author=ActorType.from_domain(u.author),
                    text=u.text,
                    status=u.status,
                )
                for u in s.updates
            ],
            timeline=[
                PlatformIncidentEntryType(
                    sequence=e.sequence,
                    at=e.at,
                    kind=e.kind,
                    actor=ActorType.from_domain(e.actor),
                    summary=e.summary,
                    data=[KeyValue(key=k, value=v) for k, v in sorted(e.data.items())],
                )
                for e in s.timeline
            ],
            version=s.version,
        )


@strawberry.type(description="The review written when a platform incident closed (Markdown and its figures).")
class PostIncidentReview:
    incident_id: str
    country_code: str
    written_at: datetime
    written_by: ActorType
    markdown: str = strawberry.field(description="Summary, timeline, impact, root cause, action items.")
    orders_affected: int
    cases_affected: int
    disputes: int = strawberry.field(description="Disputes of the affected orders.")
    refunded: list[Money] = strawberry.field(description="Refunded through outcomes, per currency.")
    store_credit: list[Money] = strawberry.field(description="Store credit through outcomes, per currency.")

    @staticmethod
    def from_domain(review: StoredReview) -> PostIncidentReview:
        return PostIncidentReview(
            incident_id=review.incident_id,
            country_code=review.country.value,
            written_at=review.written_at,
            written_by=ActorType.from_domain(review.written_by),
            markdown=review.markdown,
            orders_affected=review.orders_affected,
            cases_affected=review.cases_affected,
            disputes=review.disputes,
            refunded=_amounts(review.refunded),
            store_credit=_amounts(review.credited),
        )


@strawberry.type(description="How many cases of one kind and severity.")
class CaseCount:
    kind: str
    severity: Severity
    cases: int


@strawberry.type(description="Whole seconds, exact nearest-rank percentiles.")
class DurationStats:
    count: int
    p50_seconds: int | None
    p90_seconds: int | None

    @staticmethod
    def from_domain(durations: Durations) -> DurationStats:
        return DurationStats(
            count=durations.count, p50_seconds=durations.p50_seconds, p90_seconds=durations.p90_seconds
        )


@strawberry.type(description="SLA clocks met and breached for one severity.")
class SlaCompliance:
    severity: Severity
    cases: int
    clocks_met: int
    clocks_breached: int
    compliance_bp: int | None = strawberry.field(
        description="met / (met + breached), basis points, rounded down."
    )
    cases_breached: int
    breaches: int


@strawberry.type(description="Resolved cases by the tier that resolved them (L0: the rules).")
class TierShare:
    tier: str
    resolved: int
    share_bp: int | None


@strawberry.type(description="How many ratings gave this score.")
class ScoreCount:
    score: int
    ratings: int


@strawberry.type(description="Customer ratings of the month's cases.")
class Satisfaction:
    ratings: int
    distribution: list[ScoreCount]
    average_hundredths: int | None = strawberry.field(description="The average x 100 (4.25 -> 425).")


@strawberry.type(description="The monthly case report of a country (cases opened in the UTC month).")
class CaseReport:
    country_code: str
    month: str
    cases: int
    by_kind_severity: list[CaseCount]
    acknowledge: DurationStats
    mitigate: DurationStats
    sla: list[SlaCompliance]
    resolved: int
    by_tier: list[TierShare]
    satisfaction: Satisfaction
    disputes: int
    refunded: list[Money]
    store_credit: list[Money]
    markdown: str = strawberry.field(description="The same report for people.")

    @staticmethod
    def from_domain(report: DomainReport) -> CaseReport:
        sat = report.satisfaction
        return CaseReport(
            country_code=report.country.value,
            month=str(report.month),
            cases=report.cases,
            by_kind_severity=[
                CaseCount(kind=kind.value, severity=severity, cases=count)
                for kind, counts in report.by_kind_severity.items()
                for severity, count in counts.items()
            ],
            acknowledge=DurationStats.from_domain(report.acknowledge),
            mitigate=DurationStats.from_domain(report.mitigate),
            sla=[
                SlaCompliance(
                    severity=line.severity,
                    cases=line.cases,
                    clocks_met=line.clocks_met,
                    clocks_breached=line.clocks_breached,
                    compliance_bp=line.compliance_bp,
                    cases_breached=line.cases_breached,
                    breaches=line.breaches,
                )
                for line in report.sla
            ],
            resolved=report.resolved,
            by_tier=[
                TierShare(tier=t.tier.value, resolved=t.resolved, share_bp=t.share_bp) for t in report.by_tier
            ],
            satisfaction=Satisfaction(
                ratings=sat.ratings,
                distribution=[ScoreCount(score=s, ratings=n) for s, n in sat.distribution.items()],
                average_hundredths=sat.average_hundredths,
            ),
            disputes=report.disputes,
            refunded=_amounts(report.money.refunded),
            store_credit=_amounts(report.money.credited),
            markdown=to_markdown(report),
        )
