"""``caseChanged`` over graphql-transport-ws: the live work queue of a country.

The websocket client speaks ASGI to the app in the test's own event loop (the change
feed and the database connections belong to that loop), with the subprotocol
``graphql-transport-ws``; changes are made by other requests over HTTP.
"""

from __future__ import annotations

import asyncio

from application.cases.feed import queue_topic
from application.security.principal import Role
from tests.integration.api.conftest import CO, MX, Api
from tests.integration.api.test_cases_api import open_incident
from tests.integration.api.websocket import AsgiWebSocket

SUBSCRIBE = (
    "subscription($c: String!) { caseChanged(countryCode: $c) { __typename"
    " ... on CaseChangedEvent { caseId change version case { id status tier countryCode } }"
    " ... on Error { code } } }"
)
ACKNOWLEDGE = (
    "mutation($i: CaseAcknowledgeInput!) { caseAcknowledge(input: $i) { __typename"
    " ... on CaseChangeSuccess { case { version } } ... on Error { code } } }"
)


async def subscribed(api: Api, ws: AsgiWebSocket, country: str) -> None:
    await ws.send({"type": "connection_init", "payload": {}})
    assert (await ws.receive())["type"] == "connection_ack"
    await ws.send(
        {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"c": country}}}
    )


async def on_the_feed(api: Api, country: str) -> int:
    feed = api.container.changes()
    topic = queue_topic(MX if country == "MX" else CO)
    for _ in range(100_000):  # yield to the app until the subscription is on the change feed
        if feed.subscriber_count(topic):
            break
        await asyncio.sleep(0)
    return feed.subscriber_count(topic)


async def test_a_subscriber_receives_a_change_made_by_another_request(api: Api) -> None:
    mx_case = (await open_incident(api, "ord_mx", "SEV1"))["case"]["id"]
    co_case = (await open_incident(api, "ord_co", "SEV1", country="CO"))["case"]["id"]
    console = api.bearer(Role.L1, MX)  # the upgrade request's header authenticates the socket
    async with AsgiWebSocket(api.container.http_app(), console) as ws:
        await subscribed(api, ws, "MX")
        assert await on_the_feed(api, "MX") == 1

        l2 = api.bearer(Role.L2, MX, CO)
        version = 0
        for country, case_id in (("CO", co_case), ("MX", mx_case)):  # Colombia's change is not Mexico's
            acked = await api.gql(ACKNOWLEDGE, {"i": {"countryCode": country, "caseId": case_id}}, l2)
            assert acked["caseAcknowledge"]["__typename"] == "CaseChangeSuccess"
            version = acked["caseAcknowledge"]["case"]["version"]

        message = await ws.receive()
        assert (message["type"], message["id"]) == ("next", "1")
        assert message["payload"]["data"]["caseChanged"] == {
            "__typename": "CaseChangedEvent",
            "caseId": mx_case,
            "change": "ACKNOWLEDGED",
            "version": version,  # Mexico's, acknowledged last
            "case": {"id": mx_case, "status": "ACKNOWLEDGED", "tier": "L2", "countryCode": "MX"},
        }
        await ws.send({"id": "1", "type": "complete"})
    assert await on_the_feed(api, "MX") == 0


async def test_a_subscriber_outside_the_country_is_forbidden_and_audited(api: Api) -> None:
    before = len(await api.denials())
    mx_only = api.bearer(Role.L1, MX, subject="agent-mx")
    async with AsgiWebSocket(api.container.http_app(), {}) as ws:
        await ws.send({"type": "connection_init", "payload": mx_only})  # credentials in connection_init
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send(
            {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"c": "CO"}}}
        )
        message = await ws.receive()
        assert message["payload"]["data"]["caseChanged"] == {
            "__typename": "ForbiddenError",
            "code": "FORBIDDEN",
        }
        assert (await ws.receive()) == {"id": "1", "type": "complete"}
    denials = await api.denials()
    assert len(denials) == before + 1
    assert (denials[-1]["actor_id"], denials[-1]["country_code"], denials[-1]["target_id"]) == (
        "agent-mx",
        "CO",
        "caseChanged",
    )
    assert await on_the_feed(api, "CO") == 0
