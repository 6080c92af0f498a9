"""The per-request GraphQL context: who is calling, the request id, services and loaders.

``context_getter`` runs for every request, before the document is even parsed: it reads
the credentials (``Authorization: Bearer <jwt>`` for console users and parties,
``X-Api-Key`` for partners), checks them once (a token is checked in memory; an API key
is one primary-key lookup), takes the request id (``X-Request-Id`` if it is sane, else a
new one) and gives it fresh dataloaders (each made when first used). An unauthenticated
request is not refused here: every field answers ``UnauthenticatedError`` (HTTP 200), and
``version`` still works.

Every read of an HTTP request - the API-key lookup, the read models, the dataloaders'
batches - runs on one connection and in one read transaction (``RequestReads``, D53),
given back when the request ends (the context getter is a dependency with ``yield``); a
websocket's context, which lives as long as the socket, reads in one short transaction
per read.

The services and read models are handed in by the composition root
(``ApiDependencies``, typed by application ports only): nothing here knows an adapter.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Final, TypeAlias

import strawberry
from returns.result import Failure, Result, Success
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from application.cases.bundles import BundleServices
from application.context import RequestContext, Services
from application.disputes.evidence_storage import EvidenceFileServices
from application.messaging.common import MessagingServices
from application.ports.read_models import ReadModels, RequestReads, RequestReadsFactory
from application.security.api_keys import InvalidApiKey, authenticate
from application.security.principal import Principal
from application.security.scope import bind_scope
from domain.diagnostics.attachment import BundleAttachment
from domain.disputes import Dispute
from domain.ledger import LedgerTransaction
from domain.orders import Order
from interfaces.auth import TokenKeys, Unauthenticated, verify_token
from interfaces.graphql.common import PENDING, Key, Pending
from interfaces.graphql.diagnostics.loaders import case_bundles_loader
from interfaces.graphql.disputes.loaders import dispute_loader, disputes_by_order_loader
from interfaces.graphql.ledger.loaders import transactions_by_prefix_loader
from interfaces.graphql.orders.loaders import order_loader

logger = logging.getLogger("supportos.graphql")

REQUEST_ID_HEADER: Final = "x-request-id"
API_KEY_HEADER: Final = "x-api-key"
MAX_CREDENTIAL_CHARS: Final = 8_192
_SANE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


ApiKeyAuthenticator: TypeAlias = Callable[[str], Awaitable[Result[Principal, InvalidApiKey]]]
"""Checks a raw partner API key (``application.security.api_keys.authenticate``)."""


@dataclass(frozen=True, slots=True)
class ApiDependencies:
    """What the composition root hands the HTTP app: ports, never adapters."""

    services: Services
    reads: ReadModels
    authenticate_api_key: ApiKeyAuthenticator
    messaging: MessagingServices | None = None  # conversations (screening, change feed)
    bundles: BundleServices | None = None  # diagnostics bundles attached to cases (storage, inspector)
    evidence_files: EvidenceFileServices | None = None  # dispute evidence files (storage, limit; D84)
    # one read transaction per request (D53); None: every read (and key check) on its own
    request_reads: RequestReadsFactory | None = None


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is short and plain, else a fresh one."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return f"req_{secrets.token_hex(16)}"  # 32 hex digits, as uuid4().hex gave, for less


@dataclass(frozen=True, slots=True)
class Credentials:
    bearer: str | None = None
    api_key: str | None = None
    problem: str | None = None  # a malformed header: refused as UNAUTHENTICATED

    @staticmethod
    def from_headers(authorization: str | None, api_key: str | None) -> Credentials:
        if authorization is not None and api_key is not None:
            return Credentials(problem="send a bearer token or an API key, not both")
        if api_key is not None:
            if not api_key or len(api_key) > MAX_CREDENTIAL_CHARS:
                return Credentials(problem="malformed API key")
            return Credentials(api_key=api_key)
        if authorization is None:
            return Credentials()
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_CREDENTIAL_CHARS:
            return Credentials(problem="the Authorization header must read `Bearer <token>`")
        return Credentials(bearer=token)


class Loaders:
    """Fresh per request (a global loader would cache across requests and callers). Each
    loader is made when first used: most requests use one or two of them."""

    _NAMES: Final = ("orders", "disputes", "disputes_by_order", "ledger_by_prefix", "case_bundles")

    def __init__(
        self, reads: ReadModels, release: Callable[[], None] | None = None, services: Services | None = None
    ) -> None:
        self._reads = reads
        self.release = release  # ends the request's read transaction
        self._services = services

    @cached_property
    def orders(self) -> DataLoader[Key, Order | None]:
        return order_loader(self._reads.orders)

    @cached_property
    def disputes(self) -> DataLoader[Key, Dispute | None]:
        return dispute_loader(self._reads.disputes)

    @cached_property
    def disputes_by_order(self) -> DataLoader[Key, list[Dispute]]:
        return disputes_by_order_loader(self._reads.disputes)

    @cached_property
    def ledger_by_prefix(self) -> DataLoader[Key, list[LedgerTransaction]]:
        return transactions_by_prefix_loader(self._reads.ledger)

    @cached_property
    def case_bundles(self) -> DataLoader[Key, list[BundleAttachment]] | None:
        """Case.bundles (units of work); ``None`` without services."""
        return None if self._services is None else case_bundles_loader(self._services)

    def clear_all(self) -> None:
        """After a mutation: what was loaded before it may have changed (and the next read
        begins a new read transaction, which sees the mutation's commit). A loader not made
        yet holds nothing."""
        made = vars(self)
        for name in self._NAMES:
            loader = made.get(name)
            if loader is not None:
                loader.clear_all()
        if self.release is not None:
            self.release()


class GraphQLContext(BaseContext):
    def __init__(
        self,
        *,
        dependencies: ApiDependencies | None,
        token_keys: TokenKeys,
        credentials: Credentials,
        request_id: str,
        one_transaction: bool = True,
    ) -> None:
        super().__init__()
        self._dependencies = dependencies
        self._token_keys = token_keys
        self._credentials = credentials
        self.request_id = request_id
        factory = None if dependencies is None else dependencies.request_reads
        self._request_reads: RequestReads | None = (
            None if factory is None else factory(one_transaction=one_transaction)
        )
        self._reads: ReadModels | None = None
        self._loaders: Loaders | None = None
        if self._request_reads is not None:
            self._reads = self._request_reads.reads
            self._loaders = Loaders(
                self._reads,
                self._request_reads.release,
                None if dependencies is None else dependencies.services,
            )
        elif dependencies is not None:
            self._reads = dependencies.reads
            self._loaders = Loaders(self._reads, services=dependencies.services)
        self._principal: Result[Principal, Unauthenticated] | None = None
        # a websocket's context lives as long as the socket: its caller is checked again for
        # every operation, so a revoked key or an expired token stops at once (D100)
        self._check_every_time = not one_transaction
        self._lock = asyncio.Lock()

    @property
    def dependencies(self) -> ApiDependencies:
        if self._dependencies is None:
            raise RuntimeError("the HTTP app was created without services (create_app(settings, api=...))")
        return self._dependencies

    @property
    def services(self) -> Services:
        return self.dependencies.services

    @property
    def reads(self) -> ReadModels:
        if self._reads is None:
            raise RuntimeError("the HTTP app was created without services (create_app(settings, api=...))")
        return self._reads

    async def close(self) -> None:
        """The end of the request: its read transaction ends and its connection goes back."""
        if self._request_reads is not None:
            await self._request_reads.close()

    @property
    def messaging(self) -> MessagingServices:
        if self.dependencies.messaging is None:
            raise RuntimeError("the HTTP app was created without messaging services")
        return self.dependencies.messaging

    @property
    def bundles(self) -> BundleServices:
        if self.dependencies.bundles is None:
            raise RuntimeError("the HTTP app was created without bundle services")
        return self.dependencies.bundles

    @property
    def evidence_files(self) -> EvidenceFileServices | None:
        """Dispute evidence files (``None``: the app was built without them; file
        submissions are then refused as not uploaded)."""
        return self.dependencies.evidence_files

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            raise RuntimeError("the HTTP app was created without services (create_app(settings, api=...))")
        return self._loaders

    def use_connection_params(self, params: dict[str, object]) -> None:
        """A websocket's ``connection_init`` credentials, used when its upgrade request had none."""
        if self._credentials != Credentials():
            return
        lowered = {str(key).lower(): value for key, value in params.items()}
        authorization, api_key = lowered.get("authorization"), lowered.get(API_KEY_HEADER)
        self._credentials = Credentials.from_headers(
            authorization if isinstance(authorization, str) else None,
            api_key if isinstance(api_key, str) else None,
        )
        self._principal = None

    @property
    def authenticated(self) -> bool:
        """Whether this request's caller was checked and is known (metrics' label slots)."""
        return isinstance(self._principal, Success)

    @property
    def caller(self) -> Principal | None:
        """The caller as this request's root field already checked it, without checking again
        (``None``: not checked yet, or refused). For nested fields that only hide what a caller
        may not read: an unknown caller reads nothing."""
        return None if self._principal is None else self._principal.value_or(None)

    @property
    def settled_caller(self) -> Principal | Pending | None:
        """The caller as :meth:`authenticate` would answer now, without awaiting, when this
        request's one check answers for all of it (an HTTP request: checked once, by its root
        field); ``None``: refused. :data:`PENDING` when it was not checked yet, or is checked at
        every call (a websocket, D100): await :meth:`authenticate` then (D143)."""
        if self._principal is None or self._check_every_time:
            return PENDING
        return self._principal.value_or(None)

    def request_context(self, principal: Principal) -> RequestContext:
        return RequestContext(principal, self.request_id)

    async def authenticate(self) -> Result[Principal, Unauthenticated]:
        """The caller, checked once per request (concurrent resolvers share the answer); on a
        websocket, at every call (a key revoked while the socket is open stops working)."""
        async with self._lock:
            if self._principal is None or self._check_every_time:
                self._principal = await self._check()
                if isinstance(self._principal, Failure):
                    logger.info(
                        "unauthenticated request %s: %s", self.request_id, self._principal.failure().reason
                    )
            return self._principal

    async def _check(self) -> Result[Principal, Unauthenticated]:
        credentials = self._credentials
        if credentials.problem is not None:
            return Failure(Unauthenticated(credentials.problem))
        if credentials.bearer is not None:
            return verify_token(self._token_keys, credentials.bearer)
        if credentials.api_key is not None:
            checked = (
                await self.dependencies.authenticate_api_key(credentials.api_key)
                if self._request_reads is None
                else await authenticate(self._request_reads.api_keys, credentials.api_key)
            )
            if isinstance(checked, Success):
                return Success(checked.unwrap())
            return Failure(Unauthenticated("unknown, malformed or revoked API key"))
        return Failure(Unauthenticated("no credentials"))


def make_context_getter(
    dependencies: ApiDependencies | None, token_keys: TokenKeys
) -> Callable[[HTTPConnection], AsyncIterator[GraphQLContext]]:
    """The FastAPI dependency Strawberry calls for every request (with ``yield``: the
    request's read transaction is closed when the request is done)."""

    async def get_context(request: HTTPConnection) -> AsyncIterator[GraphQLContext]:
        request_id = getattr(request.state, "request_id", None) or request_id_from(
            request.headers.get(REQUEST_ID_HEADER)
        )
        context = GraphQLContext(
            dependencies=dependencies,
            token_keys=token_keys,
            credentials=Credentials.from_headers(
                request.headers.get("authorization"), request.headers.get(API_KEY_HEADER)
            ),
            request_id=str(request_id),
            one_transaction=request.scope["type"] == "http",
        )
        try:
            authenticated = await context.authenticate()
            if isinstance(authenticated, Success):
                # The database's own wall (row-level security): every transaction this
                # request opens sees only the caller's countries. Bound here, in the request's
                # task, so every resolver and dataloader batch inherits it; unauthenticated
                # requests bind nothing and so could read nothing.
                bind_scope(authenticated.unwrap())
            yield context
        finally:
            await context.close()

    return get_context


GraphQLInfo: TypeAlias = strawberry.Info[GraphQLContext, None]
