"""The marketplace's order feed: orders created, payments captured and fulfilment steps,
reported by signed webhooks and applied through the order use cases (D91).

Events (Standard Webhooks envelope; ``POST /webhooks/<source>`` with the source's secret):

``order.created``
    ``{"country", "order_id", "buyer_id", "seller_id", "courier_id"?}``
``order.payment_captured``
    ``{"country", "order_id", "currency", "items_subtotal_minor", "delivery_fee_minor",
    "service_fee_minor", "tax_minor", "discount_minor", "commission_bp" (0-9,999),
    "payment_partner_id"?}``
``order.status_changed``
    ``{"country", "order_id", "status", "at"?}`` with ``ACCEPTED``, ``IN_PREPARATION``,
    ``IN_TRANSIT``, ``DELIVERED`` or ``CANCELLED`` (before capture only); ``at`` (ISO-8601
    with an offset) is when the step happened, so a late or retried report keeps its time
    (kept between the order's creation and now; without it, when the marketplace sent it,
    its signed ``webhook-timestamp``; D97, D138)
``order.courier_assigned``
    ``{"country", "order_id", "courier_id", "at"?}``: the courier dispatch gave the order, a
    first one or another, until the order is in transit (D132); ``at`` is when dispatch
    assigned it (as for a step), and a report older than the order's current courier's is
    refused as ``STALE_ASSIGNMENT`` (D137)

Amounts are integer minor units. This is how money facts enter the system: never typed
by an agent (the GraphQL API takes no amount anywhere), only reported by the checkout,
signed. An event that does not parse is refused before it is stored (400, nothing
recorded), and so is one whose order, buyer or seller id cannot name the ledger accounts
it will need (a ``:`` in it, or too long for the longest account prefix); one about an
order the service does not know yet (a capture or a step that overtook its
``order.created``) is refused with ``ORDER_NOT_YET_KNOWN``, and a fulfilment
step that overtook the step before it (or the capture), or arrives while the order is
frozen, with ``ORDER_STEP_TOO_EARLY`` (409, nothing recorded either way) so that the sender
retries it: stored, it would be refused for good and every later step with it (D96). A
stored event is applied once, by the order use cases as the principal ``webhook:<source>``
of role ``MARKETPLACE`` in the event's country (the permission matrix and audit entries of
any caller), and its outcome recorded in the inbox and the ``webhook.processed`` audit
entry: ``APPLIED``, or the refusal's code (``ORDER_ID_TAKEN``, ``ORDER_ALREADY_CAPTURED``,
``ILLEGAL_ORDER_TRANSITION``, ...). The use cases are idempotent on what they record, so
a report sent twice under two webhook ids changes nothing the second time.

A report that lost a race for its order (another report, an agent or the scheduler saved it
first: ``CONCURRENCY_CONFLICT``) is not refused: it is applied again on the order as it now is,
up to ``CONFLICT_ATTEMPTS`` times, a moment apart; still losing, it raises
``OrderReportConflict`` and is left unprocessed for the recovery sweep (answered ``pending``,
D138). Stored as its outcome, a lost capture would have left the order unpaid for good and
every later step refused as early. A step or a courier report without its own ``at`` is dated
by its signed ``webhook-timestamp``, so one applied late by the sweep keeps its time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, Final

from returns.result import Failure, Result, Success

from application.context import RequestContext, Services
from application.integrations.feed_fields import BadField, instant
from application.orders.couriers import AssignCourier, assign_courier
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.ports.concurrency import ConcurrencyConflict
from application.ports.webhook_inbox import WebhookEvent
from application.security.principal import Principal, Role
from application.security.scope import scoped_to
from domain.ledger.accounts import AccountHolder
from domain.orders import Order, OrderStatus, order_id_problem, party_id_problem
from domain.shared import BASIS_POINTS, CountryCode, Currency, DomainError, InvalidInput
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId

ORDER_EVENT_PREFIX: Final = "order."
CREATED: Final = "order.created"
CAPTURED: Final = "order.payment_captured"
STATUS_CHANGED: Final = "order.status_changed"
COURIER_ASSIGNED: Final = "order.courier_assigned"
ORDER_EVENTS: Final = (CREATED, CAPTURED, STATUS_CHANGED, COURIER_ASSIGNED)
REPORTED_STATUSES: Final = frozenset(
    {
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
        OrderStatus.CANCELLED,
    }
)
APPLIED: Final = "APPLIED"
NOT_A_MARKETPLACE_SOURCE: Final = "NOT_A_MARKETPLACE_SOURCE"
MAX_ID_LENGTH: Final = 200
MAX_MINOR: Final = 10**15
"""The largest amount a report may carry, in minor units (far above any order; refuses junk)."""
_AMOUNTS: Final = (
    "items_subtotal_minor",
    "delivery_fee_minor",
    "service_fee_minor",
    "tax_minor",
    "discount_minor",
)

OrderCommand = CreateOrder | CapturePayment | TransitionOrder | AssignCourier
CONFLICT_ATTEMPTS: Final = 3
"""How many times a report that lost a race for its order is applied before it is left to
the recovery sweep (each attempt reads the order afresh)."""
CONFLICT_BACKOFF_S: Final = 0.02
"""The pause before the n-th attempt is n times this (the winner's transaction ends first)."""


class OrderReportConflict(RuntimeError):
    """A report kept losing the race for its order: left unprocessed, retried later (D138)."""

    def __init__(self, event: WebhookEvent) -> None:
        super().__init__(
            f"{event.event_type} {event.provider}/{event.webhook_id}: the order kept changing under it "
            f"({CONFLICT_ATTEMPTS} attempts); left for a retry"
        )


@dataclass(frozen=True, slots=True)
class OrderNotYetKnown(DomainError):
    """A report about an order the service has not recorded yet: it overtook the order's
    ``order.created``. Nothing is stored; the sender retries (HTTP 409)."""

    code: ClassVar[str] = "ORDER_NOT_YET_KNOWN"
    order_id: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} is not known yet: send its order.created first, then retry"


@dataclass(frozen=True, slots=True)
class OrderStepTooEarly(DomainError):
    """A fulfilment step that overtook the step before it (or the capture), or arrives while
    the order is frozen: not applicable yet. Nothing is stored; the sender retries (HTTP 409)."""

    code: ClassVar[str] = "ORDER_STEP_TOO_EARLY"
    order_id: str
    target: OrderStatus
    current: OrderStatus

    @property
    def message(self) -> str:
        return (
            f"order {self.order_id} is {self.current.value}: {self.target.value} cannot be applied yet;"
            " send the steps before it first, then retry"
        )


FulfilmentRefusal = OrderNotYetKnown | OrderStepTooEarly
"""Reports refused before they are stored because they came too early (HTTP 409, retried)."""


def is_order_event(event_type: str) -> bool:
    return event_type.startswith(ORDER_EVENT_PREFIX)


def parse_order_event(event: WebhookEvent) -> Result[OrderCommand, InvalidInput]:
    """The use case command a verified ``order.*`` event reports, or why it cannot be applied."""
    data = event.payload.get("data")
    assert isinstance(data, dict)  # parse_event checked the envelope
    country = event.country
    try:
        order_id = OrderId(_id(data, "order_id", order_id_problem))
        if event.event_type == CREATED:
            courier = data.get("courier_id")
            return Success(
                CreateOrder(
                    country,
                    BuyerId(_id(data, "buyer_id", partial(party_id_problem, AccountHolder.BUYER))),
                    SellerId(_id(data, "seller_id", partial(party_id_problem, AccountHolder.SELLER))),
                    None if courier is None else CourierId(_id(data, "courier_id")),
                    order_id,
                )
            )
        if event.event_type == CAPTURED:
            currency = Currency.parse(str(data.get("currency", ""))[:16])
            if isinstance(currency, Failure):
                raise BadField("data.currency", currency.failure().reason)
            subtotal, delivery, service, tax, discount = (_integer(data, name) for name in _AMOUNTS)
            partner = data.get("payment_partner_id")
            if partner is not None and not isinstance(partner, str):
                raise BadField("data.payment_partner_id", "a string, when given")
            # below 100 %: the seller is paid something (the snapshot's rule, checked before storing)
            commission = _integer(data, "commission_bp", most=BASIS_POINTS - 1)
            return Success(
                CapturePayment(
                    country,
                    order_id,
                    currency.unwrap(),
                    subtotal,
                    delivery,
                    service,
                    tax,
                    discount,
                    commission,
                    partner,
                )
            )
        if event.event_type == STATUS_CHANGED:
            raw = data.get("status")
            status = OrderStatus(raw) if isinstance(raw, str) and raw in OrderStatus.__members__ else None
            if status not in REPORTED_STATUSES:
                allowed = ", ".join(sorted(s.value for s in REPORTED_STATUSES))
                raise BadField("data.status", f"one of {allowed}")
            assert status is not None
            raw_at = data.get("at")
            at = None if raw_at is None else instant(raw_at, "data.at")
            return Success(TransitionOrder(country, order_id, status, at))
        if event.event_type == COURIER_ASSIGNED:
            courier = CourierId(_id(data, "courier_id"))
            raw_at = data.get("at")
            at = None if raw_at is None else instant(raw_at, "data.at")
            return Success(AssignCourier(country, order_id, courier, at))
    except BadField as bad:
        return Failure(InvalidInput(bad.field, bad.reason))
    known = ", ".join(ORDER_EVENTS)
    return Failure(InvalidInput("type", f"unknown order event {event.event_type!r} (known: {known})"))


def _id(data: Mapping[str, Any], name: str, rule: Callable[[str], str | None] | None = None) -> str:
    """A non-blank printable id; for an order, buyer or seller, one its ``rule`` accepts (the
    domain's own: ledger accounts it names, the API's id limit, the replacements' suffix;
    ``Order.create`` checks it too, but a report refused there would be stored and lost;
    refused here, nothing is stored, D112)."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise BadField(f"data.{name}", "a non-blank id without surrounding spaces is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise BadField(f"data.{name}", f"at most {MAX_ID_LENGTH} printable characters")
    if rule is not None and (problem := rule(value)) is not None:
        raise BadField(f"data.{name}", problem)
    return value


def _integer(data: Mapping[str, Any], name: str, *, most: int = MAX_MINOR) -> int:
    value = data.get(name)
    if type(value) is not int:
        raise BadField(f"data.{name}", "an integer is required (minor units; no floats, no strings)")
    if not 0 <= value <= most:
        raise BadField(f"data.{name}", f"must be between 0 and {most}")
    return value


def marketplace_context(event: WebhookEvent) -> RequestContext:
    """Who applies a marketplace event: ``webhook:<source>``, role MARKETPLACE, its country."""
    principal = Principal(f"webhook:{event.provider}", Role.MARKETPLACE, frozenset({event.country}))
    return RequestContext(principal, f"webhook:{event.provider}:{event.webhook_id}")


async def _recorded(svc: Services, country: CountryCode, order_id: OrderId) -> Order | None:
    with scoped_to(frozenset({country})):
        async with svc.uow() as uow:
            return await uow.orders.get(country, order_id)


async def not_yet_known(svc: Services, country: CountryCode, order_id: OrderId) -> OrderNotYetKnown | None:
    """A report (a courier's tracking, D96) about an order not recorded yet: retried, not stored."""
    return OrderNotYetKnown(order_id) if await _recorded(svc, country, order_id) is None else None


async def too_early(svc: Services, command: OrderCommand) -> FulfilmentRefusal | None:
    """A capture or a step about an order not recorded yet, or a step the order cannot take
    yet (checked before storing). A step the order has already taken, or one it can never
    take, is not early: it is stored and refused (or is a no-op) like any other."""
    if isinstance(command, CreateOrder):
        return None
    known = await _recorded(svc, command.country, command.order_id)
    if known is None:
        return OrderNotYetKnown(command.order_id)
    if isinstance(command, TransitionOrder) and known.too_early_for(command.target):
        return OrderStepTooEarly(command.order_id, command.target, known.status)
    return None


async def apply_order_event(svc: Services, event: WebhookEvent, *, sources: frozenset[str]) -> str:
    """Apply a stored ``order.*`` event (the webhook processing's step); the outcome."""
    if event.provider not in sources:
        return NOT_A_MARKETPLACE_SOURCE
    parsed = parse_order_event(event)
    if isinstance(parsed, Failure):  # refused before it was stored; kept for rows stored earlier
        return str(parsed.failure().code)
    command, ctx = parsed.unwrap(), marketplace_context(event)
    for attempt in range(CONFLICT_ATTEMPTS):
        if attempt:  # the other writer's transaction is short: give it a moment
            await asyncio.sleep(CONFLICT_BACKOFF_S * attempt)
        applied = await _apply(svc, ctx, _dated(command, event), event.country)
        if isinstance(applied, Success):
            return APPLIED
        if not isinstance(applied.failure(), ConcurrencyConflict):
            return str(applied.failure().code)
    raise OrderReportConflict(event)


def _dated(command: OrderCommand, event: WebhookEvent) -> OrderCommand:
    """A step or a courier report without its own ``at`` happened when the marketplace sent
    it (the signed ``webhook-timestamp``): so it keeps that time however late it is applied
    (the recovery sweep, D138), kept between the order's creation and now by the use case."""
    if isinstance(command, TransitionOrder | AssignCourier) and command.at is None:
        return replace(command, at=event.signed_at)
    return command


async def _apply(
    svc: Services, ctx: RequestContext, command: OrderCommand, country: CountryCode
) -> Result[object, DomainError]:
    with scoped_to(frozenset({country})):
        if isinstance(command, CreateOrder):
            return await create_order(svc, ctx, command)
        if isinstance(command, CapturePayment):
            return await capture_payment(svc, ctx, command)
        if isinstance(command, AssignCourier):
            return await assign_courier(svc, ctx, command)
        return await transition_order(svc, ctx, command)
