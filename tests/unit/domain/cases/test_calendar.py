"""Business time on country calendars: hours, weekends, holidays, zones and DST.

Fixed holiday lists here (the arithmetic); the real ``holidays`` library is exercised in
tests/unit/adapters/test_holidays_calendar.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.cases.calendar import (
    DEFAULT_TIME_ZONES,
    DEFAULT_WORKING_HOURS,
    BusinessCalendar,
    WorkingHours,
    default_time_zone,
    default_working_hours,
)
from domain.shared import CountryCode
from domain.shared.errors import InvariantViolation
from tests.fakes.calendars import FixedHolidays, fixed_calendar
from tests.strategies import business_amounts, business_calendars, instants

MEXICO = ZoneInfo("America/Mexico_City")
MADRID = ZoneInfo("Europe/Madrid")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BOGOTA = ZoneInfo("America/Bogota")


def local(zone: ZoneInfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=zone)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


# ---- defaults ---------------------------------------------------------------------------


def test_marketplace_countries_have_their_desk_zones() -> None:
    assert DEFAULT_TIME_ZONES["MX"] == "America/Mexico_City"
    assert DEFAULT_TIME_ZONES["CO"] == "America/Bogota"
    assert DEFAULT_TIME_ZONES["BR"] == "America/Sao_Paulo"
    assert DEFAULT_TIME_ZONES["ES"] == "Europe/Madrid"
    assert DEFAULT_TIME_ZONES["US"] == "America/New_York"
    for country in ("MX", "CO", "BR", "ES", "AR", "CL", "PE", "US"):
        assert default_time_zone(CountryCode(country)) == ZoneInfo(DEFAULT_TIME_ZONES[country])
        assert default_working_hours(CountryCode(country)) == DEFAULT_WORKING_HOURS


def test_another_country_falls_back_to_utc_monday_to_friday_nine_to_six() -> None:
    assert default_time_zone(CountryCode("NZ")) == ZoneInfo("UTC")
    assert default_working_hours(CountryCode("NZ")) == WorkingHours(time(9), time(18), frozenset(range(5)))


def test_kuwait_works_sunday_to_thursday() -> None:
    calendar = fixed_calendar("KW")
    assert calendar.is_business_day(date(2026, 3, 1))  # Sunday
    assert not calendar.is_business_day(date(2026, 3, 6))  # Friday


@pytest.mark.parametrize(
    ("opens", "closes", "weekdays"),
    [
        (time(18), time(9), frozenset({0})),
        (time(9), time(9), frozenset({0})),
        (time(9), time(18), frozenset()),
        (time(9), time(18), frozenset({7})),
        (time(9, tzinfo=UTC), time(18, tzinfo=UTC), frozenset({0})),
    ],
)
def test_working_hours_reject_nonsense(opens: time, closes: time, weekdays: frozenset[int]) -> None:
    with pytest.raises(InvariantViolation):
        WorkingHours(opens, closes, weekdays)


# ---- open or not --------------------------------------------------------------------------


def test_weekends_and_holidays_are_not_business_days() -> None:
    calendar = fixed_calendar("MX", date(2026, 3, 16))
    assert calendar.is_business_day(date(2026, 3, 13))  # Friday
    assert not calendar.is_business_day(date(2026, 3, 14))  # Saturday
    assert not calendar.is_business_day(date(2026, 3, 15))  # Sunday
    assert not calendar.is_business_day(date(2026, 3, 16))  # the holiday, a Monday
    assert calendar.is_business_day(date(2026, 3, 17))


def test_is_open_reads_local_wall_time_whatever_the_zone_of_the_instant() -> None:
    calendar = fixed_calendar("MX")  # UTC-6 all year since 2022
    assert calendar.is_open(utc(2026, 3, 2, 15, 0))  # 09:00 in Mexico City
    assert not calendar.is_open(utc(2026, 3, 2, 14, 59, 59))
    assert calendar.is_open(utc(2026, 3, 2, 23, 59, 59))  # 17:59:59
    assert not calendar.is_open(utc(2026, 3, 3, 0, 0))  # 18:00: closed
    assert calendar.is_open(local(MADRID, 2026, 3, 2, 17, 0))  # 10:00 in Mexico City


def test_one_instant_is_open_in_madrid_and_closed_in_mexico_city() -> None:
    at = utc(2026, 3, 2, 9, 0)
    assert fixed_calendar("ES").is_open(at)  # 10:00 CET
    assert not fixed_calendar("MX").is_open(at)  # 03:00
    assert not fixed_calendar("CO").is_open(at)  # 04:00
    assert fixed_calendar("BR").is_open(utc(2026, 3, 2, 12, 0))  # 09:00 in São Paulo


def test_brazil_no_longer_moves_its_clocks() -> None:
    calendar = fixed_calendar("BR")
    january = calendar.open_interval(date(2026, 1, 14))  # once summer time (UTC-2)
    july = calendar.open_interval(date(2026, 7, 15))
    assert january == (utc(2026, 1, 14, 12, 0), utc(2026, 1, 14, 21, 0))
    assert july == (utc(2026, 7, 15, 12, 0), utc(2026, 7, 15, 21, 0))


def test_naive_datetimes_are_refused() -> None:
    calendar = fixed_calendar("MX")
    with pytest.raises(InvariantViolation):
        calendar.is_open(datetime(2026, 3, 2, 10, 0))
    with pytest.raises(InvariantViolation):
        calendar.add_business_time(datetime(2026, 3, 2, 10, 0), timedelta(hours=1))
    with pytest.raises(InvariantViolation):
        calendar.add_business_time(utc(2026, 3, 2, 16), timedelta(hours=-1))


# ---- adding business time ---------------------------------------------------------------


def test_time_inside_one_day_is_plain_addition() -> None:
    calendar = fixed_calendar("CO")
    start = local(BOGOTA, 2026, 3, 2, 10, 0)
    assert calendar.add_business_time(start, timedelta(hours=4)) == local(BOGOTA, 2026, 3, 2, 14, 0)
    assert calendar.add_business_time(start, timedelta(hours=4)).tzinfo is UTC


def test_a_friday_evening_start_counts_from_monday_morning() -> None:
    calendar = fixed_calendar("MX")
    friday_evening = local(MEXICO, 2026, 3, 6, 20, 15)
    assert calendar.add_business_time(friday_evening, timedelta(minutes=30)) == local(
        MEXICO, 2026, 3, 9, 9, 30
    )


def test_time_left_on_friday_carries_over_the_weekend() -> None:
    calendar = fixed_calendar("MX")
    friday = local(MEXICO, 2026, 3, 6, 17, 0)
    assert calendar.add_business_time(friday, timedelta(hours=2)) == local(MEXICO, 2026, 3, 9, 10, 0)


def test_a_start_on_a_holiday_counts_from_the_next_business_morning() -> None:
    calendar = fixed_calendar("MX", date(2026, 3, 16))
    on_the_holiday = local(MEXICO, 2026, 3, 16, 11, 0)
    assert calendar.add_business_time(on_the_holiday, timedelta(hours=4)) == local(MEXICO, 2026, 3, 17, 13, 0)


def test_an_amount_ending_at_closing_time_is_due_at_closing_time() -> None:
    calendar = fixed_calendar("MX")
    monday = local(MEXICO, 2026, 3, 2, 9, 0)
    assert calendar.add_business_time(monday, timedelta(hours=9)) == local(MEXICO, 2026, 3, 2, 18, 0)
    assert calendar.add_business_time(monday, timedelta(hours=9, seconds=1)) == local(
        MEXICO, 2026, 3, 3, 9, 0, 1
    )


def test_nothing_to_add_is_due_at_once() -> None:
    calendar = fixed_calendar("MX")
    saturday = local(MEXICO, 2026, 3, 7, 11, 0)
    assert calendar.add_business_time(saturday, timedelta(0)) == saturday


def test_a_long_amount_spans_weeks_and_holidays() -> None:
    calendar = fixed_calendar("BR", date(2026, 4, 21))
    monday = local(SAO_PAULO, 2026, 4, 20, 9, 0)
    # 5 x 9 h = 45 business hours: Mon 20, (Tue 21 holiday), Wed 22, Thu 23, Fri 24, Mon 27
    assert calendar.add_business_time(monday, timedelta(hours=45)) == local(SAO_PAULO, 2026, 4, 27, 18, 0)


# ---- Spain's clock changes -------------------------------------------------------------


def test_spring_forward_weekend_in_madrid_still_opens_at_nine_local() -> None:
    calendar = fixed_calendar("ES")
    friday = local(MADRID, 2026, 3, 27, 17, 0)  # CET, 16:00 UTC
    due = calendar.add_business_time(friday, timedelta(hours=2))
    assert due == local(MADRID, 2026, 3, 30, 10, 0)  # CEST
    assert due == utc(2026, 3, 30, 8, 0)
    assert calendar.open_interval(date(2026, 3, 27)) == (utc(2026, 3, 27, 8), utc(2026, 3, 27, 17))
    assert calendar.open_interval(date(2026, 3, 30)) == (utc(2026, 3, 30, 7), utc(2026, 3, 30, 16))
    assert calendar.business_time_between(friday, due) == timedelta(hours=2)


def test_fall_back_weekend_in_madrid_still_opens_at_nine_local() -> None:
    calendar = fixed_calendar("ES")
    friday = local(MADRID, 2026, 10, 23, 17, 0)  # CEST, 15:00 UTC
    due = calendar.add_business_time(friday, timedelta(hours=2))
    assert due == local(MADRID, 2026, 10, 26, 10, 0)  # CET
    assert due == utc(2026, 10, 26, 9, 0)


def test_a_continuous_span_over_the_spring_gap_is_wall_clock_elapsed_time() -> None:
    calendar = fixed_calendar("ES")
    # Sunday 29 March: 02:00 CET jumps to 03:00 CEST; nothing is open, no business time.
    assert calendar.business_time_between(utc(2026, 3, 28, 0), utc(2026, 3, 30, 0)) == timedelta(0)
    assert calendar.end_of_business_day(local(MADRID, 2026, 3, 28, 12), 1) == utc(2026, 3, 30, 16)


# ---- business time between --------------------------------------------------------------


def test_business_time_between_counts_only_open_hours() -> None:
    calendar = fixed_calendar("MX")
    friday = local(MEXICO, 2026, 3, 6, 17, 0)
    monday = local(MEXICO, 2026, 3, 9, 10, 0)
    assert calendar.business_time_between(friday, monday) == timedelta(hours=2)
    assert calendar.business_time_between(monday, friday) == timedelta(0)
    assert calendar.business_time_between(monday, monday) == timedelta(0)
    week = calendar.business_time_between(local(MEXICO, 2026, 3, 2, 0), local(MEXICO, 2026, 3, 9, 0))
    assert week == timedelta(hours=45)


def test_business_time_between_mixed_zones() -> None:
    calendar = fixed_calendar("CO")
    start = utc(2026, 3, 2, 14, 0)  # 09:00 Bogotá
    end = local(MADRID, 2026, 3, 2, 20, 0)  # 19:00 UTC, 14:00 Bogotá
    assert calendar.business_time_between(start, end) == timedelta(hours=5)


# ---- business days ------------------------------------------------------------------------


def test_next_business_day_closes_at_the_end_of_the_following_business_day() -> None:
    calendar = fixed_calendar("MX")
    tuesday = local(MEXICO, 2026, 3, 3, 8, 0)
    assert calendar.end_of_business_day(tuesday, 1) == local(MEXICO, 2026, 3, 4, 18, 0)
    friday_evening = local(MEXICO, 2026, 3, 6, 20, 0)
    assert calendar.end_of_business_day(friday_evening, 1) == local(MEXICO, 2026, 3, 9, 18, 0)
    saturday = local(MEXICO, 2026, 3, 7, 10, 0)
    assert calendar.end_of_business_day(saturday, 1) == local(MEXICO, 2026, 3, 9, 18, 0)


def test_next_business_day_skips_a_monday_holiday() -> None:
    calendar = fixed_calendar("CO", date(2026, 3, 23))
    friday = local(BOGOTA, 2026, 3, 20, 12, 0)
    assert calendar.end_of_business_day(friday, 1) == local(BOGOTA, 2026, 3, 24, 18, 0)
    assert calendar.next_business_day(date(2026, 3, 20)) == date(2026, 3, 24)


def test_five_business_days() -> None:
    calendar = fixed_calendar("MX", date(2026, 3, 16))
    monday = local(MEXICO, 2026, 3, 9, 11, 0)
    # Tue 10, Wed 11, Thu 12, Fri 13, (Mon 16 holiday), Tue 17
    assert calendar.end_of_business_day(monday, 5) == local(MEXICO, 2026, 3, 17, 18, 0)
    with pytest.raises(InvariantViolation):
        calendar.end_of_business_day(monday, 0)


def test_local_date_decides_the_day_not_the_utc_date() -> None:
    calendar = fixed_calendar("MX")
    # 2026-03-03 02:00 UTC is still Monday 2 March 20:00 in Mexico City
    assert calendar.end_of_business_day(utc(2026, 3, 3, 2, 0), 1) == local(MEXICO, 2026, 3, 3, 18, 0)


def test_a_calendar_with_no_business_day_is_a_bug_not_a_hang() -> None:
    every_day = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(800))
    calendar = BusinessCalendar(CountryCode("MX"), MEXICO, DEFAULT_WORKING_HOURS, FixedHolidays(every_day))
    with pytest.raises(InvariantViolation):
        calendar.add_business_time(utc(2026, 1, 2, 12), timedelta(hours=1))


# ---- properties ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(calendar=business_calendars(), start=instants(), amount=business_amounts())
def test_adding_then_measuring_gives_back_the_amount(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    due = calendar.add_business_time(start, amount)
    assert due >= start
    assert calendar.business_time_between(start, due) == amount


@settings(max_examples=300, deadline=None)
@given(
    calendar=business_calendars(),
    start=instants(),
    amounts=st.tuples(business_amounts(), business_amounts()).map(sorted),
)
def test_adding_business_time_is_monotonic(
    calendar: BusinessCalendar, start: datetime, amounts: list[timedelta]
) -> None:
    smaller, larger = amounts
    assert calendar.add_business_time(start, smaller) <= calendar.add_business_time(start, larger)


@settings(max_examples=200, deadline=None)
@given(calendar=business_calendars(), start=instants(), amount=business_amounts(max_hours=60))
def test_a_positive_amount_is_due_at_an_open_instant_or_a_closing_time(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    due = calendar.add_business_time(start, amount)
    interval = calendar.open_interval(calendar.local_date(due))
    if amount > timedelta(0):
        assert interval is not None
        assert interval[0] < due <= interval[1]


@settings(max_examples=200, deadline=None)
@given(calendar=business_calendars(), start=instants(), days=st.integers(min_value=1, max_value=10))
def test_the_nth_business_day_closes_after_n_business_days(
    calendar: BusinessCalendar, start: datetime, days: int
) -> None:
    due = calendar.end_of_business_day(start, days)
    due_day = calendar.local_date(due)
    assert calendar.is_business_day(due_day)
    first = calendar.local_date(start) + timedelta(days=1)
    counted = sum(
        calendar.is_business_day(first + timedelta(days=n)) for n in range((due_day - first).days + 1)
    )
    assert counted == days
