"""SLA targets and policies: deadlines on both bases, pause and resume, the default
matrices, and the stored document (round trip and rejection of anything malformed)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from domain.cases.calendar import BusinessCalendar
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.cases.sla import (
    Basis,
    SeverityNotCovered,
    SeverityTargets,
    SlaPolicy,
    Target,
    default_sla_policy,
)
from domain.shared import CountryCode, InvalidInput
from domain.shared.errors import InvariantViolation
from tests.fakes.calendars import fixed_calendar
from tests.strategies import business_amounts, business_calendars, instants

MEXICO = ZoneInfo("America/Mexico_City")
MADRID = ZoneInfo("Europe/Madrid")
MX_CALENDAR = fixed_calendar("MX", date(2026, 3, 16))


def mx(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MEXICO)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


# ---- targets --------------------------------------------------------------------------------


def test_a_continuous_target_runs_through_nights_and_weekends() -> None:
    target = Target.continuous(minutes(5))
    saturday_night = mx(2026, 3, 7, 23, 58)
    assert target.deadline(saturday_night, MX_CALENDAR) == mx(2026, 3, 8, 0, 3)
    assert target.deadline(saturday_night, MX_CALENDAR).tzinfo is UTC


def test_a_continuous_target_across_the_spanish_spring_gap_is_elapsed_time() -> None:
    target = Target.continuous(minutes(30))
    before_the_jump = datetime(2026, 3, 29, 1, 50, tzinfo=MADRID)  # 00:50 UTC
    assert target.deadline(before_the_jump, fixed_calendar("ES")) == datetime(2026, 3, 29, 1, 20, tzinfo=UTC)
    assert target.deadline(before_the_jump, fixed_calendar("ES")) == datetime(
        2026, 3, 29, 3, 20, tzinfo=MADRID
    )


def test_a_business_hours_target_waits_for_opening() -> None:
    target = Target.business(timedelta(hours=4))
    friday = mx(2026, 3, 13, 16, 0)
    assert target.deadline(friday, MX_CALENDAR) == mx(2026, 3, 17, 11, 0)  # Monday 16 is a holiday


def test_next_business_day_and_five_business_days() -> None:
    friday_evening = mx(2026, 3, 13, 19, 0)
    assert Target.in_business_days(1).deadline(friday_evening, MX_CALENDAR) == mx(2026, 3, 17, 18, 0)
    # Tue 17, Wed 18, Thu 19, Fri 20, Mon 23
    assert Target.in_business_days(5).deadline(friday_evening, MX_CALENDAR) == mx(2026, 3, 23, 18, 0)


def test_a_business_clock_paused_on_friday_resumes_on_monday_with_what_it_had_left() -> None:
    target = Target.business(timedelta(hours=4))
    started = mx(2026, 3, 6, 14, 0)  # Friday
    deadline = target.deadline(started, MX_CALENDAR)
    assert deadline == mx(2026, 3, 6, 18, 0)
    left = target.remaining(deadline, mx(2026, 3, 6, 16, 0), MX_CALENDAR)  # paused: waiting on customer
    assert left == timedelta(hours=2)
    assert target.resume(left, mx(2026, 3, 7, 12, 0), MX_CALENDAR) == mx(
        2026, 3, 9, 11, 0
    )  # answered Saturday


def test_a_business_days_clock_pauses_in_business_time() -> None:
    target = Target.in_business_days(1)
    deadline = target.deadline(mx(2026, 3, 3, 10, 0), MX_CALENDAR)  # Tuesday -> Wednesday 18:00
    left = target.remaining(deadline, mx(2026, 3, 3, 17, 0), MX_CALENDAR)
    assert left == timedelta(hours=10)  # 1 h on Tuesday, 9 h on Wednesday
    # answered Friday 12 March 15:00: 3 h that day, 7 h more on Tuesday 17 (Monday 16 is a holiday)
    assert target.resume(left, mx(2026, 3, 13, 15, 0), MX_CALENDAR) == mx(2026, 3, 17, 16, 0)


def test_a_continuous_clock_pauses_and_resumes_in_wall_clock_time() -> None:
    target = Target.continuous(minutes(60))
    start = mx(2026, 3, 7, 22, 0)
    deadline = target.deadline(start, MX_CALENDAR)
    left = target.remaining(deadline, mx(2026, 3, 7, 22, 45), MX_CALENDAR)
    assert left == minutes(15)
    assert target.resume(left, mx(2026, 3, 8, 3, 0), MX_CALENDAR) == mx(2026, 3, 8, 3, 15)


def test_a_clock_past_its_deadline_has_nothing_left_and_is_due_on_resuming() -> None:
    for target in (Target.continuous(minutes(10)), Target.business(timedelta(hours=1))):
        deadline = target.deadline(mx(2026, 3, 3, 10, 0), MX_CALENDAR)
        late = deadline + timedelta(hours=1)
        assert target.remaining(deadline, late, MX_CALENDAR) == timedelta(0)
        assert target.resume(timedelta(0), late, MX_CALENDAR) == late


@settings(max_examples=150, deadline=None)
@given(
    calendar=business_calendars(),
    start=instants(),
    amount=business_amounts(max_hours=40),
    days=st.integers(min_value=1, max_value=6),
)
def test_pausing_and_resuming_at_the_same_instant_keeps_the_deadline(
    calendar: BusinessCalendar, start: datetime, amount: timedelta, days: int
) -> None:
    targets = [Target.in_business_days(days)]
    if amount > timedelta(0):
        targets += [Target.continuous(amount), Target.business(amount)]
    for target in targets:
        deadline = target.deadline(start, calendar)
        assert target.resume(target.remaining(deadline, start, calendar), start, calendar) == deadline


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (Target.continuous(minutes(5)), "5 min, 24x7"),
        (Target.continuous(timedelta(hours=4)), "4 h, 24x7"),
        (Target.continuous(minutes(90)), "1 h 30 min, 24x7"),
        (Target.business(timedelta(hours=4)), "4 business hours"),
        (Target.business(timedelta(hours=1)), "1 business hour"),
        (Target.business(minutes(30)), "30 min of business time"),
        (Target.in_business_days(1), "next business day"),
        (Target.in_business_days(5), "5 business days"),
    ],
)
def test_targets_describe_themselves(target: Target, text: str) -> None:
    assert target.describe() == text


@pytest.mark.parametrize(
    "build",
    [
        lambda: Target(Basis.CONTINUOUS),
        lambda: Target(Basis.BUSINESS, duration=minutes(5), business_days=1),
        lambda: Target(Basis.CONTINUOUS, business_days=1),
        lambda: Target(Basis.BUSINESS, business_days=0),
        lambda: Target(Basis.CONTINUOUS, duration=timedelta(0)),
        lambda: Target(Basis.CONTINUOUS, duration=timedelta(days=400)),
    ],
)
def test_targets_reject_nonsense(build: Any) -> None:
    with pytest.raises(InvariantViolation):
        build()


# ---- the default matrices ---------------------------------------------------------------


@pytest.mark.parametrize("kind", [CaseKind.ORDER_INCIDENT, CaseKind.DISPUTE, CaseKind.PLATFORM_INCIDENT])
def test_the_incident_matrix(kind: CaseKind) -> None:
    policy = default_sla_policy(CountryCode("MX"), kind)
    assert policy.version == 1 and policy.case_kind is kind
    described = {
        severity: tuple(policy.targets_for(severity).unwrap().for_clock(c).describe() for c in ClockKind)
        for severity in Severity
    }
    assert described == {
        Severity.SEV0: ("5 min, 24x7", "30 min, 24x7", "15 min, 24x7"),
        Severity.SEV1: ("10 min, 24x7", "1 h, 24x7", "30 min, 24x7"),
        Severity.SEV2: ("30 min, 24x7", "4 h, 24x7", "2 h, 24x7"),
        Severity.SEV3: ("next business day", "5 business days", "next business day"),
    }


def test_the_diagnostics_matrix_covers_sev1_to_sev3() -> None:
    policy = default_sla_policy(CountryCode("BR"), CaseKind.DIAGNOSTICS)
    described = {
        severity: tuple(policy.targets_for(severity).unwrap().for_clock(c).describe() for c in ClockKind)
        for severity in (Severity.SEV1, Severity.SEV2, Severity.SEV3)
    }
    assert described == {
        Severity.SEV1: ("30 min, 24x7", "4 h, 24x7", "1 h, 24x7"),
        Severity.SEV2: ("4 h, 24x7", "next business day", "4 business hours"),
        Severity.SEV3: ("next business day", "5 business days", "next business day"),
    }
    assert policy.targets_for(Severity.SEV0) == Failure(SeverityNotCovered("BR", "DIAGNOSTICS", "SEV0"))
    assert SeverityNotCovered.code == "SEVERITY_NOT_COVERED"


def test_severity_targets_by_clock() -> None:
    targets = SeverityTargets(
        Target.continuous(minutes(1)), Target.continuous(minutes(2)), Target.continuous(minutes(3))
    )
    assert [targets.for_clock(c).duration for c in ClockKind] == [minutes(1), minutes(2), minutes(3)]


def test_a_policy_is_immutable_and_ordered_by_severity() -> None:
    policy = SlaPolicy(
        CountryCode("ES"),
        CaseKind.DIAGNOSTICS,
        2,
        {Severity.SEV3: default_sla_policy(CountryCode("ES"), CaseKind.DIAGNOSTICS).targets[Severity.SEV3]},
    )
    with pytest.raises(TypeError):
        policy.targets[Severity.SEV0] = policy.targets[Severity.SEV3]  # type: ignore[index]
    with pytest.raises(InvariantViolation):
        SlaPolicy(CountryCode("ES"), CaseKind.DISPUTE, 0, policy.targets)
    with pytest.raises(InvariantViolation):
        SlaPolicy(CountryCode("ES"), CaseKind.DISPUTE, 1, {})


# ---- the stored document ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CaseKind))
def test_the_document_round_trips_through_json(kind: CaseKind) -> None:
    policy = default_sla_policy(CountryCode("CO"), kind)
    doc = policy.to_document()
    assert SlaPolicy.from_document(json.loads(json.dumps(doc))) == Success(policy)
    assert json.dumps(doc) == json.dumps(SlaPolicy.from_document(doc).unwrap().to_document())


def test_the_document_is_plain_and_readable() -> None:
    doc = default_sla_policy(CountryCode("MX"), CaseKind.DIAGNOSTICS).to_document()
    assert doc["country"] == "MX" and doc["case_kind"] == "DIAGNOSTICS" and doc["version"] == 1
    assert list(doc["targets"]) == ["SEV1", "SEV2", "SEV3"]
    assert doc["targets"]["SEV2"] == {
        "ACKNOWLEDGE": {"basis": "CONTINUOUS", "duration_seconds": 14_400},
        "MITIGATE": {"basis": "BUSINESS", "business_days": 1},
        "STATUS_UPDATE": {"basis": "BUSINESS", "duration_seconds": 14_400},
    }


def _base() -> dict[str, Any]:
    return default_sla_policy(CountryCode("MX"), CaseKind.ORDER_INCIDENT).to_document()


def _with(path: tuple[str, ...], value: object) -> dict[str, Any]:
    doc = copy.deepcopy(_base())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()
_ACK = ("targets", "SEV0", "ACKNOWLEDGE")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_with(("country",), "mx"), "country"),
        (_with(("country",), "XX"), "country"),
        (_with(("country",), 52), "country"),
        (_with(("case_kind",), "INCIDENT"), "case_kind"),
        (_with(("case_kind",), ["DISPUTE"]), "case_kind"),
        (_with(("version",), 0), "version"),
        (_with(("version",), True), "version"),
        (_with(("version",), "1"), "version"),
        (_with(("version",), _DELETE), "policy"),
        (_with(("extra",), 1), "policy"),
        (_with(("targets",), {}), "targets"),
        (_with(("targets",), []), "targets"),
        (_with(("targets", "SEV9"), _base()["targets"]["SEV0"]), "targets"),
        (_with(("targets", "SEV0", "STATUS_UPDATE"), _DELETE), "targets.SEV0"),
        (
            _with(("targets", "SEV0", "RESOLVE"), {"basis": "CONTINUOUS", "duration_seconds": 60}),
            "targets.SEV0",
        ),
        (_with(("targets", "SEV0"), "5 min"), "targets.SEV0"),
        (_with(_ACK, "5 min"), "targets.SEV0.ACKNOWLEDGE"),
        (_with((*_ACK, "basis"), "WEEKDAYS"), "targets.SEV0.ACKNOWLEDGE.basis"),
        (_with((*_ACK, "basis"), ["BUSINESS"]), "targets.SEV0.ACKNOWLEDGE.basis"),
        (_with((*_ACK, "duration_seconds"), 0), "targets.SEV0.ACKNOWLEDGE.duration_seconds"),
        (_with((*_ACK, "duration_seconds"), -60), "targets.SEV0.ACKNOWLEDGE.duration_seconds"),
        (_with((*_ACK, "duration_seconds"), 300.0), "targets.SEV0.ACKNOWLEDGE.duration_seconds"),
        (_with((*_ACK, "duration_seconds"), 10**9), "targets.SEV0.ACKNOWLEDGE.duration_seconds"),
        (_with((*_ACK, "duration_seconds"), _DELETE), "targets.SEV0.ACKNOWLEDGE"),
        (_with((*_ACK, "business_days"), 1), "targets.SEV0.ACKNOWLEDGE"),
        (_with((*_ACK, "minutes"), 5), "targets.SEV0.ACKNOWLEDGE"),
        (_with(("targets", "SEV3", "MITIGATE", "business_days"), 0), "targets.SEV3.MITIGATE.business_days"),
        (_with(("targets", "SEV3", "MITIGATE", "business_days"), 5.5), "targets.SEV3.MITIGATE.business_days"),
        (
            _with(("targets", "SEV3", "MITIGATE"), {"basis": "CONTINUOUS", "business_days": 5}),
            "targets.SEV3.MITIGATE.business_days",
        ),
    ],
)
def test_malformed_documents_are_refused_with_the_field_named(doc: dict[str, Any], field: str) -> None:
    result = SlaPolicy.from_document(doc)
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, InvalidInput)
    assert error.field == field


def test_a_document_that_is_not_an_object_is_refused() -> None:
    result = SlaPolicy.from_document([1, 2])  # type: ignore[arg-type]
    assert isinstance(result, Failure) and result.failure().field == "policy"
