"""Messaging use cases: open a conversation, send a message.

Conversations are silent by default (SPEC §8): :func:`open_conversation` opens one only
on grounds - an open live incident on the order (the order is ``FROZEN`` by it), an open
dispute, or a party's explicit request with a reason - and :func:`send_message` into an
order without one answers ``CONVERSATION_NOT_OPEN``, saying why.

Sending, in one unit of work: the message is screened (party messages; support's are
not), sealed into the chain, stored write-once, the conversation's head and counters are
saved, and either one notification job per recipient is written to the outbox (delivered)
or the block is audited (and, on the third, the sender's freeze). A retry with the same
client message id returns the first result and writes nothing.

A party's opening reason is shown to every party, so it is screened like a message body:
a blocked reason is refused (``INVALID_INPUT`` on ``reason``, naming the kinds and spans
found), nothing is opened, and the attempt is audited as ``conversation.reason_blocked``
with the reason as evidence. A client message id is an opaque token (``A-Z a-z 0-9 . _ :
-``), checked before anything is read or written.

Role and country refusals come back as ``FORBIDDEN`` (the edge audits them, like every
``Forbidden`` a use case returns); an order that exists but is not the caller's is
answered ``NOT_FOUND`` and audited here as a denial.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget, audit_hidden
from application.audit.trail import record
from application.context import RequestContext
from application.errors import NotFound
from application.messaging.common import (
    MessagingServices,
    actor_of,
    party_of,
    visible_order,
)
from application.messaging.notifications import notification_jobs
from application.ports.concurrency import ConcurrencyConflict
from application.ports.messaging import MessagingUnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.messaging import (
    Conversation,
    ConversationNotOpen,
    OpenConversationError,
    OpeningGround,
    Participants,
    Party,
    RateLimit,
    RateScope,
    Screening,
    SendError,
    Sent,
    WindowCount,
    client_message_id_problem,
    reason_blocked,
)
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode
from domain.shared.ids import OrderId

MESSAGE_ADDED: Final = "message.added"
"""The change announced on a conversation's topic when a message is stored."""

# --------------------------------------------------------------------------- open


@dataclass(frozen=True, slots=True)
class OpenConversation:
    country: CountryCode
    order_id: OrderId
    reason: str | None = None  # required when a party opens without an incident or dispute


@dataclass(frozen=True, slots=True)
class Opened:
    conversation: Conversation
    created: bool  # False: the order already had its conversation (one per order)


OpenFailure = Forbidden | NotFound | OpenConversationError | ConcurrencyConflict


async def _grounds(uow: MessagingUnitOfWork, order: Order) -> tuple[OpeningGround, str | None]:
    if order.status is OrderStatus.FROZEN and order.frozen_by_incident is not None:
        return OpeningGround.INCIDENT, order.frozen_by_incident
    disputes = await uow.disputes.for_order(order.country, order.id)
    open_disputes = sorted((d for d in disputes if not d.status.is_terminal), key=lambda d: d.id)
    if open_disputes:
        return OpeningGround.DISPUTE, open_disputes[0].id
    return OpeningGround.PARTY_REQUEST, None


def participants_of(order: Order) -> Participants:
    return Participants(buyer_id=order.buyer_id, seller_id=order.seller_id, courier_id=order.courier_id)


async def open_conversation(
    svc: MessagingServices, ctx: RequestContext, cmd: OpenConversation
) -> Result[Opened, OpenFailure]:
    allowed = authorize(ctx.principal, Operation.CONVERSATION_OPEN, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    party = party_of(ctx.principal)
    if party is None:
        return Failure(
            Forbidden(Operation.CONVERSATION_OPEN.value, cmd.country.value, "not a party or support")
        )
    now = svc.clock.now()
    reason = cmd.reason if cmd.reason is not None and cmd.reason.strip() else None
    screening = Screening() if reason is None else await screened(svc, party, reason, cmd.country)
    async with svc.uow() as uow:
        lookup = await visible_order(uow, ctx.principal, cmd.country, cmd.order_id)
        if lookup.order is None:
            result: Result[Opened, OpenFailure] = Failure(NotFound("order", cmd.order_id))
        else:
            result = await _open(
                svc, ctx, uow, cmd=cmd, order=lookup.order, party=party, now=now, screening=screening
            )
    if lookup.hidden:
        await audit_hidden(
            svc.base, ctx, Operation.CONVERSATION_OPEN, cmd.country, DenialTarget("order", cmd.order_id)
        )
    return result


async def _open(
    svc: MessagingServices,
    ctx: RequestContext,
    uow: MessagingUnitOfWork,
    *,
    cmd: OpenConversation,
    order: Order,
    party: Party,
    now: datetime,
    screening: Screening,
) -> Result[Opened, OpenFailure]:
    """``screening``: a party's reason's, made before the transaction (``screened``)."""
    existing = await uow.conversations.for_order(cmd.country, order.id)
    if existing is not None:
        return Success(Opened(existing, created=False))
    ground, reference = await _grounds(uow, order)
    opened = Conversation.open(
        conversation_id=svc.ids.new_id("cnv"),
        country=cmd.country,
        order_id=order.id,
        participants=participants_of(order),
        ground=ground,
        reference=reference,
        reason=cmd.reason,
        reason_screening=screening,
        opened_by=actor_of(ctx.principal),
        opened_by_party=party,
        now=now,
    )
    if isinstance(opened, Failure):
        if screening.blocked and opened.failure() == reason_blocked(screening):
            await _audit_blocked_reason(uow, ctx, cmd=cmd, ground=ground, screening=screening, now=now)
        return opened
    conversation = opened.unwrap()
    if not await uow.conversations.add(conversation):  # opened concurrently by someone else
        raced = await uow.conversations.for_order(cmd.country, order.id)
        if raced is None:
            return Failure(ConcurrencyConflict("conversation", order.id, 0))
        return Success(Opened(raced, created=False))
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="conversation.opened",
        target_type="conversation",
        target_id=conversation.id,
        at=now,
        after={
            "order_id": order.id,
            "ground": ground.value,
            "reference": reference,
            "reason": conversation.opening.reason,
        },
    )
    await uow.commit()
    return Success(Opened(conversation, created=True))


async def _audit_blocked_reason(
    uow: MessagingUnitOfWork,
    ctx: RequestContext,
    *,
    cmd: OpenConversation,
    ground: OpeningGround,
    screening: Screening,
    now: datetime,
) -> None:
    """The refused reason is kept as evidence in the audit log (as a blocked message is
    kept in the chain); nothing else is written."""
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="conversation.reason_blocked",
        target_type="order",
        target_id=cmd.order_id,
        at=now,
        after={
            "order_id": cmd.order_id,
            "ground": ground.value,
            "kinds": sorted({finding.kind.value for finding in screening.findings}),
            "findings": [
                {"kind": finding.kind.value, "start": finding.start, "end": finding.end, "rule": finding.rule}
                for finding in screening.findings
            ],
            "reason": cmd.reason,
        },
    )
    await uow.commit()


# --------------------------------------------------------------------------- send


@dataclass(frozen=True, slots=True)
class SendMessage:
    country: CountryCode
    order_id: OrderId
    client_message_id: str
    body: str
    corrects_message_id: str | None = None  # a correction is a new message naming the old one


SendFailure = Forbidden | NotFound | ConversationNotOpen | SendError | ConcurrencyConflict


async def send_message(
    svc: MessagingServices, ctx: RequestContext, cmd: SendMessage
) -> Result[Sent, SendFailure]:
    allowed = authorize(ctx.principal, Operation.MESSAGE_SEND, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    party = party_of(ctx.principal)
    if party is None:
        return Failure(Forbidden(Operation.MESSAGE_SEND.value, cmd.country.value, "not a party or support"))
    malformed = client_message_id_problem(cmd.client_message_id)
    if malformed is not None:
        return Failure(malformed)  # before any read: nothing is looked up, stored or replayed
    now = svc.clock.now()
    screening = await screened(svc, party, cmd.body, cmd.country)
    async with svc.uow() as uow:
        lookup = await visible_order(uow, ctx.principal, cmd.country, cmd.order_id)
        if lookup.order is None:
            result: Result[Sent, SendFailure] = Failure(NotFound("order", cmd.order_id))
        else:
            result = await _send(
                svc, ctx, uow, cmd=cmd, order=lookup.order, party=party, now=now, screening=screening
            )
    if lookup.hidden:
        await audit_hidden(
            svc.base, ctx, Operation.MESSAGE_SEND, cmd.country, DenialTarget("order", cmd.order_id)
        )
    return result


async def screened(svc: MessagingServices, party: Party, text: str, country: CountryCode) -> Screening:
    """A party's text screened off the event loop and before any transaction is open (D140):
    a long message full of digits takes ``phonenumbers`` a tenth of a second or more, which
    would otherwise stall every other request of the process and, on SQLite, hold the write
    lock. Support's own text is not screened."""
    if party is Party.SUPPORT:
        return Screening()
    return await asyncio.to_thread(svc.screener.screen, text, country)


async def _recent(
    uow: MessagingUnitOfWork,
    svc: MessagingServices,
    *,
    country: CountryCode,
    conversation_id: str,
    sender_id: str,
    now: datetime,
) -> dict[RateLimit, WindowCount]:
    counts: dict[RateLimit, WindowCount] = {}
    if any(limit.scope is RateScope.SENDER for limit in svc.policy.rate_limits):
        # sends into other conversations never collide: they take turns, so each counts the
        # one before it (D121)
        await uow.conversations.take_sender_turn(country, sender_id)
    for limit in svc.policy.rate_limits:
        counts[limit] = await uow.conversations.sent_since(
            country,
            sender_id=sender_id,
            since=now - limit.window,
            conversation_id=conversation_id if limit.scope is RateScope.CONVERSATION else None,
        )
    return counts


async def _send(
    svc: MessagingServices,
    ctx: RequestContext,
    uow: MessagingUnitOfWork,
    *,
    cmd: SendMessage,
    order: Order,
    party: Party,
    now: datetime,
    screening: Screening,
) -> Result[Sent, SendFailure]:
    """``screening``: the body's, made before the transaction (``screened``)."""
    conversation = await uow.conversations.for_order(cmd.country, order.id)
    if conversation is None:
        return Failure(ConversationNotOpen(order.id))
    repository = uow.conversations
    sender = actor_of(ctx.principal)
    prior = await repository.by_client_id(cmd.country, conversation.id, cmd.client_message_id)
    corrects = None
    if prior is None and cmd.corrects_message_id is not None:
        corrects = await repository.message(cmd.country, conversation.id, cmd.corrects_message_id)
    applied = Screening()
    recent: dict[RateLimit, WindowCount] = {}
    if prior is None:
        conversation.update_courier(order.courier_id, now)
        if party is not Party.SUPPORT:
            applied = screening
            recent = await _recent(
                uow,
                svc,
                country=cmd.country,
                conversation_id=conversation.id,
                sender_id=sender.actor_id,
                now=now,
            )
    before = conversation.sender(sender.actor_id)
    sent_or_error = conversation.send(
        message_id=svc.ids.new_id("msg"),
        client_message_id=cmd.client_message_id,
        sender=sender,
        party=party,
        body=cmd.body,
        sent_at=now,
        screening=applied,
        policy=svc.policy,
        prior=prior,
        corrects=corrects,
        corrects_id=cmd.corrects_message_id,
        recent=recent,
    )
    if isinstance(sent_or_error, Failure):
        return sent_or_error
    sent = sent_or_error.unwrap()
    if sent.replayed:
        svc.metrics.idempotent_replay(cmd.country, "message.send")
        return Success(sent)  # the first result; nothing new to write
    message = sent.message
    await repository.append(message)
    saved = await repository.save(conversation)
    if isinstance(saved, Failure):
        return saved
    for job in notification_jobs(message, conversation.participants, now=now):
        await uow.outbox.enqueue(job, now=now)
    sender_frozen = False
    if message.blocked:
        after = conversation.sender(sender.actor_id)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="message.blocked",
            target_type="message",
            target_id=message.message_id,
            at=now,
            after={
                "conversation_id": conversation.id,
                "order_id": order.id,
                "kinds": sorted({finding.kind.value for finding in message.findings}),
                "violations": 0 if after is None else after.violations,
            },
        )
        if after is not None and after.frozen and (before is None or not before.frozen):
            sender_frozen = True
            await record(
                uow,
                ctx,
                country=cmd.country,
                action="conversation.sender_frozen",
                target_type="conversation",
                target_id=conversation.id,
                at=now,
                before={"sender_frozen": False},
                after={"sender_id": sender.actor_id, "sender_frozen": True, "violations": after.violations},
            )
    await uow.commit()
    if sender_frozen:
        svc.metrics.conversation_frozen(cmd.country, "sender")
    await svc.announce(conversation, MESSAGE_ADDED, message_id=message.message_id, sequence=message.sequence)
    return Success(sent)
