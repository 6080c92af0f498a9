"""What every use case receives besides its command: who asks, and the request's id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from application.ports.calendars import CalendarSource
from application.ports.clock import Clock
from application.ports.events import NO_CHANGES, ChangeFeed
from application.ports.ids import IdGenerator
from application.ports.metrics import NO_METRICS, Metrics
from application.ports.tracking import NO_TRACKING, DeliveryTracking
from application.ports.unit_of_work import UnitOfWorkFactory
from application.security.principal import Principal
from domain.cases.calendar import BusinessCalendar, default_time_zone, default_working_hours
from domain.shared import CountryCode


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    request_id: str


class _NoHolidays:
    def is_holiday(self, day: date) -> bool:
        return False

    def holiday_name(self, day: date) -> str | None:
        return None


class _DefaultHoursOnly:
    """Each country's default zone and working hours without public holidays."""

    def calendar_for(self, country: CountryCode) -> BusinessCalendar:
        return BusinessCalendar(
            country, default_time_zone(country), default_working_hours(country), _NoHolidays()
        )


WITHOUT_HOLIDAYS: Final[CalendarSource] = _DefaultHoursOnly()
"""The calendars of tests and tools that build ``Services`` by hand; the composition root
gives the holidays library's (``adapters/calendars/holidays_calendar.py``)."""


@dataclass(frozen=True, slots=True)
class Services:
    """The ports every use case uses: transactions, time and identifiers (and the metrics
    they report to; ``NO_METRICS`` unless the composition root gives real ones)."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    metrics: Metrics = NO_METRICS
    calendars: CalendarSource = WITHOUT_HOLIDAYS  # each country's business calendar (SLA clocks)
    changes: ChangeFeed = NO_CHANGES  # where committed changes are announced (live views)
    tracking: DeliveryTracking = NO_TRACKING  # what the delivery side recorded (L0's facts)
