"""``conversationMessageAdded``: the live feed of one conversation (graphql-transport-ws).

The caller is admitted like any root field (ScopeGuard), then the conversation is read
through ``read_conversation`` (so a party reaching another order's conversation gets
``NOT_FOUND``, audited, and the feed ends). The feed subscribes to the conversation's
topic on the change feed *before* reading where the chain stands, so nothing sent in
between is missed; each wake-up re-reads the messages after the last one seen, with the
caller's visibility (a party never receives another party's blocked message).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Final, TypeAlias

import strawberry
from returns.result import Failure

from application.messaging.common import conversation_topic
from application.messaging.queries import MAX_PAGE, ReadConversation, read_conversation
from application.messaging.use_cases import MESSAGE_ADDED
from application.security.principal import Operation
from application.security.scope import bind_scope
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import AnyError
from interfaces.graphql.messaging.queries import as_asked, order_for, target_of
from interfaces.graphql.messaging.types import ConversationMessage
from interfaces.graphql.orders.queries import CountryArgument
from interfaces.graphql.scope import Scope, guard

MessageAddedResult: TypeAlias = Annotated[
    ConversationMessage | AnyError, strawberry.union("ConversationMessageAddedResult")
]
_FEED_KINDS: Final = frozenset({MESSAGE_ADDED})


async def conversation_message_added(
    info: GraphQLInfo,
    country_code: CountryArgument,
    order_id: str | None = None,
    conversation_id: str | None = None,
) -> AsyncGenerator[MessageAddedResult, None]:
    target = target_of(order_id, conversation_id)
    scope = await guard(info, country_code, Operation.CONVERSATION_READ, target)
    if not isinstance(scope, Scope):
        yield scope
        return
    bind_scope(scope.principal)  # this operation's own task: its transactions see the caller's countries
    order = await order_for(scope, order_id, conversation_id)
    if isinstance(order, Failure):
        yield order.failure()
        return
    svc = info.context.messaging
    query = ReadConversation(scope.country, order.unwrap(), 0, 1)
    first = await read_conversation(svc, scope.request, query)
    if isinstance(first, Failure):
        yield await scope.failed(as_asked(first.failure(), conversation_id), target)
        return
    conversation = first.unwrap().conversation
    async with svc.changes.subscribe(conversation_topic(scope.country, conversation.id)) as changes:
        last = (await read_conversation(svc, scope.request, query)).map(lambda page: page.conversation)
        seen = last.unwrap().head_sequence if not isinstance(last, Failure) else conversation.head_sequence
        async for change in changes:
            if change.kind not in _FEED_KINDS:
                continue
            while True:
                page = await read_conversation(
                    svc, scope.request, ReadConversation(scope.country, order.unwrap(), seen, MAX_PAGE)
                )
                if isinstance(page, Failure):
                    yield await scope.failed(page.failure(), target)
                    return
                read = page.unwrap()
                for message in read.messages:
                    yield ConversationMessage.from_domain(message, scope.principal)
                if read.next_after is not None:
                    seen = read.next_after
                    continue
                seen = max(seen, read.conversation.head_sequence, *(m.sequence for m in read.messages))
                break


@strawberry.type
class MessagingSubscriptions:
    conversation_message_added: AsyncGenerator[MessageAddedResult, None] = strawberry.subscription(
        resolver=conversation_message_added,
        description=(
            "Messages added to an order's conversation from now on (by `orderId` or `conversationId`),"
            " as the caller may see them. Over graphql-transport-ws on /graphql; send the bearer token"
            " as a header or as `Authorization` in the connection_init payload."
        ),
    )
