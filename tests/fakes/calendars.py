"""Calendars for tests: fixed holiday lists (the product asks the ``holidays`` library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from domain.cases.calendar import BusinessCalendar, default_time_zone, default_working_hours
from domain.shared import CountryCode


@dataclass(frozen=True, slots=True)
class FixedHolidays:
    """A HolidayCalendar over a fixed set of dates (all named "holiday")."""

    days: frozenset[date] = field(default_factory=frozenset)

    def is_holiday(self, day: date) -> bool:
        return day in self.days

    def holiday_name(self, day: date) -> str | None:
        return "holiday" if day in self.days else None


def fixed_calendar(country: str = "MX", *holidays: date) -> BusinessCalendar:
    """The country's default zone and hours with only the given holidays."""
    code = CountryCode(country)
    return BusinessCalendar(
        country=code,
        zone=default_time_zone(code),
        hours=default_working_hours(code),
        holidays=FixedHolidays(frozenset(holidays)),
    )
