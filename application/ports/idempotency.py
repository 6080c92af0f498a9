"""Idempotency keys with Stripe's semantics.

A key is scoped per (country, actor, operation). Reusing it with the same request
returns the stored result and does nothing again; with different parameters it is a
typed conflict; while the first request is still running it is a typed conflict too (a
key reserved and committed in flight; ``run_idempotent`` reserves inside the command's own
transaction, so a concurrent identical request waits for it and replays, D60); a request
that fails validation stores nothing (the key can be used again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from domain.shared import CountryCode, DomainError

JsonObject = dict[str, Any]

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    country: CountryCode
    actor_id: str
    operation: str
    key: str


class ReservationState(StrEnum):
    RESERVED = "RESERVED"  # this caller holds the key and must complete or release it
    REPLAY = "REPLAY"  # completed before with the same request: here is its response
    CONFLICT_PARAMETERS = "CONFLICT_PARAMETERS"  # same key, different request
    CONFLICT_IN_FLIGHT = "CONFLICT_IN_FLIGHT"  # same key, first request still running


@dataclass(frozen=True, slots=True)
class Reservation:
    state: ReservationState
    response: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyKeyReused(DomainError):
    """The key was used before with different parameters."""

    code: ClassVar[str] = "IDEMPOTENCY_KEY_REUSED"
    key: str

    @property
    def message(self) -> str:
        return f"idempotency key {self.key!r} was already used with different parameters"


@dataclass(frozen=True, slots=True)
class IdempotencyKeyInFlight(DomainError):
    """A request with this key is still being processed."""

    code: ClassVar[str] = "IDEMPOTENCY_KEY_IN_FLIGHT"
    key: str

    @property
    def message(self) -> str:
        return f"a request with idempotency key {self.key!r} is still in progress; retry later"


@dataclass(frozen=True, slots=True)
class InvalidIdempotencyKey(DomainError):
    code: ClassVar[str] = "INVALID_IDEMPOTENCY_KEY"

    @property
    def message(self) -> str:
        return f"an idempotency key must be 1..{MAX_KEY_LENGTH} printable characters"


class IdempotencyKeyLost(RuntimeError):
    """``complete`` found the key no longer in flight for this caller: its lease expired and
    another request took it over. The command's transaction must roll back (its effects
    would happen a second time); the caller is told the key is in flight."""


class IdempotencyKeys(Protocol):
    """Repository of idempotency keys (inside a unit of work; it never commits)."""

    async def reserve(
        self, scope: IdempotencyScope, fingerprint: str, *, now: datetime, lease: timedelta
    ) -> Reservation:
        """Insert the key as in flight, or report what an existing key says.

        An in-flight key whose lease expired (its owner crashed before committing
        anything) is taken over and reported as RESERVED.
        """
        ...

    async def complete(self, scope: IdempotencyScope, response: JsonObject, *, now: datetime) -> None: ...

    async def release(self, scope: IdempotencyScope) -> None:
        """Forget an in-flight key whose request failed: nothing is stored."""
        ...

    async def expire(self, *, created_before: datetime, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` keys, oldest first, of the bound scope's countries, created
        before ``created_before`` and no longer running (COMPLETED, or IN_FLIGHT with a lease
        that ended before ``now``: its request crashed). How many were deleted."""
        ...
