"""Order statuses and the table of legal transitions (SPEC §3), as data.

```
CREATED -> PAID -> ACCEPTED -> IN_PREPARATION -> IN_TRANSIT -> DELIVERED -> COMPLETED
CREATED -> CANCELLED                      (nothing captured)
PAID|ACCEPTED|IN_PREPARATION|IN_TRANSIT -> CANCELLED   (operational cancellation)
DELIVERED -> DISPUTED -> COMPLETED | REFUNDED | PARTIALLY_REFUNDED
any non-final except DISPUTED -> FROZEN (payout hold while a live incident is open) -> previous state
IN_TRANSIT|DELIVERED|FROZEN -> FORCE_COMPLETED   (L3 only: checked in the application layer)
```

:data:`TRANSITIONS` is the one source of truth for which (from, to) pairs can ever happen.
It is status-level: leaving ``FROZEN`` is listed towards every status an order can be
frozen from, and the :class:`~domain.orders.order.Order` narrows that to the one status
it was actually frozen from. Some edges belong to a dedicated operation (capturing a
payment, freezing, unfreezing, force-completing), named by :func:`operation_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    PAID = "PAID"
    ACCEPTED = "ACCEPTED"
    IN_PREPARATION = "IN_PREPARATION"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    DISPUTED = "DISPUTED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    FROZEN = "FROZEN"
    FORCE_COMPLETED = "FORCE_COMPLETED"


class OrderOperation(StrEnum):
    """The aggregate method that performs an edge of the table."""

    TRANSITION_TO = "transition_to"
    CAPTURE_PAYMENT = "capture_payment"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    FORCE_COMPLETE = "force_complete"


_S = OrderStatus

FINAL_STATUSES: Final = frozenset(
    {_S.COMPLETED, _S.CANCELLED, _S.REFUNDED, _S.PARTIALLY_REFUNDED, _S.FORCE_COMPLETED}
)
"""No transition leaves these."""

HOLD_STATUSES: Final = frozenset({_S.DISPUTED, _S.FROZEN})
"""Payout holds: a post-delivery dispute (DISPUTED) or a live incident (FROZEN)."""

FREEZABLE_STATUSES: Final = frozenset(
    {_S.CREATED, _S.PAID, _S.ACCEPTED, _S.IN_PREPARATION, _S.IN_TRANSIT, _S.DELIVERED}
)
"""Every non-final status that is not itself a hold; FROZEN returns to exactly one of these."""

FORCE_COMPLETABLE_STATUSES: Final = frozenset({_S.IN_TRANSIT, _S.DELIVERED})
"""Force-completion sources besides FROZEN; a FROZEN order must have been frozen from one of these."""

CAPTURED_STATUSES: Final = frozenset(
    {
        _S.PAID,
        _S.ACCEPTED,
        _S.IN_PREPARATION,
        _S.IN_TRANSIT,
        _S.DELIVERED,
        _S.DISPUTED,
        _S.COMPLETED,
        _S.REFUNDED,
        _S.PARTIALLY_REFUNDED,
        _S.FORCE_COMPLETED,
    }
)
"""Statuses that can only be reached after a payment capture (CANCELLED and FROZEN may or may not)."""

DELIVERED_STATUSES: Final = frozenset(
    {_S.DELIVERED, _S.DISPUTED, _S.COMPLETED, _S.REFUNDED, _S.PARTIALLY_REFUNDED}
)
"""Statuses that can only be reached through DELIVERED (FORCE_COMPLETED and FROZEN may or may not)."""

TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = MappingProxyType(
    {
        _S.CREATED: frozenset({_S.PAID, _S.CANCELLED, _S.FROZEN}),
        _S.PAID: frozenset({_S.ACCEPTED, _S.CANCELLED, _S.FROZEN}),
        _S.ACCEPTED: frozenset({_S.IN_PREPARATION, _S.CANCELLED, _S.FROZEN}),
        _S.IN_PREPARATION: frozenset({_S.IN_TRANSIT, _S.CANCELLED, _S.FROZEN}),
        _S.IN_TRANSIT: frozenset({_S.DELIVERED, _S.CANCELLED, _S.FROZEN, _S.FORCE_COMPLETED}),
        _S.DELIVERED: frozenset({_S.COMPLETED, _S.DISPUTED, _S.FROZEN, _S.FORCE_COMPLETED}),
        _S.DISPUTED: frozenset({_S.COMPLETED, _S.REFUNDED, _S.PARTIALLY_REFUNDED}),
        _S.FROZEN: FREEZABLE_STATUSES | {_S.FORCE_COMPLETED},
        _S.COMPLETED: frozenset(),
        _S.CANCELLED: frozenset(),
        _S.REFUNDED: frozenset(),
        _S.PARTIALLY_REFUNDED: frozenset(),
        _S.FORCE_COMPLETED: frozenset(),
    }
)
"""Every legal (from, to) pair, keyed by ``from``. Pairs not listed are illegal."""


FULFILMENT_PATH: Final = (_S.CREATED, _S.PAID, _S.ACCEPTED, _S.IN_PREPARATION, _S.IN_TRANSIT, _S.DELIVERED)
"""An order's way forward, one step at a time (the order feed reports these steps, D91)."""


def skips_a_step(src: OrderStatus, dst: OrderStatus) -> bool:
    """Whether ``dst`` lies further along the fulfilment path than the step after ``src``:
    not reachable yet, though it will be once the steps between are taken (D96)."""
    if src not in FULFILMENT_PATH or dst not in FULFILMENT_PATH:
        return False
    return FULFILMENT_PATH.index(src) < FULFILMENT_PATH.index(dst) - 1


def can_transition(src: OrderStatus, dst: OrderStatus) -> bool:
    """Whether the table allows ``src -> dst`` at all (the aggregate may add guards)."""
    return dst in TRANSITIONS[src]


def is_final(status: OrderStatus) -> bool:
    return status in FINAL_STATUSES


def operation_for(src: OrderStatus, dst: OrderStatus) -> OrderOperation:
    """The aggregate method that performs ``src -> dst`` (meaningful for legal pairs)."""
    if dst is OrderStatus.FORCE_COMPLETED:
        return OrderOperation.FORCE_COMPLETE
    if src is OrderStatus.FROZEN:
        return OrderOperation.UNFREEZE
    if dst is OrderStatus.FROZEN:
        return OrderOperation.FREEZE
    if dst is OrderStatus.PAID:
        return OrderOperation.CAPTURE_PAYMENT
    return OrderOperation.TRANSITION_TO
