"""Reading a conversation, exporting it for auditors, and its transcript as evidence.

- :func:`read_conversation`: a page of messages in chain order (``after_sequence``
  keyset, capped page size). Parties see delivered messages and their own blocked ones;
  staff and auditors see everything, blocked messages and their findings included.
- :func:`export_conversation`: the self-verifying transcript file
  (:class:`~domain.messaging.TranscriptExport`), checked against the chain as it is made;
  the export itself is audited with the file's sha256 and the chain's head hash.
- :func:`transcript_for_order`: prong 2 of a dispute's evidence pack (hashes, blocked
  marks), for the dispute use cases; an order without a conversation has an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget, audit_hidden
from application.audit.trail import record
from application.context import RequestContext
from application.errors import NotFound
from application.messaging.common import (
    MessagingServices,
    actor_of,
    sees_message,
    visible_order,
)
from application.ports.messaging import MessagingUnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.disputes.evidence import ConversationTranscript
from domain.messaging import (
    BrokenMessageChain,
    Conversation,
    ConversationNotOpen,
    Message,
    TranscriptExport,
    export_transcript,
    transcript_of,
    verify_chain,
)
from domain.shared import CountryCode
from domain.shared.ids import OrderId

MAX_PAGE: Final = 200
DEFAULT_PAGE: Final = 50
_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class ReadConversation:
    country: CountryCode
    order_id: OrderId
    after_sequence: int = 0
    limit: int = DEFAULT_PAGE


@dataclass(frozen=True, slots=True)
class ConversationPage:
    conversation: Conversation
    messages: tuple[Message, ...]
    next_after: int | None  # pass as ``after_sequence`` for the next page; None: no more


ReadFailure = Forbidden | NotFound | ConversationNotOpen


async def read_conversation(
    svc: MessagingServices, ctx: RequestContext, query: ReadConversation
) -> Result[ConversationPage, ReadFailure]:
    allowed = authorize(ctx.principal, Operation.CONVERSATION_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    limit = max(1, min(query.limit, MAX_PAGE))
    async with svc.uow() as uow:
        lookup = await visible_order(uow, ctx.principal, query.country, query.order_id)
        conversation = (
            None if lookup.order is None else await uow.conversations.for_order(query.country, query.order_id)
        )
        fetched = (
            []
            if conversation is None
            else await uow.conversations.messages(
                query.country, conversation.id, after_sequence=max(0, query.after_sequence), limit=limit + 1
            )
        )
    if lookup.hidden:
        await audit_hidden(
            svc.base, ctx, Operation.CONVERSATION_READ, query.country, DenialTarget("order", query.order_id)
        )
    if lookup.order is None:
        return Failure(NotFound("order", query.order_id))
    if conversation is None:
        return Failure(ConversationNotOpen(query.order_id))
    page, more = fetched[:limit], len(fetched) > limit
    visible = tuple(message for message in page if sees_message(ctx.principal, message))
    return Success(ConversationPage(conversation, visible, page[-1].sequence if more else None))


async def _all_messages(
    uow: MessagingUnitOfWork, country: CountryCode, conversation_id: str
) -> list[Message]:
    messages: list[Message] = []
    while True:
        after = messages[-1].sequence if messages else 0
        batch = await uow.conversations.messages(country, conversation_id, after_sequence=after, limit=_BATCH)
        messages.extend(batch)
        if len(batch) < _BATCH:
            return messages


async def transcript_for_order(
    uow: MessagingUnitOfWork, country: CountryCode, order_id: OrderId
) -> ConversationTranscript:
    """Prong 2 of the evidence pack, read inside the caller's unit of work."""
    conversation = await uow.conversations.for_order(country, order_id)
    if conversation is None:
        return ConversationTranscript()
    return transcript_of(conversation.id, await _all_messages(uow, country, conversation.id))


@dataclass(frozen=True, slots=True)
class ExportConversation:
    country: CountryCode
    order_id: OrderId


@dataclass(frozen=True, slots=True)
class Exported:
    """The file, and the first broken link if the stored chain does not verify (the file
    is still produced: it is what an investigation of the break starts from)."""

    export: TranscriptExport
    broken: BrokenMessageChain | None


ExportFailure = Forbidden | NotFound | ConversationNotOpen


async def export_conversation(
    svc: MessagingServices, ctx: RequestContext, cmd: ExportConversation
) -> Result[Exported, ExportFailure]:
    allowed = authorize(ctx.principal, Operation.CONVERSATION_EXPORT, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        lookup = await visible_order(uow, ctx.principal, cmd.country, cmd.order_id)
        if lookup.order is None:
            return Failure(NotFound("order", cmd.order_id))
        conversation = await uow.conversations.for_order(cmd.country, cmd.order_id)
        if conversation is None:
            return Failure(ConversationNotOpen(cmd.order_id))
        messages = await _all_messages(uow, cmd.country, conversation.id)
        export = export_transcript(
            conversation_id=conversation.id,
            country=cmd.country.value,
            order_id=conversation.order_id,
            messages=messages,
            exported_at=now,
            exported_by=actor_of(ctx.principal),
        )
        broken = verify_chain(conversation.id, export.messages)
        if broken is None and export.head_hash != conversation.head_hash:
            broken = BrokenMessageChain(
                conversation.id, len(messages) + 1, "the stored messages stop before the conversation's head"
            )
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="conversation.exported",
            target_type="conversation",
            target_id=conversation.id,
            at=now,
            after={
                "export_sha256": export.content_hash(),
                "head_hash": export.head_hash,
                "message_count": len(messages),
                "intact": broken is None,
            },
        )
        await uow.commit()
    return Success(Exported(export, broken))


async def order_of_conversation(
    svc: MessagingServices, ctx: RequestContext, country: CountryCode, conversation_id: str
) -> Result[OrderId, Forbidden | NotFound]:
    """The order a conversation id belongs to (the API accepts either). Whether the caller
    may see that order is decided, and a hidden one audited, by the use case it is then
    passed to, so a party learns nothing from the id here: any miss is ``NOT_FOUND``."""
    allowed = authorize(ctx.principal, Operation.CONVERSATION_READ, country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(country, conversation_id)
    if conversation is None:
        return Failure(NotFound("conversation", conversation_id))
    return Success(conversation.order_id)
