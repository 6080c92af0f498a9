"""What the tracking and order feeds' parsers share (D90, D91): a field that breaks a rule."""

from __future__ import annotations

from datetime import datetime


class BadField(Exception):
    """Raised inside a feed's parser for the first field that breaks a rule; the parser turns
    it into ``InvalidInput(field, reason)`` (HTTP 400, nothing stored)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def instant(raw: object, field: str) -> datetime:
    """An ISO-8601 time with an offset (``BadField`` otherwise)."""
    if not isinstance(raw, str):
        raise BadField(field, "an ISO-8601 time with an offset is required")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadField(field, f"not an ISO-8601 time: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        raise BadField(field, "the time needs an offset (e.g. Z or +00:00)")
    return moment
