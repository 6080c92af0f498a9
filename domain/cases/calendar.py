"""Business time on a country's calendar: working hours, public holidays, its time zone.

SLA targets on business time (SPEC §6: "next business day", "5 business days", Sev-2
diagnostics "4 h") count only the hours a country's support desk is open: its working
weekdays, between opening and closing in local wall time, skipping its public holidays.

Everything is computed in the country's local wall time with :mod:`zoneinfo` and
converted to UTC, so a day on which clocks change (Spain, last Sunday of March and of
October) still opens at 09:00 local. Inputs are aware datetimes in any zone; outputs are
aware UTC datetimes. Elapsed business time is real elapsed time inside the open
intervals, so ``business_time_between(s, add_business_time(s, d)) == d`` always holds.

Holidays come from a :class:`HolidayCalendar` (the adapter uses the maintained
``holidays`` library; nothing here lists holidays by hand). Defaults per country are in
:data:`DEFAULT_TIME_ZONES` and :func:`default_working_hours` (decision D39).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from domain.shared import CountryCode
from domain.shared.errors import InvariantViolation

# A calendar with no business day for this many consecutive days is broken (every day a
# holiday, say); stop rather than loop for ever.
_MAX_CLOSED_DAYS: Final = 366


class HolidayCalendar(Protocol):
    """A country's public holidays (the adapter asks the ``holidays`` library)."""

    def is_holiday(self, day: date) -> bool: ...

    def holiday_name(self, day: date) -> str | None: ...


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When the desk is open, in local wall time: ``opens`` to ``closes`` on ``weekdays``
    (Monday=0 .. Sunday=6)."""

    opens: time
    closes: time
    weekdays: frozenset[int]

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise InvariantViolation("working hours are local wall times, without a time zone")
        if not self.opens < self.closes:
            raise InvariantViolation("working hours must open before they close")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise InvariantViolation("working weekdays must be a non-empty subset of 0 (Monday) .. 6")


MONDAY_TO_FRIDAY: Final = frozenset({0, 1, 2, 3, 4})
SUNDAY_TO_THURSDAY: Final = frozenset({6, 0, 1, 2, 3})

DEFAULT_WORKING_HOURS: Final = WorkingHours(opens=time(9), closes=time(18), weekdays=MONDAY_TO_FRIDAY)
"""Monday to Friday, 09:00-18:00 local (D39): every marketplace country and the fallback."""

FALLBACK_TIME_ZONE: Final = "UTC"

DEFAULT_TIME_ZONES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AR": "America/Argentina/Buenos_Aires",
        "BR": "America/Sao_Paulo",
        "CL": "America/Santiago",
        "CO": "America/Bogota",
        "ES": "Europe/Madrid",
        "KW": "Asia/Kuwait",
        "MX": "America/Mexico_City",
        "PE": "America/Lima",
        "US": "America/New_York",
    }
)
"""The time zone of each country's support desk (its capital or main operations city)."""

_WORKING_HOURS_BY_COUNTRY: Final[Mapping[str, WorkingHours]] = MappingProxyType(
    {"KW": WorkingHours(opens=time(8), closes=time(17), weekdays=SUNDAY_TO_THURSDAY)}
)


def default_time_zone(country: CountryCode) -> ZoneInfo:
    """The country's desk time zone; UTC for a country without one (D39)."""
    return ZoneInfo(DEFAULT_TIME_ZONES.get(country.value, FALLBACK_TIME_ZONE))


def default_working_hours(country: CountryCode) -> WorkingHours:
    """The country's desk hours; Monday-Friday 09:00-18:00 unless the country works
    another week (D39)."""
    return _WORKING_HOURS_BY_COUNTRY.get(country.value, DEFAULT_WORKING_HOURS)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvariantViolation(f"{name} must be an aware datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """A country's business time: its zone, its working hours and its holidays."""

    country: CountryCode
    zone: tzinfo
    hours: WorkingHours
    holidays: HolidayCalendar

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.hours.weekdays and not self.holidays.is_holiday(day)

    def open_interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants the desk opens and closes on local ``day``; ``None`` when the
        day is not a business day."""
        if not self.is_business_day(day):
            return None
        opens = datetime.combine(day, self.hours.opens, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.hours.closes, tzinfo=self.zone).astimezone(UTC)
        return opens, closes

    def local_date(self, at: datetime) -> date:
        _require_aware(at, "at")
        return at.astimezone(self.zone).date()

    def is_open(self, at: datetime) -> bool:
        interval = self.open_interval(self.local_date(at))
        return interval is not None and interval[0] <= at < interval[1]

    def _intervals_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals of the business days from local ``day`` on, in order."""
        closed_run = 0
        while True:
            interval = self.open_interval(day)
            if interval is None:
                closed_run += 1
                if closed_run > _MAX_CLOSED_DAYS:
                    raise InvariantViolation(
                        f"the {self.country} calendar has no business day for {_MAX_CLOSED_DAYS} days"
                    )
            else:
                closed_run = 0
                yield interval
            day += timedelta(days=1)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant (UTC) by which ``amount`` of open time has passed since ``start``.

        Time outside working hours, on weekends and on holidays does not count; a start
        outside hours begins counting at the next opening. An amount that ends exactly at a
        closing time returns that closing time. A zero amount returns ``start``."""
        _require_aware(start, "start")
        if amount < timedelta(0):
            raise InvariantViolation(f"business time to add must not be negative, got {amount}")
        cursor = start.astimezone(UTC)
        if amount == timedelta(0):
            return cursor
        left = amount
        for opens, closes in self._intervals_from(self.local_date(start)):
            if closes <= cursor:
                continue
            begin = max(opens, cursor)
            available = closes - begin
            if left <= available:
                return begin + left
            left -= available
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; zero when ``end`` is not after ``start``."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return timedelta(0)
        begin_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        last_day = self.local_date(end)
        total = timedelta(0)
        day = self.local_date(start)
        while day <= last_day:
            interval = self.open_interval(day)
            if interval is not None:
                overlap = min(interval[1], end_utc) - max(interval[0], begin_utc)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def end_of_business_day(self, start: datetime, business_days: int) -> datetime:
        """Closing time (UTC) of the ``business_days``-th business day strictly after
        ``start``'s local date: ``1`` is "next business day"."""
        if business_days < 1:
            raise InvariantViolation(f"business_days must be at least 1, got {business_days}")
        day = self.local_date(start) + timedelta(days=1)
        for count, (_, closes) in enumerate(self._intervals_from(day), start=1):
            if count == business_days:
                return closes
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after local ``day``."""
        closes = self.end_of_business_day(datetime.combine(day, time(12), tzinfo=self.zone), 1)
        return closes.astimezone(self.zone).date()
