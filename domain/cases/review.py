"""The post-incident review of a closed platform incident, as Markdown (SPEC §6, D46).

A pure function of what was recorded: the incident (its timeline, status updates, links,
root cause and action items), the cases it is linked to (their timelines, merged with the
incident's in time order) and the outcomes' ledger postings of the affected orders'
disputes (``money_through_outcomes``: exact minor units, per currency). Nothing in the
review is typed by a person except the root cause and the action items given at close.

Affected orders are the linked orders plus the orders of the linked cases; affected cases
are the linked cases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from domain.cases.case import CaseState, TimelineKind
from domain.cases.money import MoneyTotals, format_totals, money_through_outcomes
from domain.cases.platform import PlatformIncidentState, PlatformIncidentStatus
from domain.ledger.transactions import LedgerTransaction
from domain.shared import CountryCode, InvariantViolation, Money

OWN_CASE_KINDS: Final = frozenset({TimelineKind.SLA_BREACHED, TimelineKind.ESCALATED})


@dataclass(frozen=True, slots=True)
class DisputeOutcome:
    """A dispute of an affected order and the ledger postings its outcome made."""

    order_id: str
    dispute_id: str
    outcome: str | None  # the decided outcome code, if decided
    transactions: tuple[LedgerTransaction, ...]

    @property
    def money(self) -> MoneyTotals:
        return money_through_outcomes(self.transactions)


@dataclass(frozen=True, slots=True)
class ReviewLine:
    at: datetime
    source: str  # "incident" or the case id
    event: str
    summary: str
    actor: str


@dataclass(frozen=True, slots=True)
class PostIncidentReview:
    incident_id: str
    country: CountryCode
    title: str
    written_at: datetime
    orders_affected: tuple[str, ...]
    cases_affected: tuple[str, ...]
    cases_by_kind: Mapping[str, int]
    disputes: int
    refunded: Mapping[str, Money]
    credited: Mapping[str, Money]
    markdown: str


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(amount: timedelta) -> str:
    minutes = int(amount.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def review_lines(incident: PlatformIncidentState, cases: Sequence[CaseState]) -> list[ReviewLine]:
    """The merged timeline: the incident's entries, every entry of each linked case, and
    the SLA breaches and escalations of the incident's own case; in time order."""
    lines = [
        ReviewLine(e.at, "incident", e.kind.value, e.summary, f"{e.actor.role} {e.actor.actor_id}")
        for e in incident.timeline
    ]
    for case in cases:
        own = case.case_id == incident.case_id
        for entry in case.timeline:
            if own and entry.kind not in OWN_CASE_KINDS:
                continue
            lines.append(
                ReviewLine(
                    entry.at,
                    "incident case" if own else f"case {case.case_id}",
                    entry.kind.value,
                    entry.summary,
                    f"{entry.actor.role} {entry.actor.actor_id}",
                )
            )
    order = {"incident": 0, "incident case": 1}
    return sorted(lines, key=lambda line: (line.at, order.get(line.source, 2), line.source))


def build_review(
    incident: PlatformIncidentState,
    cases: Sequence[CaseState],
    outcomes: Sequence[DisputeOutcome],
) -> PostIncidentReview:
    """The review of a closed incident. ``cases`` are its linked cases (and optionally its
    own case, for its SLA breaches); ``outcomes`` the disputes of the affected orders."""
    if incident.status is not PlatformIncidentStatus.CLOSED or incident.closed_at is None:
        raise InvariantViolation("a post-incident review is written when the incident closes")
    linked = [case for case in cases if case.case_id in set(incident.case_ids)]
    orders = list(incident.order_ids)
    for case in linked:
        if case.order_id is not None and case.order_id not in orders:
            orders.append(case.order_id)
    affected = set(orders)
    relevant = [o for o in outcomes if o.order_id in affected]
    money = MoneyTotals()
    for outcome in relevant:
        money = money.plus(outcome.money)
    by_kind = Counter(case.kind.value for case in linked)
    impact = _Impact(orders, linked, relevant, money, by_kind)
    markdown = _markdown(incident, cases, impact)
    return PostIncidentReview(
        incident_id=incident.incident_id,
        country=incident.country,
        title=incident.title,
        written_at=incident.closed_at,
        orders_affected=tuple(orders),
        cases_affected=incident.case_ids,
        cases_by_kind=dict(sorted(by_kind.items())),
        disputes=len(relevant),
        refunded=money.refunded,
        credited=money.credited,
        markdown=markdown,
    )


@dataclass(frozen=True, slots=True)
class _Impact:
    orders: Sequence[str]
    linked: Sequence[CaseState]
    outcomes: Sequence[DisputeOutcome]
    money: MoneyTotals
    by_kind: Counter[str]


TIMELINE_HEAD: Final = ("| time | source | event | summary | by |", "| --- | --- | --- | --- | --- |")
OUTCOMES_HEAD: Final = (
    "| order | dispute | outcome | refunded | store credit |",
    "| --- | --- | --- | --- | --- |",
)


def _markdown(incident: PlatformIncidentState, cases: Sequence[CaseState], impact: _Impact) -> str:
    assert incident.closed_at is not None
    orders, linked, outcomes, money, by_kind = (
        impact.orders,
        impact.linked,
        impact.outcomes,
        impact.money,
        impact.by_kind,
    )
    end = incident.resolved_at or incident.closed_at
    out: list[str] = [f"# Post-incident review: {_cell(incident.title)}", ""]
    out += [
        f"- Incident: `{incident.incident_id}` ({incident.severity.value}, {incident.country.value});"
        f" case `{incident.case_id}`",
        f"- Opened: {_when(incident.opened_at)} by {incident.opened_by.role} {incident.opened_by.actor_id}",
    ]
    if incident.mitigated_at is not None:
        out.append(
            f"- Mitigated: {_when(incident.mitigated_at)}"
            f" (after {_duration(incident.mitigated_at - incident.opened_at)})"
        )
    out += [
        f"- Resolved: {_when(end)} (after {_duration(end - incident.opened_at)})",
        f"- Closed: {_when(incident.closed_at)}"
        + (f" by {incident.closed_by.role} {incident.closed_by.actor_id}" if incident.closed_by else ""),
        f"- Status updates: {len(incident.updates)}",
        "",
        "## Summary",
        "",
        f"{incident.severity.value} platform incident in {incident.country.value}: {_cell(incident.title)}."
        f" It lasted {_duration(end - incident.opened_at)} from opening to resolution,"
        f" affected {len(orders)} order(s) and {len(linked)} case(s), and"
        f" {format_totals(money.refunded)} was refunded through dispute outcomes.",
    ]
    if incident.updates:
        out.append(f"Last status update: {_cell(incident.updates[-1].text)}")
    out += ["", "## Timeline", "", *TIMELINE_HEAD]
    for line in review_lines(incident, cases):
        cells = (_when(line.at), _cell(line.source), line.event, _cell(line.summary), _cell(line.actor))
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Impact", ""]
    out.append(
        f"- Orders affected: {len(orders)}" + (": " + ", ".join(f"`{o}`" for o in orders) if orders else "")
    )
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items()))
    out.append(f"- Cases affected: {len(linked)}" + (f" ({kinds})" if kinds else ""))
    out.append(f"- Disputes on affected orders: {len(outcomes)}")
    out.append(f"- Refunded through outcomes: {format_totals(money.refunded)}")
    out.append(f"- Store credit through outcomes: {format_totals(money.credited)}")
    if outcomes:
        out += [
            "",
            "| order | dispute | outcome | refunded | store credit |",
            "| --- | --- | --- | --- | --- |",
        ]
        for outcome in outcomes:
            each = outcome.money
            out.append(
                f"| `{outcome.order_id}` | `{outcome.dispute_id}` | {outcome.outcome or 'undecided'}"
                f" | {format_totals(each.refunded)} | {format_totals(each.credited)} |"
            )
    out += ["", "## Root cause", "", incident.root_cause or "(not recorded)", "", "## Action items", ""]
    if incident.action_items:
        out += ["| # | action | owner |", "| --- | --- | --- |"]
        out += [
            f"| {n} | {_cell(item.description)} | {_cell(item.owner)} |"
            for n, item in enumerate(incident.action_items, start=1)
        ]
    else:
        out.append("None.")
    return "\n".join(out) + "\n"
