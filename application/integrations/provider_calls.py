"""Every external call audited: provider, operation, idempotency key, outcome, latency (SPEC §7).

The saga audits its own refund and notification calls (``saga.step_completed``,
``provider.call_accepted``, ``provider.call_failed``). ``audited_call`` does the same for any
other use of a provider port (captures, payouts, geocoding, evidence storage, tax): it
times the call, then appends a ``provider.call`` entry in its own short transaction,
after the call and outside any other transaction (a provider is never called while a
database transaction is held open). The entry is written whatever the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from returns.result import Failure, Result

from application.audit.trail import record
from application.context import RequestContext, Services
from application.ports.providers import ProviderError, ProviderReceipt
from domain.shared import CountryCode

T = TypeVar("T")


async def audited_call(
    svc: Services,
    ctx: RequestContext,
    *,
    country: CountryCode,
    provider: str,
    operation: str,
    idempotency_key: str | None,
    target_type: str,
    target_id: str,
    call: Callable[[], Awaitable[Result[T, ProviderError]]],
) -> Result[T, ProviderError]:
    """Make ``call`` and audit it; answers what the call answered."""
    started = time.monotonic()
    result = await call()
    latency_ms = int((time.monotonic() - started) * 1000)
    after: dict[str, str | int | None] = {
        "provider": provider,
        "operation": operation,
        "idempotency_key": idempotency_key,
        "latency_ms": latency_ms,
    }
    if isinstance(result, Failure):
        error = result.failure()
        after |= {"outcome": error.kind.value, "detail": error.detail[:500]}
    else:
        value = result.unwrap()
        accepted = isinstance(value, ProviderReceipt) and not value.confirmed
        after |= {"outcome": "ACCEPTED" if accepted else "OK"}
        if isinstance(value, ProviderReceipt):
            after["provider_reference"] = value.reference
    async with svc.uow() as uow:
        await record(
            uow,
            ctx,
            country=country,
            action="provider.call",
            target_type=target_type,
            target_id=target_id,
            at=svc.clock.now(),
            after=after,
        )
        await uow.commit()
    return result
