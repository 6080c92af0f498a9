"""The countries the current request may touch, for the database's own wall (row-level security).

``authorize`` (``principal.py``) is the first wall: every use case refuses an actor outside
the operation's country. The second wall is in PostgreSQL itself: every country-scoped
table has a forced row-level-security policy, and each transaction is told which
countries it may see (ARCHITECTURE §9, docs/decisions.md D22). This module holds that
scope for the running request, in a ``ContextVar``, so the persistence adapter can hand it
to the database at the start of every transaction without any use case passing it along:

- ``None`` (nothing bound): no country. On PostgreSQL the transaction sees no row of any
  country-scoped table and can write none: forgetting to bind fails closed.
- a set of countries: only rows of those countries.
- ``ALL``: every country; for ``Role.SYSTEM`` (saga workers, schedulers, CLI commands).

Entry points bind it once per request, before any unit of work opens::

    bind_scope(principal)          # GraphQL context getter, API-key authentication, ...
    with scoped_to(ALL): ...       # CLI commands and workers
    @system_scope                  # a worker's entry points (``SagaRunner.run_once`` ...)
    with scope_of_principal(p): ...

A ``ContextVar`` is per asyncio task (tasks copy the context they were created in), so a
binding never leaks from one request to another; resolvers and dataloader batches started
inside the request inherit it. Bind in ``async`` code: FastAPI runs a plain ``def``
dependency in a thread with a copied context, and what it binds is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from enum import Enum
from typing import Any, Final, Literal, ParamSpec, TypeVar

from application.security.principal import Principal, Role
from domain.shared import CountryCode


class AllCountries(Enum):
    """The scope of the system itself: every country."""

    ALL = "ALL"


ALL: Final = AllCountries.ALL

P = ParamSpec("P")
R = TypeVar("R")

CountryScope = frozenset[CountryCode] | Literal[AllCountries.ALL] | None
"""``None``: no country; a set: those countries; ``ALL``: every country."""

current_countries: ContextVar[CountryScope] = ContextVar("supportos_current_countries", default=None)


def scope_for(principal: Principal) -> frozenset[CountryCode] | Literal[AllCountries.ALL]:
    """What a principal may see: ``ALL`` for ``Role.SYSTEM``, else its own countries."""
    if principal.role is Role.SYSTEM:
        return ALL
    return frozenset(principal.countries)


def bind_scope(principal: Principal) -> Token[CountryScope]:
    """Bind ``principal``'s countries for the rest of the current task (e.g. an HTTP request).

    Returns the token for ``reset_scope`` when the binding must end before the task does.
    """
    return current_countries.set(scope_for(principal))


def reset_scope(token: Token[CountryScope]) -> None:
    current_countries.reset(token)


def current_scope() -> CountryScope:
    return current_countries.get()


@contextmanager
def scoped_to(scope: CountryScope) -> Iterator[None]:
    """Run a block with ``scope`` bound, restoring the previous binding afterwards."""
    token = current_countries.set(scope)
    try:
        yield
    finally:
        current_countries.reset(token)


@contextmanager
def scope_of_principal(principal: Principal) -> Iterator[None]:
    with scoped_to(scope_for(principal)):
        yield


def system_scope(function: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a coroutine function with every country bound: the entry points of the system's
    own workers (its principal is ``Role.SYSTEM``), whoever calls them."""

    @functools.wraps(function)
    async def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        with scoped_to(ALL):
            return await function(*args, **kwargs)

    return bound
