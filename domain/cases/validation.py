"""Input checks shared by the case aggregates (cases, platform incidents): typed errors, never exceptions."""

from __future__ import annotations

from datetime import datetime

from returns.result import Failure, Result, Success

from domain.shared import InvalidInput


def checked_text(name: str, value: str, limit: int, *, required: bool = True) -> Result[str, InvalidInput]:
    """``value`` stripped, or why it is refused (blank when required, longer than ``limit``)."""
    cleaned = value.strip()
    if required and not cleaned:
        return Failure(InvalidInput(name, "must not be blank"))
    if len(cleaned) > limit:
        return Failure(InvalidInput(name, f"must be at most {limit} characters"))
    return Success(cleaned)


def aware(name: str, at: datetime) -> Result[datetime, InvalidInput]:
    """``at`` if it carries a time zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        return Failure(InvalidInput(name, "must be timezone-aware"))
    return Success(at)
