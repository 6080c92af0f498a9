"""Run a command at most once per idempotency key (Stripe's semantics).

1. In its own short transaction the key is reserved as *in flight* with a fingerprint
   of the request (committed, so concurrent callers see it at once).
2. The command runs in a fresh unit of work; on success the key is marked completed
   with the encoded response **in the same transaction** as the command's changes.
3. If the command fails (a typed error) or raises, the key is released: a failed
   validation stores nothing and the caller may try again with the same key.

A crash between 1 and 2 leaves an in-flight key that nobody completes; its lease
expires and the next identical request takes it over (the crashed attempt committed
nothing, so running again is safe).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from returns.result import Failure, Result, Success

from application.ports.clock import Clock
from application.ports.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeyInFlight,
    IdempotencyKeyLost,
    IdempotencyKeyReused,
    IdempotencyKeys,
    IdempotencyScope,
    InvalidIdempotencyKey,
    JsonObject,
    ReservationState,
)
from application.ports.metrics import NO_METRICS, Metrics
from application.ports.unit_of_work import UnitOfWork
from domain.shared import DomainError

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)
U = TypeVar("U", bound="IdempotentUnitOfWork")

DEFAULT_LEASE = timedelta(seconds=60)


class IdempotentUnitOfWork(UnitOfWork, Protocol):
    @property
    def idempotency(self) -> IdempotencyKeys: ...


def fingerprint(request: dict[str, Any]) -> str:
    """A stable hash of a request's parameters (sorted-key JSON)."""
    return hashlib.sha256(
        json.dumps(request, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isprintable() and key.strip() == key


IdempotencyFailure = IdempotencyKeyReused | IdempotencyKeyInFlight | InvalidIdempotencyKey


async def run_idempotent(
    *,
    uow_factory: Callable[[], U],
    clock: Clock,
    scope: IdempotencyScope,
    request: dict[str, Any],
    command: Callable[[U], Awaitable[Result[T, E]]],
    encode: Callable[[T], JsonObject],
    decode: Callable[[JsonObject], T],
    lease: timedelta = DEFAULT_LEASE,
    metrics: Metrics = NO_METRICS,
) -> Result[T, E | IdempotencyFailure]:
    """Run ``command`` once for ``scope``; replays return the stored response (and are
    counted: ``Metrics.idempotent_replay`` with the scope's country and operation)."""
    if not valid_key(scope.key):
        return Failure(InvalidIdempotencyKey())
    digest = fingerprint(request)
    async with uow_factory() as uow:
        reservation = await uow.idempotency.reserve(scope, digest, now=clock.now(), lease=lease)
        await uow.commit()
    match reservation.state:
        case ReservationState.REPLAY:
            assert reservation.response is not None
            metrics.idempotent_replay(scope.country, scope.operation)
            return Success(decode(reservation.response))
        case ReservationState.CONFLICT_PARAMETERS:
            return Failure(IdempotencyKeyReused(scope.key))
        case ReservationState.CONFLICT_IN_FLIGHT:
            return Failure(IdempotencyKeyInFlight(scope.key))
        case ReservationState.RESERVED:
            pass

    try:
        async with uow_factory() as uow:
            result = await command(uow)
            if isinstance(result, Success):
                await uow.idempotency.complete(scope, encode(result.unwrap()), now=clock.now())
                await uow.commit()
                return result
    except IdempotencyKeyLost:
        # Our lease expired mid-command and another request holds the key now: our
        # transaction rolled back; theirs is the one that counts.
        return Failure(IdempotencyKeyInFlight(scope.key))
    except BaseException:
        await _release(uow_factory, scope)
        raise
    await _release(uow_factory, scope)
    return result


async def _release(uow_factory: Callable[[], U], scope: IdempotencyScope) -> None:
    async with uow_factory() as uow:
        await uow.idempotency.release(scope)
        await uow.commit()
