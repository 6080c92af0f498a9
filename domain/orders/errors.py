"""Typed, expected failures of the Order aggregate (codes catalogued in ``docs/errors.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from domain.orders.status import OrderOperation, OrderStatus
from domain.shared.errors import DomainError, InvalidInput
from domain.shared.ids import OrderId


@dataclass(frozen=True, slots=True)
class IllegalOrderTransition(DomainError):
    """``from_status -> to_status`` is not a legal move for this order."""

    code: ClassVar[str] = "ILLEGAL_ORDER_TRANSITION"
    from_status: OrderStatus
    to_status: OrderStatus

    @property
    def message(self) -> str:
        return f"an order cannot go from {self.from_status} to {self.to_status}"


@dataclass(frozen=True, slots=True)
class DedicatedOperationRequired(DomainError):
    """The move is legal, but only through its own operation (e.g. PAID via capture_payment)."""

    code: ClassVar[str] = "DEDICATED_OPERATION_REQUIRED"
    from_status: OrderStatus
    to_status: OrderStatus
    operation: OrderOperation

    @property
    def message(self) -> str:
        return f"{self.from_status} -> {self.to_status} must be done with {self.operation}"


@dataclass(frozen=True, slots=True)
class OrderAlreadyCaptured(DomainError):
    """A payment was already captured for this order; a snapshot is frozen only once."""

    code: ClassVar[str] = "ORDER_ALREADY_CAPTURED"
    order_id: OrderId

    @property
    def message(self) -> str:
        return f"payment for order {self.order_id} was already captured"


@dataclass(frozen=True, slots=True)
class SnapshotMismatch(DomainError):
    """The snapshot offered at capture belongs to another order, country or party."""

    code: ClassVar[str] = "SNAPSHOT_MISMATCH"
    field: str
    expected: str
    actual: str

    @property
    def message(self) -> str:
        return f"snapshot {self.field} is {self.actual!r}, the order's is {self.expected!r}"


@dataclass(frozen=True, slots=True)
class OrderAlreadyFrozen(DomainError):
    """The order is already on a live-incident hold, for another incident."""

    code: ClassVar[str] = "ORDER_ALREADY_FROZEN"
    incident_ref: str

    @property
    def message(self) -> str:
        return f"the order is already frozen by incident {self.incident_ref}"


@dataclass(frozen=True, slots=True)
class OrderNotFrozen(DomainError):
    code: ClassVar[str] = "ORDER_NOT_FROZEN"
    status: OrderStatus

    @property
    def message(self) -> str:
        return f"the order is {self.status}, not FROZEN"


@dataclass(frozen=True, slots=True)
class OrderAlreadyForceCompleted(DomainError):
    """Force-complete happens at most once per order."""

    code: ClassVar[str] = "ORDER_ALREADY_FORCE_COMPLETED"
    order_id: OrderId

    @property
    def message(self) -> str:
        return f"order {self.order_id} was already force-completed"


@dataclass(frozen=True, slots=True)
class ForceCompleteNotEligible(DomainError):
    """A FROZEN order can be force-completed only if it was frozen from IN_TRANSIT or DELIVERED."""

    code: ClassVar[str] = "FORCE_COMPLETE_NOT_ELIGIBLE"
    frozen_from: OrderStatus

    @property
    def message(self) -> str:
        return (
            f"the order was frozen from {self.frozen_from}; only an order frozen in transit "
            "or after delivery can be force-completed"
        )


@dataclass(frozen=True, slots=True)
class ReasonRequired(DomainError):
    code: ClassVar[str] = "REASON_REQUIRED"

    @property
    def message(self) -> str:
        return "a reason is required"


@dataclass(frozen=True, slots=True)
class ReasonTooLong(DomainError):
    code: ClassVar[str] = "REASON_TOO_LONG"
    length: int
    max_length: int

    @property
    def message(self) -> str:
        return f"the reason has {self.length} characters; at most {self.max_length} are allowed"


@dataclass(frozen=True, slots=True)
class DisputeWindowStillOpen(DomainError):
    """DELIVERED -> COMPLETED happens only once the dispute window has closed."""

    code: ClassVar[str] = "DISPUTE_WINDOW_STILL_OPEN"
    closes_at: datetime

    @property
    def message(self) -> str:
        return f"the dispute window is open until {self.closes_at.isoformat()}"


@dataclass(frozen=True, slots=True)
class DisputeWindowClosed(DomainError):
    """Disputes open only while the window is open: ``[delivered_at, delivered_at + window)``.

    The window's closing instant belongs to completion, not to disputes.
    """

    code: ClassVar[str] = "DISPUTE_WINDOW_CLOSED"
    window_closed_at: datetime
    attempted_at: datetime

    @property
    def message(self) -> str:
        return f"the dispute window closed at {self.window_closed_at.isoformat()}"


@dataclass(frozen=True, slots=True)
class ReassignNotAllowed(DomainError):
    """A party is reassigned only while the order is on its way: not delivered, not final."""

    code: ClassVar[str] = "REASSIGN_NOT_ALLOWED"
    party: str
    status: OrderStatus

    @property
    def message(self) -> str:
        return f"the {self.party.lower()} of a {self.status} order cannot be reassigned"


@dataclass(frozen=True, slots=True)
class SellerFixedBySnapshot(DomainError):
    """After capture the snapshot names the seller who is paid, and a snapshot never changes
    (SPEC §3): the seller of a paid order cannot be swapped."""

    code: ClassVar[str] = "SELLER_FIXED_BY_SNAPSHOT"
    order_id: OrderId

    @property
    def message(self) -> str:
        return (
            f"order {self.order_id} is paid and its snapshot names the seller who is paid; cancel it "
            "operationally (the buyer is refunded in full through the saga) and place a new order"
        )


@dataclass(frozen=True, slots=True)
class AlreadyAssigned(DomainError):
    """The replacement is the party the order already has."""

    code: ClassVar[str] = "ALREADY_ASSIGNED"
    party: str
    party_id: str

    @property
    def message(self) -> str:
        return f"{self.party_id} is already the order's {self.party.lower()}"


@dataclass(frozen=True, slots=True)
class StaleAssignment(DomainError):
    """A courier assignment older than the one the order has: a report sent again (or late)
    after a later swap; applying it would put an older courier back (D137)."""

    code: ClassVar[str] = "STALE_ASSIGNMENT"
    party: str
    party_id: str
    at: datetime
    current_since: datetime

    @property
    def message(self) -> str:
        return (
            f"{self.party_id} was assigned at {self.at.astimezone(UTC).isoformat()}, before the order's "
            f"current {self.party.lower()} (since {self.current_since.astimezone(UTC).isoformat()}): "
            "nothing changed"
        )


@dataclass(frozen=True, slots=True)
class ReplacementNotAllowed(DomainError):
    """Only a captured, disputed order that is not itself a replacement gets a replacement
    (the ``REPLACEMENT`` outcome of its dispute)."""

    code: ClassVar[str] = "REPLACEMENT_NOT_ALLOWED"
    order_id: OrderId
    reason: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} cannot be replaced: {self.reason}"


@dataclass(frozen=True, slots=True)
class ReplacementNotDisputable(DomainError):
    """A replacement order carries no money of its own (nothing was charged for it; the
    seller's payout is the original's, released on the replacement's delivery), so no
    outcome could be computed from it: a dispute cannot be opened on it."""

    code: ClassVar[str] = "REPLACEMENT_NOT_DISPUTABLE"
    order_id: OrderId
    replaces: OrderId

    @property
    def message(self) -> str:
        return (
            f"order {self.order_id} is the replacement of order {self.replaces}, for which nothing "
            "was charged: it cannot be disputed; open an incident on it instead"
        )


@dataclass(frozen=True, slots=True)
class ReplacementNotCancellable(DomainError):
    """Cancelling a paid order refunds its snapshot's total; nothing was charged for a
    replacement, so that refund would send money that was never captured."""

    code: ClassVar[str] = "REPLACEMENT_NOT_CANCELLABLE"
    order_id: OrderId
    replaces: OrderId

    @property
    def message(self) -> str:
        return (
            f"order {self.order_id} is the replacement of order {self.replaces}, for which nothing "
            "was charged: it cannot be cancelled (a cancellation would refund money never captured)"
        )


CaptureError = InvalidInput | IllegalOrderTransition | OrderAlreadyCaptured | SnapshotMismatch
TransitionError = (
    InvalidInput
    | IllegalOrderTransition
    | DedicatedOperationRequired
    | DisputeWindowStillOpen
    | DisputeWindowClosed
    | ReplacementNotDisputable
    | ReplacementNotCancellable
)
FreezeError = InvalidInput | IllegalOrderTransition | OrderAlreadyFrozen
UnfreezeError = InvalidInput | OrderNotFrozen
ForceCompleteError = (
    InvalidInput
    | IllegalOrderTransition
    | OrderAlreadyForceCompleted
    | ForceCompleteNotEligible
    | ReasonRequired
    | ReasonTooLong
)
ReassignError = InvalidInput | ReassignNotAllowed | SellerFixedBySnapshot | AlreadyAssigned | StaleAssignment
ReplacementError = InvalidInput | ReplacementNotAllowed
OrderError = (
    CaptureError
    | TransitionError
    | FreezeError
    | UnfreezeError
    | ForceCompleteError
    | ReassignError
    | ReplacementError
)
"""Every expected failure of the Order aggregate."""
