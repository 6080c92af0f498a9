"""Delivery tracking port: what the delivery side recorded about an order (for L0's rules).

The courier app and the dispatch system know when an order was promised, where it goes,
where the courier has been, and the photo and GPS fix taken at the hand-over. L0 reads
them to decide a case without a person (:mod:`domain.cases.l0`). Until a real feed is
wired in, :data:`NO_TRACKING` answers "nothing recorded", and L0 only routes by severity.
"""

from __future__ import annotations

from typing import Final, Protocol

from domain.cases.l0 import DeliveryTrack
from domain.shared import CountryCode


class DeliveryTracking(Protocol):
    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        """What is recorded for the order, or ``None`` when nothing is."""
        ...


class _NoTracking:
    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        return None


NO_TRACKING: Final[DeliveryTracking] = _NoTracking()
