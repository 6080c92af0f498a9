"""Moderation by support (L2+): freeze and unfreeze a conversation, lift a sender's
automatic freeze. A reason is required and every change is audited with before/after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.context import RequestContext
from application.errors import NotFound
from application.messaging.common import MessagingServices, actor_of, visible_order
from application.ports.concurrency import ConcurrencyConflict
from application.security.principal import Forbidden, Operation, authorize
from domain.messaging import (
    Conversation,
    ConversationNotOpen,
    FreezeError,
    UnfreezeError,
    UnfreezeSenderError,
)
from domain.shared import CountryCode
from domain.shared.ids import OrderId


@dataclass(frozen=True, slots=True)
class FreezeConversation:
    country: CountryCode
    order_id: OrderId
    reason: str


@dataclass(frozen=True, slots=True)
class UnfreezeConversation:
    country: CountryCode
    order_id: OrderId
    reason: str


@dataclass(frozen=True, slots=True)
class UnfreezeSender:
    country: CountryCode
    order_id: OrderId
    sender_id: str
    reason: str


Command = FreezeConversation | UnfreezeConversation | UnfreezeSender
ModerationFailure = (
    Forbidden
    | NotFound
    | ConversationNotOpen
    | FreezeError
    | UnfreezeError
    | UnfreezeSenderError
    | ConcurrencyConflict
)


def _state(conversation: Conversation, sender_id: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"status": conversation.status.value, "version": conversation.version}
    if sender_id is not None:
        record_ = conversation.sender(sender_id)
        state |= {"sender_id": sender_id, "sender_frozen": record_ is not None and record_.frozen}
    return state


async def moderate(
    svc: MessagingServices, ctx: RequestContext, cmd: Command
) -> Result[Conversation, ModerationFailure]:
    """Apply one moderation command (all three share loading, saving and the audit).

    Only staff hold ``conversation.freeze``, and staff see every order of their countries,
    so there is no hidden order to audit here."""
    allowed = authorize(ctx.principal, Operation.CONVERSATION_FREEZE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    by = actor_of(ctx.principal)
    sender_id = cmd.sender_id if isinstance(cmd, UnfreezeSender) else None
    async with svc.uow() as uow:
        lookup = await visible_order(uow, ctx.principal, cmd.country, cmd.order_id)
        if lookup.order is None:
            return Failure(NotFound("order", cmd.order_id))
        conversation = await uow.conversations.for_order(cmd.country, cmd.order_id)
        if conversation is None:
            return Failure(ConversationNotOpen(cmd.order_id))
        before = _state(conversation, sender_id)
        changed: Result[None, FreezeError | UnfreezeError | UnfreezeSenderError]
        if isinstance(cmd, FreezeConversation):
            changed, action = conversation.freeze(by=by, reason=cmd.reason, now=now), "conversation.frozen"
        elif isinstance(cmd, UnfreezeConversation):
            changed, action = (
                conversation.unfreeze(by=by, reason=cmd.reason, now=now),
                "conversation.unfrozen",
            )
        else:
            changed = conversation.unfreeze_sender(sender_id=cmd.sender_id, by=by, reason=cmd.reason, now=now)
            action = "conversation.sender_unfrozen"
        if isinstance(changed, Failure):
            return changed
        saved = await uow.conversations.save(conversation)
        if isinstance(saved, Failure):
            return saved
        await record(
            uow,
            ctx,
            country=cmd.country,
            action=action,
            target_type="conversation",
            target_id=conversation.id,
            at=now,
            before=before,
            after=_state(conversation, sender_id) | {"reason": cmd.reason.strip()},
        )
        await uow.commit()
    if isinstance(cmd, FreezeConversation):
        svc.metrics.conversation_frozen(cmd.country, "conversation")
    await svc.announce(conversation, action, status=conversation.status.value)
    return Success(conversation)


async def freeze_conversation(
    svc: MessagingServices, ctx: RequestContext, cmd: FreezeConversation
) -> Result[Conversation, ModerationFailure]:
    return await moderate(svc, ctx, cmd)


async def unfreeze_conversation(
    svc: MessagingServices, ctx: RequestContext, cmd: UnfreezeConversation
) -> Result[Conversation, ModerationFailure]:
    return await moderate(svc, ctx, cmd)


async def unfreeze_sender(
    svc: MessagingServices, ctx: RequestContext, cmd: UnfreezeSender
) -> Result[Conversation, ModerationFailure]:
    return await moderate(svc, ctx, cmd)


__all__ = [
    "FreezeConversation",
    "ModerationFailure",
    "UnfreezeConversation",
    "UnfreezeSender",
    "freeze_conversation",
    "moderate",
    "unfreeze_conversation",
    "unfreeze_sender",
]
