"""The courier an order is given after its creation: reported by the marketplace's order feed
(``order.courier_assigned``, D132).

An order is often created before dispatch picks its courier (``order.created``'s
``courier_id`` is optional), and a courier may be swapped by the marketplace while the order
is on its way. :func:`assign_courier` records it as the incident's ``URGENT_REPLACEMENT``
records a replacement (``Order.reassign_courier``: until the order is in transit; the
snapshot keeps the courier at capture), lets the order's conversation follow its parties,
and audits ``order.courier_assigned``. Reporting the courier the order already has changes
nothing and records nothing, so a report sent again under a new webhook id is harmless.

Reports keep their order (D137): a report carries when dispatch assigned the courier (``at``;
without it, the time it is applied), kept between the order's creation and now, and the order
remembers when its current courier was given it (``Order.courier_assigned_at``, also set by an
agent's ``URGENT_REPLACEMENT``). A report older than that is ``STALE_ASSIGNMENT``: an earlier
report sent again after a later swap does not put the older courier back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.orders import Order, ReassignError
from domain.shared import CountryCode
from domain.shared.ids import CourierId, OrderId


@dataclass(frozen=True, slots=True)
class AssignCourier:
    country: CountryCode
    order_id: OrderId
    courier_id: CourierId
    at: datetime | None = None  # when dispatch assigned it (the report's own time)


AssignCourierFailure = Forbidden | NotFound | ReassignError | ConcurrencyConflict


async def follow_parties(uow: UnitOfWork, order: Order, now: datetime) -> Result[None, ConcurrencyConflict]:
    """The order's conversation (if one was opened) follows its current seller and courier:
    a replaced party leaves it, the new one joins."""
    conversation = await uow.conversations.for_order(order.country, order.id)
    if conversation is None or not conversation.follow_parties(order.seller_id, order.courier_id, now):
        return Success(None)
    return await uow.conversations.save(conversation)


async def assign_courier(
    svc: Services, ctx: RequestContext, cmd: AssignCourier
) -> Result[Order, AssignCourierFailure]:
    """Give the order ``cmd.courier_id`` (a first courier, or another one) while it is not yet
    delivered; the courier it already has: answered unchanged, nothing written."""
    allowed = authorize(ctx.principal, Operation.ORDER_ASSIGN_COURIER, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        if order is None:
            return Failure(NotFound("order", cmd.order_id))
        when = (now if cmd.at is None else max(min(cmd.at, now), order.created_at)).astimezone(UTC)
        if order.courier_id == cmd.courier_id:
            # the courier it has, reported again: a later report dates it (an assignment made
            # in between and delivered after this is stale); nothing else changes, nothing audited
            if order.courier_reported(when):
                saved = await uow.orders.save(order)
                if isinstance(saved, Failure):
                    return saved
                await uow.commit()
            return Success(order)
        reassigned = order.reassign_courier(when, cmd.courier_id)
        if isinstance(reassigned, Failure):
            return reassigned
        saved = await uow.orders.save(order)
        if isinstance(saved, Failure):
            return saved
        followed = await follow_parties(uow, order, now)
        if isinstance(followed, Failure):
            return followed
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="order.courier_assigned",
            target_type="order",
            target_id=order.id,
            at=now,
            before={"courier_id": reassigned.unwrap().from_id},
            after={
                "courier_id": order.courier_id,
                "assigned_at": when.isoformat(),
                "status": order.status.value,
                "version": order.version,
            },
        )
        await uow.commit()
    return Success(order)
