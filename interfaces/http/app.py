"""The FastAPI application factory: ``/healthz``, ``/readyz``, ``/metrics``, ``/graphql`` and
``/webhooks/{provider}``.

This module never imports adapters; the composition root
(``interfaces/container.py``) builds the app and hands it what it needs: the settings,
and the services and read models behind the API (``ApiDependencies``, typed by
application ports). Without them the app still serves ``/healthz`` and the ``version``
field (useful for smoke tests); every other field then fails as an unexpected error.

Every response carries ``X-Request-Id`` (the caller's, if sane, else a new one); the same
id is in the audit entries and the logs the request produces. Request bodies above 1 MiB
are refused with 413 before they are read.

Multipart uploads (the GraphQL multipart request spec, for ``caseAttachBundle``, D48, and
``disputeEvidenceUpload``, D84) are enabled on ``/graphql`` with their own cap (the larger
of ``SUPPORTOS_BUNDLE_UPLOAD_MAX_BYTES`` and ``SUPPORTOS_EVIDENCE_UPLOAD_MAX_BYTES``, plus
64 KiB of envelope), and only for requests that declare their length and carry
credentials in a header (``Authorization`` or ``X-Api-Key``). A browser cannot send such a
header cross-site without a CORS preflight (which this app never grants), so a multipart
request is never a "simple" one: no CSRF through a forged form post (Strawberry's
CVE-2024-47082), and no anonymous caller makes the server parse a large body.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from interfaces.auth import TokenKeys
from interfaces.graphql.context import (
    REQUEST_ID_HEADER,
    ApiDependencies,
    GraphQLContext,
    make_context_getter,
    request_id_from,
)
from interfaces.graphql.schema import build_schema
from interfaces.http.graphql_post import GraphQLPost
from interfaces.http.observability import ObservedRequests, Operations, operations_router
from interfaces.http.webhooks import WebhookDependencies, webhook_router
from interfaces.settings import Settings
from interfaces.version import supportos_version

MAX_BODY_BYTES: Final = 1024 * 1024
MULTIPART_ENVELOPE_BYTES: Final = 64 * 1024  # boundaries, part headers, operations and map


class RequestIdAndSizeLimit:
    """Pure ASGI middleware: request id in and out, and a cap on the declared body size."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES, max_upload_bytes: int | None = None
    ) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes
        self._max_upload_bytes = max_upload_bytes  # None: multipart uploads get the plain cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        state = scope.setdefault("state", {})
        request_id = state.get("request_id") or request_id_from(headers.get(REQUEST_ID_HEADER))
        state["request_id"] = request_id  # set by ObservedRequests when it runs first
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        async def refuse(status: int, detail: bytes) -> None:
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": b'{"detail":"' + detail + b'"}'})

        declared = headers.get("content-length", "")
        limit = self._max_body_bytes
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        if multipart and self._max_upload_bytes is not None:
            if "authorization" not in headers and "x-api-key" not in headers:
                await refuse(400, b"multipart requests must carry Authorization or X-Api-Key")
                return
            if not declared.isdigit():
                await refuse(411, b"multipart requests must declare their Content-Length")
                return
            limit = self._max_upload_bytes + MULTIPART_ENVELOPE_BYTES
        if declared.isdigit() and int(declared) > limit:
            await refuse(413, b"request body too large")
            return
        await self._app(scope, receive, send_with_id)


class SupportOsGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    """Strawberry's router, taking credentials from a websocket's ``connection_init``
    payload (``{"Authorization": "Bearer <jwt>"}`` or ``{"X-Api-Key": ...}``) when the
    upgrade request carried none: browsers cannot set headers on a websocket."""

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        params = context.connection_params
        if isinstance(params, dict):
            context.use_connection_params(params)
        acknowledged: UnsetType = UNSET  # a plain connection_ack
        return acknowledged


def create_app(
    settings: Settings,
    api: ApiDependencies | None = None,
    webhooks: WebhookDependencies | None = None,
    operations: Operations | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Support OS",
        version=supportos_version(),
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
        openapi_url=None if settings.is_production else "/openapi.json",
    )
    app.state.settings = settings
    schema = build_schema(production=settings.is_production)
    # a FastAPI dependency with yield (closes the request's read transaction, D53)
    context_getter = make_context_getter(api, TokenKeys.from_settings(settings))
    # innermost: plain JSON POSTs on /graphql answered without FastAPI's routing (D62)
    app.add_middleware(
        GraphQLPost, schema=schema, context_getter=context_getter, max_body_bytes=MAX_BODY_BYTES
    )
    app.add_middleware(
        RequestIdAndSizeLimit,
        max_upload_bytes=max(settings.bundle_upload_max_bytes, settings.evidence_upload_max_bytes),
    )
    app.add_middleware(ObservedRequests)  # added last: outermost (request id, metrics, access log)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    graphql_router = SupportOsGraphQLRouter(
        schema,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        context_getter=context_getter,  # type: ignore[arg-type]
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # subscriptions on /graphql
        multipart_uploads_enabled=True,  # caseAttachBundle, disputeEvidenceUpload; size-guarded
    )
    app.include_router(graphql_router, prefix="/graphql")
    app.include_router(webhook_router(webhooks))  # verified provider events (webhooks.py)
    app.include_router(operations_router(operations or Operations()))  # /metrics, /readyz
    return app
