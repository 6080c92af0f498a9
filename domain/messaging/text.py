"""Text normalisation for screening, with a map back to the original text.

Screening looks at a message through several normalised views (folded case and accents,
spelled-out digits turned into digits, look-alike letters inside digit runs...), but its
findings must point at the characters the sender actually typed, so a moderator sees
exactly what was blocked. Every view is a :class:`MappedText`: the normalised string and,
for each of its characters, the span of the original text it came from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

_DROPPED_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf"})  # accents, keycaps, zero-width marks


@dataclass(frozen=True, slots=True)
class MappedText:
    """``text`` plus, for each of its characters, the original ``[start, end)`` it stands for."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.text) == len(self.starts) == len(self.ends):
            raise ValueError("a mapped text needs one origin span per character")

    @staticmethod
    def identity(text: str) -> MappedText:
        return MappedText(text, tuple(range(len(text))), tuple(range(1, len(text) + 1)))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covered by ``self.text[start:end]`` (``end > start``)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside a text of {len(self.text)} characters")
        return min(self.starts[start:end]), max(self.ends[start:end])

    def slice(self, start: int, end: int) -> MappedText:
        """``self.text[start:end]``, still mapped to the original text."""
        return MappedText(self.text[start:end], self.starts[start:end], self.ends[start:end])

    def replace_each(self, transform: Callable[[str], str]) -> MappedText:
        """Apply ``transform`` to every character; the output characters keep its origin."""
        builder = _Builder()
        for index, char in enumerate(self.text):
            builder.add(transform(char), self.starts[index], self.ends[index])
        return builder.build()

    def substitute(self, replacements: Iterable[tuple[int, int, str]]) -> MappedText:
        """Replace non-overlapping ``[start, end)`` spans (in order) with new text; the new
        characters stand for the whole replaced span."""
        builder = _Builder()
        cursor = 0
        for start, end, new in replacements:
            if start < cursor or end < start:
                raise ValueError("replacements must be ordered and must not overlap")
            for index in range(cursor, start):
                builder.add(self.text[index], self.starts[index], self.ends[index])
            if end > start:
                origin = self.original_span(start, end)
                builder.add(new, origin[0], origin[1])
            cursor = end
        for index in range(cursor, len(self.text)):
            builder.add(self.text[index], self.starts[index], self.ends[index])
        return builder.build()

    def overwrite(self, start: int, end: int, char: str) -> MappedText:
        """The same text with ``[start, end)`` overwritten by ``char`` (length kept)."""
        return MappedText(self.text[:start] + char * (end - start) + self.text[end:], self.starts, self.ends)


class _Builder:
    __slots__ = ("_chars", "_ends", "_starts")

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, text: str, start: int, end: int) -> None:
        for char in text:
            self._chars.append(char)
            self._starts.append(start)
            self._ends.append(end)

    def build(self) -> MappedText:
        return MappedText("".join(self._chars), tuple(self._starts), tuple(self._ends))


def _fold_char(char: str) -> str:
    decimal = unicodedata.decimal(char, None)
    if decimal is not None:
        return str(decimal)  # any script's digits (fullwidth, Arabic-Indic...) as ASCII
    category = unicodedata.category(char)
    if category == "Pd" or char == "\u2212":
        return "-"  # every dash (en, em, minus...) is a hyphen
    if category == "Zs":
        return " "
    out: list[str] = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.category(part) in _DROPPED_CATEGORIES:
            continue
        digit = unicodedata.decimal(part, None)
        out.append(str(digit) if digit is not None else part.lower())
    return "".join(out)


def fold(text: str) -> MappedText:
    """Lower case, accents and zero-width marks removed, compatibility forms unfolded
    (fullwidth ``＠`` is ``@``, circled ``①`` is ``1``), every digit ASCII, every dash a
    hyphen and every space a plain space."""
    return MappedText.identity(text).replace_each(_fold_char)
