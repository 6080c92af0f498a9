"""Calendar port: each country's business calendar (zone, working hours, public holidays).

SLA clocks on business time ask it for the calendar of the case's country; the adapter
(``adapters/calendars``) takes holidays from the maintained ``holidays`` library and zones
and hours from the domain's defaults (D39).
"""

from __future__ import annotations

from typing import Protocol

from domain.cases.calendar import BusinessCalendar
from domain.shared import CountryCode


class CalendarSource(Protocol):
    def calendar_for(self, country: CountryCode) -> BusinessCalendar: ...
