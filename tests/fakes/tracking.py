"""A delivery tracking port for tests: tracks set per order by hand."""

from __future__ import annotations

from domain.cases.l0 import DeliveryTrack
from domain.shared import CountryCode


class FakeTracking:
    def __init__(self) -> None:
        self.tracks: dict[tuple[str, str], DeliveryTrack] = {}

    def set(self, country: CountryCode, order_id: str, track: DeliveryTrack) -> None:
        self.tracks[(country.value, order_id)] = track

    async def track(self, country: CountryCode, order_id: str) -> DeliveryTrack | None:
        return self.tracks.get((country.value, order_id))
