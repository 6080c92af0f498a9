"""The scheduler's idempotency-key task: keys expire after a retention window (D71).

Stripe keeps an idempotency key for 24 hours; so does this service by default
(``SUPPORTOS_IDEMPOTENCY_KEY_RETENTION_HOURS``). Each tick deletes the keys created before
``now - retention`` that are no longer running - COMPLETED ones, and IN_FLIGHT ones whose
lease ended (their request crashed) - oldest first, ``batch`` per transaction, at most
``max_rounds`` batches per tick (the rest waits for the next tick).

After expiry the same key is a new key: a retried request runs again. That cannot move
money twice: the command's own state guards it (a dispute decided once refuses a second
decision with a typed error), and every ledger posting and provider call has its own
idempotency key derived from the dispute and step (SPEC §5), which never expires.
A key still in flight is never deleted, whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from application.context import Services
from application.security.scope import system_scope

DEFAULT_RETENTION: Final = timedelta(hours=24)
DEFAULT_BATCH: Final = 1_000
DEFAULT_MAX_ROUNDS: Final = 10


@dataclass(frozen=True, slots=True)
class ExpireIdempotencyKeys:
    """The tick task: ``await task(svc, now)`` deletes the expired keys (a batch per
    transaction, at most ``max_rounds`` batches) and returns how many it deleted."""

    retention: timedelta = DEFAULT_RETENTION
    batch: int = DEFAULT_BATCH
    max_rounds: int = DEFAULT_MAX_ROUNDS

    def __post_init__(self) -> None:
        if self.retention <= timedelta(0):
            raise ValueError(f"ExpireIdempotencyKeys.retention must be positive, not {self.retention}")
        for name in ("batch", "max_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ExpireIdempotencyKeys.{name} must be an integer >= 1, not {value!r}")

    @system_scope
    async def __call__(self, svc: Services, now: datetime) -> int:
        deleted = 0
        for _ in range(self.max_rounds):
            async with svc.uow() as uow:
                gone = await uow.idempotency.expire(
                    created_before=now - self.retention, now=now, limit=self.batch
                )
                await uow.commit()
            deleted += gone
            if gone < self.batch:
                break
        return deleted
