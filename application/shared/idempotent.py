"""Run a command at most once per idempotency key (Stripe's semantics), in one transaction.

1. The key is reserved as *in flight* with a fingerprint of the request, as the first
   write of the command's own transaction (D60). Only when the key was new (or its lease
   had expired) does the command run, in that same unit of work; on success the key is
   marked completed with the encoded response and everything commits together.
2. If the command fails (a typed error) or raises, the transaction rolls back: the key's
   reservation goes with it, nothing is stored and the caller may try again with the
   same key.
3. A replay, a reuse with other parameters or a key in flight is answered from the
   reservation alone; that transaction wrote nothing and is rolled back.

The reservation is never seen committed while the command runs. Concurrent requests with
the same key serialise on it instead: on PostgreSQL the second insert of the same key
waits for the first transaction (the key's unique index), then finds the key completed
(a replay of the first response) or, if the first rolled back, reserves it itself; on
SQLite every writer already holds the database's write lock from ``BEGIN IMMEDIATE``.
Either way the command runs once. The reservation is the transaction's first write, so a
waiting request holds no lock anybody else needs.

A crash before the commit leaves no key at all. An in-flight key committed by a caller that
reserves in its own transaction (``IdempotencyKeys.reserve`` + ``commit``, as this runner did
before D60) is still honoured: a conflict while its lease runs, taken over once it expired.
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
    try:
        async with uow_factory() as uow:
            reservation = await uow.idempotency.reserve(scope, digest, now=clock.now(), lease=lease)
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
            result = await command(uow)
            if isinstance(result, Success):
                await uow.idempotency.complete(scope, encode(result.unwrap()), now=clock.now())
                await uow.commit()
            # a Failure leaves the block uncommitted: the reservation rolls back with the rest
            return result
    except IdempotencyKeyLost:
        # The key was an expired in-flight key another request took over and finished
        # while we ran: our transaction rolled back; theirs is the one that counts.
        return Failure(IdempotencyKeyInFlight(scope.key))
