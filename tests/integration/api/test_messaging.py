"""Messaging over GraphQL: open, send (screened, idempotent), read as a connection, freeze,
export, cross-order and cross-country refusals (audited), and the live subscription over
graphql-transport-ws."""

from __future__ import annotations

import asyncio
from typing import Any

from application.security.principal import Role
from domain.messaging import verify_export
from tests.integration.api.conftest import CO, Api
from tests.integration.api.websocket import AsgiWebSocket

SEND = """mutation($input: MessageSendInput!) { messageSend(input: $input) {
  __typename ... on MessageSendSuccess { delivered replayed message { id sequence blocked body } }
  ... on Error { code } } }"""
READ = """query($order: String, $first: Int!, $after: String) {
  conversation(countryCode: "MX", orderId: $order, first: $first, after: $after) {
  __typename ... on Conversation { id status headSequence
    messages { nodes { sequence blocked party findings { kind } } pageInfo { hasNextPage endCursor } } }
  ... on Error { code } } }"""


async def send(api: Api, who: dict[str, str], client_id: str, body: str, order: str = "o1") -> dict[str, Any]:
    variables = {"input": {"countryCode": "MX", "orderId": order, "clientMessageId": client_id, "body": body}}
    payload: dict[str, Any] = (await api.gql(SEND, variables, who))["messageSend"]
    return payload


async def read(api: Api, who: dict[str, str], first: int = 50, after: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.gql(READ, {"order": "o1", "first": first, "after": after}, who))[
        "conversation"
    ]
    return payload


async def open_o1(api: Api) -> tuple[dict[str, str], dict[str, str]]:
    await api.dispute("o1")
    buyer, seller = api.bearer(Role.BUYER, subject="buy_1"), api.bearer(Role.SELLER, subject="sel_1")
    opened = await api.gql(
        'mutation { conversationOpen(input: {countryCode: "MX", orderId: "o1"}) {'
        " __typename ... on ConversationOpenSuccess { created conversation { openingGround } } } }",
        None,
        buyer,
    )
    assert opened["conversationOpen"]["created"] is True
    assert opened["conversationOpen"]["conversation"]["openingGround"] == "DISPUTE"
    return buyer, seller


async def test_send_read_freeze_and_export(api: Api) -> None:
    buyer, seller = await open_o1(api)
    first = await send(api, buyer, "b1", "El jarrón llegó roto, ¿qué hacemos?")
    assert first["__typename"] == "MessageSendSuccess" and first["delivered"] is True
    retry = await send(api, buyer, "b1", "El jarrón llegó roto, ¿qué hacemos?")
    assert retry["replayed"] is True and retry["message"]["id"] == first["message"]["id"]
    assert (await send(api, buyer, "b1", "otro texto"))["code"] == "CLIENT_MESSAGE_ID_CONFLICT"
    blocked = await send(api, seller, "s1", "escríbeme al whatsapp 55 1234 5678")
    assert blocked["delivered"] is False and blocked["message"]["blocked"] is True

    as_buyer = await read(api, buyer)
    assert [m["sequence"] for m in as_buyer["messages"]["nodes"]] == [1]  # not the seller's blocked one
    agent = api.bearer(Role.L1)
    as_agent = await read(api, agent, first=1)
    assert as_agent["headSequence"] == 2 and as_agent["messages"]["pageInfo"]["hasNextPage"] is True
    rest = await read(api, agent, after=as_agent["messages"]["pageInfo"]["endCursor"])
    [shown] = rest["messages"]["nodes"]
    assert shown["blocked"] is True and shown["party"] == "SELLER" and shown["findings"]

    freeze = (
        'mutation { conversationFreeze(input: {countryCode: "MX", orderId: "o1", reason: "amenazas"}) {'
        " __typename ... on Error { code } } }"
    )
    assert (await api.gql(freeze, None, agent))["conversationFreeze"]["code"] == "FORBIDDEN"  # L1
    frozen = await api.gql(freeze, None, api.bearer(Role.L2))
    assert frozen["conversationFreeze"]["__typename"] == "ConversationModerationSuccess"
    assert (await send(api, buyer, "b2", "¿hola?"))["code"] == "CONVERSATION_FROZEN"

    exported = await api.gql(
        'mutation { conversationExport(input: {countryCode: "MX", orderId: "o1"}) {'
        " ... on ConversationExportSuccess { content sha256 headHash messageCount intact } } }",
        None,
        api.bearer(Role.AUDITOR),
    )
    export = exported["conversationExport"]
    assert export["messageCount"] == 2 and export["intact"] is True
    check = verify_export(export["content"]).unwrap()
    assert check.head_hash == export["headHash"] and check.message_count == 2


async def test_other_orders_and_countries_are_refused_and_audited(api: Api) -> None:
    await open_o1(api)
    stranger = api.bearer(Role.BUYER, subject="buy_2")
    before = len(await api.denials())
    assert (await read(api, stranger))["code"] == "NOT_FOUND"
    assert (await send(api, stranger, "x1", "hola"))["code"] == "NOT_FOUND"
    denials = await api.denials()
    assert len(denials) == before + 2
    assert {(d["actor_id"], d["target_type"], d["target_id"]) for d in denials[before:]} == {
        ("buy_2", "order", "o1")
    }
    elsewhere = await api.gql(
        'query { conversation(countryCode: "CO", orderId: "o1") { __typename ... on Error { code } } }',
        None,
        api.bearer(Role.BUYER, subject="buy_1"),
    )
    assert elsewhere["conversation"]["code"] == "FORBIDDEN"
    assert (await api.denials())[-1]["country_code"] == CO.value


async def test_a_conversation_asked_for_by_id_reveals_nothing_to_whom_may_not_read_it(api: Api) -> None:
    """D121: a stranger asking for a real conversation's id was told "order 'o1' not found",
    naming the hidden order and telling real ids from made-up ones."""
    buyer, _ = await open_o1(api)
    real = (await read(api, buyer))["id"]
    by_id = (
        'query($id: String) { conversation(countryCode: "MX", conversationId: $id) {'
        " __typename ... on Error { code message } } }"
    )
    stranger = api.bearer(Role.BUYER, subject="buy_2")
    hidden = (await api.gql(by_id, {"id": real}, stranger))["conversation"]
    missing = (await api.gql(by_id, {"id": "cnv_doesnotexist"}, stranger))["conversation"]
    assert hidden == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "message": f"conversation {real!r} not found",
    }
    assert missing["message"] == "conversation 'cnv_doesnotexist' not found"
    assert "o1" not in hidden["message"]
    # whom may read it still reads it by its id
    assert (await api.gql(by_id, {"id": real}, buyer))["conversation"]["__typename"] == "Conversation"


async def test_a_subscriber_receives_messages_sent_by_another_request(api: Api) -> None:
    buyer, seller = await open_o1(api)
    token = buyer["Authorization"]
    topic = f"conversation:MX:{(await read(api, api.bearer(Role.L1)))['id']}"
    feed = api.container.changes()
    async with AsgiWebSocket(api.container.http_app(), {}) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": token}})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": 'subscription { conversationMessageAdded(countryCode: "MX", orderId: "o1") {'
                    " __typename ... on ConversationMessage { sequence body blocked }"
                    " ... on Error { code } } }"
                },
            }
        )
        for _ in range(100_000):  # yield to the app until the subscription is on the change feed
            if feed.subscriber_count(topic):
                break
            await asyncio.sleep(0)
        assert feed.subscriber_count(topic) == 1
        await send(api, seller, "s1", "Enviamos otro mañana")
        await send(api, seller, "s2", "paga por pix y te lo mando hoy")  # blocked: not for the buyer
        await send(api, buyer, "b1", "gracias")
        received = [await ws.receive() for _ in range(2)]
        assert [r["payload"]["data"]["conversationMessageAdded"] for r in received] == [
            {
                "__typename": "ConversationMessage",
                "sequence": 1,
                "body": "Enviamos otro mañana",
                "blocked": False,
            },
            {"__typename": "ConversationMessage", "sequence": 3, "body": "gracias", "blocked": False},
        ]
        await ws.send({"id": "1", "type": "complete"})


OPEN = """mutation($input: ConversationOpenInput!) { conversationOpen(input: $input) {
  __typename ... on ConversationOpenSuccess { created conversation { openingReason } }
  ... on InvalidInputError { code field message } ... on Error { code } } }"""
IDS = """query { conversation(countryCode: "MX", orderId: "o1") {
  ... on Conversation { messages { nodes { sequence party clientMessageId } } } } }"""
PROBE_ID = "llamame 55 1234 5678 juan@gmail.com pix"


async def test_a_client_message_id_cannot_carry_contact_details_and_is_only_shown_to_its_sender(
    api: Api,
) -> None:
    buyer, seller = await open_o1(api)
    variables = {"input": {"countryCode": "MX", "orderId": "o1", "clientMessageId": PROBE_ID, "body": "ok"}}
    refused = await api.gql(
        "mutation($input: MessageSendInput!) { messageSend(input: $input) {"
        " __typename ... on InvalidInputError { code field } } }",
        variables,
        buyer,
    )
    assert refused["messageSend"] == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "field": "clientMessageId",
    }
    assert await api.scalar("SELECT COUNT(*) FROM messages") == 0  # nothing was stored

    sent = await send(api, buyer, "0190f5e2-7a1b-7c3d-8e4f-5a6b7c8d9e0f", "ok, gracias")
    assert sent["delivered"] is True
    await send(api, seller, "s-1", "de nada")

    def ids(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
        nodes = payload["conversation"]["messages"]["nodes"]
        return [(node["party"], node["clientMessageId"]) for node in nodes]

    uuid = "0190f5e2-7a1b-7c3d-8e4f-5a6b7c8d9e0f"
    assert ids(await api.gql(IDS, None, buyer)) == [("BUYER", uuid), ("SELLER", None)]
    assert ids(await api.gql(IDS, None, seller)) == [("BUYER", None), ("SELLER", "s-1")]
    assert ids(await api.gql(IDS, None, api.bearer(Role.L1))) == [("BUYER", uuid), ("SELLER", "s-1")]
    assert ids(await api.gql(IDS, None, api.bearer(Role.AUDITOR))) == [("BUYER", uuid), ("SELLER", "s-1")]


async def test_an_opening_reason_with_contact_details_is_refused_and_nothing_opens(api: Api) -> None:
    await api.order("o1")
    buyer = api.bearer(Role.BUYER, subject="buy_1")
    reason = "compra directo en floreriaelsol.mx, mi twitter juanito88"
    refused = (
        await api.gql(OPEN, {"input": {"countryCode": "MX", "orderId": "o1", "reason": reason}}, buyer)
    )["conversationOpen"]
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInputError",
        "INVALID_INPUT",
        "reason",
    )
    assert "LINK" in refused["message"] and "HANDLE" in refused["message"]
    assert "juanito88" not in refused["message"]  # the error names kinds and spans, not the text
    assert await api.scalar("SELECT COUNT(*) FROM conversations") == 0
    assert (await read(api, buyer))["code"] == "CONVERSATION_NOT_OPEN"
    evidence = await api.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'conversation.reason_blocked' AND target_id = 'o1'"
    )
    assert evidence == 1

    clean = {"input": {"countryCode": "MX", "orderId": "o1", "reason": "el pedido llegó incompleto"}}
    opened = (await api.gql(OPEN, clean, buyer))["conversationOpen"]
    assert opened["created"] is True
    assert opened["conversation"]["openingReason"] == "el pedido llegó incompleto"
