"""Past-tense facts recorded by the Order aggregate.

Every event carries the order id and country. Every event that moves the order to a new
status derives from :class:`OrderTransitioned` and names both ends (``from_status``,
``to_status``), so a timeline can be rebuilt from the events alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.orders.status import OrderStatus
from domain.shared.country import CountryCode
from domain.shared.events import DomainEvent
from domain.shared.ids import BuyerId, CourierId, OrderId, PolicyVersion, SellerId
from domain.shared.money import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent(DomainEvent):
    order_id: OrderId
    country: CountryCode


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCreated(OrderEvent):
    buyer_id: BuyerId
    seller_id: SellerId
    courier_id: CourierId | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTransitioned(OrderEvent):
    """Base of the events that change an order's status (never recorded on its own)."""

    from_status: OrderStatus
    to_status: OrderStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentCaptured(OrderTransitioned):
    """CREATED -> PAID; the snapshot is frozen from now on. Captured while a live incident
    holds a CREATED order, FROZEN -> FROZEN: the hold then lifts to PAID (D103); captured
    after a cancellation, CANCELLED -> CANCELLED: the money is refunded (D116)."""

    total_charged: Money
    policy_version: PolicyVersion


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusChanged(OrderTransitioned):
    """A plain forward, cancellation or dispute-resolution move."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFrozen(OrderTransitioned):
    """Payout hold for a live incident; ``from_status`` is restored on unfreeze."""

    incident_ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUnfrozen(OrderTransitioned):
    """The live-incident hold was lifted; ``to_status`` is the status before the freeze."""

    incident_ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderForceCompleted(OrderTransitioned):
    """An L3 forced completion (payout released as usual, recorded as forced)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyReassigned(OrderEvent):
    """An urgent replacement: ``party`` (``SELLER`` or ``COURIER``) moved from ``from_id``
    (``None``: no courier yet) to ``to_id``. The status does not change."""

    party: str
    from_id: str | None
    to_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplacementIssued(OrderTransitioned):
    """CREATED -> PAID for a replacement order (the ``REPLACEMENT`` outcome of a dispute on
    ``replaces``): nothing was charged; the snapshot carries the original's terms."""

    replaces: OrderId
    policy_version: PolicyVersion
