"""Provider webhooks after verification: stored once in the inbox, processed once (SPEC §7).

The HTTP layer verifies the Standard Webhooks signature and timestamp and hands over a
``VerifiedWebhook``; nothing unverified reaches this module. Here:

1. the event is parsed enough to route it: its country (from the signed event: the call
   that caused it sent the country along), type and the idempotency key of the call it is
   about; an event that cannot be routed is refused (``InvalidInput``) and not stored;
2. in its own transaction, scoped to the event's country, it is inserted into the inbox
   unless it is already there (deduplicated by the provider's webhook id). The call that
   inserts it holds it for ``hold`` and processes it; a duplicate, sequential or
   concurrent, finds it stored and held or processed and does nothing (the HTTP layer
   still answers 2xx). A duplicate that finds it stored, unprocessed and no longer held
   (the first attempt crashed) takes it over;
3. processing settles the saga step the event is about: ``<operation>.succeeded`` /
   ``<operation>.failed`` call ``SagaRunner.confirm`` for the idempotency key (which is
   itself idempotent: a settled step is not settled again; a ``.failed`` event for a job
   already DONE, on the key it completed with, is a late failure: a seller payout's posting
   is reversed, any other job's is audited and alerted, once, D130; a ``.succeeded`` event
   for a dead-lettered job, on the key it last called with, settles it as its replay would
   have, ``RECOVERED``, and one for a discarded job is audited and alerted, D131). Other event types are
   stored and marked ``IGNORED``. A webhook provider may settle only the jobs of the job
   providers it is mapped to (``WebhookProcessing.settles``, from the composition root:
   ``sandbox-payments`` -> ``payments``); a job of any other provider is refused
   (``WebhookProviderMismatch``: nothing is confirmed, the refusal is the recorded outcome).
   ``tracking.*`` events are the delivery tracking feed's instead (D90,
   ``tracking_feed.py``): checked before storing, recorded once when processed, from the
   webhook providers listed in ``WebhookProcessing.tracking_sources`` only; ``order.*``
   events are the marketplace's order feed (D91, ``order_feed.py``): checked before storing
   (an order not known yet is refused with ``ORDER_NOT_YET_KNOWN``, for the sender to retry)
   and applied once through the order use cases, from ``marketplace_sources`` only;
4. the outcome is written to the inbox row, once, with an audit entry
   (``webhook.processed``: provider, webhook id, event type, idempotency key, outcome,
   latency) in the same transaction.

A crash between 2 and 4 leaves a stored, unprocessed row: ``reprocess_pending_webhooks``
(called by the worker loop) claims such rows once their hold has expired and processes
them as above. Running it twice, or alongside a late duplicate, settles nothing twice:
the claim is a conditional update, and ``confirm`` settles a step at most once.

Every start of processing counts an attempt on the row (the storing call's is the first).
An event whose processing raises (a bug, a row the settle code cannot handle, a constraint
error) is logged and left to its hold; the others of the batch are processed all the same.
Past ``WebhookProcessing.max_attempts`` the sweep gives it up: outcome ``PROCESSING_FAILED``
on the row, so it is never claimed again, a ``webhook.processing_failed`` audit entry
(provider, webhook id, event type, idempotency key, attempts and the exception's class
name, never its message: it may hold personal data) and the alert's counter, like a dead
letter (D117). That happens on the attempt that reaches the maximum if it raises, or when
the row is claimed past it (each earlier attempt ended with its process, killed or crashed,
before anything was recorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Protocol

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.integrations.order_feed import (
    FulfilmentRefusal,
    OrderReportConflict,
    apply_order_event,
    is_order_event,
    not_yet_known,
    parse_order_event,
    too_early,
)
from application.integrations.tracking_feed import is_tracking_event, parse_tracking, record_tracking
from application.ports.outbox import job_by_provider_key
from application.ports.webhook_inbox import InboxEntry, WebhookEvent
from application.security.principal import Principal, Role
from application.security.scope import ALL, scoped_to
from domain.shared import CountryCode, DomainError, InvalidInput
from domain.shared.ids import OrderId
from domain.shared.text import first_unstorable

log = logging.getLogger("supportos.webhooks")

DEFAULT_HOLD: Final = timedelta(seconds=60)
DEFAULT_MAX_ATTEMPTS: Final = 8  # processing attempts of one event, as many as a provider job's (NewJob)
MAX_WEBHOOK_ID_LENGTH: Final = 255
MAX_KEY_LENGTH: Final = 255
MAX_EVENT_TYPE_LENGTH: Final = 128

IGNORED: Final = "IGNORED"  # stored, but not an event that settles anything
UNKNOWN_KEY: Final = "UNKNOWN_KEY"  # no saga step of that country has this idempotency key
PROCESSING_FAILED: Final = "PROCESSING_FAILED"  # given up: processing raised ``max_attempts`` times

_SETTLEMENTS: Final = {"succeeded": True, "failed": False}


@dataclass(frozen=True, slots=True)
class WebhookProviderMismatch(DomainError):
    """A verified event of one webhook provider names a job of a job provider it is not
    mapped to (``WebhookProcessing.settles``): one provider's secret cannot settle another
    provider's call. Nothing is confirmed; the code is the inbox row's and the audit
    entry's outcome."""

    code: ClassVar[str] = "WEBHOOK_PROVIDER_MISMATCH"
    webhook_provider: str
    job_provider: str

    @property
    def message(self) -> str:
        return (
            f"webhooks of {self.webhook_provider!r} may not settle jobs of the provider {self.job_provider!r}"
        )


PROVIDER_MISMATCH: Final = WebhookProviderMismatch.code


class ConfirmsSteps(Protocol):
    """What settles a step awaiting its provider's confirmation (``SagaRunner.confirm``)."""

    async def confirm(
        self, idempotency_key: str, *, succeeded: bool, provider_reference: str, detail: str = ""
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A request whose Standard Webhooks signature and timestamp were verified."""

    provider: str  # whose secret verified it (the ``{provider}`` of the URL)
    webhook_id: str
    signed_at: datetime
    payload: object  # the JSON body, parsed
    request_id: str = "webhook"


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    provider: str
    webhook_id: str
    country: CountryCode
    duplicate: bool  # already stored: this delivery stored nothing
    processed: bool  # this call processed the event
    outcome: str | None = None
    refusal: WebhookProviderMismatch | None = None  # processed, and refused (``outcome`` is its code)
    pending: bool = False  # held and left for the recovery sweep: its order kept changing (D138)


@dataclass(frozen=True, slots=True)
class WebhookProcessing:
    """What webhook processing needs: transactions and time, the saga to settle, and which
    job providers each webhook provider may settle (``settles``: the ``{provider}`` of
    ``/webhooks/{provider}``, whose secret verified the request -> the ``provider`` of the
    jobs it may confirm). A webhook provider missing from ``settles`` settles nothing."""

    svc: Services
    steps: ConfirmsSteps
    hold: timedelta = DEFAULT_HOLD
    settles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tracking_sources: frozenset[str] = frozenset()  # webhook providers that report tracking (D90)
    marketplace_sources: frozenset[str] = frozenset()  # webhook providers that report orders (D91)
    # processing attempts of one event (the storing call's included) before the recovery
    # sweep gives it up with the outcome ``PROCESSING_FAILED``
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


def parse_event(webhook: VerifiedWebhook) -> Result[WebhookEvent, InvalidInput]:
    """The routing facts of a verified event: ``{"type": ..., "data": {"country": ...,
    "idempotency_key": ...}}`` (Standard Webhooks' recommended envelope)."""
    payload = webhook.payload
    if not isinstance(payload, dict):
        return Failure(InvalidInput("body", "a webhook event is a JSON object"))
    unstorable = first_unstorable(payload)
    if unstorable is not None:  # stored, it would fail on PostgreSQL at every retry (D110)
        return Failure(InvalidInput(unstorable, "holds a control character or an unpaired surrogate"))
    event_type, data = payload.get("type"), payload.get("data")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_EVENT_TYPE_LENGTH:
        return Failure(InvalidInput("type", "a webhook event needs a type"))
    if not isinstance(data, dict):
        return Failure(InvalidInput("data", "a webhook event needs a data object"))
    raw_country = data.get("country")
    if not isinstance(raw_country, str):
        return Failure(InvalidInput("data.country", "the event names no country"))
    country = CountryCode.parse(raw_country)
    if isinstance(country, Failure):
        return Failure(country.failure())
    key = data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH):
        return Failure(InvalidInput("data.idempotency_key", "not a usable idempotency key"))
    if not 0 < len(webhook.webhook_id) <= MAX_WEBHOOK_ID_LENGTH:
        return Failure(InvalidInput("webhook-id", "empty or too long"))
    return Success(
        WebhookEvent(
            country=country.unwrap(),
            provider=webhook.provider,
            webhook_id=webhook.webhook_id,
            event_type=event_type,
            idempotency_key=key,
            payload=payload,
            signed_at=webhook.signed_at,
        )
    )


WebhookRefusal = InvalidInput | FulfilmentRefusal
"""Why a verified event is not stored: it cannot be routed or applied (HTTP 400), or it is
about an order not known yet (HTTP 409: the sender retries)."""


async def receive_webhook(
    deps: WebhookProcessing, webhook: VerifiedWebhook
) -> Result[WebhookReceipt, WebhookRefusal]:
    """Store a verified event (insert-or-ignore) and, if this call stored it, process it."""
    parsed = parse_event(webhook)
    if isinstance(parsed, Failure):
        return Failure(parsed.failure())
    event = parsed.unwrap()
    if is_tracking_event(event.event_type):  # a report that cannot be recorded is not stored
        report = parse_tracking(event)
        if isinstance(report, Failure):
            return Failure(report.failure())
        if event.provider in deps.tracking_sources:  # nor one about an order not recorded yet
            unknown = await not_yet_known(deps.svc, event.country, OrderId(report.unwrap().order_id))
            if unknown is not None:
                return Failure(unknown)
    if is_order_event(event.event_type):  # nor one that cannot be applied, or not yet
        command = parse_order_event(event)
        if isinstance(command, Failure):
            return Failure(command.failure())
        if event.provider in deps.marketplace_sources:
            early = await too_early(deps.svc, command.unwrap())
            if early is not None:
                return Failure(early)
    now = deps.svc.clock.now()
    with scoped_to(frozenset({event.country})):
        async with deps.svc.uow() as uow:
            stored = await uow.webhook_inbox.store(event, now=now, hold=deps.hold)
            held = stored or (
                await uow.webhook_inbox.claim(
                    event.country, event.provider, event.webhook_id, now=now, hold=deps.hold
                )
                is not None
            )
            await uow.commit()
    if not held:
        return Success(WebhookReceipt(event.provider, event.webhook_id, event.country, True, False))
    try:
        settled = await _process(deps, event, request_id=webhook.request_id)
    except OrderReportConflict as conflict:  # stored, left to its hold: the sweep applies it (D138)
        log.warning("%s", conflict)
        return Success(
            WebhookReceipt(event.provider, event.webhook_id, event.country, not stored, False, pending=True)
        )
    return Success(_receipt(event, duplicate=not stored, settled=settled))


async def reprocess_pending_webhooks(deps: WebhookProcessing, *, limit: int = 100) -> list[WebhookReceipt]:
    """Process the inbox rows stored but never processed (a crash between storing and
    processing, or processing that raised), once their hold has expired. For the worker
    loop; safe to run anywhere, any number of times.

    One receipt per claimed row: processed (its outcome, ``PROCESSING_FAILED`` when given up
    past ``max_attempts``), or not (``processed=False``: processing raised; it is logged and
    claimed again when its hold expires). A row that raises never stops the others.

    Rows are claimed one at a time, each just before it is processed: a claim counts an
    attempt, so a sweep that dies (a deploy, a crash) charges one to the row it was
    processing, not to a whole batch it had not started, and no row waits in a claimed batch
    past its hold while the rows before it are processed."""
    receipts: list[WebhookReceipt] = []
    for _ in range(limit):
        now = deps.svc.clock.now()
        with scoped_to(ALL):
            async with deps.svc.uow() as uow:
                entries = await uow.webhook_inbox.claim_unprocessed(now=now, hold=deps.hold, limit=1)
                await uow.commit()
        if not entries:
            break
        receipts.extend([await _reprocess(deps, entry) for entry in entries])
    return receipts


async def _reprocess(deps: WebhookProcessing, entry: InboxEntry) -> WebhookReceipt:
    """One claimed row: processed, left to its hold after raising, or given up past its
    maximum. Never raises (but on cancellation): a poison event must not hold up the rest
    of the batch."""
    event = entry.event
    request_id = f"webhook-recovery:{event.webhook_id}"
    not_processed = WebhookReceipt(event.provider, event.webhook_id, event.country, True, False)
    error: str | None = None  # the class name of what this attempt raised
    if entry.attempts > deps.max_attempts:
        # claimed again past its maximum: each earlier attempt ended with its process
        # (killed, crashed) before it recorded anything (D117's LEASE_EXPIRED, for webhooks)
        log.error(
            "webhook %s:%s (%s) claimed for attempt %d, past its maximum of %d: giving it up (%s)",
            event.provider,
            event.webhook_id,
            event.event_type,
            entry.attempts,
            deps.max_attempts,
            PROCESSING_FAILED,
        )
    else:
        try:
            settled = await _process(deps, event, request_id=request_id)
        except OrderReportConflict as conflict:  # transient (D138): no traceback, retried as any
            error = type(conflict).__name__
            final = entry.attempts >= deps.max_attempts
            log.warning("%s (attempt %d of %d)", conflict, entry.attempts, deps.max_attempts)
            if not final:
                return not_processed
        except Exception as raised:
            error = type(raised).__name__
            final = entry.attempts >= deps.max_attempts
            log.exception(
                "webhook %s:%s (%s) raised %s on processing attempt %d of %d: %s",
                event.provider,
                event.webhook_id,
                event.event_type,
                error,
                entry.attempts,
                deps.max_attempts,
                f"giving it up ({PROCESSING_FAILED})" if final else "retried when its hold expires",
            )
            if not final:
                return not_processed
        else:
            return _receipt(event, duplicate=True, settled=settled)
    try:
        given_up = await _give_up(deps, entry, error=error, request_id=request_id)
    except Exception:
        log.exception(
            "could not give up webhook %s:%s; tried again when its hold expires",
            event.provider,
            event.webhook_id,
        )
        return not_processed
    if not given_up:  # another call recorded an outcome meanwhile
        return not_processed
    return _receipt(event, duplicate=True, settled=PROCESSING_FAILED)


async def _give_up(deps: WebhookProcessing, entry: InboxEntry, *, error: str | None, request_id: str) -> bool:
    """Record ``PROCESSING_FAILED`` on the row (never claimed again) with its audit entry,
    and count it for the alert. ``error``: the class name of what the last attempt raised
    (never the message: it may hold personal data); ``None`` if no attempt got to raise."""
    event = entry.event
    now = deps.svc.clock.now()
    after: dict[str, str | int | None] = {
        "provider": event.provider,
        "webhook_id": event.webhook_id,
        "event_type": event.event_type,
        "idempotency_key": event.idempotency_key,
        "outcome": PROCESSING_FAILED,
        "attempts": entry.attempts,
        "max_attempts": deps.max_attempts,
        "error_type": error,
    }
    marked = await _mark_processed(
        deps, event, PROCESSING_FAILED, "webhook.processing_failed", after, now=now, request_id=request_id
    )
    if marked:
        deps.svc.metrics.webhook_processing_failed(event.country, event.provider)
    return marked


async def _mark_processed(
    deps: WebhookProcessing,
    event: WebhookEvent,
    outcome: str,
    action: str,
    after: dict[str, str | int | None],
    *,
    now: datetime,
    request_id: str,
) -> bool:
    """The inbox row's outcome and its audit entry (``action``), in one transaction; False
    when another call had recorded an outcome already (nothing written)."""
    principal = Principal(f"webhook:{event.provider}", Role.SYSTEM, frozenset({event.country}))
    ctx = RequestContext(principal, request_id)
    with scoped_to(frozenset({event.country})):
        async with deps.svc.uow() as uow:
            marked = await uow.webhook_inbox.mark_processed(
                event.country, event.provider, event.webhook_id, now=now, outcome=outcome
            )
            if marked:
                await record(
                    uow,
                    ctx,
                    country=event.country,
                    action=action,
                    target_type="webhook",
                    target_id=f"{event.provider}:{event.webhook_id}",
                    at=now,
                    after=after,
                )
            await uow.commit()
    return marked


def _receipt(
    event: WebhookEvent, *, duplicate: bool, settled: str | WebhookProviderMismatch
) -> WebhookReceipt:
    if isinstance(settled, WebhookProviderMismatch):
        return WebhookReceipt(
            event.provider, event.webhook_id, event.country, duplicate, True, settled.code, settled
        )
    return WebhookReceipt(event.provider, event.webhook_id, event.country, duplicate, True, settled)


async def _process(
    deps: WebhookProcessing, event: WebhookEvent, *, request_id: str
) -> str | WebhookProviderMismatch:
    started = time.monotonic()
    settled = await _settle(deps, event)
    latency_ms = int((time.monotonic() - started) * 1000)
    outcome = settled.code if isinstance(settled, WebhookProviderMismatch) else settled
    after: dict[str, str | int | None] = {
        "provider": event.provider,
        "webhook_id": event.webhook_id,
        "event_type": event.event_type,
        "idempotency_key": event.idempotency_key,
        "outcome": outcome,
        "latency_ms": latency_ms,
    }
    if isinstance(settled, WebhookProviderMismatch):
        after |= {"job_provider": settled.job_provider, "detail": settled.message}
    now = deps.svc.clock.now()
    await _mark_processed(deps, event, outcome, "webhook.processed", after, now=now, request_id=request_id)
    return settled


async def _settle(deps: WebhookProcessing, event: WebhookEvent) -> str | WebhookProviderMismatch:
    if is_tracking_event(event.event_type):
        return await record_tracking(deps.svc, event, sources=deps.tracking_sources)
    if is_order_event(event.event_type):
        return await apply_order_event(deps.svc, event, sources=deps.marketplace_sources)
    succeeded = _SETTLEMENTS.get(event.event_type.rpartition(".")[2])
    key = event.idempotency_key
    if succeeded is None or key is None:
        return IGNORED
    with scoped_to(frozenset({event.country})):
        async with deps.svc.uow() as uow:
            job = await job_by_provider_key(uow.outbox, key)  # the key may be a replay's (D83)
    if job is None or job.country != event.country:
        return UNKNOWN_KEY
    if job.provider not in deps.settles.get(event.provider, frozenset()):
        # verified with another provider's secret: it may not settle this provider's call
        return WebhookProviderMismatch(event.provider, job.provider)
    data: dict[str, Any] = event.payload.get("data", {})
    reference, detail = data.get("id"), data.get("failure_reason")
    outcome = await deps.steps.confirm(
        key,
        succeeded=succeeded,
        provider_reference=reference if isinstance(reference, str) else "",
        detail=detail if isinstance(detail, str) else "",
    )
    return str(outcome)
