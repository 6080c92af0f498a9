"""The Order aggregate: its state machine, payment capture, holds and forced completion.

Every operation validates first and mutates last: a ``Failure`` leaves the order exactly
as it was (status, version, pending events). Every successful change of status bumps
``version`` by one (the optimistic-concurrency counter) and records one event.

Decisions beyond the table of SPEC §3 (docs/decisions.md D80, D72):

- a FROZEN order can be force-completed only if it was frozen from IN_TRANSIT or DELIVERED:
  force-completion releases the seller's payout, which makes no sense for an order that
  was never captured, prepared or dispatched;
- DELIVERED -> COMPLETED only once the dispute window (snapshot policy) has closed, and
  DELIVERED -> DISPUTED only while it is open; the window closes at
  ``delivered_at + policy.dispute_window`` exactly;
- freezing an order already frozen by the same incident is an idempotent no-op
  (``Success(None)``, nothing recorded); by another incident it is ``ORDER_ALREADY_FROZEN``;
- an urgent replacement reassigns the courier while the order is on its way (not yet
  delivered, frozen or not) and the seller only before capture: the snapshot names the
  seller who is paid and never changes (D72);
- a replacement order (the ``REPLACEMENT`` outcome of a dispute, :meth:`Order.replacement_for`)
  names the order it replaces and is born PAID with nothing charged: its snapshot carries the
  original's terms (the lifecycle and the dispute window work as usual) but the money is the
  original's, released when the replacement is delivered. It can be neither disputed nor
  cancelled (both would move money never captured for it); the application layer posts
  nothing for its completion or forced completion.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final, TypeVar

from returns.result import Failure, Result, Success

from domain.ledger.accounts import AccountHolder, holder_id_problem
from domain.orders.errors import (
    AlreadyAssigned,
    CaptureError,
    DedicatedOperationRequired,
    DisputeWindowClosed,
    DisputeWindowStillOpen,
    ForceCompleteError,
    ForceCompleteNotEligible,
    FreezeError,
    IllegalOrderTransition,
    OrderAlreadyCaptured,
    OrderAlreadyForceCompleted,
    OrderAlreadyFrozen,
    OrderNotFrozen,
    ReasonRequired,
    ReasonTooLong,
    ReassignError,
    ReassignNotAllowed,
    ReplacementError,
    ReplacementNotAllowed,
    ReplacementNotCancellable,
    ReplacementNotDisputable,
    SellerFixedBySnapshot,
    SnapshotMismatch,
    StaleAssignment,
    TransitionError,
    UnfreezeError,
)
from domain.orders.events import (
    OrderCreated,
    OrderEvent,
    OrderForceCompleted,
    OrderFrozen,
    OrderStatusChanged,
    OrderTransitioned,
    OrderUnfrozen,
    PartyReassigned,
    PaymentCaptured,
    ReplacementIssued,
)
from domain.orders.status import (
    CAPTURED_STATUSES,
    DELIVERED_STATUSES,
    FINAL_STATUSES,
    FORCE_COMPLETABLE_STATUSES,
    FREEZABLE_STATUSES,
    FULFILMENT_PATH,
    HOLD_STATUSES,
    TRANSITIONS,
    OrderOperation,
    OrderStatus,
    operation_for,
    skips_a_step,
)
from domain.shared.country import CountryCode
from domain.shared.errors import InvalidInput, InvariantViolation
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots.snapshot import OrderSnapshot

_T = TypeVar("_T", bound=OrderTransitioned)

MAX_REASON_LENGTH: Final = 2_000


def required_reason(
    reason: str, limit: int = MAX_REASON_LENGTH
) -> Result[str, ReasonRequired | ReasonTooLong]:
    """A reason an operation requires (a force-complete, an L3's discard or re-issue), stripped:
    not blank, at most ``limit`` characters."""
    text = reason.strip()
    if not text:
        return Failure(ReasonRequired())
    if len(text) > limit:
        return Failure(ReasonTooLong(len(text), limit))
    return Success(text)


MAX_INCIDENT_REF_LENGTH: Final = 200
MAX_PARTY_ID_LENGTH: Final = 200
MAX_ID_CHARS: Final = 128
"""The API's id limit (``check_id``, a dispute's ``order_id``): a buyer, seller or order id
longer than it could be stored but never looked up, filtered on, or disputed."""
REPLACEMENT_SUFFIX: Final = "-R"
"""A replacement's id is its original's with this suffix (``replacement_id``): reserved, so
no order of the marketplace can take the id a replacement will need (D112)."""
MAX_ORDER_ID_CHARS: Final = MAX_ID_CHARS - len(REPLACEMENT_SUFFIX)


def replacement_id(original: str) -> OrderId:
    """The replacement of an order has a deterministic id, so creating it is idempotent."""
    return OrderId(f"{original}{REPLACEMENT_SUFFIX}")


def order_id_problem(order_id: str) -> str | None:
    """Why ``order_id`` cannot be a new order's id (``None``: it can): it must name the ledger
    accounts the order posts to, stay within the API's id limit with its replacement's
    suffix, and not end in the suffix reserved for replacements (D112)."""
    if (problem := holder_id_problem(AccountHolder.ORDER, order_id)) is not None:
        return problem
    if len(order_id) > MAX_ORDER_ID_CHARS:
        return f"must be at most {MAX_ORDER_ID_CHARS} characters"
    if order_id.endswith(REPLACEMENT_SUFFIX):
        return f"must not end in {REPLACEMENT_SUFFIX!r} (reserved for replacement orders)"
    return None


def party_id_problem(holder: AccountHolder, party_id: str) -> str | None:
    """Why a buyer or seller id cannot be used (``None``: it can): it must name its ledger
    accounts and stay within the API's id limit."""
    if (problem := holder_id_problem(holder, party_id)) is not None:
        return problem
    if len(party_id) > MAX_ID_CHARS:
        return f"must be at most {MAX_ID_CHARS} characters"
    return None


REASSIGNABLE_STATUSES: Final = frozenset(
    {
        OrderStatus.CREATED,
        OrderStatus.PAID,
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
    }
)
"""Where an urgent replacement can happen: on the way, not yet delivered (or frozen from one of these)."""

_NEVER_DELIVERED: Final = frozenset(
    {
        OrderStatus.CREATED,
        OrderStatus.PAID,
        OrderStatus.ACCEPTED,
        OrderStatus.IN_PREPARATION,
        OrderStatus.IN_TRANSIT,
        OrderStatus.CANCELLED,
    }
)


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _naive(field: str, moment: datetime) -> InvalidInput | None:
    return None if _is_aware(moment) else InvalidInput(field, "must be a timezone-aware datetime")


ZERO: Final = timedelta(0)


class Order:
    """A marketplace order. Build with :meth:`create` (new) or :meth:`rehydrate` (stored)."""

    __slots__ = (
        "_buyer_id",
        "_country",
        "_courier_assigned_at",
        "_courier_id",
        "_created_at",
        "_delivered_at",
        "_events",
        "_force_complete_reason",
        "_force_completed",
        "_frozen_at",
        "_frozen_by_incident",
        "_frozen_from",
        "_id",
        "_replaces",
        "_seller_id",
        "_snapshot",
        "_status",
        "_version",
        "_window_paused",
    )

    def __init__(
        self,
        *,
        id: OrderId,
        country: CountryCode,
        buyer_id: BuyerId,
        seller_id: SellerId,
        courier_id: CourierId | None,
        status: OrderStatus,
        frozen_from: OrderStatus | None,
        frozen_by_incident: str | None,
        snapshot: OrderSnapshot | None,
        delivered_at: datetime | None,
        force_completed: bool,
        force_complete_reason: str | None,
        version: int,
        created_at: datetime,
        replaces: OrderId | None = None,
        frozen_at: datetime | None = None,
        window_paused: timedelta = ZERO,
        courier_assigned_at: datetime | None = None,
    ) -> None:
        self._id = id
        self._country = country
        self._buyer_id = buyer_id
        self._seller_id = seller_id
        self._courier_id = courier_id
        self._status = status
        self._frozen_from = frozen_from
        self._frozen_by_incident = frozen_by_incident
        self._snapshot = snapshot
        self._delivered_at = delivered_at
        self._force_completed = force_completed
        self._force_complete_reason = force_complete_reason
        self._version = version
        self._created_at = created_at
        self._replaces = replaces
        self._frozen_at = frozen_at
        self._window_paused = window_paused
        self._courier_assigned_at = courier_assigned_at
        self._events: list[OrderEvent] = []
        self._check_invariants()

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        id: OrderId,
        country: CountryCode,
        buyer_id: BuyerId,
        seller_id: SellerId,
        courier_id: CourierId | None = None,
        created_at: datetime,
    ) -> Result[Order, InvalidInput]:
        """A new CREATED order at version 0, with an ``OrderCreated`` event pending.

        The order, buyer and seller ids must each name the ledger accounts the order will
        post to and stay within the API's id limit (``order_id_problem``,
        ``party_id_problem``; an order id may not end in the replacements' suffix); the
        courier holds no account."""
        for field, value in (("id", id), ("buyer_id", buyer_id), ("seller_id", seller_id)):
            if not value.strip():
                return Failure(InvalidInput(field, "must not be blank"))
        # the ledger accounts the order will post to are named after these ids: an id that
        # cannot name them would make its capture or release raise much later (D112)
        for field, problem in (
            ("id", order_id_problem(id)),
            ("buyer_id", party_id_problem(AccountHolder.BUYER, buyer_id)),
            ("seller_id", party_id_problem(AccountHolder.SELLER, seller_id)),
        ):
            if problem is not None:
                return Failure(InvalidInput(field, problem))
        if courier_id is not None and not courier_id.strip():
            return Failure(InvalidInput("courier_id", "must not be blank when given"))
        if (naive := _naive("created_at", created_at)) is not None:
            return Failure(naive)
        order = cls(
            id=id,
            country=country,
            buyer_id=buyer_id,
            seller_id=seller_id,
            courier_id=courier_id,
            status=OrderStatus.CREATED,
            frozen_from=None,
            frozen_by_incident=None,
            snapshot=None,
            delivered_at=None,
            force_completed=False,
            force_complete_reason=None,
            version=0,
            created_at=created_at,
        )
        order._events.append(
            OrderCreated(
                occurred_at=created_at,
                order_id=id,
                country=country,
                buyer_id=buyer_id,
                seller_id=seller_id,
                courier_id=courier_id,
            )
        )
        return Success(order)

    @classmethod
    def replacement_for(
        cls, original: Order, *, id: OrderId, at: datetime
    ) -> Result[Order, ReplacementError]:
        """The replacement of ``original`` (the ``REPLACEMENT`` outcome of its dispute): a new
        order at version 1, already PAID (the seller ships it at their own cost: nothing is
        charged), with the original's buyer, seller, current courier and country, and a
        snapshot carrying the original's terms under the new order's id. Events pending:
        ``OrderCreated`` and ``ReplacementIssued``."""
        if not id.strip():
            return Failure(InvalidInput("id", "must not be blank"))
        if id == original.id:
            return Failure(InvalidInput("id", "a replacement needs an id of its own"))
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        terms = original.snapshot
        if terms is None:
            return Failure(ReplacementNotAllowed(original.id, "nothing was captured for it"))
        if original.replaces is not None:
            return Failure(ReplacementNotAllowed(original.id, "it is itself a replacement"))
        if original.status is not OrderStatus.DISPUTED:
            return Failure(ReplacementNotAllowed(original.id, f"it is {original.status}, not DISPUTED"))
        snapshot = replace(terms, order_id=id, courier_id=original.courier_id, captured_at=at)
        order = cls(
            id=id,
            country=original.country,
            buyer_id=original.buyer_id,
            seller_id=original.seller_id,
            courier_id=original.courier_id,
            status=OrderStatus.PAID,
            frozen_from=None,
            frozen_by_incident=None,
            snapshot=snapshot,
            delivered_at=None,
            force_completed=False,
            force_complete_reason=None,
            version=1,
            created_at=at,
            replaces=original.id,
        )
        order._events.append(
            OrderCreated(
                occurred_at=at,
                order_id=id,
                country=order.country,
                buyer_id=order.buyer_id,
                seller_id=order.seller_id,
                courier_id=order.courier_id,
            )
        )
        order._events.append(
            ReplacementIssued(
                occurred_at=at,
                order_id=id,
                country=order.country,
                from_status=OrderStatus.CREATED,
                to_status=OrderStatus.PAID,
                replaces=original.id,
                policy_version=snapshot.policy.version,
            )
        )
        return Success(order)

    @classmethod
    def rehydrate(
        cls,
        *,
        id: OrderId,
        country: CountryCode,
        buyer_id: BuyerId,
        seller_id: SellerId,
        courier_id: CourierId | None,
        status: OrderStatus,
        frozen_from: OrderStatus | None,
        frozen_by_incident: str | None,
        snapshot: OrderSnapshot | None,
        delivered_at: datetime | None,
        force_completed: bool,
        force_complete_reason: str | None,
        version: int,
        created_at: datetime,
        replaces: OrderId | None = None,
        frozen_at: datetime | None = None,
        window_paused: timedelta = ZERO,
        courier_assigned_at: datetime | None = None,
    ) -> Order:
        """Rebuild a stored order, recording no event.

        Raises :class:`InvariantViolation` if the stored fields contradict each other:
        that is corrupt data or a mapper bug, never an expected outcome.
        """
        return cls(
            id=id,
            country=country,
            buyer_id=buyer_id,
            seller_id=seller_id,
            courier_id=courier_id,
            status=status,
            frozen_from=frozen_from,
            frozen_by_incident=frozen_by_incident,
            snapshot=snapshot,
            delivered_at=delivered_at,
            force_completed=force_completed,
            force_complete_reason=force_complete_reason,
            version=version,
            created_at=created_at,
            replaces=replaces,
            frozen_at=frozen_at,
            window_paused=window_paused,
            courier_assigned_at=courier_assigned_at,
        )

    def _check_invariants(self) -> None:
        def broken(why: str) -> InvariantViolation:
            return InvariantViolation(f"order {self._id}: {why}")

        if not _is_aware(self._created_at):
            raise broken("created_at must be timezone-aware")
        if self._delivered_at is not None and not _is_aware(self._delivered_at):
            raise broken("delivered_at must be timezone-aware")
        if type(self._version) is not int or self._version < 0:
            raise broken(f"version must be a non-negative int, got {self._version!r}")
        if (why := self._hold_problem()) is not None:
            raise broken(why)
        effective = self._frozen_from if self._frozen_from is not None else self._status
        if effective in CAPTURED_STATUSES and self._snapshot is None:
            raise broken(f"{effective} requires a captured snapshot")
        if effective is OrderStatus.CREATED and self._snapshot is not None:
            raise broken("a CREATED order has no snapshot yet")
        if self._snapshot is not None and self._snapshot_mismatch(self._snapshot) is not None:
            raise broken("snapshot belongs to another order, country or party")
        if effective in DELIVERED_STATUSES and self._delivered_at is None:
            raise broken(f"{effective} requires delivered_at")
        if effective in _NEVER_DELIVERED and self._delivered_at is not None:
            raise broken(f"{effective} cannot have delivered_at")
        if self._force_completed != (self._force_complete_reason is not None):
            raise broken("force_complete_reason is set exactly when force_completed")
        if self._status is OrderStatus.FORCE_COMPLETED and not self._force_completed:
            raise broken("FORCE_COMPLETED requires the force_completed flag")
        self._check_replacement(effective)

    def _hold_problem(self) -> str | None:
        """What is wrong with the live-incident hold's fields (and D127's), if anything."""
        frozen = self._status is OrderStatus.FROZEN
        if frozen != (self._frozen_from is not None) or frozen != (self._frozen_by_incident is not None):
            return "frozen_from and frozen_by_incident are set exactly when FROZEN"
        if self._frozen_from is not None and self._frozen_from not in FREEZABLE_STATUSES:
            return f"cannot have been frozen from {self._frozen_from}"
        if self._frozen_at is not None and (not frozen or not _is_aware(self._frozen_at)):
            return "frozen_at is a timezone-aware moment, set only while FROZEN"
        if self._window_paused < ZERO or (self._window_paused > ZERO and self._delivered_at is None):
            return "the dispute window pauses only after delivery, never by a negative time"
        return None

    def _check_replacement(self, effective: OrderStatus) -> None:
        """A replacement names another order, is born PAID (it has a snapshot) and is never
        disputed (that would move money never captured for it); cancelled, it moves none of
        its own either (``cancel_replacement``, D115)."""
        if self._replaces is None:
            return
        why = None
        if self._replaces == self._id or not self._replaces.strip():
            why = f"cannot replace {self._replaces!r}"
        elif self._snapshot is None:
            why = "a replacement is born PAID: it has a snapshot"
        elif effective is OrderStatus.DISPUTED:
            why = f"a replacement is never {effective}"
        if why is not None:
            raise InvariantViolation(f"order {self._id}: {why}")

    # -- state ----------------------------------------------------------------------

    @property
    def id(self) -> OrderId:
        return self._id

    @property
    def country(self) -> CountryCode:
        return self._country

    @property
    def buyer_id(self) -> BuyerId:
        return self._buyer_id

    @property
    def seller_id(self) -> SellerId:
        return self._seller_id

    @property
    def courier_id(self) -> CourierId | None:
        return self._courier_id

    @property
    def status(self) -> OrderStatus:
        return self._status

    @property
    def frozen_from(self) -> OrderStatus | None:
        """The status an unfreeze restores; set exactly while FROZEN."""
        return self._frozen_from

    @property
    def frozen_by_incident(self) -> str | None:
        """The live incident holding the order; set exactly while FROZEN."""
        return self._frozen_by_incident

    @property
    def snapshot(self) -> OrderSnapshot | None:
        return self._snapshot

    @property
    def delivered_at(self) -> datetime | None:
        return self._delivered_at

    @property
    def force_completed(self) -> bool:
        return self._force_completed

    @property
    def force_complete_reason(self) -> str | None:
        return self._force_complete_reason

    @property
    def version(self) -> int:
        return self._version

    @property
    def created_at(self) -> datetime:
        return self._created_at

    @property
    def replaces(self) -> OrderId | None:
        """The order this one replaces (a ``REPLACEMENT`` outcome), or None."""
        return self._replaces

    @property
    def is_replacement(self) -> bool:
        """Nothing was charged for a replacement: its money is its original's."""
        return self._replaces is not None

    @property
    def payment_partner_id(self) -> str | None:
        """The payment partner that processed the payment (the snapshot's; a replacement
        carries its original's), or None: not captured, or not reported at capture."""
        return None if self._snapshot is None else self._snapshot.payment_partner_id

    @property
    def captured(self) -> bool:
        return self._snapshot is not None

    @property
    def is_final(self) -> bool:
        return self._status in FINAL_STATUSES

    @property
    def is_on_payout_hold(self) -> bool:
        """DISPUTED (post-delivery dispute) or FROZEN (live incident)."""
        return self._status in HOLD_STATUSES

    def too_early_for(self, target: OrderStatus) -> bool:
        """Whether a fulfilment step to ``target`` cannot be taken yet but may be later: the
        order is frozen, or ``target`` skips a step on the way forward (D96). A step already
        taken, or one never possible, is not early."""
        if target not in FULFILMENT_PATH:
            return False
        return self._status is OrderStatus.FROZEN or skips_a_step(self._status, target)

    @property
    def next_statuses(self) -> frozenset[OrderStatus]:
        """Where this order may go now, by any operation (time-dependent guards aside)."""
        if self._frozen_from is not None:
            targets = {self._frozen_from}
            if self._frozen_from in FORCE_COMPLETABLE_STATUSES:
                targets.add(OrderStatus.FORCE_COMPLETED)
            allowed = frozenset(targets)
        else:
            allowed = TRANSITIONS[self._status]
        if self._force_completed:
            allowed = allowed - {OrderStatus.FORCE_COMPLETED}
        return allowed

    @property
    def dispute_window_closes_at(self) -> datetime | None:
        """``delivered_at + policy.dispute_window``, plus the time live incidents held the
        delivered order frozen (D127: nobody can dispute a FROZEN order, so its window does
        not run meanwhile; a hold still on is counted when it lifts); None before delivery."""
        if self._delivered_at is None or self._snapshot is None:
            return None
        return self._delivered_at + self._snapshot.policy.dispute_window + self._window_paused

    @property
    def window_paused(self) -> timedelta:
        """How long live incidents have held the order frozen after its delivery (D127)."""
        return self._window_paused

    @property
    def courier_assigned_at(self) -> datetime | None:
        """When the order's current courier was given it by a reassignment (a feed report's
        own time, or an agent's action), None if it never was: a report older than this is
        stale (D137)."""
        return self._courier_assigned_at

    @property
    def frozen_at(self) -> datetime | None:
        """When the current live-incident hold began (None when not FROZEN, or for a hold
        stored before D127)."""
        return self._frozen_at

    @property
    def pending_events(self) -> tuple[OrderEvent, ...]:
        return tuple(self._events)

    def pull_events(self) -> list[OrderEvent]:
        """The events recorded since the last pull, oldest first; clears them."""
        events, self._events = self._events, []
        return events

    # -- operations -----------------------------------------------------------------

    def capture_payment(self, snapshot: OrderSnapshot, at: datetime) -> Result[PaymentCaptured, CaptureError]:
        """CREATED -> PAID, freezing ``snapshot`` as the order's financial facts.

        A capture of an order a live incident froze while it was CREATED is recorded too (the
        provider holds the buyer's money whatever the hold says, D103): the order stays
        FROZEN, and lifting the hold restores it to PAID, so the incident's outcome sees the
        money captured. So is the capture of an order cancelled before it (D116): the order
        stays CANCELLED, captured, and its money goes back through a refund."""
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        if self._snapshot is not None:
            return Failure(OrderAlreadyCaptured(self._id))
        held = self._status is OrderStatus.FROZEN and self._frozen_from is OrderStatus.CREATED
        # cancelled before its capture, then captured all the same (a race at the checkout):
        # the money is the buyer's and must go back; recorded, the order stays CANCELLED and
        # the application refunds it (D116)
        cancelled = self._status is OrderStatus.CANCELLED
        if self._status is not OrderStatus.CREATED and not held and not cancelled:
            return Failure(IllegalOrderTransition(self._status, OrderStatus.PAID))
        if (mismatch := self._snapshot_mismatch(snapshot)) is not None:
            return Failure(mismatch)
        self._snapshot = snapshot
        if held:
            self._frozen_from = OrderStatus.PAID
        return Success(
            self._move(
                PaymentCaptured(
                    occurred_at=at,
                    order_id=self._id,
                    country=self._country,
                    from_status=self._status,
                    to_status=self._status if held or cancelled else OrderStatus.PAID,
                    total_charged=snapshot.total_charged,
                    policy_version=snapshot.policy.version,
                )
            )
        )

    def transition_to(self, target: OrderStatus, at: datetime) -> Result[OrderStatusChanged, TransitionError]:
        """A plain forward, cancellation or dispute-resolution move.

        Edges that belong to a dedicated operation (PAID, FROZEN, FORCE_COMPLETED and
        leaving FROZEN) are refused with ``DEDICATED_OPERATION_REQUIRED``.
        """
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        source = self._status
        if target not in self.next_statuses:
            return Failure(IllegalOrderTransition(source, target))
        operation = operation_for(source, target)
        if operation is not OrderOperation.TRANSITION_TO:
            return Failure(DedicatedOperationRequired(source, target, operation))
        if self._replaces is not None and target is OrderStatus.DISPUTED:
            return Failure(ReplacementNotDisputable(self._id, self._replaces))
        if self._replaces is not None and target is OrderStatus.CANCELLED:
            return Failure(ReplacementNotCancellable(self._id, self._replaces))
        return self._transition(source, target, at)

    def cancel_replacement(self, at: datetime) -> Result[OrderStatusChanged, TransitionError]:
        """A replacement that will not arrive (not shipped, or lost on its way) is cancelled
        like any order on its way; it moves no money of its own (nothing was charged for it):
        the buyer's refund is the original's, from the original's escrow, which the
        replacement's delivery would have released (D115). Only the incident's operational
        cancellation calls this; a plain ``transition_to`` still refuses."""
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        if self._replaces is None:
            return Failure(InvalidInput("order_id", f"order {self._id} is not a replacement"))
        source = self._status
        if OrderStatus.CANCELLED not in self.next_statuses:
            return Failure(IllegalOrderTransition(source, OrderStatus.CANCELLED))
        return self._transition(source, OrderStatus.CANCELLED, at)

    def _transition(
        self, source: OrderStatus, target: OrderStatus, at: datetime
    ) -> Result[OrderStatusChanged, TransitionError]:
        if source is OrderStatus.DELIVERED:
            closes_at = self._window_closes_at()
            if target is OrderStatus.COMPLETED and at < closes_at:
                return Failure(DisputeWindowStillOpen(closes_at))
            if target is OrderStatus.DISPUTED and at >= closes_at:
                return Failure(DisputeWindowClosed(window_closed_at=closes_at, attempted_at=at))
        if target is OrderStatus.DELIVERED:
            self._delivered_at = at
        return Success(
            self._move(
                OrderStatusChanged(
                    occurred_at=at,
                    order_id=self._id,
                    country=self._country,
                    from_status=source,
                    to_status=target,
                )
            )
        )

    def freeze(self, at: datetime, incident_ref: str) -> Result[OrderFrozen | None, FreezeError]:
        """Put the order on a payout hold for a live incident; unfreeze restores its status.

        Freezing again for the same incident is a no-op (``Success(None)``).
        """
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        ref = incident_ref.strip()
        if not ref:
            return Failure(InvalidInput("incident_ref", "must not be blank"))
        if len(ref) > MAX_INCIDENT_REF_LENGTH:
            return Failure(InvalidInput("incident_ref", f"must be at most {MAX_INCIDENT_REF_LENGTH} chars"))
        if self._frozen_by_incident is not None:
            if self._frozen_by_incident == ref:
                return Success(None)
            return Failure(OrderAlreadyFrozen(self._frozen_by_incident))
        source = self._status
        if source not in FREEZABLE_STATUSES:
            return Failure(IllegalOrderTransition(source, OrderStatus.FROZEN))
        self._frozen_from = source
        self._frozen_by_incident = ref
        self._frozen_at = at
        return Success(
            self._move(
                OrderFrozen(
                    occurred_at=at,
                    order_id=self._id,
                    country=self._country,
                    from_status=source,
                    to_status=OrderStatus.FROZEN,
                    incident_ref=ref,
                )
            )
        )

    def unfreeze(self, at: datetime) -> Result[OrderUnfrozen, UnfreezeError]:
        """Lift the live-incident hold, restoring exactly the status the order was frozen from."""
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        restored, ref = self._frozen_from, self._frozen_by_incident
        if restored is None or ref is None:
            return Failure(OrderNotFrozen(self._status))
        if restored is OrderStatus.DELIVERED and self._frozen_at is not None:
            # the window did not run while the order was frozen (D127)
            self._window_paused += max(ZERO, at - self._frozen_at)
        self._frozen_from = None
        self._frozen_by_incident = None
        self._frozen_at = None
        return Success(
            self._move(
                OrderUnfrozen(
                    occurred_at=at,
                    order_id=self._id,
                    country=self._country,
                    from_status=OrderStatus.FROZEN,
                    to_status=restored,
                    incident_ref=ref,
                )
            )
        )

    def force_complete(self, at: datetime, reason: str) -> Result[OrderForceCompleted, ForceCompleteError]:
        """IN_TRANSIT | DELIVERED | FROZEN -> FORCE_COMPLETED, at most once per order.

        Only L3 may ask for this; the role is checked by the application layer.
        """
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        if self._force_completed:
            return Failure(OrderAlreadyForceCompleted(self._id))
        source = self._status
        if self._frozen_from is not None:
            if self._frozen_from not in FORCE_COMPLETABLE_STATUSES:
                return Failure(ForceCompleteNotEligible(self._frozen_from))
        elif source not in FORCE_COMPLETABLE_STATUSES:
            return Failure(IllegalOrderTransition(source, OrderStatus.FORCE_COMPLETED))
        checked = required_reason(reason)
        if isinstance(checked, Failure):
            return checked
        text = checked.unwrap()
        self._frozen_from = None
        self._frozen_by_incident = None
        self._frozen_at = None
        self._force_completed = True
        self._force_complete_reason = text
        return Success(
            self._move(
                OrderForceCompleted(
                    occurred_at=at,
                    order_id=self._id,
                    country=self._country,
                    from_status=source,
                    to_status=OrderStatus.FORCE_COMPLETED,
                    reason=text,
                )
            )
        )

    def reassign_courier(self, at: datetime, courier_id: str) -> Result[PartyReassigned, ReassignError]:
        """An urgent replacement of the courier (or a first courier) while the order is on its
        way. The status does not change; the snapshot keeps the courier at capture."""
        return self._reassign("COURIER", at, courier_id)

    def courier_reported(self, at: datetime) -> bool:
        """The courier the order already has, reported again as assigned at ``at``: if that is
        later than when it was given the order (or that is not known), it becomes the time the
        order's courier dates from, so an assignment made in between is stale when it arrives
        after this report (D137). Whether anything changed (the version moved)."""
        if self._courier_id is None or not _is_aware(at):
            return False
        if self._courier_assigned_at is not None and at <= self._courier_assigned_at:
            return False
        self._courier_assigned_at = at
        self._version += 1
        self._check_invariants()
        return True

    def reassign_seller(self, at: datetime, seller_id: str) -> Result[PartyReassigned, ReassignError]:
        """An urgent replacement of the seller, only before capture (``SELLER_FIXED_BY_SNAPSHOT``
        after it: the snapshot names who is paid)."""
        return self._reassign("SELLER", at, seller_id)

    # -- internals ------------------------------------------------------------------

    def _reassign(self, party: str, at: datetime, party_id: str) -> Result[PartyReassigned, ReassignError]:
        if (naive := _naive("at", at)) is not None:
            return Failure(naive)
        field = f"{party.lower()}_id"
        new_id = party_id.strip()
        if not new_id:
            return Failure(InvalidInput(field, "must not be blank"))
        if len(new_id) > MAX_PARTY_ID_LENGTH:
            return Failure(InvalidInput(field, f"must be at most {MAX_PARTY_ID_LENGTH} chars"))
        if party == "SELLER" and (problem := party_id_problem(AccountHolder.SELLER, new_id)) is not None:
            return Failure(InvalidInput(field, problem))  # the seller is paid through accounts named after it
        effective = self._frozen_from if self._frozen_from is not None else self._status
        if effective not in REASSIGNABLE_STATUSES:
            return Failure(ReassignNotAllowed(party, self._status))
        current: str | None
        if party == "SELLER":
            if self._snapshot is not None:
                return Failure(SellerFixedBySnapshot(self._id))
            current = self._seller_id
        else:
            current = self._courier_id
        if current == new_id:
            return Failure(AlreadyAssigned(party, new_id))
        if party == "COURIER" and self._courier_assigned_at is not None and at < self._courier_assigned_at:
            return Failure(StaleAssignment(party, new_id, at, self._courier_assigned_at))
        if party == "SELLER":
            self._seller_id = SellerId(new_id)
        else:
            self._courier_id = CourierId(new_id)
            self._courier_assigned_at = at
        event = PartyReassigned(
            occurred_at=at,
            order_id=self._id,
            country=self._country,
            party=party,
            from_id=current,
            to_id=new_id,
        )
        self._version += 1
        self._events.append(event)
        self._check_invariants()
        return Success(event)

    def _move(self, event: _T) -> _T:
        """Apply a status change: the new status is the event's ``to_status``."""
        self._status = event.to_status
        self._version += 1
        self._events.append(event)
        self._check_invariants()
        return event

    def _snapshot_mismatch(self, snapshot: OrderSnapshot) -> SnapshotMismatch | None:
        pairs: tuple[tuple[str, str, str], ...] = (
            ("order_id", self._id, snapshot.order_id),
            ("country", self._country.value, snapshot.country.value),
            ("buyer_id", self._buyer_id, snapshot.buyer_id),
            ("seller_id", self._seller_id, snapshot.seller_id),
        )
        for field, expected, actual in pairs:
            if expected != actual:
                return SnapshotMismatch(field, expected, actual)
        return None

    def _window_closes_at(self) -> datetime:
        closes_at = self.dispute_window_closes_at
        if closes_at is None:
            raise InvariantViolation(f"order {self._id}: delivered without delivered_at or snapshot")
        return closes_at

    def __repr__(self) -> str:
        return f"Order({self._id!r}, {self._country}, {self._status}, version={self._version})"
