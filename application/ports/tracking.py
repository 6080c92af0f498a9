"""Delivery tracking port: what the delivery side recorded about an order (for L0's rules).

The courier app and the dispatch system know when an order was promised, where it goes,
where the courier has been, and the photo and GPS fix taken at the hand-over. L0 reads
them to decide a case without a person (:mod:`domain.cases.l0`), and a dispute's decision
reads the delivery proof (its platform facts). Both read first what the tracking feed
recorded (:class:`TrackingRecords`, in their own transaction:
``application/integrations/tracking_feed.py``, D90) and ask a :class:`DeliveryTracking`
(``Services.tracking``: an external tracking service) only when nothing was recorded;
:data:`NO_TRACKING`, the service's default, answers "nothing recorded".
"""

from __future__ import annotations

from typing import Final, Protocol

from domain.cases.l0 import DeliveryTrack
from domain.cases.tracking import TrackingRecord
from domain.shared import CountryCode


class DeliveryTracking(Protocol):
    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        """What is recorded for the order, or ``None`` when nothing is."""
        ...


class _NoTracking:
    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        return None


NO_TRACKING: Final[DeliveryTracking] = _NoTracking()


class TrackingRecords(Protocol):
    """Recorded tracking reports (inside a unit of work; it never commits)."""

    async def add(self, record: TrackingRecord) -> bool:
        """Record a report once per (country, source, source id); ``False`` if it already was."""
        ...

    async def for_order(self, country: CountryCode, order_id: str, *, limit: int) -> list[TrackingRecord]:
        """The order's newest ``limit`` reports, oldest first."""
        ...
