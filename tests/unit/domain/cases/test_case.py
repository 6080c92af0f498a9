"""The Case aggregate: status edges, SLA clocks (stop, pause, resume, breach once), timeline, rating."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from returns.result import Failure, Success

from domain.cases.calendar import BusinessCalendar, WorkingHours
from domain.cases.case import SLA_MONITOR, Case, CaseChanged, ClockState, TimelineKind
from domain.cases.errors import (
    AlreadyAtTopTier,
    AlreadyRated,
    CaseClosed,
    CaseNotResolved,
    IllegalCaseTransition,
)
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, IncidentType, Severity, Tier
from domain.cases.sla import SlaPolicy, default_sla_policy
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import ActorId

MX = CountryCode("MX")
AGENT = ActorRef(ActorId("agent-1"), "L1")
SPECIALIST = ActorRef(ActorId("agent-2"), "L2")
BUYER = ActorRef(ActorId("buyer-1"), "BUYER")
RULES = ActorRef(ActorId("l0"), "L0")
SCHEDULER = ActorRef(ActorId("scheduler"), "SYSTEM")
T0 = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Mexico City


class _NoHolidays:
    def is_holiday(self, day: date) -> bool:
        return False

    def holiday_name(self, day: date) -> str | None:
        return None


CALENDAR = BusinessCalendar(
    MX, ZoneInfo("America/Mexico_City"), WorkingHours(time(9), time(18), frozenset(range(5))), _NoHolidays()
)


def _policy(kind: CaseKind = CaseKind.ORDER_INCIDENT) -> SlaPolicy:
    return default_sla_policy(MX, kind)


def _open(severity: Severity = Severity.SEV1, tier: Tier = Tier.L1) -> Case:
    opened = Case.open(
        case_id="case-1",
        country=MX,
        kind=CaseKind.ORDER_INCIDENT,
        severity=severity,
        title="Courier has not moved for 40 minutes",
        opened_by=AGENT,
        at=T0,
        policy=_policy(),
        calendar=CALENDAR,
        tier=tier,
        order_id="order-1",
        incident_type=IncidentType.LATE,
    )
    assert isinstance(opened, Success), opened
    case: Case = opened.unwrap()
    return case


def test_a_new_case_runs_its_acknowledge_and_mitigate_clocks_from_the_policy() -> None:
    case = _open(Severity.SEV1)
    state = case.state
    assert state.status is CaseStatus.NEW and state.version == 1 and state.tier is Tier.L1
    assert set(state.clocks) == {ClockKind.ACKNOWLEDGE, ClockKind.MITIGATE}
    assert state.clocks[ClockKind.ACKNOWLEDGE].deadline == T0 + timedelta(minutes=10)
    assert state.clocks[ClockKind.MITIGATE].deadline == T0 + timedelta(minutes=60)
    assert state.next_deadline == T0 + timedelta(minutes=10)
    assert [e.kind for e in state.timeline] == [TimelineKind.OPENED]
    events = case.pull_events()
    assert len(events) == 1 and isinstance(events[0], CaseChanged) and events[0].change is TimelineKind.OPENED
    assert case.pull_events() == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"title": "  "}, "title"),
        ({"order_id": None}, "order_id"),
        ({"incident_type": None}, "incident_type"),
        ({"at": datetime(2026, 12, 2, 16, 0)}, "at"),
    ],
)
def test_opening_with_bad_input_is_a_typed_error(changes: dict[str, object], problem: str) -> None:
    arguments: dict[str, object] = {
        "case_id": "case-1",
        "country": MX,
        "kind": CaseKind.ORDER_INCIDENT,
        "severity": Severity.SEV2,
        "title": "Late",
        "opened_by": AGENT,
        "at": T0,
        "policy": _policy(),
        "calendar": CALENDAR,
        "order_id": "order-1",
        "incident_type": IncidentType.LATE,
    }
    arguments.update(changes)
    result = Case.open(**arguments)  # type: ignore[arg-type]
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, InvalidInput) and error.field == problem


def test_a_policy_of_another_country_or_kind_is_refused() -> None:
    result = Case.open(
        case_id="case-1",
        country=MX,
        kind=CaseKind.ORDER_INCIDENT,
        severity=Severity.SEV1,
        title="Late",
        opened_by=AGENT,
        at=T0,
        policy=default_sla_policy(CountryCode("CO"), CaseKind.ORDER_INCIDENT),
        calendar=CALENDAR,
        order_id="order-1",
        incident_type=IncidentType.LATE,
    )
    assert isinstance(result, Failure) and isinstance(result.failure(), InvalidInput)


def test_diagnostics_tickets_have_no_sev0() -> None:
    result = Case.open(
        case_id="case-9",
        country=MX,
        kind=CaseKind.DIAGNOSTICS,
        severity=Severity.SEV0,
        title="Bundle from the courier app",
        opened_by=AGENT,
        at=T0,
        policy=_policy(CaseKind.DIAGNOSTICS),
        calendar=CALENDAR,
        subject_ref="trace-20261202T160000Z-android.zip",
    )
    assert isinstance(result, Failure) and isinstance(result.failure(), InvalidInput)


def test_acknowledging_stops_the_acknowledge_clock_and_starts_status_updates() -> None:
    case = _open(Severity.SEV1)
    at = T0 + timedelta(minutes=4)
    assert case.acknowledge(at, AGENT, CALENDAR, _policy()) == Success(None)
    state = case.state
    assert state.status is CaseStatus.ACKNOWLEDGED and state.acknowledged_at == at and state.version == 2
    ack = state.clocks[ClockKind.ACKNOWLEDGE]
    assert ack.state is ClockState.STOPPED and ack.met_on_time() is True
    assert state.clocks[ClockKind.STATUS_UPDATE].deadline == at + timedelta(minutes=30)
    assert state.next_deadline == at + timedelta(minutes=30)  # status update comes before mitigation


def test_illegal_edges_change_nothing() -> None:
    case = _open()
    before = case.state
    result = case.customer_replied(T0, BUYER, CALENDAR)
    assert isinstance(result, Failure) and isinstance(result.failure(), IllegalCaseTransition)
    assert case.close(T0, AGENT) == Failure(IllegalCaseTransition("NEW", "CLOSED"))
    assert case.state == before


def test_waiting_on_the_customer_pauses_clocks_and_the_answer_resumes_them_with_the_time_left() -> None:
    case = _open(Severity.SEV1)
    case.acknowledge(T0 + timedelta(minutes=5), AGENT, CALENDAR, _policy())
    case.wait_on_customer(T0 + timedelta(minutes=20), AGENT, "asked for the delivery address", CALENDAR)
    state = case.state
    assert state.status is CaseStatus.WAITING_ON_CUSTOMER and state.next_deadline is None
    mitigate = state.clocks[ClockKind.MITIGATE]
    assert mitigate.state is ClockState.PAUSED and mitigate.remaining == timedelta(minutes=40)
    # two hours later the buyer answers: 40 minutes are left, not -80
    answered = T0 + timedelta(hours=2, minutes=20)
    assert case.customer_replied(answered, BUYER, CALENDAR) == Success(None)
    state = case.state
    assert state.status is CaseStatus.ACKNOWLEDGED
    assert state.clocks[ClockKind.MITIGATE].deadline == answered + timedelta(minutes=40)
    assert state.clocks[ClockKind.STATUS_UPDATE].deadline == answered + timedelta(minutes=15)
    # nothing is due while paused, so a scheduler asking in between finds nothing
    assert case.record_breach(ClockKind.MITIGATE, answered + timedelta(minutes=39), SCHEDULER) is None


def test_a_breach_escalates_one_tier_once() -> None:
    case = _open(Severity.SEV1)
    case.pull_events()
    late = T0 + timedelta(minutes=11)
    assert case.record_breach(ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=9), SCHEDULER) is None
    breach = case.record_breach(ClockKind.ACKNOWLEDGE, late, SCHEDULER)
    assert (
        breach is not None
        and breach.escalated_to is Tier.L2
        and breach.deadline == T0 + timedelta(minutes=10)
    )
    state = case.state
    assert state.tier is Tier.L2 and state.breaches == 1 and state.version == 2
    assert [e.kind for e in state.timeline][-2:] == [TimelineKind.SLA_BREACHED, TimelineKind.ESCALATED]
    assert state.clocks[ClockKind.ACKNOWLEDGE].state is ClockState.BREACHED
    assert state.next_deadline == T0 + timedelta(minutes=10)  # overdue: first in the queue
    # asked again (another scheduler, a retry): nothing more happens
    assert case.record_breach(ClockKind.ACKNOWLEDGE, late + timedelta(minutes=5), SCHEDULER) is None
    assert case.state == state
    # acknowledging late stops it as met late
    case.acknowledge(late + timedelta(minutes=6), SPECIALIST, CALENDAR, _policy())
    assert case.state.clocks[ClockKind.ACKNOWLEDGE].met_on_time() is False


def test_acknowledging_after_the_deadline_records_the_breach_the_scheduler_had_not_seen() -> None:
    case = _open(Severity.SEV1)  # acknowledge within 10 min, mitigate within 60 min
    case.pull_events()
    late = T0 + timedelta(minutes=12)
    assert case.acknowledge(late, AGENT, CALENDAR, _policy()) == Success(None)
    state = case.state
    ack = state.clocks[ClockKind.ACKNOWLEDGE]
    assert ack.state is ClockState.STOPPED and ack.met_on_time() is False and ack.breached_at == late
    assert state.breaches == 1 and state.tier is Tier.L2 and state.status is CaseStatus.ACKNOWLEDGED
    kinds = [(e.kind, e.actor) for e in state.timeline[1:]]
    assert kinds == [
        (TimelineKind.SLA_BREACHED, SLA_MONITOR),
        (TimelineKind.ESCALATED, SLA_MONITOR),
        (TimelineKind.ACKNOWLEDGED, AGENT),
    ]
    late_breaches = case.take_late_breaches()
    assert [(b.clock, b.deadline, b.tier, b.escalated_to, b.late) for b in late_breaches] == [
        (ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=10), Tier.L1, Tier.L2, True)
    ]
    assert case.take_late_breaches() == []  # handed out once
    events = case.pull_events()
    assert late_breaches[0] in events  # and still published with the case's changes
    # the mitigate clock was not due: still running, on time if met before 60 min
    assert state.clocks[ClockKind.MITIGATE].state is ClockState.RUNNING
    assert case.record_breach(ClockKind.ACKNOWLEDGE, late, SCHEDULER) is None  # the scheduler: nothing left


def test_a_clock_met_exactly_at_its_deadline_is_on_time() -> None:
    case = _open(Severity.SEV1)
    assert case.acknowledge(T0 + timedelta(minutes=10), AGENT, CALENDAR, _policy()) == Success(None)
    assert case.state.clocks[ClockKind.ACKNOWLEDGE].met_on_time() is True
    assert case.state.breaches == 0 and case.state.tier is Tier.L1 and case.take_late_breaches() == []


def test_resolving_late_breaches_every_overdue_clock_once_and_keeps_the_resolving_tier() -> None:
    case = _open(Severity.SEV1)
    late = T0 + timedelta(minutes=61)  # both the acknowledge (10 min) and mitigate (60 min) targets
    assert case.resolve(late, AGENT, "courier found, order delivered") == Success(None)
    state = case.state
    assert state.breaches == 2 and state.tier is Tier.L3  # one tier per breach, as two ticks would
    assert state.resolved_tier is Tier.L1  # who resolved it, not where the breaches pushed it
    assert all(clock.met_on_time() is False for clock in state.clocks.values())
    assert [b.clock for b in case.take_late_breaches()] == [ClockKind.ACKNOWLEDGE, ClockKind.MITIGATE]


def test_waiting_on_the_customer_after_a_deadline_records_the_breach_before_pausing() -> None:
    case = _open(Severity.SEV1)
    case.acknowledge(T0 + timedelta(minutes=5), AGENT, CALENDAR, _policy())
    late = T0 + timedelta(minutes=36)  # the status update was due at 35 min
    assert case.wait_on_customer(late, AGENT, "asked for the address", CALENDAR) == Success(None)
    update = case.state.clocks[ClockKind.STATUS_UPDATE]
    assert update.breached_at == late and update.state is ClockState.BREACHED  # not paused with 0 left
    assert [b.clock for b in case.take_late_breaches()] == [ClockKind.STATUS_UPDATE]


def test_a_status_update_after_the_deadline_breaches_the_old_clock_then_starts_a_fresh_one() -> None:
    case = _open(Severity.SEV1)
    case.acknowledge(T0, AGENT, CALENDAR, _policy())
    update_at = T0 + timedelta(minutes=31)
    assert case.post_status_update(update_at, AGENT, "Courier reassigned", CALENDAR, _policy()) == Success(
        None
    )
    assert case.state.breaches == 1 and case.state.tier is Tier.L2
    clock = case.state.clocks[ClockKind.STATUS_UPDATE]
    assert clock.state is ClockState.RUNNING and clock.deadline == update_at + timedelta(minutes=30)


def test_a_refused_command_after_a_deadline_records_no_breach() -> None:
    case = _open(Severity.SEV1)
    before = case.state
    late = T0 + timedelta(minutes=30)
    refused = case.customer_replied(late, BUYER, CALENDAR)
    assert isinstance(refused, Failure)
    blank = case.resolve(late, AGENT, " ")
    assert isinstance(blank, Failure) and isinstance(blank.failure(), InvalidInput)
    assert case.state == before and case.take_late_breaches() == []


def test_a_breach_at_l3_is_recorded_without_escalation() -> None:
    case = _open(Severity.SEV0, tier=Tier.L3)
    breach = case.record_breach(ClockKind.ACKNOWLEDGE, T0 + timedelta(minutes=6), SCHEDULER)
    assert breach is not None and breach.escalated_to is None
    assert case.state.tier is Tier.L3 and case.state.breaches == 1


def test_a_status_update_restarts_a_breached_status_clock() -> None:
    case = _open(Severity.SEV1)
    case.acknowledge(T0, AGENT, CALENDAR, _policy())
    assert case.record_breach(ClockKind.STATUS_UPDATE, T0 + timedelta(minutes=31), SCHEDULER) is not None
    update_at = T0 + timedelta(minutes=35)
    assert case.post_status_update(update_at, AGENT, "Courier reassigned", CALENDAR, _policy()) == Success(
        None
    )
    clock = case.state.clocks[ClockKind.STATUS_UPDATE]
    assert clock.state is ClockState.RUNNING and clock.deadline == update_at + timedelta(minutes=30)


def test_escalation_goes_up_to_l3_and_no_further() -> None:
    case = _open(tier=Tier.L2)
    assert case.escalate(T0, AGENT, "needs the country lead") == Success(None)
    assert case.state.tier is Tier.L3 and case.state.assignee is None
    assert case.escalate(T0, AGENT, "again") == Failure(AlreadyAtTopTier("case-1"))
    blank = case.escalate(T0, AGENT, "  ")
    assert isinstance(blank, Failure) and isinstance(blank.failure(), InvalidInput)


def test_resolution_records_the_resolving_tier_and_stops_every_clock() -> None:
    case = _open(Severity.SEV2)
    assert case.resolve(
        T0 + timedelta(minutes=1), RULES, "store credit issued by rule LATE_NO_MOVEMENT"
    ) == Success(None)
    state = case.state
    assert state.status is CaseStatus.RESOLVED and state.resolved_tier is Tier.L0
    assert all(clock.state is ClockState.STOPPED for clock in state.clocks.values())
    assert state.next_deadline is None
    assert case.assign(T0, AGENT, "agent-9") == Failure(CaseClosed("case-1", "RESOLVED"))
    assert case.close(T0 + timedelta(days=1), AGENT) == Success(None)
    assert case.state.status is CaseStatus.CLOSED


def test_a_rating_is_given_once_after_resolution() -> None:
    case = _open()
    assert case.rate(T0, BUYER, 5, "great") == Failure(CaseNotResolved("case-1", "NEW"))
    case.resolve(T0, SPECIALIST, "courier reassigned, delivered")
    bad = case.rate(T0, BUYER, 6, "")
    assert isinstance(bad, Failure) and isinstance(bad.failure(), InvalidInput)
    rated = case.rate(T0, BUYER, 4, "fast enough")
    assert isinstance(rated, Success) and case.state.rating is not None and case.state.rating.score == 4
    assert case.rate(T0, BUYER, 1, "changed my mind") == Failure(AlreadyRated("case-1"))


def test_the_timeline_is_numbered_and_kept_in_order() -> None:
    case = _open()
    case.assign(T0, AGENT, "agent-1")
    case.record_action(T0, AGENT, "RETRY", "re-dispatched to the courier pool")
    case.add_note(T0, AGENT, "buyer called")
    timeline = case.state.timeline
    assert [e.sequence for e in timeline] == [1, 2, 3, 4]
    assert timeline[2].data["action"] == "RETRY"
    assert case.state.version == 4


def test_rehydrate_gives_back_the_same_case_without_events() -> None:
    case = _open()
    again = Case.rehydrate(case.state)
    assert again.state == case.state and again.pull_events() == []
