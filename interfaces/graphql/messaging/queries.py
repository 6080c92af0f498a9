"""``conversation``: an order's conversation (by order id or conversation id) and a page of
its messages. Parties reach only their own orders' conversations: anything else is
``NOT_FOUND``, audited as a denial by the use case (not again here)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget
from application.errors import NotFound
from application.messaging.queries import ReadConversation, order_of_conversation, read_conversation
from application.security.principal import Operation
from domain.shared import DomainError, InvalidInput
from domain.shared.ids import OrderId
from interfaces.graphql.common import DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, check_id, page_request
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError, invalid_input
from interfaces.graphql.messaging.types import Conversation, message_connection
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

ConversationResult: TypeAlias = Annotated[Conversation | AnyError, strawberry.union("ConversationResult")]


def target_of(order_id: str | None, conversation_id: str | None) -> DenialTarget:
    if order_id is not None:
        return DenialTarget("order", order_id)
    return DenialTarget("conversation", conversation_id or "")


async def order_for(
    scope: Scope, order_id: str | None, conversation_id: str | None
) -> Result[OrderId, AnyError]:
    """The order named directly, or through its conversation's id (exactly one of the two)."""
    if (order_id is None) == (conversation_id is None):
        return Failure(
            invalid_input(InvalidInput("orderId", "give exactly one of orderId and conversationId"))
        )
    field, value = ("orderId", order_id) if order_id is not None else ("conversationId", conversation_id)
    assert value is not None
    problem = check_id(field, value)
    if problem is not None:
        return Failure(invalid_input(problem))
    if order_id is not None:
        return Success(OrderId(order_id))
    found = await order_of_conversation(scope.context.messaging, scope.request, scope.country, value)
    if isinstance(found, Failure):
        return Failure(await scope.failed(found.failure(), target_of(None, value)))
    return Success(found.unwrap())


def as_asked(error: DomainError, conversation_id: str | None) -> DomainError:
    """A conversation asked for by its id that the caller may not read is reported as that
    conversation not found, never as its order's: the order's id would tell the caller which
    order it belongs to, and that it exists (D121)."""
    if conversation_id is not None and isinstance(error, NotFound):
        return NotFound("conversation", conversation_id)
    return error


def parse_after(after: str | None) -> Result[int, InvalidInput]:
    if after is None:
        return Success(0)
    prefix, _, number = after.partition(":")
    if prefix != "seq" or not number.isdigit() or len(after) > MAX_CURSOR_CHARS:
        return Failure(InvalidInput("after", "is not a cursor from this API"))
    return Success(int(number))


async def resolve_conversation(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    order_id: str | None = None,
    conversation_id: str | None = None,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
) -> ConversationResult:
    target = target_of(order_id, conversation_id)
    scope = await guard(info, country_code, Operation.CONVERSATION_READ, target)
    if not isinstance(scope, Scope):
        return scope
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    position = parse_after(after)
    if isinstance(position, Failure):
        return invalid_input(position.failure())
    order = await order_for(scope, order_id, conversation_id)
    if isinstance(order, Failure):
        refused: AnyError = order.failure()
        return refused
    query = ReadConversation(scope.country, order.unwrap(), position.unwrap(), page.unwrap().first)
    read = await read_conversation(scope.context.messaging, scope.request, query)
    if isinstance(read, Failure):
        return await scope.failed(as_asked(read.failure(), conversation_id), target)
    found = read.unwrap()
    messages = message_connection(found.messages, found.next_after, scope.principal)
    return Conversation.from_domain(found.conversation, messages)


@strawberry.type
class MessagingQueries:
    conversation: ConversationResult = strawberry.field(
        resolver=resolve_conversation,
        description=(
            "An order's conversation, by `orderId` or `conversationId` (exactly one), with a page of"
            " its messages in chain order. Blocked messages are shown, marked, to support and"
            " auditors (and to their own sender). Parties see only their own orders'"
            " conversations; any other is NOT_FOUND, and audited."
        ),
    )
