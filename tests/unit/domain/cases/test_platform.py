"""Platform incidents (aggregate), money through outcomes, and the monthly report's figures
on a constructed month (exact)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from returns.result import Failure, Success

from domain.cases.case import Case, CaseState
from domain.cases.kinds import CaseKind, ClockKind, IncidentType, Severity, Tier
from domain.cases.money import money_through_outcomes
from domain.cases.platform import (
    ActionItem,
    IllegalPlatformIncidentTransition,
    IncidentEntryKind,
    PlatformIncident,
    PlatformIncidentClosed,
    PlatformIncidentStatus,
)
from domain.cases.report import Month, build_report
from domain.cases.review import DisputeOutcome, build_review
from domain.cases.sla import default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.ledger import Account
from domain.ledger.transactions import LedgerTransaction, Posting, TransactionKind
from domain.shared import CountryCode, Currency, InvalidInput, Money
from domain.shared.ids import ActorId
from domain.shared.statistics import nearest_rank
from tests.fakes.calendars import fixed_calendar

MX, CO = CountryCode("MX"), CountryCode("CO")
MXN = Currency.of("MXN")
LEAD = ActorRef(ActorId("lead-1"), "L2")
OPS = ActorRef(ActorId("ops-1"), "L3")
SCHEDULER = ActorRef(ActorId("scheduler"), "SYSTEM")
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def _incident(due: datetime | None = T0 + timedelta(minutes=30)) -> PlatformIncident:
    opened = PlatformIncident.open(
        incident_id="pinc_1",
        country=MX,
        severity=Severity.SEV1,
        title="Payments degraded",
        opened_by=LEAD,
        at=T0,
        case_id="case_1",
        update_due_at=due,
    )
    return opened.unwrap()


def test_links_are_kept_once_and_the_own_case_is_refused() -> None:
    incident = _incident()
    first = incident.link(T0, LEAD, order_ids=["o1", "o2", "o1"], case_ids=["c1"])
    assert [link.ref for link in first.unwrap()] == ["o1", "o2", "c1"]
    again = incident.link(T0, LEAD, order_ids=["o2"])
    assert again.unwrap() == ()
    assert incident.state.order_ids == ("o1", "o2") and incident.state.case_ids == ("c1",)
    own = incident.link(T0, LEAD, case_ids=["case_1"])
    assert isinstance(own, Failure) and isinstance(own.failure(), InvalidInput)
    assert incident.version == 2  # one successful link command, nothing else changed


def test_a_reminder_happens_once_per_due_instant() -> None:
    incident = _incident()
    assert incident.remind(T0 + timedelta(minutes=29), SCHEDULER) is None  # not due yet
    assert incident.remind(T0 + timedelta(minutes=31), SCHEDULER) == T0 + timedelta(minutes=30)
    assert incident.remind(T0 + timedelta(minutes=45), SCHEDULER) is None  # already reminded
    assert incident.state.reminder_due_at is None
    incident.post_update(
        T0 + timedelta(minutes=50), LEAD, "still on it", status=None, update_due_at=T0 + timedelta(minutes=80)
    )
    assert incident.state.reminder_due_at == T0 + timedelta(minutes=80)  # a new period
    kinds = [entry.kind for entry in incident.state.timeline]
    assert kinds.count(IncidentEntryKind.UPDATE_REMINDER) == 1


def test_status_edges_and_close() -> None:
    incident = _incident()
    early = incident.close(T0, OPS, root_cause="x", action_items=[])
    assert isinstance(early, Failure) and isinstance(early.failure(), IllegalPlatformIncidentTransition)
    mitigated = incident.post_update(
        T0, LEAD, "moved traffic", status=PlatformIncidentStatus.MITIGATED, update_due_at=None
    )
    assert mitigated.unwrap().status is PlatformIncidentStatus.MITIGATED
    item = ActionItem.build("Rotate certificates", "ops-lead").unwrap()
    assert incident.close(
        T0 + timedelta(hours=1), OPS, root_cause="expired cert", action_items=[item]
    ) == Success(None)
    state = incident.state
    assert (state.status, state.resolved_at, state.root_cause) == (
        PlatformIncidentStatus.CLOSED,
        T0 + timedelta(hours=1),
        "expired cert",
    )
    late = incident.post_update(T0 + timedelta(hours=2), LEAD, "x", status=None, update_due_at=None)
    assert isinstance(late, Failure) and isinstance(late.failure(), PlatformIncidentClosed)
    assert isinstance(ActionItem.build("do it", " "), Failure)


def _tx(key: str, kind: TransactionKind, minor: int, reverses: str | None = None) -> LedgerTransaction:
    money = Money(minor, MXN)
    postings = (Posting.debit(Account.escrow("o1"), money), Posting.credit(Account.psp_clearing(), money))
    return LedgerTransaction(key, kind, MX, MXN, postings, reverses=reverses)


def test_money_through_outcomes_sums_refunds_and_credits_and_undoes_reversals() -> None:
    totals = money_through_outcomes(
        [
            _tx("dispute:d1/a", TransactionKind.REFUND, 123_000),
            _tx("dispute:d1/a", TransactionKind.REFUND, 123_000),  # the same key counts once
            _tx("dispute:d2/b", TransactionKind.PARTIAL_REFUND, 25_000),
            _tx("dispute:d2/c", TransactionKind.RELEASE, 98_000),
            _tx("dispute:d3/d", TransactionKind.STORE_CREDIT, 10_000),
            _tx("dispute:d3/e", TransactionKind.CLAWBACK, 7_000),
            _tx("dispute:d3/r", TransactionKind.REVERSAL, 7_000, reverses="dispute:d3/e"),
        ]
    )
    assert dict(totals.refunded) == {"MXN": Money(148_000, MXN)}
    assert dict(totals.credited) == {"MXN": Money(10_000, MXN)}


def test_the_review_counts_linked_orders_and_cases_orders_once() -> None:
    incident = _incident()
    incident.link(T0, LEAD, order_ids=["o1"], case_ids=["c1"])
    incident.post_update(T0, LEAD, "fixed", status=PlatformIncidentStatus.RESOLVED, update_due_at=None)
    incident.close(T0 + timedelta(minutes=75), OPS, root_cause="cert", action_items=[])
    case = _case("c1", at=T0, order_id="o1").state
    outcomes = [
        DisputeOutcome("o1", "d1", "FULL_REFUND", (_tx("dispute:d1/a", TransactionKind.REFUND, 123_000),)),
        DisputeOutcome("o9", "d9", "FULL_REFUND", (_tx("dispute:d9/a", TransactionKind.REFUND, 5_000),)),
    ]
    review = build_review(incident.state, [case], outcomes)
    assert review.orders_affected == ("o1",)
    assert review.disputes == 1  # o9 is not affected
    assert dict(review.refunded) == {"MXN": Money(123_000, MXN)}
    assert "- Resolved: 2026-03-02 16:00:00 UTC (after 0 min)" in review.markdown
    assert "## Action items\n\nNone." in review.markdown


# ----------------------------------------------------------------------------- report


def _case(
    case_id: str,
    *,
    at: datetime,
    kind: CaseKind = CaseKind.ORDER_INCIDENT,
    severity: Severity = Severity.SEV1,
    country: CountryCode = MX,
    order_id: str | None = "o1",
) -> Case:
    return Case.open(
        case_id=case_id,
        country=country,
        kind=kind,
        severity=severity,
        title=case_id,
        opened_by=LEAD,
        at=at,
        policy=default_sla_policy(country, kind),
        calendar=fixed_calendar(country.value),
        tier=Tier.L1,
        order_id=order_id if kind is not CaseKind.PLATFORM_INCIDENT else None,
        incident_type=IncidentType.LATE if kind is CaseKind.ORDER_INCIDENT else None,
    ).unwrap()


def _constructed_month() -> list[CaseState]:
    calendar = fixed_calendar("MX")
    agent, specialist, rules = (
        ActorRef(ActorId("a1"), "L1"),
        ActorRef(ActorId("a2"), "L2"),
        ActorRef(ActorId("l0"), "L0"),
    )
    buyer = ActorRef(ActorId("b1"), "BUYER")
    minute = timedelta(minutes=1)

    a_at = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    a = _case("A", at=a_at)
    policy = default_sla_policy(MX, CaseKind.ORDER_INCIDENT)
    a.acknowledge(a_at + 5 * minute, agent, calendar, policy).unwrap()
    a.mitigate(a_at + 20 * minute, agent, "rerouted", calendar, policy).unwrap()
    a.resolve(a_at + 30 * minute, agent, "delivered").unwrap()
    a.rate(a_at + 40 * minute, buyer, 5, "great").unwrap()

    b_at = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    b = _case("B", at=b_at)
    assert b.record_breach(ClockKind.ACKNOWLEDGE, b_at + 12 * minute, SCHEDULER) is not None
    b.acknowledge(b_at + 15 * minute, specialist, calendar, policy).unwrap()
    b.mitigate(b_at + 35 * minute, specialist, "replaced", calendar, policy).unwrap()
    b.resolve(b_at + 40 * minute, specialist, "replacement delivered").unwrap()
    b.rate(b_at + 50 * minute, buyer, 2, "slow").unwrap()

    c_at = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
    c = _case("C", at=c_at, kind=CaseKind.DISPUTE, severity=Severity.SEV2)
    c.resolve(c_at + minute, rules, "routed with evidence").unwrap()
    c.rate(c_at + 2 * minute, buyer, 4, "").unwrap()

    d_at = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    d = _case("D", at=d_at, kind=CaseKind.PLATFORM_INCIDENT, severity=Severity.SEV0)
    d.acknowledge(
        d_at + 2 * minute, specialist, calendar, default_sla_policy(MX, CaseKind.PLATFORM_INCIDENT)
    ).unwrap()

    outside_month = _case("E", at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    next_month = _case("F", at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    other_country = _case("G", at=a_at, country=CO)
    return [c.state for c in (a, b, c, d, outside_month, next_month, other_country)]


def test_the_report_of_a_constructed_month_is_exact() -> None:
    report = build_report(
        MX, Month(2026, 3), _constructed_month(), disputes=0, money=money_through_outcomes([])
    )
    assert report.cases == 4
    assert report.by_kind_severity[CaseKind.ORDER_INCIDENT][Severity.SEV1] == 2
    assert report.by_kind_severity[CaseKind.DISPUTE][Severity.SEV2] == 1
    assert report.by_kind_severity[CaseKind.PLATFORM_INCIDENT][Severity.SEV0] == 1
    assert sum(sum(row.values()) for row in report.by_kind_severity.values()) == 4
    # acknowledge: 60, 120, 300, 900 s; mitigate: 60, 1200, 2100 s (nearest rank)
    assert (report.acknowledge.count, report.acknowledge.p50_seconds, report.acknowledge.p90_seconds) == (
        4,
        120,
        900,
    )
    assert (report.mitigate.count, report.mitigate.p50_seconds, report.mitigate.p90_seconds) == (
        3,
        1200,
        2100,
    )
    sla = {line.severity: line for line in report.sla}
    assert (sla[Severity.SEV1].clocks_met, sla[Severity.SEV1].clocks_breached) == (5, 1)
    assert sla[Severity.SEV1].compliance_bp == 8_333
    assert (sla[Severity.SEV1].cases_breached, sla[Severity.SEV1].breaches) == (1, 1)
    assert (sla[Severity.SEV2].clocks_met, sla[Severity.SEV2].compliance_bp) == (2, 10_000)
    assert (sla[Severity.SEV0].clocks_met, sla[Severity.SEV0].clocks_breached) == (1, 0)  # the rest still run
    assert (sla[Severity.SEV3].cases, sla[Severity.SEV3].compliance_bp) == (0, None)
    assert report.resolved == 3
    assert {t.tier: (t.resolved, t.share_bp) for t in report.by_tier} == {
        Tier.L0: (1, 3_333),
        Tier.L1: (1, 3_333),
        Tier.L2: (1, 3_333),
        Tier.L3: (0, 0),
    }
    assert report.satisfaction.ratings == 3
    assert dict(report.satisfaction.distribution) == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert report.satisfaction.average_hundredths == 367  # 11 / 3 = 3.666...


def test_nearest_rank_and_months() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7], 90) == 7
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert Month.parse("2026-12").unwrap().end == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("2026-13", "26-01", "2026/01", "1999-01"):
        assert isinstance(Month.parse(bad), Failure)
