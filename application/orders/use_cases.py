"""Order use cases: create, capture, transition, and complete orders whose window closed.

Each takes the services, the request context and a command, checks the permission
matrix and the country scope first, and returns a ``Result``. State change, ledger
postings and the audit entry are written in one unit of work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.l0 import run_l0
from application.cases.use_cases import publish_changes
from application.context import RequestContext, Services
from application.disputes.cancellation import open_refund_of_capture
from application.errors import DisputeAlreadyOpen, NoPolicyInForce, NotCaptured, NotFound, OrderIdTaken
from application.ports.concurrency import ConcurrencyConflict
from application.saga.replacements import schedule_replacement_release
from application.security.principal import Forbidden, Operation, authorize
from domain.ledger import EscrowOverdrawn, rules
from domain.orders import CaptureError, Order, OrderStatus, TransitionError
from domain.shared import CountryCode, Currency, InvalidInput
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import OrderSnapshot

log = logging.getLogger(__name__)


def capture_key(order_id: str) -> str:
    return f"order:{order_id}/capture"


def release_key(order_id: str) -> str:
    return f"order:{order_id}/release"


def order_summary(order: Order) -> dict[str, str | int | None]:
    return {"status": order.status.value, "version": order.version}


@dataclass(frozen=True, slots=True)
class CreateOrder:
    country: CountryCode
    buyer_id: BuyerId
    seller_id: SellerId
    courier_id: CourierId | None = None
    order_id: OrderId | None = None


async def create_order(
    svc: Services, ctx: RequestContext, cmd: CreateOrder
) -> Result[Order, Forbidden | InvalidInput | OrderIdTaken]:
    """Record a new order (CREATED). Idempotent on ``order_id``: creating an order that
    exists with the same buyer and seller answers it unchanged, with nothing written."""
    allowed = authorize(ctx.principal, Operation.ORDER_CREATE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    created = Order.create(
        id=cmd.order_id or OrderId(svc.ids.new_id("ord")),
        country=cmd.country,
        buyer_id=cmd.buyer_id,
        seller_id=cmd.seller_id,
        courier_id=cmd.courier_id,
        created_at=now,
    )
    if isinstance(created, Failure):
        return created
    order = created.unwrap()
    async with svc.uow() as uow:
        existing = None if cmd.order_id is None else await uow.orders.get(cmd.country, cmd.order_id)
        if existing is not None:
            # the marketplace names its own ids: a retried create is answered with the order
            # as it stands; the same id for other parties is a different order (D91)
            if (existing.buyer_id, existing.seller_id) == (cmd.buyer_id, cmd.seller_id):
                return Success(existing)
            return Failure(OrderIdTaken(existing.id))
        await uow.orders.add(order)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="order.created",
            target_type="order",
            target_id=order.id,
            at=now,
            after=order_summary(order),
        )
        await uow.commit()
    return Success(order)


@dataclass(frozen=True, slots=True)
class CapturePayment:
    """What the checkout charged, reported by the marketplace (never typed by an agent), and
    the payment partner (PSP) that processed the payment when known (D88)."""

    country: CountryCode
    order_id: OrderId
    currency: Currency
    items_subtotal_minor: int
    delivery_fee_minor: int
    service_fee_minor: int
    tax_minor: int
    discount_minor: int
    commission_bp: int
    payment_partner_id: str | None = None


CaptureFailure = (
    Forbidden
    | NotFound
    | DisputeAlreadyOpen
    | NoPolicyInForce
    | InvalidInput
    | CaptureError
    | ConcurrencyConflict
    | EscrowOverdrawn
)


async def capture_payment(
    svc: Services, ctx: RequestContext, cmd: CapturePayment
) -> Result[Order, CaptureFailure]:
    """Freeze the snapshot under the policy in force, move the order to PAID and post
    Dr psp:clearing / Cr escrow — all in one transaction. Idempotent: reporting the same
    capture again answers the order as it stands; a different one is
    ``ORDER_ALREADY_CAPTURED``."""
    allowed = authorize(ctx.principal, Operation.ORDER_CAPTURE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        if order is None:
            return Failure(NotFound("order", cmd.order_id))
        if order.snapshot is not None and order.snapshot.records_charge(
            currency=cmd.currency,
            items_subtotal_minor=cmd.items_subtotal_minor,
            delivery_fee_minor=cmd.delivery_fee_minor,
            service_fee_minor=cmd.service_fee_minor,
            tax_minor=cmd.tax_minor,
            discount_minor=cmd.discount_minor,
            commission_bp=cmd.commission_bp,
            payment_partner_id=cmd.payment_partner_id,
        ):
            return Success(order)  # a retried capture: answered as it stands, nothing written (D91)
        policy = await uow.policies.in_force(cmd.country, now)
        if policy is None:
            return Failure(NoPolicyInForce(cmd.country.value))
        snapshot = OrderSnapshot.capture(
            order_id=order.id,
            country=order.country,
            currency=cmd.currency,
            items_subtotal_minor=cmd.items_subtotal_minor,
            delivery_fee_minor=cmd.delivery_fee_minor,
            service_fee_minor=cmd.service_fee_minor,
            tax_minor=cmd.tax_minor,
            discount_minor=cmd.discount_minor,
            commission_bp=cmd.commission_bp,
            policy=policy,
            buyer_id=order.buyer_id,
            seller_id=order.seller_id,
            courier_id=order.courier_id,
            captured_at=now,
            payment_partner_id=cmd.payment_partner_id,
        )
        if isinstance(snapshot, Failure):
            return snapshot
        before = order_summary(order)
        captured = order.capture_payment(snapshot.unwrap(), now)
        if isinstance(captured, Failure):
            return captured
        saved = await uow.orders.save(order)
        if isinstance(saved, Failure):
            return saved
        posted = await uow.ledger.post(rules.capture(snapshot.unwrap(), capture_key(order.id)))
        if isinstance(posted, Failure):
            return posted
        refund = None
        if order.status is OrderStatus.CANCELLED:  # captured after its cancellation (D116)
            opened = await open_refund_of_capture(
                uow, svc, ctx, order=order, now=now, audit={"captured_after_cancellation": True}
            )
            if isinstance(opened, Failure):
                return opened
            refund = opened.unwrap()
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="order.payment_captured",
            target_type="order",
            target_id=order.id,
            at=now,
            before=before,
            after={
                **order_summary(order),
                "total_charged_minor": snapshot.unwrap().total_charged.minor,
                "currency": cmd.currency.code,
                "policy_version": policy.version,
                **({} if cmd.payment_partner_id is None else {"payment_partner_id": cmd.payment_partner_id}),
                **({} if refund is None else {"refund_dispute_id": refund.dispute.id}),
            },
        )
        await uow.commit()
    if refund is not None and refund.case is not None:  # the refund's case, after the commit
        await publish_changes(svc, refund.case.pull_events())
        await run_l0(svc, cmd.country, refund.case.case_id)
    return Success(order)


@dataclass(frozen=True, slots=True)
class TransitionOrder:
    country: CountryCode
    order_id: OrderId
    target: OrderStatus
    at: datetime | None = None
    """When the step happened, as its reporter says (the order feed, D97); ``None``: now.
    Kept between the order's creation and now (a clock ahead, a report from before the
    order), so a late or retried report keeps its real time (a DELIVERED step starts the
    dispute window) and a skewed one is never refused for it."""


TransitionFailure = Forbidden | NotFound | TransitionError | ConcurrencyConflict


_DEDICATED_TARGETS: Final = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.DISPUTED}
)


async def transition_order(
    svc: Services, ctx: RequestContext, cmd: TransitionOrder
) -> Result[Order, TransitionFailure]:
    """A plain lifecycle step (accepted, in preparation, in transit, delivered, cancelled
    before capture). Money-moving edges go through their own use cases.

    A replacement order reaching DELIVERED is the trigger of its original's release (SPEC §5
    ``REPLACEMENT``): the dispute's deferred ``ledger_release`` job is enqueued in the same
    transaction, and the worker posts it and completes the original."""
    allowed = authorize(ctx.principal, Operation.ORDER_TRANSITION, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        if order is None:
            return Failure(NotFound("order", cmd.order_id))
        if cmd.target in _DEDICATED_TARGETS or (cmd.target is OrderStatus.CANCELLED and order.captured):
            # Completion releases money, refunds are outcomes and DISPUTED is the hold of a
            # dispute that open_dispute opens: never a bare transition.
            return Failure(
                Forbidden(
                    Operation.ORDER_TRANSITION.value,
                    cmd.country.value,
                    f"{cmd.target.value} is reached through its own operation",
                )
            )
        before = order_summary(order)
        when = now if cmd.at is None else max(min(cmd.at, now), order.created_at)
        moved = order.transition_to(cmd.target, when)
        if isinstance(moved, Failure):
            return moved
        saved = await uow.orders.save(order)
        if isinstance(saved, Failure):
            return saved
        after: dict[str, str | int | list[str] | None] = {**order_summary(order)}
        if order.replaces is not None:
            after["replaces"] = order.replaces
            if order.status is OrderStatus.DELIVERED:
                scheduled = await schedule_replacement_release(uow, order, now)
                after["scheduled_steps"] = [step.idempotency_key for step in scheduled]
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="order.transitioned",
            target_type="order",
            target_id=order.id,
            at=now,
            before=before,
            after=after,
        )
        await uow.commit()
    return Success(order)


COMPLETION_PAGE: Final = 500
COMPLETION_MAX_PAGES: Final = 10


@dataclass(frozen=True, slots=True)
class CompleteDueOrders:
    """Complete the country's due orders: at most ``limit``, reading the candidates
    ``page`` at a time (at most ``COMPLETION_MAX_PAGES`` pages a call)."""

    country: CountryCode
    limit: int = 500
    page: int = COMPLETION_PAGE


async def complete_due_orders(
    svc: Services, ctx: RequestContext, cmd: CompleteDueOrders, *, now: datetime | None = None
) -> Result[list[OrderId], Forbidden]:
    """COMPLETED for every DELIVERED order whose dispute window closed with no dispute:
    the escrow is released (seller payable + platform revenue), once per order, each in
    its own transaction with its audit entry. Run by the scheduler's tick
    (``CompleteDueOrdersTask``) in every country with a refund policy.

    Candidates are the orders delivered before ``now`` minus the shortest dispute window of
    the country's policy versions (no order can be due sooner), oldest delivery first; the
    window of each is its own snapshot's, so one with a longer window is skipped until it
    closes, and the next page is read (keyset) when a whole page was skipped. Orders whose
    window a live incident paused (D127) are read apart, before the others (they are few, and
    a steady backlog of the others cannot starve them): their delivery no longer says when
    they are due, and however many of them wait at the head of their queue they hold back
    none of the others (D139). An order whose completion raises (e.g. a
    stored id the ledger refuses as an account name) is logged with its id and skipped, its
    transaction rolled back; the others are completed."""
    allowed = authorize(ctx.principal, Operation.ORDERS_COMPLETE_DUE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    at = now or svc.clock.now()
    async with svc.uow() as uow:
        shortest = (await uow.policies.shortest_dispute_windows()).get(cmd.country)
    completed: list[OrderId] = []
    if shortest is None or cmd.limit < 1:
        return Success(completed)  # no policy, no capture: nothing can be due
    for paused in (True, False):  # the few paused ones first: the others cannot starve them
        after: tuple[datetime, OrderId] | None = None
        for _ in range(COMPLETION_MAX_PAGES):
            async with svc.uow() as uow:
                candidates = await uow.orders.delivered_before(
                    cmd.country, at - shortest, limit=cmd.page, after=after, paused=paused
                )
            for candidate in candidates:
                closes = candidate.dispute_window_closes_at
                if closes is None or closes > at:
                    continue
                try:
                    done = await _complete(svc, ctx, cmd.country, candidate.id, at)
                except Exception:  # one order's problem must not hold back every order after it
                    # its transaction rolled back: still DELIVERED, nothing posted; tried next tick
                    log.exception("order %s/%s not completed: it raised", cmd.country.value, candidate.id)
                    continue
                if done:
                    completed.append(candidate.id)
                    if len(completed) >= cmd.limit:
                        return Success(completed)
            last = candidates[-1].delivered_at if candidates else None
            if len(candidates) < cmd.page or last is None:
                break
            after = (last, candidates[-1].id)
    return Success(completed)


async def _complete(
    svc: Services, ctx: RequestContext, country: CountryCode, order_id: OrderId, at: datetime
) -> bool:
    """One order: DELIVERED -> COMPLETED and the release posting, in one transaction.

    A replacement completes with no posting: nothing was captured for it (its escrow is
    zero); the seller's payout was its original's, released on its delivery."""
    async with svc.uow() as uow:
        order = await uow.orders.get(country, order_id)
        if order is None or order.status is not OrderStatus.DELIVERED or order.snapshot is None:
            return False
        before = order_summary(order)
        if isinstance(order.transition_to(OrderStatus.COMPLETED, at), Failure):
            return False
        if isinstance(await uow.orders.save(order), Failure):
            return False  # someone else changed it (a dispute opened): leave it to them
        released = 0
        if not order.is_replacement:
            posted = await uow.ledger.post(rules.release(order.snapshot, release_key(order.id)))
            if isinstance(posted, Failure):
                # Nothing is written; the order stays DELIVERED and is tried again next tick.
                log.error("order %s/%s not completed: %s", country.value, order.id, posted.failure())
                return False
            released = order.snapshot.total_charged.minor
        await record(
            uow,
            ctx,
            country=country,
            action="order.completed",
            target_type="order",
            target_id=order.id,
            at=at,
            before=before,
            after={**order_summary(order), "released_minor": released, "replaces": order.replaces},
        )
        await uow.commit()
    return True


def require_captured(order: Order) -> Result[OrderSnapshot, NotCaptured]:
    if order.snapshot is None:
        return Failure(NotCaptured(order.id))
    return Success(order.snapshot)


__all__ = [
    "CapturePayment",
    "CompleteDueOrders",
    "CreateOrder",
    "TransitionOrder",
    "capture_payment",
    "complete_due_orders",
    "create_order",
    "require_captured",
    "transition_order",
]
