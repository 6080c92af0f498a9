"""The direct route for plain JSON POSTs (D62): what it answers itself, what it hands to
Strawberry's router unchanged (the body replayed), and that the context always closes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

from interfaces.auth import TokenKeys
from interfaces.graphql.context import GraphQLContext, make_context_getter
from interfaces.graphql.schema import build_schema
from interfaces.http.app import MAX_BODY_BYTES, create_app
from interfaces.http.graphql_post import GraphQLPost, encoded
from interfaces.settings import Settings
from interfaces.version import supportos_version

SETTINGS = Settings(database_url="sqlite+aiosqlite:///:memory:")


class Router:
    """Stands for Strawberry's router: records what reaches it and answers 299."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.calls.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"router"})


class Contexts:
    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self._getter = make_context_getter(None, TokenKeys.from_settings(SETTINGS))

    async def __call__(self, request: HTTPConnection) -> AsyncIterator[GraphQLContext]:
        self.opened += 1
        try:
            async for context in self._getter(request):
                yield context
        finally:
            self.closed += 1


def route(max_body_bytes: int = MAX_BODY_BYTES) -> tuple[GraphQLPost, Router, Contexts]:
    router, contexts = Router(), Contexts()
    app = GraphQLPost(router, schema=build_schema(), context_getter=contexts, max_body_bytes=max_body_bytes)
    return app, router, contexts


async def post(
    app: Any, content: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(
            method,
            "/graphql",
            content=content,
            headers={"content-type": "application/json", **(headers or {})},
        )


async def test_a_plain_json_post_is_answered_directly_and_its_context_closed() -> None:
    app, router, contexts = route()
    response = await post(app, json.dumps({"query": "query V { version }", "operationName": "V"}).encode())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"version": supportos_version()}}
    assert router.calls == []
    assert (contexts.opened, contexts.closed) == (1, 1)


async def test_errors_are_answered_as_strawberry_answers_them() -> None:
    app, router, _ = route()
    response = await post(app, json.dumps({"query": "{ nope }"}).encode())
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert "nope" in body["errors"][0]["message"]
    assert router.calls == []


async def test_a_valid_document_runs_on_the_prepared_path_and_the_rest_on_strawberry_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, router, _ = route()
    schema = app._schema
    full_runs: list[str | None] = []
    strawberry_execute = schema.execute

    async def counted(query: str | None, *args: Any, **kwargs: Any) -> Any:
        full_runs.append(query)
        return await strawberry_execute(query, *args, **kwargs)

    monkeypatch.setattr(schema, "execute", counted)
    for _ in range(2):
        response = await post(app, json.dumps({"query": "{ version }"}).encode())
        assert response.json() == {"data": {"version": supportos_version()}}
    assert full_runs == []  # D142: not through Strawberry's pipeline, from the first request
    response = await post(app, json.dumps({"query": "{ nope }"}).encode())
    assert "nope" in response.json()["errors"][0]["message"]
    assert full_runs == ["{ nope }"] and router.calls == []


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),  # Strawberry answers 400 "Unable to parse request body as JSON"
        (b'[{"query": "{ version }"}]', {}),  # a batch
        (b'"just a string"', {}),
        (b'{"query": 42}', {}),
        (b'{"query": "{ version }", "variables": [1]}', {}),
        (b'{"query": "{ version }", "extensions": {"persistedQuery": {}}}', {}),
        (b'{"query": "{ version }"}', {"accept": "text/event-stream"}),  # a streaming transport
        (b'{"query": "{ version }"}', {"accept": "multipart/mixed;subscriptionSpec=1.0"}),
        (b'{"query": "{ version }"}', {"content-type": "text/plain"}),
        (b'{"query": "subscription { caseChanged(countryCode: \\"MX\\") { __typename } }"}', {}),
        (b'{"query": ""}', {}),  # Strawberry answers 400 "No GraphQL query found in the request"
        (b"{}", {}),
    ],
)
async def test_anything_else_goes_to_the_router_with_the_same_body(
    content: bytes, headers: dict[str, str]
) -> None:
    app, router, _ = route()
    response = await post(app, content, headers)
    assert (response.status_code, response.text) == (299, "router")
    assert router.calls == [("POST", "/graphql", content)]


async def test_other_methods_and_paths_are_not_touched() -> None:
    app, router, contexts = route()
    await post(app, b"", method="GET")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.post("/webhooks/payments", content=b'{"query": "{ version }"}')
    assert [(method, path) for method, path, _ in router.calls] == [
        ("GET", "/graphql"),
        ("POST", "/webhooks/payments"),
    ]
    assert contexts.opened == 0


async def test_an_undeclared_body_over_the_cap_is_refused_unread() -> None:
    app, router, contexts = route(max_body_bytes=64)
    chunks = [b'{"query": "{ version }", "pad": "', b"x" * 100, b'"}']
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [(b"content-type", b"application/json")],  # chunked: no content-length
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert router.calls == [] and contexts.opened == 0


async def test_the_app_answers_plain_posts_directly_with_the_request_id() -> None:
    app = create_app(SETTINGS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        direct = await client.post(
            "/graphql", json={"query": "{ version }"}, headers={"x-request-id": "req-1"}
        )
        malformed = await client.post(
            "/graphql",
            content=b"{oops",
            headers={"content-type": "application/json", "x-request-id": "req-2"},
        )
    assert direct.status_code == 200 and direct.headers["x-request-id"] == "req-1"
    assert direct.json() == {"data": {"version": supportos_version()}}
    # Strawberry's own answer for a body that is not JSON, through the replayed body
    assert malformed.status_code == 400 and malformed.headers["x-request-id"] == "req-2"
    assert "JSON" in malformed.text


# D159: the answer's JSON written by orjson, the standard library's for what orjson refuses.


def test_the_answer_is_the_same_json_value_as_the_standard_librarys() -> None:
    answer = {
        "data": {
            "disputes": {
                "nodes": [
                    {"id": "d-1", "reason": "ITEM_DAMAGED", "minor": 12_345, "note": "José, 東京 \u2028"}
                ],
                "rate": 0.125,
                "open": True,
                "decision": None,
            }
        },
        "errors": [{"message": 'not "allowed"', "path": ["disputes", 0], "locations": [{"line": 1}]}],
    }

    written = encoded(answer)

    assert json.loads(written) == answer
    assert "José, 東京".encode() in written  # UTF-8, not escaped


async def test_a_request_is_read_exactly_by_the_standard_library() -> None:
    """orjson would read an integer past 64 bits as a float (D159): a variable keeps its value."""
    app, _, _ = route()
    big = 123456789012345678901234567890
    query = 'query($n: Int!) { disputes(countryCode: "MX", first: $n) { __typename } }'
    body = json.dumps({"query": query, "variables": {"n": big}})

    response = await post(app, body.encode())

    assert str(big) in response.json()["errors"][0]["message"]


def test_values_orjson_refuses_are_written_by_the_standard_library() -> None:
    past_64_bits = {"data": {"blob": {"n": 2**70}}}
    int_keys = {"data": {"blob": {1: "one"}}}

    assert encoded(past_64_bits) == json.dumps(past_64_bits, separators=(",", ":")).encode()
    assert json.loads(encoded(past_64_bits))["data"]["blob"]["n"] == 2**70
    assert json.loads(encoded(int_keys)) == {"data": {"blob": {"1": "one"}}}
    with pytest.raises(TypeError):  # neither writes an object JSON has no word for
        encoded({"data": {"blob": object()}})
