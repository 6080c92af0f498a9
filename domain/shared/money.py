"""Money: an integer number of minor units plus an ISO-4217 currency. No floats, ever.

Rounding is always explicit and integer-only: :func:`round_half_even` divides two
integers and rounds the quotient half to even (banker's rounding), so a percentage of an
amount is ``round_half_even(amount * basis_points, 10_000)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from domain.shared.errors import CurrencyMismatch, InvalidInput, InvariantViolation

BASIS_POINTS: Final = 10_000

# ISO-4217 minor-unit exponents of the currencies the marketplace settles in (and a few
# with unusual exponents, so that 0- and 3-decimal currencies are first-class citizens).
_ISO_4217_EXPONENTS: Final[dict[str, int]] = {
    "ARS": 2,
    "BOB": 2,
    "BRL": 2,
    "CLP": 0,
    "COP": 2,
    "CRC": 2,
    "DOP": 2,
    "EUR": 2,
    "GBP": 2,
    "GTQ": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "PEN": 2,
    "PYG": 0,
    "USD": 2,
    "UYU": 2,
}


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half to even, in exact integer arithmetic."""
    if denominator == 0:
        raise InvariantViolation("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


@dataclass(frozen=True, slots=True, order=True)
class Currency:
    """An ISO-4217 currency with its minor-unit exponent."""

    code: str
    exponent: int

    @staticmethod
    def parse(code: str) -> Result[Currency, InvalidInput]:
        normalised = code.strip().upper()
        exponent = _ISO_4217_EXPONENTS.get(normalised)
        if exponent is None:
            return Failure(InvalidInput("currency", f"unknown or unsupported ISO-4217 code {code!r}"))
        return Success(Currency(normalised, exponent))

    @staticmethod
    def of(code: str) -> Currency:
        """The currency for a code known to be valid (constants, tests); raises otherwise."""
        exponent = _ISO_4217_EXPONENTS.get(code)
        if exponent is None:
            raise InvariantViolation(f"unknown currency {code!r}")
        return Currency(code, exponent)

    @staticmethod
    def supported_codes() -> tuple[str, ...]:
        return tuple(sorted(_ISO_4217_EXPONENTS))

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` units of ``currency`` (may be negative for balances)."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        if type(self.minor) is not int:  # bool and float are refused alike
            raise InvariantViolation(f"money must be an int of minor units, got {self.minor!r}")

    @staticmethod
    def zero(currency: Currency) -> Money:
        return Money(0, currency)

    @staticmethod
    def of(minor: int, code: str) -> Money:
        return Money(minor, Currency.of(code))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    @property
    def is_zero(self) -> bool:
        return self.minor == 0

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    @property
    def is_negative(self) -> bool:
        return self.minor < 0

    def times_basis_points(self, basis_points: int) -> Money:
        """This amount × ``basis_points`` / 10 000, rounded half to even on the minor unit."""
        return Money(round_half_even(self.minor * basis_points, BASIS_POINTS), self.currency)

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        return self if self >= other else other

    def format(self) -> str:
        """``"123.45 MXN"``: exact, for people and logs; never parsed back."""
        sign = "-" if self.minor < 0 else ""
        units, minor = divmod(abs(self.minor), 10**self.currency.exponent)
        if self.currency.exponent == 0:
            return f"{sign}{units} {self.currency.code}"
        return f"{sign}{units}.{minor:0{self.currency.exponent}d} {self.currency.code}"

    def __str__(self) -> str:
        return self.format()


def sum_money(amounts: list[Money] | tuple[Money, ...], currency: Currency) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
