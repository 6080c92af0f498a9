"""The direct route for the one request shape partners and the console send (D62).

``POST /graphql`` with a JSON body ``{"query": ..., "variables": {...}, "operationName": ...}``
is nearly every request the service gets. Strawberry's FastAPI router answers it through
FastAPI's routing and dependency solving (the context getter is a dependency with
``yield``), Strawberry's request adapters and sub-response: about as much Python per
request as the query itself. :class:`GraphQLPost` is a pure ASGI middleware in front of
that router which answers exactly this shape itself, with the same pieces:

- the same context (``make_context_getter``'s generator: credentials, request id, the
  request's read transaction, the country scope bound after authentication, closed at
  the end),
- the same execution: ``SupportOsSchema.execute_prepared`` for a document that parses and
  validates (D142: what the schema's extensions do, without Strawberry's per-request
  pipeline), ``Schema.execute`` (parser and validation caches, limits, masking, operation
  metrics: every schema extension runs) for anything else, allowing queries and mutations
  as Strawberry allows them over POST,
- the same answer: ``strawberry.http.process_result``, ``application/json``, 200 - encoded
  by orjson (D159; UTF-8 where Strawberry's ``json.dumps`` escapes non-ASCII text, the same
  JSON value), or by ``json.dumps`` as Strawberry encodes it for a value orjson refuses (an
  integer past 64 bits or a non-string key in a ``JSON`` scalar's value).

Everything else - GET, GraphiQL, websockets, multipart uploads, batches, streaming
``Accept`` headers, a body that is not a JSON object of that shape, a subscription or an
unparsable operation over POST - goes to Strawberry's router unchanged (the body already
read is replayed to it), so every edge keeps Strawberry's own answer. The request id and
body-size middlewares and the request metrics run before this one either way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from interfaces.graphql.context import GraphQLContext
from interfaces.graphql.schema import SupportOsSchema

ALLOWED_OVER_POST: Final = frozenset({OperationType.QUERY, OperationType.MUTATION})
_STREAMING_ACCEPTS: Final = (b"multipart/mixed", b"text/event-stream")
_RESPONSE_HEADERS: Final = [(b"content-type", b"application/json")]


class _NotOurs(Exception):
    """The request is not the plain JSON shape: Strawberry's router answers it."""


def _json_request(body: bytes) -> tuple[str, dict[str, object] | None, str | None]:
    try:
        data = json.loads(body)  # not orjson's: it reads an integer past 64 bits as a float (D159)
    except ValueError:
        raise _NotOurs from None
    if not isinstance(data, dict):
        raise _NotOurs
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if (
        not isinstance(query, str)
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
        or data.get("extensions") is not None
    ):
        raise _NotOurs
    return query, variables, name


def _plain_json_post(scope: Scope, path: str) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != path:
        return False
    json_body = False
    for key, value in scope["headers"]:
        if key == b"content-type":
            json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif key == b"accept" and any(kind in value.lower() for kind in _STREAMING_ACCEPTS):
            return False
    return json_body


class GraphQLPost:
    """Pure ASGI middleware: the plain JSON ``POST`` on ``path`` answered directly."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        schema: SupportOsSchema,
        context_getter: Callable[[HTTPConnection], AsyncIterator[GraphQLContext]],
        max_body_bytes: int,
        path: str = "/graphql",
    ) -> None:
        self._app = app
        self._schema = schema
        self._context: Callable[[HTTPConnection], AbstractAsyncContextManager[GraphQLContext]] = (
            asynccontextmanager(context_getter)
        )
        self._max_body_bytes = max_body_bytes
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _plain_json_post(scope, self._path):
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body_bytes:
                await _answer(send, 413, b'{"detail":"request body too large"}')
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        try:
            query, variables, name = _json_request(body)
            answer = await self._execute(scope, query, variables, name)
        except _NotOurs:
            await self._app(scope, _replay(body, receive), send)
            return
        await _answer(send, 200, answer)

    async def _execute(
        self, scope: Scope, query: str, variables: dict[str, object] | None, name: str | None
    ) -> bytes:
        async with self._context(Request(scope)) as context:
            # a document that parses and validates runs on the prepared path (D142)
            result = await self._schema.execute_prepared(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=name,
                allowed_operation_types=ALLOWED_OVER_POST,
            )
            if result is None:
                try:
                    result = await self._schema.execute(
                        query,
                        variable_values=variables,
                        context_value=context,
                        operation_name=name,
                        allowed_operation_types=ALLOWED_OVER_POST,
                    )
                except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
                    # nothing ran (the operation was not even chosen): Strawberry answers these
                    raise _NotOurs from None
        return encoded(process_result(result))


def encoded(answer: object) -> bytes:
    """The answer's JSON (D159): orjson's, or, for a value orjson refuses (an integer past 64
    bits, a non-string key), the standard library's as Strawberry writes it."""
    try:
        return orjson.dumps(answer)
    except orjson.JSONEncodeError:
        return json.dumps(answer, separators=(",", ":")).encode()


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_RESPONSE_HEADERS, (b"content-length", str(len(body)).encode("latin-1"))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
