"""Business calendars: public holidays from the ``holidays`` library."""

from adapters.calendars.holidays_calendar import HolidaysCalendar, HolidaysCalendarSource

__all__ = ["HolidaysCalendar", "HolidaysCalendarSource"]
