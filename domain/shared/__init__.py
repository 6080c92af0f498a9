"""Shared kernel: money, countries, typed ids, errors and events."""

from domain.shared.country import CountryCode
from domain.shared.errors import CurrencyMismatch, DomainError, InvalidInput, InvariantViolation
from domain.shared.events import DomainEvent
from domain.shared.money import BASIS_POINTS, Currency, Money, round_half_even, sum_money

__all__ = [
    "BASIS_POINTS",
    "CountryCode",
    "Currency",
    "CurrencyMismatch",
    "DomainError",
    "DomainEvent",
    "InvalidInput",
    "InvariantViolation",
    "Money",
    "round_half_even",
    "sum_money",
]
