"""Check digits: a number is a card, an IBAN or a national id only when its check holds."""

from __future__ import annotations

import pytest

from domain.diagnostics.checksums import (
    card_brand,
    cpf_valid,
    cuit_valid,
    curp_valid,
    dni_valid,
    iban_valid,
    kw_civil_id_valid,
    luhn_valid,
    nie_valid,
    nit_valid,
    peru_dni_valid,
    ruc_valid,
    rut_valid,
    ssn_valid,
)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
    ],
)
def test_luhn_valid_cards_with_a_known_issuer(number: str, brand: str) -> None:
    assert luhn_valid(number)
    assert card_brand(number) == brand


@pytest.mark.parametrize("number", ["4111111111111112", "5555555555554445", "378282246310006"])
def test_luhn_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


def test_epoch_milliseconds_are_not_cards_even_when_luhn_valid() -> None:
    millis = next(str(n) for n in range(1_714_564_800_000, 1_714_564_800_100) if luhn_valid(str(n)))
    assert card_brand(millis) is None


@pytest.mark.parametrize(
    "iban",
    ["GB82WEST12345698765432", "DE89370400440532013000", "ES9121000418450200051332", "NL91ABNA0417164300"],
)
def test_iban_mod97_valid(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "GB82WEST12345698765433",  # checksum off by one
        "ES9121000418450200051333",
        "ES91210004184502000513",  # wrong length for ES
        "gb82west12345698765432",  # lower case
    ],
)
def test_iban_invalid(iban: str) -> None:
    assert not iban_valid(iban)


@pytest.mark.parametrize(
    ("cpf", "valid"), [("52998224725", True), ("11144477735", True), ("52998224726", False)]
)
def test_cpf_check_digits(cpf: str, valid: bool) -> None:
    assert cpf_valid(cpf) is valid


def test_cpf_of_repeated_digits_is_not_a_cpf() -> None:
    assert not cpf_valid("11111111111")  # passes the arithmetic, but is no CPF


@pytest.mark.parametrize(
    ("body", "verifier", "valid"),
    [("12345678", "5", True), ("12345678", "4", False), ("30686957", "4", True), ("11111111", "1", True)],
)
def test_rut_verifier(body: str, verifier: str, valid: bool) -> None:
    assert rut_valid(body, verifier) is valid


def test_rut_verifier_k() -> None:
    body = next(str(n) for n in range(10_000_000, 10_000_100) if rut_valid(str(n), "K"))
    assert rut_valid(body, "k")
    assert not rut_valid(body, "0")


@pytest.mark.parametrize(
    ("curp", "valid"),
    [
        ("BOXW310820HNERXN09", True),
        ("HEGG560427MVZRRL04", True),
        ("BEML920313HCMLNS09", True),
        ("BOXW310820HNERXN08", False),
        ("HEGG560427MVZRRL05", False),
    ],
)
def test_curp_check_digit(curp: str, valid: bool) -> None:
    assert curp_valid(curp) is valid


@pytest.mark.parametrize(
    ("number", "letter", "valid"),
    [("12345678", "Z", True), ("12345678", "z", True), ("12345678", "A", False)],
)
def test_dni_letter(number: str, letter: str, valid: bool) -> None:
    assert dni_valid(number, letter) is valid


@pytest.mark.parametrize(
    ("prefix", "number", "letter", "valid"),
    [("X", "1234567", "L", True), ("Y", "1234567", "X", True), ("X", "1234567", "M", False)],
)
def test_nie_letter(prefix: str, number: str, letter: str, valid: bool) -> None:
    assert nie_valid(prefix, number, letter) is valid


# ----------------------------------------------------------------------------- more marketplace countries


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("20301234563", True),  # CUIL 20-30123456-3
        ("30712345671", True),  # a company's CUIT
        ("20301234564", False),  # check digit wrong
        ("99301234563", False),  # no such type prefix
        ("2030123456", False),  # 10 digits
    ],
)
def test_cuit_cuil_check_digit(digits: str, valid: bool) -> None:
    assert cuit_valid(digits) is valid


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("536904399", True),
        ("000904399", False),  # area 000
        ("666904399", False),  # area 666
        ("936904399", False),  # areas 9xx are never issued
        ("536004399", False),  # group 00
        ("536900000", False),  # serial 0000
        ("078051120", False),  # the Woolworth wallet card's number, published in 1938
        ("53690439", False),
    ],
)
def test_ssn_issuing_rules(digits: str, valid: bool) -> None:
    assert ssn_valid(digits) is valid


@pytest.mark.parametrize(
    ("digits", "valid"), [("9001234568", True), ("9001234567", False), ("1234567", False)]
)
def test_colombian_nit_check_digit(digits: str, valid: bool) -> None:
    assert nit_valid(digits) is valid


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("20512333797", True), ("10054148289", True), ("20512333798", False), ("30512333797", False)],
)
def test_peruvian_ruc_check_digit(digits: str, valid: bool) -> None:
    assert ruc_valid(digits) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("10117410", True), ("101174102", True), ("101174103", False), ("1011741", False), ("1011741A", False)],
)
def test_peruvian_dni_and_its_optional_check_character(value: str, valid: bool) -> None:
    assert peru_dni_valid(value) is valid


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("288020122596", True),
        ("288020122597", False),  # check digit wrong
        ("488020122596", False),  # no such century
        ("288130122596", False),  # month 13: not a birth date
        ("28802012259", False),
    ],
)
def test_kuwaiti_civil_id(digits: str, valid: bool) -> None:
    assert kw_civil_id_valid(digits) is valid
