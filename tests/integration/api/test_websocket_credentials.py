"""A websocket's caller is checked again at every operation (D100): its context lives as long
as the socket, so a key revoked while the socket is open must stop working at once, as it
does over HTTP. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from application.security.api_keys import key_id_of, revoke_api_key
from tests.integration.api.conftest import SYSTEM, Api
from tests.integration.api.websocket import AsgiWebSocket

ORDER = '{ order(countryCode: "MX", id: "ord_1") { __typename ... on Order { id } ... on Error { code } } }'


async def ask(ws: AsgiWebSocket, operation_id: str) -> dict[str, Any]:
    """A query over the socket (graphql-transport-ws runs queries too): its ``data``."""
    await ws.send({"id": operation_id, "type": "subscribe", "payload": {"query": ORDER}})
    answer = await ws.receive()
    assert (answer["type"], answer["id"]) == ("next", operation_id), answer
    assert (await ws.receive())["type"] == "complete"
    data: dict[str, Any] = answer["payload"]["data"]
    return data


async def test_a_key_revoked_while_the_socket_is_open_stops_working_on_it(api: Api) -> None:
    await api.order("ord_1", seller="sel_1")
    key = await api.partner_key("sel_1")
    key_id = key_id_of(key["X-Api-Key"])
    assert key_id is not None
    async with AsgiWebSocket(api.container.http_app(), key) as ws:
        await ws.send({"type": "connection_init", "payload": {}})
        assert (await ws.receive())["type"] == "connection_ack"
        assert (await ask(ws, "1"))["order"] == {"__typename": "Order", "id": "ord_1"}

        (await revoke_api_key(api.svc, SYSTEM, key_id)).unwrap()

        refused = {"__typename": "UnauthenticatedError", "code": "UNAUTHENTICATED"}
        assert (await api.gql(ORDER, None, key))["order"] == refused
        assert (await ask(ws, "2"))["order"] == refused
