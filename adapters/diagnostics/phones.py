"""The phone-number port, implemented with ``phonenumbers`` (Google's libphonenumber).

``PhoneNumberMatcher`` with ``Leniency.VALID`` reports only numbers that are valid for
their region (right length and prefix), and skips what only looks like a number: dates,
times, ranges of digits. Numbers written without a ``+<country code>`` are read in the
bundle's own country (``region``); with no region, only international numbers are found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import phonenumbers

MAX_TRIES: Final = 65_535
"""Candidates tried per text (``phonenumbers``' own default is unbounded)."""


class PhonenumbersFinder:
    """Satisfies ``domain.diagnostics.pii.PhoneNumberFinder``."""

    def find(self, text: str, region: str | None) -> Iterator[tuple[int, int]]:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region or "ZZ", leniency=phonenumbers.Leniency.VALID, max_tries=MAX_TRIES
        ):
            yield match.start, match.end
