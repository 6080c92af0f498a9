"""Public holidays from the ``holidays`` library (no hand-written lists; SPEC §6).

``holidays.country_holidays(code, years=year)`` gives a country's national public
holidays for one year, with the days they are *observed* on (Colombia's festivos moved to
Monday, Mexico's Monday holidays). A :class:`HolidaysCalendar` asks for a year the first
time a date of that year is looked at and keeps the answer; business-time arithmetic
looks at the same few years over and over.

The library covers every ISO-3166 country (a test checks it), so every valid
``CountryCode`` has a calendar. Names are in American English by default (``language``),
not in the machine's locale.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Final

import holidays

from domain.cases.calendar import BusinessCalendar, default_time_zone, default_working_hours
from domain.shared import CountryCode

# Names in one language whatever the machine's locale (the library otherwise follows LANG).
DEFAULT_LANGUAGE: Final = "en_US"


class HolidaysCalendar:
    """A country's national public holidays; satisfies ``domain.cases.calendar.HolidayCalendar``."""

    def __init__(self, country: CountryCode, language: str = DEFAULT_LANGUAGE) -> None:
        self._country = country
        self._language = language
        self._years: dict[int, Mapping[date, str]] = {}
        self._lock = threading.Lock()

    def _year(self, year: int) -> Mapping[date, str]:
        found = self._years.get(year)
        if found is not None:
            return found
        with self._lock:
            found = self._years.get(year)
            if found is None:
                found = self._load(year)
                self._years[year] = found
            return found

    def _load(self, year: int) -> Mapping[date, str]:
        days = holidays.country_holidays(self._country.value, years=year, language=self._language)
        return MappingProxyType({day: str(name) for day, name in days.items() if day.year == year})

    def is_holiday(self, day: date) -> bool:
        return day in self._year(day.year)

    def holiday_name(self, day: date) -> str | None:
        return self._year(day.year).get(day)

    def holidays_in(self, year: int) -> Mapping[date, str]:
        """Every holiday of ``year`` with its name (for reports and the console)."""
        return self._year(year)


class HolidaysCalendarSource:
    """Satisfies ``application.ports.calendars.CalendarSource``: one calendar per country,
    built once, with the domain's default zone and working hours (D39)."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self._language = language
        self._calendars: dict[CountryCode, BusinessCalendar] = {}
        self._lock = threading.Lock()

    def calendar_for(self, country: CountryCode) -> BusinessCalendar:
        found = self._calendars.get(country)
        if found is not None:
            return found
        with self._lock:
            found = self._calendars.get(country)
            if found is None:
                found = BusinessCalendar(
                    country=country,
                    zone=default_time_zone(country),
                    hours=default_working_hours(country),
                    holidays=HolidaysCalendar(country, self._language),
                )
                self._calendars[country] = found
            return found
