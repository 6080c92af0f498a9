"""Every external call audited: provider, operation, idempotency key, outcome, latency (SPEC §7).

The saga audits its own refund and notification calls (``saga.step_completed``,
``provider.call_accepted``, ``provider.call_failed``). ``audited_call`` does the same for any
other use of a provider port (captures, payouts, geocoding, evidence storage, tax): it
times the call, then appends a ``provider.call`` entry in its own short transaction,
after the call and outside any other transaction (a provider is never called while a
database transaction is held open). The entry is written whatever the outcome: a
success (``OK``, or ``ACCEPTED`` for a receipt still to be confirmed), a provider error
(its kind, ``TRANSIENT`` or ``PERMANENT``, and its detail), or an exception raised by the
adapter (``ERROR`` and the exception's class, never its message; the exception then goes
on to the caller). Callers use it for the bundle storage of cases (``put``,
``application/cases/bundles.py``) and the retention purge (``delete``,
``application/diagnostics/purge.py``) too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, TypeVar

from returns.result import Failure, Result

from application.audit.trail import record
from application.context import RequestContext, Services
from application.ports.providers import ProviderError, ProviderReceipt
from domain.audit import JsonValue
from domain.shared import CountryCode

T = TypeVar("T")

log = logging.getLogger("supportos.providers")

CALL_ACTION: Final = "provider.call"
EXCEPTION_OUTCOME: Final = "ERROR"  # the adapter raised instead of answering
MAX_DETAIL_CHARS: Final = 500


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
    details: Mapping[str, JsonValue] | None = None,
    also_in: Sequence[CountryCode] = (),
) -> Result[T, ProviderError]:
    """Make ``call`` and audit it in ``country`` (and, for a call that concerns several
    countries, the same entry in each of ``also_in``); answers what the call answered.
    ``details`` are added to the entry (e.g. the object key a storage call used)."""
    started = time.monotonic()
    try:
        result = await call()
    except Exception as error:
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            await _audit(
                svc,
                ctx,
                countries=(country, *also_in),
                target_type=target_type,
                target_id=target_id,
                after={
                    "provider": provider,
                    "operation": operation,
                    "idempotency_key": idempotency_key,
                    "latency_ms": latency_ms,
                    "outcome": EXCEPTION_OUTCOME,
                    "detail": type(error).__name__,
                    **(details or {}),
                },
            )
        except Exception:  # the call's own exception is the one the caller must see
            log.exception("could not audit a provider call that raised")
        raise
    latency_ms = int((time.monotonic() - started) * 1000)
    after: dict[str, JsonValue] = {
        "provider": provider,
        "operation": operation,
        "idempotency_key": idempotency_key,
        "latency_ms": latency_ms,
    }
    if isinstance(result, Failure):
        failure = result.failure()
        after |= {"outcome": failure.kind.value, "detail": failure.detail[:MAX_DETAIL_CHARS]}
    else:
        value = result.unwrap()
        accepted = isinstance(value, ProviderReceipt) and not value.confirmed
        after |= {"outcome": "ACCEPTED" if accepted else "OK"}
        if isinstance(value, ProviderReceipt):
            after["provider_reference"] = value.reference
    after |= details or {}
    await _audit(
        svc,
        ctx,
        countries=(country, *also_in),
        target_type=target_type,
        target_id=target_id,
        after=after,
    )
    return result


async def _audit(
    svc: Services,
    ctx: RequestContext,
    *,
    countries: Sequence[CountryCode],
    target_type: str,
    target_id: str,
    after: Mapping[str, JsonValue],
) -> None:
    at = svc.clock.now()
    async with svc.uow() as uow:
        for country in dict.fromkeys(countries):  # once per country, in the order given
            await record(
                uow,
                ctx,
                country=country,
                action=CALL_ACTION,
                target_type=target_type,
                target_id=target_id,
                at=at,
                after=dict(after),
            )
        await uow.commit()
