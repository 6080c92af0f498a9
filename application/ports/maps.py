"""Maps/geocoding port: an address to a point (SPEC §7).

Coordinates are integers in microdegrees (1e-6 degree, about 11 cm at the equator), the
way the domain keeps every measured quantity: no floats cross this port. Geocoding only
reads, so it takes no idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from returns.result import Result

from application.ports.providers import ProviderError
from domain.shared import CountryCode, InvariantViolation

MICRODEGREES: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS-84 point: latitude and longitude in microdegrees."""

    lat_e6: int
    lon_e6: int

    def __post_init__(self) -> None:
        if type(self.lat_e6) is not int or type(self.lon_e6) is not int:
            raise InvariantViolation("coordinates are integer microdegrees")
        if not -90 * MICRODEGREES <= self.lat_e6 <= 90 * MICRODEGREES:
            raise InvariantViolation(f"latitude out of range: {self.lat_e6}")
        if not -180 * MICRODEGREES <= self.lon_e6 <= 180 * MICRODEGREES:
            raise InvariantViolation(f"longitude out of range: {self.lon_e6}")


@dataclass(frozen=True, slots=True)
class GeocodedAddress:
    point: GeoPoint
    formatted: str  # the address as the provider understood it
    provider_reference: str


class GeocodingProvider(Protocol):
    name: str

    async def geocode(self, *, country: CountryCode, address: str) -> Result[GeocodedAddress, ProviderError]:
        """Where ``address`` (in ``country``) is; a permanent error when nothing matches."""
        ...
