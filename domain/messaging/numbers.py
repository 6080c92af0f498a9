"""Digits spelled out in Spanish, Portuguese and English, turned back into digits.

People dictate phone numbers digit by digit (``"tres uno cinco"``), in pairs or triples
(``"tres quince, cinco cincuenta y cinco"``, ``"five fifty five"``) and mix words with
digits (``"tres 1 cinco"``). :func:`spell_digits` rewrites every number word, and every
compound of them up to 999, into its digits, keeping the map to the original text, so
that the phone matcher sees ``"3 1 5"`` and the finding still points at the words.

Words are matched on folded text (lower case, no accents). A few words are ambiguous
(``"una"`` is also an article, ``"once"`` is English); turning them into digits is
harmless, because only long runs of digits are ever taken for phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from domain.messaging.text import MappedText

UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # es
        "cero": 0, "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
        "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
        # pt
        "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "quatro": 4, "meia": 6, "sete": 7,
        "oito": 8, "nove": 9,
        # en
        "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
        "eight": 8, "nine": 9,
    }
)  # fmt: skip

TEENS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # es
        "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
        "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19,
        "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
        "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29,
        # pt
        "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14, "quatorze": 14, "quinze": 15,
        "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezassete": 17, "dezoito": 18,
        "dezenove": 19, "dezanove": 19,
        # en
        "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
        "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    }
)  # fmt: skip

TENS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # es
        "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
        "setenta": 70, "ochenta": 80, "noventa": 90,
        # pt
        "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "sessenta": 60, "oitenta": 80,
        # en
        "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
        "seventy": 70, "eighty": 80, "ninety": 90,
    }
)  # fmt: skip

HUNDREDS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # es
        "cien": 100, "ciento": 100, "doscientos": 200, "doscientas": 200, "trescientos": 300,
        "trescientas": 300, "cuatrocientos": 400, "cuatrocientas": 400, "quinientos": 500,
        "quinientas": 500, "seiscientos": 600, "seiscientas": 600, "setecientos": 700,
        "setecientas": 700, "ochocientos": 800, "ochocientas": 800, "novecientos": 900,
        "novecientas": 900,
        # pt
        "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300,
        "trezentas": 300, "quatrocentos": 400, "quinhentos": 500, "seiscentos": 600,
        "setecentos": 700, "oitocentos": 800, "novecentos": 900,
    }
)  # fmt: skip

REPEATERS: Final[Mapping[str, int]] = MappingProxyType({"double": 2, "doble": 2, "triple": 3})
"""``"double five"`` is ``55``; ``"triple cero"`` is ``000``."""

CONNECTORS: Final = frozenset({"y", "e", "and"})
"""``"treinta y cinco"``, ``"vinte e cinco"``, ``"one hundred and five"``."""

PLUS_WORDS: Final = frozenset({"mas", "mais", "plus"})
"""``"más cincuenta y siete ..."`` is a country code: ``"+57 ..."``."""

ZERO_LETTERS: Final = frozenset({"oh", "o"})
"""English dictation says ``"oh"`` for zero; taken as zero only between two numbers."""

_WORD: Final = re.compile(r"[a-z]+|\d+")
_JOINER: Final = re.compile(r"[ \t\-]*")


class _Tokens:
    __slots__ = ("spans", "text", "words")

    def __init__(self, text: str) -> None:
        self.text = text
        matches = list(_WORD.finditer(text))
        self.words = [match.group() for match in matches]
        self.spans = [(match.start(), match.end()) for match in matches]

    def adjacent(self, left: int, right: int) -> bool:
        """Only blanks or hyphens between token ``left`` and token ``right``."""
        gap = self.text[self.spans[left][1] : self.spans[right][0]]
        return _JOINER.fullmatch(gap) is not None

    def word(self, index: int) -> str | None:
        return self.words[index] if index < len(self.words) else None


def _below_hundred(tokens: _Tokens, index: int) -> tuple[int, int] | None:
    """A number 0..99 starting at ``index``: (value, tokens used)."""
    word = tokens.word(index)
    if word is None:
        return None
    if word in TEENS:
        return TEENS[word], 1
    if word in UNITS:
        return UNITS[word], 1
    if word in TENS:
        tens = TENS[word]
        follow = index + 1
        if tokens.word(follow) in CONNECTORS and tokens.adjacent(index, follow):
            unit = UNITS.get(tokens.word(follow + 1) or "", 0)
            if unit > 0 and tokens.adjacent(follow, follow + 1):
                return tens + unit, 3
            return tens, 1
        unit = UNITS.get(tokens.word(follow) or "", 0)
        if unit > 0 and tokens.adjacent(index, follow):
            return tens + unit, 2
        return tens, 1
    return None


def _number(tokens: _Tokens, index: int) -> tuple[str, int] | None:
    """The digits of the number starting at token ``index`` and how many tokens it used."""
    word = tokens.word(index)
    if word is None:
        return None
    if word in REPEATERS:
        unit = UNITS.get(tokens.word(index + 1) or "")
        if unit is not None and tokens.adjacent(index, index + 1):
            return str(unit) * REPEATERS[word], 2
        return None
    hundreds = HUNDREDS.get(word)
    used = 1
    if hundreds is None and word in UNITS and tokens.word(index + 1) == "hundred":
        hundreds, used = UNITS[word] * 100, 2
    if hundreds is not None:
        follow = index + used
        if tokens.word(follow) in CONNECTORS and tokens.adjacent(follow - 1, follow):
            rest = _below_hundred(tokens, follow + 1)
            if rest is not None and tokens.adjacent(follow, follow + 1) and rest[0] > 0:
                return str(hundreds + rest[0]), used + 1 + rest[1]
            return str(hundreds), used
        rest = _below_hundred(tokens, follow)
        if rest is not None and tokens.adjacent(follow - 1, follow) and rest[0] > 0:
            return str(hundreds + rest[0]), used + rest[1]
        return str(hundreds), used
    small = _below_hundred(tokens, index)
    if small is None:
        return None
    return str(small[0]), small[1]


def _is_numeric(tokens: _Tokens, index: int) -> bool:
    word = tokens.word(index)
    if word is None:
        return False
    return word.isdigit() or _number(tokens, index) is not None


def spell_digits(view: MappedText) -> MappedText:
    """``view`` with every spelled-out number replaced by its digits (see the module doc)."""
    tokens = _Tokens(view.text)
    replacements: list[tuple[int, int, str]] = []
    index = 0
    while index < len(tokens.words):
        word = tokens.words[index]
        start = tokens.spans[index][0]
        if word.isdigit():
            index += 1
            continue
        parsed = _number(tokens, index)
        if parsed is not None:
            digits, used = parsed
            replacements.append((start, tokens.spans[index + used - 1][1], digits))
            index += used
            continue
        if word in PLUS_WORDS and _is_numeric(tokens, index + 1) and tokens.adjacent(index, index + 1):
            replacements.append((start, tokens.spans[index][1], "+"))
        elif (
            word in ZERO_LETTERS
            and index > 0
            and _is_numeric(tokens, index - 1)
            and _is_numeric(tokens, index + 1)
            and tokens.adjacent(index - 1, index)
            and tokens.adjacent(index, index + 1)
        ):
            replacements.append((start, tokens.spans[index][1], "0"))
        index += 1
    return view.substitute(replacements)
