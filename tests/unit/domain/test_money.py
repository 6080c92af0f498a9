from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from domain.shared import CountryCode, Currency, CurrencyMismatch, InvalidInput, InvariantViolation, Money
from domain.shared.money import round_half_even


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 2),  # 2.5 -> 2 (even)
        (7, 2, 4),  # 3.5 -> 4 (even)
        (-5, 2, -2),
        (-7, 2, -4),
        (1, 3, 0),
        (2, 3, 1),
        (-1, 3, 0),
        (-2, 3, -1),
        (25, 10, 2),
        (35, 10, 4),
        (10, 1, 10),
        (5, -2, -2),
    ],
)
def test_round_half_even_exact_edges(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even(numerator, denominator) == expected


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**6))
def test_round_half_even_is_within_half_a_unit(numerator: int, denominator: int) -> None:
    result = round_half_even(numerator, denominator)
    # |result * d - n| <= d / 2, compared in integers.
    assert 2 * abs(result * denominator - numerator) <= denominator


def test_round_half_even_refuses_zero_denominator() -> None:
    with pytest.raises(InvariantViolation):
        round_half_even(1, 0)


def test_percentages_round_half_even_on_the_minor_unit() -> None:
    # 25 % of 10 minor units is 2.5 -> 2; of 14 is 3.5 -> 4.
    assert Money.of(10, "MXN").times_basis_points(2_500) == Money.of(2, "MXN")
    assert Money.of(14, "MXN").times_basis_points(2_500) == Money.of(4, "MXN")
    # A 0-decimal currency rounds on whole pesos: 50 % of 3 CLP = 1.5 -> 2.
    assert Money.of(3, "CLP").times_basis_points(5_000) == Money.of(2, "CLP")
    assert Money.of(5, "CLP").times_basis_points(5_000) == Money.of(2, "CLP")


def test_currency_exponents() -> None:
    assert Currency.of("MXN").exponent == 2
    assert Currency.of("CLP").exponent == 0
    assert Currency.of("KWD").exponent == 3
    assert Money.of(123_456, "MXN").format() == "1234.56 MXN"
    assert Money.of(123_456, "CLP").format() == "123456 CLP"
    assert Money.of(-1_005, "KWD").format() == "-1.005 KWD"


def test_currency_parse_is_typed() -> None:
    assert Currency.parse(" mxn ") == Success(Currency("MXN", 2))
    parsed = Currency.parse("XXX")
    assert isinstance(parsed, Failure)
    assert isinstance(parsed.failure(), InvalidInput)


def test_mixed_currency_arithmetic_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        _ = Money.of(1, "MXN") + Money.of(1, "COP")
    with pytest.raises(CurrencyMismatch):
        _ = Money.of(1, "MXN") < Money.of(1, "BRL")


@pytest.mark.parametrize("bad", [1.5, True, "10"])
def test_money_refuses_non_integers(bad: object) -> None:
    with pytest.raises(InvariantViolation):
        Money(bad, Currency.of("MXN"))  # type: ignore[arg-type]


def test_arithmetic_is_exact() -> None:
    a = Money.of(10**18 + 1, "MXN")
    assert (a + a - a).minor == 10**18 + 1
    assert (-a).minor == -(10**18) - 1
    assert Money.of(5, "MXN").min(Money.of(3, "MXN")) == Money.of(3, "MXN")


def test_country_code() -> None:
    assert CountryCode.parse(" mx ") == Success(CountryCode("MX"))
    assert isinstance(CountryCode.parse("XX"), Failure)
    assert isinstance(CountryCode.parse("MEX"), Failure)
    with pytest.raises(InvariantViolation):
        CountryCode("mx")
