"""Tax port: the tax on an amount in a country, in integer minor units (SPEC §7).

Rates are basis points (1/100 of a percent) and the tax is rounded half to even in exact
integer arithmetic: no floats anywhere. Computing tax only reads, so it takes no
idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from returns.result import Result

from application.ports.providers import ProviderError
from domain.shared import CountryCode, Money


@dataclass(frozen=True, slots=True)
class TaxQuote:
    country: CountryCode
    taxable: Money
    rate_bp: int  # basis points: 1_600 is 16 %
    tax: Money

    @property
    def total(self) -> Money:
        return self.taxable + self.tax


class TaxProvider(Protocol):
    name: str

    async def compute(self, *, country: CountryCode, amount: Money) -> Result[TaxQuote, ProviderError]:
        """The tax due on ``amount`` (tax-exclusive) in ``country``."""
        ...
