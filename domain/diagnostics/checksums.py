"""Check digits of the identifiers the PII scanner looks for: a number that merely looks
like a card or a national id is not reported unless its check digits hold.

Each function takes the identifier's characters without separators and answers whether
the check holds; none of them raises.

Where python-stdnum (pure computation, no I/O) implements a country's rule, it is used
rather than a hand-written copy: Argentina's CUIT/CUIL, the United States' SSN, Colombia's
NIT, Peru's RUC and DNI (CUI). Kuwait's civil id is not in python-stdnum 2.2 and is checked
here.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from stdnum.ar import cuit as _ar_cuit
from stdnum.co import nit as _co_nit
from stdnum.pe import cui as _pe_cui
from stdnum.pe import ruc as _pe_ruc
from stdnum.us import ssn as _us_ssn

_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"
_CURP_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"

# IBAN lengths by country (ISO 13616 registry), for the countries most bundles come from
# and their neighbours. A country not listed is accepted at any length from 15 to 34.
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BR": 29, "CH": 21, "CR": 22,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "ES": 24, "FI": 18,
    "FR": 27, "GB": 22, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15,
    "PL": 28, "PT": 25, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SV": 28,
    "TR": 26, "UA": 29,
}  # fmt: skip
MIN_IBAN_LENGTH: Final = 15
MAX_IBAN_LENGTH: Final = 34


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card network a 13-19 digit number belongs to by its issuer prefix, or ``None``.

    Without a known prefix a Luhn-valid number is not called a card: epoch milliseconds
    (13 digits starting with 1) are Luhn-valid one time in ten.
    """
    length = len(digits)
    if not 13 <= length <= 19 or not digits.isascii() or not digits.isdigit():
        return None
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and length in {13, 16, 19}:
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and length == 16:
        return "mastercard"
    if two in {34, 37} and length == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and length in {16, 19}:
        return "discover"
    if 3528 <= four <= 3589 and 16 <= length <= 19:
        return "jcb"
    if (two in {36, 38, 39} or 300 <= int(digits[:3]) <= 305) and 14 <= length <= 19:
        return "diners"
    if two == 62 and 16 <= length <= 19:
        return "unionpay"
    if (two == 50 or 56 <= two <= 69 or 622126 <= six <= 622925) and 12 <= length <= 19:
        return "maestro"
    return None


def iban_valid(iban: str) -> bool:
    """ISO 13616: known length for its country, and mod 97 of the rearranged number is 1."""
    if not iban.isascii() or not iban.isalnum() or iban != iban.upper():
        return False
    if len(iban) < MIN_IBAN_LENGTH or len(iban) > MAX_IBAN_LENGTH:
        return False
    country, check = iban[:2], iban[2:4]
    if not country.isalpha() or not check.isdigit():
        return False
    expected = IBAN_LENGTHS.get(country)
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        value = int(char) if char.isdigit() else ord(char) - ord("A") + 10
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def cpf_valid(digits: str) -> bool:
    """Brazil's CPF: 11 digits, the last two are mod-11 check digits; repeated digits are not a CPF."""
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit() or len(set(digits)) == 1:
        return False
    numbers = [int(c) for c in digits]
    for length in (9, 10):
        total = sum(value * (length + 1 - index) for index, value in enumerate(numbers[:length]))
        check = total * 10 % 11 % 10
        if check != numbers[length]:
            return False
    return True


def rut_valid(body: str, verifier: str) -> bool:
    """Chile's RUT/RUN: the verifier is mod 11 of the body with weights 2..7 (11 -> 0, 10 -> K)."""
    if not body.isascii() or not body.isdigit() or not 1 <= len(body) <= 8:
        return False
    total = sum(int(char) * (2 + index % 6) for index, char in enumerate(reversed(body)))
    value = 11 - total % 11
    expected = "0" if value == 11 else "K" if value == 10 else str(value)
    return verifier.upper() == expected


def curp_check_digit(first17: str) -> int | None:
    """Mexico's CURP: the 18th character from the first 17 (RENAPO's weighted sum mod 10)."""
    if len(first17) != 17:
        return None
    total = 0
    for index, char in enumerate(first17):
        value = _CURP_ALPHABET.find(char)
        if value < 0:
            return None
        total += value * (18 - index)
    return (10 - total % 10) % 10


def curp_valid(curp: str) -> bool:
    check = curp_check_digit(curp[:17])
    return len(curp) == 18 and check is not None and curp[17] == str(check)


def dni_valid(number: str, letter: str) -> bool:
    """Spain's DNI: 8 digits and the letter of ``number mod 23``."""
    if len(number) != 8 or not number.isascii() or not number.isdigit():
        return False
    return letter.upper() == _DNI_LETTERS[int(number) % 23]


def nie_valid(prefix: str, number: str, letter: str) -> bool:
    """Spain's NIE: X/Y/Z (read as 0/1/2) and 7 digits, with the DNI letter of that number."""
    lead = "XYZ".find(prefix.upper())
    if lead < 0 or len(number) != 7 or not number.isascii() or not number.isdigit():
        return False
    return letter.upper() == _DNI_LETTERS[int(f"{lead}{number}") % 23]


def _digits(value: str, *lengths: int) -> bool:
    return len(value) in lengths and value.isascii() and value.isdigit()


CUIL_TYPES: Final = frozenset({"20", "23", "24", "27"})
"""CUIT/CUIL type prefixes of people (their CUIT is their CUIL); 30, 33, 34 are companies."""


def cuit_valid(digits: str) -> bool:
    """Argentina's CUIT/CUIL: 11 digits, a known type prefix and the mod-11 check digit."""
    return _digits(digits, 11) and _ar_cuit.is_valid(digits)


def ssn_valid(digits: str) -> bool:
    """A US Social Security Number that can have been issued: no area 000, 666 or 9xx, no
    group 00, no serial 0000, none of the numbers published in advertising (no check digit)."""
    return _digits(digits, 9) and _us_ssn.is_valid(digits)


def nit_valid(digits: str) -> bool:
    """Colombia's NIT: 8 to 16 digits, the last a mod-11 check digit (DIAN's prime weights)."""
    return _digits(digits, *range(8, 17)) and _co_nit.is_valid(digits)


def ruc_valid(digits: str) -> bool:
    """Peru's RUC: 11 digits, type 10/15/17/20, mod-11 check digit."""
    return _digits(digits, 11) and _pe_ruc.is_valid(digits)


def peru_dni_valid(value: str) -> bool:
    """Peru's DNI (CUI): 8 digits, optionally followed by its check character (a digit or A-K)."""
    if len(value) == 8:
        return _digits(value, 8)
    return len(value) == 9 and _digits(value[:8], 8) and _pe_cui.is_valid(value.upper())


_KW_WEIGHTS: Final = (2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_KW_CENTURIES: Final = {"2": 1900, "3": 2000}


def kw_civil_id_valid(digits: str) -> bool:
    """Kuwait's civil id: century (2: 1900s, 3: 2000s), birth date YYMMDD, a 4-digit serial and
    a check digit, ``11 - (weighted sum mod 11)`` with PACI's weights (no digit for 10, 11)."""
    if not _digits(digits, 12) or digits[0] not in _KW_CENTURIES:
        return False
    try:
        date(_KW_CENTURIES[digits[0]] + int(digits[1:3]), int(digits[3:5]), int(digits[5:7]))
    except ValueError:
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits, _KW_WEIGHTS, strict=False)) % 11
    return check < 10 and digits[11] == str(check)
