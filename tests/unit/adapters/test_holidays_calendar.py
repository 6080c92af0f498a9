"""Business calendars on the real ``holidays`` library: named 2026 holidays in Mexico,
Colombia, Brazil and Spain moving SLA deadlines, in each country's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_library
import pytest

from adapters.calendars import HolidaysCalendar, HolidaysCalendarSource
from application.ports.calendars import CalendarSource
from domain.cases.calendar import BusinessCalendar, HolidayCalendar
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.cases.sla import default_sla_policy
from domain.shared import CountryCode
from domain.shared.country import _ISO_3166_ALPHA2 as ISO_3166_ALPHA2

SOURCE: CalendarSource = HolidaysCalendarSource()
MX, CO, BR, ES = (CountryCode(c) for c in ("MX", "CO", "BR", "ES"))


def calendar(country: CountryCode) -> BusinessCalendar:
    return SOURCE.calendar_for(country)


def at(country: CountryCode, y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=calendar(country).zone)


def test_the_source_builds_each_country_once_with_its_zone_and_hours() -> None:
    assert calendar(MX) is calendar(MX)
    assert calendar(MX).zone == ZoneInfo("America/Mexico_City")
    assert calendar(ES).zone == ZoneInfo("Europe/Madrid")
    holidays: HolidayCalendar = calendar(BR).holidays
    assert isinstance(holidays, HolidaysCalendar)


@pytest.mark.parametrize(
    ("country", "day", "name"),
    [
        (MX, date(2026, 11, 16), "Revolution Day"),  # third Monday of November
        (MX, date(2026, 3, 16), "Benito Juárez's birthday"),  # third Monday of March
        (CO, date(2026, 3, 23), "Saint Joseph's Day (observed)"),  # 19 March, moved to Monday
        (CO, date(2026, 1, 12), "Epiphany (observed)"),  # 6 January, moved to Monday
        (BR, date(2026, 4, 21), "Tiradentes' Day"),
        (BR, date(2026, 4, 3), "Good Friday"),
        (ES, date(2026, 12, 8), "Immaculate Conception"),
        (ES, date(2026, 1, 6), "Epiphany"),
    ],
)
def test_real_holidays_are_not_business_days(country: CountryCode, day: date, name: str) -> None:
    assert calendar(country).holidays.holiday_name(day) == name
    assert calendar(country).holidays.is_holiday(day)
    assert not calendar(country).is_business_day(day)


def test_days_that_are_not_holidays() -> None:
    assert calendar(CO).holidays.holiday_name(date(2026, 3, 19)) is None  # the festivo moved to Monday
    assert calendar(CO).is_business_day(date(2026, 3, 19))
    assert calendar(MX).holidays.holiday_name(date(2026, 11, 20)) is None  # the old date of Revolution Day
    assert calendar(ES).is_business_day(date(2026, 12, 9))


def test_holidays_are_loaded_per_year_and_kept() -> None:
    holidays = HolidaysCalendar(MX)
    assert holidays.is_holiday(date(2027, 1, 1))
    assert set(holidays.holidays_in(2027)) >= {date(2027, 1, 1), date(2027, 12, 25)}
    assert all(day.year == 2027 for day in holidays.holidays_in(2027))
    assert holidays.holidays_in(2027) is holidays.holidays_in(2027)


def test_the_library_covers_every_country_code() -> None:
    assert set(holidays_library.list_supported_countries()) >= ISO_3166_ALPHA2


def test_a_country_without_a_desk_zone_gets_utc_and_the_library_holidays() -> None:
    nz = calendar(CountryCode("NZ"))
    assert nz.zone == ZoneInfo("UTC")
    assert nz.holidays.holiday_name(date(2026, 2, 6)) == "Waitangi Day"
    assert nz.is_open(datetime(2026, 2, 5, 9, 0, tzinfo=UTC))
    assert not nz.is_open(datetime(2026, 2, 6, 9, 0, tzinfo=UTC))


def test_mexico_next_business_day_skips_revolution_day() -> None:
    friday_evening = at(MX, 2026, 11, 13, 19, 30)
    assert calendar(MX).end_of_business_day(friday_evening, 1) == at(MX, 2026, 11, 17, 18, 0)
    assert calendar(MX).end_of_business_day(friday_evening, 1) == datetime(2026, 11, 18, 0, 0, tzinfo=UTC)


def test_colombia_business_hours_skip_the_moved_festivo_and_holy_week() -> None:
    friday = at(CO, 2026, 3, 20, 16, 0)
    # 2 h on Friday, Monday 23 is Saint Joseph (observed), 2 h more on Tuesday
    assert calendar(CO).add_business_time(friday, timedelta(hours=4)) == at(CO, 2026, 3, 24, 11, 0)
    wednesday = at(CO, 2026, 4, 1, 17, 0)
    # Maundy Thursday and Good Friday, then the weekend
    assert calendar(CO).add_business_time(wednesday, timedelta(hours=2)) == at(CO, 2026, 4, 6, 10, 0)


def test_brazil_five_business_days_over_good_friday_and_tiradentes() -> None:
    thursday = at(BR, 2026, 4, 2, 10, 0)
    # Fri 3 Good Friday; Mon 6, Tue 7, Wed 8, Thu 9, Fri 10
    assert calendar(BR).end_of_business_day(thursday, 5) == at(BR, 2026, 4, 10, 18, 0)
    friday = at(BR, 2026, 4, 17, 12, 0)
    # Mon 20, (Tue 21 Tiradentes), Wed 22, Thu 23, Fri 24, Mon 27
    assert calendar(BR).end_of_business_day(friday, 5) == at(BR, 2026, 4, 27, 18, 0)
    assert calendar(BR).end_of_business_day(friday, 5) == datetime(2026, 4, 27, 21, 0, tzinfo=UTC)


def test_spain_inmaculada_and_the_october_clock_change() -> None:
    monday = at(ES, 2026, 12, 7, 17, 0)  # Tuesday 8 is the Immaculate Conception
    assert calendar(ES).add_business_time(monday, timedelta(hours=3)) == at(ES, 2026, 12, 9, 11, 0)
    friday = at(ES, 2026, 10, 23, 16, 0)  # CEST; clocks go back on Sunday 25
    due = calendar(ES).add_business_time(friday, timedelta(hours=4))
    assert due == at(ES, 2026, 10, 26, 11, 0)
    assert due == datetime(2026, 10, 26, 10, 0, tzinfo=UTC)


def test_a_sev3_order_incident_opened_on_a_holiday_in_each_country() -> None:
    sev3 = default_sla_policy(MX, CaseKind.ORDER_INCIDENT).targets_for(Severity.SEV3).unwrap()
    ack = sev3.for_clock(ClockKind.ACKNOWLEDGE)
    assert ack.deadline(at(MX, 2026, 11, 16, 10), calendar(MX)) == at(MX, 2026, 11, 17, 18)
    assert ack.deadline(at(CO, 2026, 3, 23, 10), calendar(CO)) == at(CO, 2026, 3, 24, 18)
    assert ack.deadline(at(BR, 2026, 4, 21, 10), calendar(BR)) == at(BR, 2026, 4, 22, 18)
    assert ack.deadline(at(ES, 2026, 12, 8, 10), calendar(ES)) == at(ES, 2026, 12, 9, 18)


def test_a_diagnostics_sev2_ticket_paused_over_a_holiday_weekend() -> None:
    targets = default_sla_policy(MX, CaseKind.DIAGNOSTICS).targets_for(Severity.SEV2).unwrap()
    ack = targets.for_clock(ClockKind.STATUS_UPDATE)  # 4 business hours (acknowledge is 4 h 24x7, D81)
    opened = at(MX, 2026, 11, 13, 15, 0)  # Friday
    deadline = ack.deadline(opened, calendar(MX))
    assert deadline == at(MX, 2026, 11, 17, 10, 0)  # 3 h Friday, Monday is Revolution Day, 1 h Tuesday
    left = ack.remaining(deadline, at(MX, 2026, 11, 13, 17, 0), calendar(MX))  # waiting on the customer
    assert left == timedelta(hours=2)
    answered = at(MX, 2026, 11, 16, 12, 0)  # the customer answers on the holiday
    assert ack.resume(left, answered, calendar(MX)) == at(MX, 2026, 11, 17, 11, 0)
