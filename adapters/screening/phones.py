"""Message screening's phone-number port, implemented with ``phonenumbers``.

Screening hands over one run of digits at a time, already normalised (spelled digits
turned into digits, odd separators into spaces). This finder reports the parts of it that
are phone numbers of any of the marketplace's countries:

1. ``PhoneNumberMatcher`` with ``Leniency.VALID`` for each region (a number written
   without ``+<country code>`` is read as a national number of that region);
2. the run's digits read as one number (``+`` or ``00`` first: international; else
   national in each region), which catches groupings the matcher refuses;
3. Mexico's retired mobile prefix: ``+52 1 55 1234 5678`` is read without the ``1``.

Only ``VALID`` numbers count (the right length and prefixes for a real line), so order
numbers, amounts and quantities that merely have many digits are not taken for phones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import phonenumbers

MARKETPLACE_REGIONS: Final = ("MX", "CO", "BR", "AR", "CL", "PE", "ES", "US", "KW")
MAX_TRIES: Final = 1_000
_MAX_DIGITS: Final = 17  # the longest E.164 number (15) with a "00" in front


def _valid(number: str, region: str | None) -> bool:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


class MarketplacePhoneFinder:
    """Satisfies ``domain.messaging.screening.PhoneNumberFinder``."""

    def __init__(self, regions: Sequence[str] = MARKETPLACE_REGIONS) -> None:
        unknown = [region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown or not regions:
            raise ValueError(f"unsupported phone regions: {unknown or 'none given'}")
        self._regions = tuple(regions)

    def find(self, text: str) -> Sequence[tuple[int, int]]:
        spans: set[tuple[int, int]] = set()
        for region in self._regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID, max_tries=MAX_TRIES
            ):
                spans.add((match.start, match.end))
        if not spans and self._whole_run_is_a_number(text):
            first = re.search(r"[+\d]", text)
            last = max(index for index, char in enumerate(text) if char.isdigit())
            if first is not None:
                spans.add((first.start(), last + 1))
        return sorted(spans)

    def national(self, number: str, region: str) -> bool:
        return re.search(r"\d", number) is not None and _valid(re.sub(r"[^\d]", "", number), region)

    def _whole_run_is_a_number(self, text: str) -> bool:
        digits = re.sub(r"\D", "", text)
        if not 7 <= len(digits) <= _MAX_DIGITS:
            return False
        international = text.lstrip().startswith("+") or digits.startswith("00")
        if international:
            number = "+" + (digits[2:] if digits.startswith("00") else digits)
            legacy_mexico = re.fullmatch(r"\+521(\d{10})", number)
            if legacy_mexico is not None:
                number = "+52" + legacy_mexico.group(1)
            return _valid(number, None)
        return any(_valid(digits, region) for region in self._regions)
