"""What the tracking and order feeds' parsers share (D90, D91): a field that breaks a rule."""

from __future__ import annotations


class BadField(Exception):
    """Raised inside a feed's parser for the first field that breaks a rule; the parser turns
    it into ``InvalidInput(field, reason)`` (HTTP 400, nothing stored)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason
