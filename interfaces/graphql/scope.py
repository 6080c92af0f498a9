"""ScopeGuard: the first thing every root query and mutation does.

1. authenticate the caller (``UnauthenticatedError`` otherwise);
2. parse ``countryCode`` (``InvalidInputError`` on the field ``countryCode``);
3. ``authorize(principal, operation, country)``: the permission matrix and the caller's
   countries; a refusal is a ``ForbiddenError`` **and** an ``access.denied`` audit entry.

The guard then hands the resolver a :class:`Scope`: the country every read and use case
call is made in, and the caller's party restriction (a partner sees only its own orders
and their disputes: a seller org's key those it sells, a payment partner's key those whose
payment it processed; buyers, sellers and couriers only their own). The read ports filter
by that country in the query itself, and the dataloader keys carry it, so nothing of
another country can come back through a nested field, an alias or a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from returns.result import Failure
from strawberry.dataloader import DataLoader

from application.audit.denials import DenialTarget, record_denial
from application.context import RequestContext, Services
from application.ports.read_models import ReadModels
from application.security.principal import Forbidden, Operation, Principal, authorize
from application.security.visibility import (
    PartyScope,
    may_see_order,
    party_scope,
    sees_actor,
    sees_support_internals,
)
from domain.orders import Order
from domain.shared import CountryCode, DomainError
from interfaces.graphql.common import Pending, settled
from interfaces.graphql.context import GraphQLContext, GraphQLInfo, Loaders
from interfaces.graphql.errors import (
    AnyError,
    ForbiddenError,
    GuardError,
    NotFoundError,
    forbidden,
    invalid_input,
    not_found,
    to_error,
    unauthenticated,
)

HIDDEN = "the object belongs to a party the caller does not act for"


@dataclass(frozen=True, slots=True)
class Scope:
    """A request admitted for one operation in one country."""

    context: GraphQLContext
    request: RequestContext
    country: CountryCode
    operation: Operation

    @property
    def principal(self) -> Principal:
        return self.request.principal

    @property
    def party(self) -> PartyScope:
        return party_scope(self.principal)

    @property
    def services(self) -> Services:
        return self.context.services

    @property
    def reads(self) -> ReadModels:
        return self.context.reads

    @property
    def loaders(self) -> Loaders:
        return self.context.loaders

    def sees(self, order: Order) -> bool:
        return order.country == self.country and may_see_order(self.principal, order)

    async def hidden(self, kind: str, id: str) -> NotFoundError:
        """``NOT_FOUND`` for an object the caller may not see, recorded as a denial."""
        refusal = Forbidden(self.operation.value, self.country.value, HIDDEN)
        await record_denial(self.services, self.request, refusal, DenialTarget(kind, id))
        return not_found(kind, id)

    async def failed(self, error: DomainError, target: DenialTarget) -> AnyError:
        """A use case's typed failure as a union member; a ``Forbidden`` is audited."""
        if isinstance(error, Forbidden):
            await record_denial(self.services, self.request, error, target)
        return to_error(error)


async def guard(
    info: GraphQLInfo, country_code: str, operation: Operation, target: DenialTarget
) -> Scope | GuardError:
    context = info.context
    authenticated = await context.authenticate()
    if isinstance(authenticated, Failure):
        return unauthenticated(authenticated.failure())
    principal = authenticated.unwrap()
    request = context.request_context(principal)
    parsed = CountryCode.parse(country_code[:16])
    if isinstance(parsed, Failure):
        return invalid_input(parsed.failure())
    country = parsed.unwrap()
    allowed = authorize(principal, operation, country)
    if isinstance(allowed, Failure):
        refusal = allowed.failure()
        await record_denial(context.services, request, refusal, target)
        return forbidden(refusal)
    return Scope(context, request, country, operation)


async def deny(scope: Scope, operation: Operation, target: DenialTarget) -> ForbiddenError | None:
    """A second operation checked inside an admitted request (e.g. the ledger under a
    dispute): ``None`` if allowed, else the audited ``ForbiddenError``."""
    allowed = authorize(scope.principal, operation, scope.country)
    if isinstance(allowed, Failure):
        await record_denial(scope.services, scope.request, allowed.failure(), target)
        return forbidden(allowed.failure())
    return None


async def viewer(info: GraphQLInfo) -> Principal | None:
    """The caller, for nested fields (their root field already admitted the request)."""
    authenticated = await info.context.authenticate()
    return None if isinstance(authenticated, Failure) else authenticated.unwrap()


D = TypeVar("D")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


async def load_relation(  # noqa: PLR0917 - the relation's parts
    info: GraphQLInfo,
    of: D,
    key_of: Callable[[D, Principal | None], K | None],
    loader: DataLoader[K, V] | None,
    shown: Callable[[V], T],
    empty: T,
) -> T:
    """A nested relation of ``of``: ``empty`` when the caller may not read it (``key_of``
    gives no key) or there is no loader, else what the loader loads for the key, ``shown``."""
    key = key_of(of, await viewer(info))
    return empty if key is None or loader is None else shown(await loader.load(key))


def relation_in_place(  # noqa: PLR0917 - load_relation's arguments and the fallback
    info: GraphQLInfo,
    of: D,
    key_of: Callable[[D, Principal | None], K | None],
    loader: DataLoader[K, V] | None,
    shown: Callable[[V], T],
    empty: T,
    load: Callable[[], Awaitable[T]],
) -> T | Awaitable[T]:
    """:func:`load_relation`'s answer without awaiting when the caller is settled and the
    loader holds the key's load (a preloaded page, D143); ``load()`` (the coroutine that
    awaits both) otherwise."""
    principal = settled_viewer(info)
    if isinstance(principal, Pending):
        return load()
    key = key_of(of, principal)
    if key is None or loader is None:
        return empty
    found = settled(loader, key)
    return load() if isinstance(found, Pending) else shown(found)


def reads_ledger(principal: Principal | None, country: CountryCode) -> bool:
    """Whether a nested ``ledgerTransactions`` field shows the ledger of ``country``."""
    return principal is not None and principal.may(Operation.LEDGER_READ) and principal.in_scope(country)


def settled_viewer(info: GraphQLInfo) -> Principal | Pending | None:
    """:func:`viewer` without awaiting, when the request's check already answered for all of
    it; :data:`~interfaces.graphql.common.PENDING` otherwise (await :func:`viewer`)."""
    return info.context.settled_caller


def support_internal(info: GraphQLInfo, country: CountryCode) -> bool:
    """Whether the caller reads support's own fields of an object of ``country``: an
    agent's note and id, a saga's error, a force-complete reason. Partners and parties do not."""
    return sees_support_internals(info.context.caller, country)


def actor_shown(info: GraphQLInfo, country: CountryCode, actor_role: str) -> bool:
    """Whether the caller reads who did something (and what they wrote with it): a party's act
    is shown to every reader, support's only to support."""
    return sees_actor(info.context.caller, country, actor_role)
