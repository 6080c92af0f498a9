"""Messaging mutations: ``messageSend`` (idempotent on ``clientMessageId``),
``conversationOpen``, ``conversationFreeze`` / ``conversationUnfreeze`` (L2+, reason
required, audited) and ``conversationExport`` (auditors: the verifiable transcript file)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.messaging.moderation import (
    FreezeConversation,
    UnfreezeConversation,
    UnfreezeSender,
    moderate,
)
from application.messaging.queries import ExportConversation, export_conversation
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.security.principal import Operation
from domain.messaging.conversation import MAX_ID_CHARS, MAX_REASON_CHARS, client_message_id_problem
from domain.shared.ids import OrderId
from interfaces.graphql.common import check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.messaging.types import Conversation, ConversationMessage
from interfaces.graphql.scope import Scope, guard

MAX_BODY_CHARS = 2_000


@strawberry.input(description="Send a message into an order's open conversation.")
class MessageSendInput:
    country_code: str
    order_id: str
    client_message_id: str = strawberry.field(
        description=(
            f"Chosen by the client: an opaque token of 1-{MAX_ID_CHARS} characters among A-Z a-z 0-9 . _ : -"
            " (a UUID or ULID). A retry with the same id and body returns the first result."
        )
    )
    body: str = strawberry.field(description=f"At most {MAX_BODY_CHARS} characters.")
    corrects_message_id: str | None = strawberry.field(
        default=None, description="Send as a correction of one of your earlier messages."
    )


@strawberry.type
class MessageSendSuccess:
    message: ConversationMessage
    delivered: bool = strawberry.field(description="False: blocked by screening (kept, not delivered).")
    replayed: bool = strawberry.field(description="True: a retry, answered with the first result.")


MessageSendResult: TypeAlias = Annotated[MessageSendSuccess | AnyError, strawberry.union("MessageSendResult")]


@strawberry.input(
    description="Open an order's conversation (on an open incident or dispute, or with a reason)."
)
class ConversationOpenInput:
    country_code: str
    order_id: str
    reason: str | None = strawberry.field(
        default=None,
        description=(
            "Required when a party asks without an open incident or dispute. Shown to every party, so a"
            " party's reason is screened like a message: contact details, links, handles or payments"
            " outside the platform are refused (INVALID_INPUT on `reason`) and nothing is opened."
        ),
    )


@strawberry.type
class ConversationOpenSuccess:
    conversation: Conversation
    created: bool = strawberry.field(description="False: the order already had its conversation.")


ConversationOpenResult: TypeAlias = Annotated[
    ConversationOpenSuccess | AnyError, strawberry.union("ConversationOpenResult")
]


@strawberry.input(description="Freeze an order's conversation (L2+): parties cannot write; support can.")
class ConversationFreezeInput:
    country_code: str
    order_id: str
    reason: str = strawberry.field(description=f"Required, at most {MAX_REASON_CHARS} characters. Audited.")


@strawberry.input(description="Unfreeze a conversation, or (with `senderId`) lift one sender's freeze (L2+).")
class ConversationUnfreezeInput:
    country_code: str
    order_id: str
    reason: str = strawberry.field(description=f"Required, at most {MAX_REASON_CHARS} characters. Audited.")
    sender_id: str | None = strawberry.field(
        default=None, description="Lift this sender's automatic freeze instead of the conversation's."
    )


@strawberry.type
class ConversationModerationSuccess:
    conversation: Conversation


ConversationModerationResult: TypeAlias = Annotated[
    ConversationModerationSuccess | AnyError, strawberry.union("ConversationModerationResult")
]


@strawberry.input(description="Export an order's transcript for auditors (audited).")
class ConversationExportInput:
    country_code: str
    order_id: str


@strawberry.type(
    description="The transcript file, self-verifying: every body with its hashes and the chain head."
)
class ConversationExportSuccess:
    file_name: str
    content: str = strawberry.field(description="The file (canonical JSON); verify it with its hashes alone.")
    sha256: str = strawberry.field(description="sha256 of `content` (recorded in the audit log).")
    head_hash: str
    message_count: int
    intact: bool = strawberry.field(description="The stored chain verified while exporting.")
    broken_at_sequence: int | None


ConversationExportResult: TypeAlias = Annotated[
    ConversationExportSuccess | AnyError, strawberry.union("ConversationExportResult")
]


async def message_send(info: GraphQLInfo, input: MessageSendInput) -> MessageSendResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.MESSAGE_SEND, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", input.order_id),
        client_message_id_problem(input.client_message_id, "clientMessageId"),
        None
        if input.corrects_message_id is None
        else check_id("correctsMessageId", input.corrects_message_id),
        check_text("body", input.body, MAX_BODY_CHARS),
    )
    if problem is not None:
        return invalid_input(problem)
    command = SendMessage(
        scope.country, OrderId(input.order_id), input.client_message_id, input.body, input.corrects_message_id
    )
    sent = await send_message(info.context.messaging, scope.request, command)
    if isinstance(sent, Failure):
        return await scope.failed(sent.failure(), target)
    result = sent.unwrap()
    return MessageSendSuccess(
        message=ConversationMessage.from_domain(result.message, scope.principal),
        delivered=result.delivered,
        replayed=result.replayed,
    )


async def conversation_open(info: GraphQLInfo, input: ConversationOpenInput) -> ConversationOpenResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.CONVERSATION_OPEN, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", input.order_id), check_text("reason", input.reason, MAX_REASON_CHARS)
    )
    if problem is not None:
        return invalid_input(problem)
    opened = await open_conversation(
        info.context.messaging,
        scope.request,
        OpenConversation(scope.country, OrderId(input.order_id), input.reason),
    )
    if isinstance(opened, Failure):
        return await scope.failed(opened.failure(), target)
    result = opened.unwrap()
    return ConversationOpenSuccess(
        conversation=Conversation.from_domain(result.conversation), created=result.created
    )


async def _moderate(
    info: GraphQLInfo,
    *,
    country_code: str,
    order_id: str,
    reason: str,
    build: type[FreezeConversation] | type[UnfreezeConversation] | None,
    sender_id: str | None = None,
) -> ConversationModerationResult:
    target = DenialTarget("order", order_id)
    scope = await guard(info, country_code, Operation.CONVERSATION_FREEZE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", order_id),
        check_text("reason", reason, MAX_REASON_CHARS),
        None if sender_id is None else check_id("senderId", sender_id),
    )
    if problem is not None:
        return invalid_input(problem)
    order = OrderId(order_id)
    if sender_id is not None:
        command: FreezeConversation | UnfreezeConversation | UnfreezeSender = UnfreezeSender(
            scope.country, order, sender_id, reason
        )
    else:
        assert build is not None
        command = build(scope.country, order, reason)
    changed = await moderate(info.context.messaging, scope.request, command)
    if isinstance(changed, Failure):
        return await scope.failed(changed.failure(), target)
    return ConversationModerationSuccess(conversation=Conversation.from_domain(changed.unwrap()))


async def conversation_freeze(
    info: GraphQLInfo, input: ConversationFreezeInput
) -> ConversationModerationResult:
    return await _moderate(
        info,
        country_code=input.country_code,
        order_id=input.order_id,
        reason=input.reason,
        build=FreezeConversation,
    )


async def conversation_unfreeze(
    info: GraphQLInfo, input: ConversationUnfreezeInput
) -> ConversationModerationResult:
    return await _moderate(
        info,
        country_code=input.country_code,
        order_id=input.order_id,
        reason=input.reason,
        build=UnfreezeConversation,
        sender_id=input.sender_id,
    )


async def conversation_export(info: GraphQLInfo, input: ConversationExportInput) -> ConversationExportResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.CONVERSATION_EXPORT, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("orderId", input.order_id)
    if problem is not None:
        return invalid_input(problem)
    exported = await export_conversation(
        info.context.messaging, scope.request, ExportConversation(scope.country, OrderId(input.order_id))
    )
    if isinstance(exported, Failure):
        return await scope.failed(exported.failure(), target)
    result = exported.unwrap()
    export = result.export
    return ConversationExportSuccess(
        file_name=f"conversation-{export.conversation_id}.json",
        content=export.to_json(),
        sha256=export.content_hash(),
        head_hash=export.head_hash,
        message_count=len(export.messages),
        intact=result.broken is None,
        broken_at_sequence=None if result.broken is None else result.broken.sequence,
    )


@strawberry.type
class MessagingMutations:
    message_send: MessageSendResult = strawberry.mutation(
        resolver=message_send,
        description=(
            "Send a message (parties and support). Screened: phone numbers, e-mails, links, handles and"
            " off-platform payment requests are blocked (kept as evidence, not delivered, counted against"
            " the sender). Idempotent on clientMessageId; another body under the same id is a conflict."
        ),
    )
    conversation_open: ConversationOpenResult = strawberry.mutation(
        resolver=conversation_open,
        description="Open an order's conversation: on an open incident or dispute, or a party's reason.",
    )
    conversation_freeze: ConversationModerationResult = strawberry.mutation(
        resolver=conversation_freeze, description="Freeze a conversation (L2+; reason required; audited)."
    )
    conversation_unfreeze: ConversationModerationResult = strawberry.mutation(
        resolver=conversation_unfreeze,
        description="Unfreeze a conversation, or lift a sender's freeze (L2+; reason required; audited).",
    )
    conversation_export: ConversationExportResult = strawberry.mutation(
        resolver=conversation_export,
        description="The transcript file with its hashes, verifiable on its own (auditors; audited).",
    )
