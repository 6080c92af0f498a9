"""SLA compliance in the monthly report (D47): every clock a case ran is judged once, the
status-update clocks a later update replaced included, and a recorded breach stays a breach."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from domain.cases.case import SLA_MONITOR, Case, CaseState
from domain.cases.kinds import CaseKind, ClockKind, IncidentType, Severity, Tier
from domain.cases.money import MoneyTotals
from domain.cases.report import Month, SlaLine, build_report, judged_clocks
from domain.cases.sla import default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode
from domain.shared.ids import ActorId
from tests.fakes.calendars import fixed_calendar

MX = CountryCode("MX")
T0 = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
AGENT = ActorRef(ActorId("l2"), "L2")
CALENDAR = fixed_calendar("MX")
POLICY = default_sla_policy(MX, CaseKind.ORDER_INCIDENT)  # SEV1: ack 10, mitigate 60, update 30 min


def _minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def _sev1() -> Case:
    return Case.open(
        case_id="c1",
        country=MX,
        kind=CaseKind.ORDER_INCIDENT,
        severity=Severity.SEV1,
        title="late order",
        opened_by=AGENT,
        at=T0,
        policy=POLICY,
        calendar=CALENDAR,
        tier=Tier.L1,
        order_id="o1",
        incident_type=IncidentType.LATE,
    ).unwrap()


def _line(*states: CaseState) -> SlaLine:
    report = build_report(MX, Month(2026, 12), states, disputes=0, money=MoneyTotals())
    return next(line for line in report.sla if line.severity is Severity.SEV1)


def _figures(line: SlaLine) -> tuple[int, int, int | None, int, int]:
    return line.clocks_met, line.clocks_breached, line.compliance_bp, line.cases_breached, line.breaches


def test_a_breach_recorded_before_the_update_restarted_the_clock_still_counts() -> None:
    case = _sev1()
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()  # on time (10 min)
    assert case.record_breach(ClockKind.STATUS_UPDATE, _minutes(40), SLA_MONITOR) is not None  # due at +35
    case.post_status_update(_minutes(45), AGENT, "late update", CALENDAR, POLICY).unwrap()
    case.mitigate(_minutes(50), AGENT, "ok", CALENDAR, POLICY).unwrap()  # on time (60 min)
    case.resolve(_minutes(55), AGENT, "done").unwrap()
    # met: acknowledge, mitigate, the update period +45..+55; breached: the period +5..+45
    assert _figures(_line(case.state)) == (3, 1, 7_500, 1, 1)


def test_an_update_posted_late_without_the_scheduler_is_a_breach_too() -> None:
    case = _sev1()
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()
    case.post_status_update(_minutes(50), AGENT, "late update", CALENDAR, POLICY).unwrap()  # due at +35
    case.mitigate(_minutes(55), AGENT, "ok", CALENDAR, POLICY).unwrap()
    case.resolve(_minutes(56), AGENT, "done").unwrap()
    assert _figures(_line(case.state)) == (3, 1, 7_500, 1, 1)


def test_on_time_updates_after_a_breach_are_each_met() -> None:
    case = _sev1()
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()
    assert case.record_breach(ClockKind.STATUS_UPDATE, _minutes(40), SLA_MONITOR) is not None
    case.post_status_update(_minutes(45), AGENT, "late update", CALENDAR, POLICY).unwrap()
    case.mitigate(_minutes(55), AGENT, "ok", CALENDAR, POLICY).unwrap()
    case.post_status_update(_minutes(70), AGENT, "on time", CALENDAR, POLICY).unwrap()
    case.post_status_update(_minutes(95), AGENT, "on time", CALENDAR, POLICY).unwrap()
    case.resolve(_minutes(100), AGENT, "done").unwrap()
    # met: acknowledge, mitigate, +45..+70, +70..+95, +95..+100; breached: +5..+45
    assert judged_clocks(case.state) == (5, 1)
    assert _figures(_line(case.state)) == (5, 1, 8_333, 1, 1)


def test_a_case_never_breached_meets_every_period() -> None:
    case = _sev1()
    case.post_status_update(_minutes(2), AGENT, "looking", CALENDAR, POLICY).unwrap()  # NEW: no clock yet
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()
    case.post_status_update(_minutes(20), AGENT, "on time", CALENDAR, POLICY).unwrap()
    case.wait_on_customer(_minutes(30), AGENT, "photo?", CALENDAR).unwrap()
    case.post_status_update(_minutes(90), AGENT, "still waiting", CALENDAR, POLICY).unwrap()  # paused
    case.customer_replied(_minutes(100), AGENT, CALENDAR).unwrap()
    case.mitigate(_minutes(110), AGENT, "ok", CALENDAR, POLICY).unwrap()  # 30 min left at +100: due +130
    case.resolve(_minutes(115), AGENT, "done").unwrap()
    # met: acknowledge, mitigate, +5..+20, +20..+90, +90..+115
    assert _figures(_line(case.state)) == (5, 0, 10_000, 0, 0)


def test_a_breached_clock_still_running_is_judged_and_running_clocks_are_not() -> None:
    case = _sev1()
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()
    assert case.record_breach(ClockKind.STATUS_UPDATE, _minutes(36), SLA_MONITOR) is not None
    # acknowledge met, the update clock breached (still live), mitigate still running: not judged
    assert _figures(_line(case.state)) == (1, 1, 5_000, 1, 1)
    fresh = _sev1()
    assert _figures(_line(fresh.state)) == (0, 0, None, 0, 0)


def test_a_clock_stopped_late_with_no_breach_recorded_is_breached() -> None:
    case = _sev1()
    case.acknowledge(_minutes(5), AGENT, CALENDAR, POLICY).unwrap()
    case.mitigate(_minutes(20), AGENT, "ok", CALENDAR, POLICY).unwrap()
    case.resolve(_minutes(25), AGENT, "done").unwrap()
    state = case.state
    acknowledge = state.clocks[ClockKind.ACKNOWLEDGE]
    assert acknowledge.deadline is not None
    late = replace(acknowledge, stopped_at=acknowledge.deadline + timedelta(seconds=1))  # stored before D85
    legacy = replace(state, clocks=MappingProxyType({**state.clocks, ClockKind.ACKNOWLEDGE: late}))
    assert _figures(_line(legacy)) == (2, 1, 6_666, 0, 0)
    assert _figures(_line(state, legacy)) == (5, 1, 8_333, 0, 0)
