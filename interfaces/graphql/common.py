"""Shared GraphQL building blocks: scalars, ``Money``, Relay connections, input checks.

Lists are Relay connections (``edges { cursor node }``, ``nodes``, ``pageInfo``) over the
read ports' keyset pages: cursors are the adapter's opaque strings, never offsets. A page
holds 50 items unless ``first`` says otherwise, and never more than 200.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Generic, NewType, ParamSpec, TypeVar, cast

import strawberry
from returns.result import Failure, Result, Success
from strawberry.dataloader import DataLoader
from strawberry.exceptions import WrongNumberOfResultsReturned
from strawberry.types.nodes import SelectedField, Selection
from strawberry.types.scalar import ScalarDefinition

from application.ports.read_models import MAX_PAGE_SIZE, Page, PageRequest
from domain.shared import CountryCode, InvalidInput
from domain.shared import Money as DomainMoney
from domain.shared.text import has_unstorable

T = TypeVar("T")
N = TypeVar("N")
K = TypeVar("K", bound=Hashable)
P = ParamSpec("P")

DEFAULT_PAGE_SIZE: Final = 50
MAX_ID_CHARS: Final = 128
MAX_CURSOR_CHARS: Final = 512

BigInt = NewType("BigInt", int)
"""Minor units can exceed GraphQL's 32-bit ``Int``: serialised as a JSON integer."""


BIG_INT_RANGE: Final = range(-(2**63), 2**63)
"""What a BigInt input may be: a signed 64-bit integer, as every column it reaches (D110)."""


def _parse_big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("BigInt must be an integer")
    if value not in BIG_INT_RANGE:
        raise ValueError("BigInt must be a signed 64-bit integer")
    return value


BIG_INT_SCALAR: Final = strawberry.scalar(
    name="BigInt",
    description="A signed 64-bit integer, serialised as a JSON number (minor units of money, ids).",
    serialize=int,
    parse_value=_parse_big_int,
)
SCALAR_MAP: Final[Mapping[object, ScalarDefinition]] = {BigInt: BIG_INT_SCALAR}


def _formatted(root: Money) -> str:
    # formatted only when asked for: a page of orders holds hundreds of amounts
    return root.amount.format()


@strawberry.type(description="An exact amount: integer minor units of an ISO-4217 currency. No floats.")
class Money:
    minor: BigInt = strawberry.field(description="Integer minor units (cents, centavos...).")
    currency: str = strawberry.field(description="ISO-4217 code, e.g. MXN.")
    formatted: str = strawberry.field(
        resolver=_formatted, description='For people, e.g. "1230.00 MXN"; never parse it.'
    )
    amount: strawberry.Private[DomainMoney]

    @staticmethod
    def from_domain(money: DomainMoney) -> Money:
        return Money(minor=BigInt(money.minor), currency=money.currency.code, amount=money)


@strawberry.type(description="Relay page information (keyset pagination: no offsets, no total).")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="One item of a connection and the cursor just after it.")
class Edge(Generic[N]):
    cursor: str
    node: N


def _edges(root: Connection[N]) -> list[Edge[N]]:
    """A connection's edges, made when asked for (D154): a console page asks for its nodes,
    and each cursor is a JSON text in base64."""
    return [Edge(cursor=cursor, node=node) for cursor, node in zip(root.cursors, root.nodes, strict=True)]


@strawberry.type(description="A page of a list, newest first unless the field says otherwise.")
class Connection(Generic[N]):
    edges: list[Edge[N]] = strawberry.field(resolver=_edges)
    nodes: list[N]
    page_info: PageInfo
    cursors: strawberry.Private[Sequence[str]]  # one per node, the cursor just after it


def connection(page: Page[T], convert: Callable[[T], N]) -> Connection[N]:
    nodes = [convert(item) for item in page.items]
    page_info = PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)
    return connection_of(nodes, page_info, page.cursors or tuple("" for _ in nodes))


def connection_of(nodes: list[N], page_info: PageInfo, cursors: Sequence[str]) -> Connection[N]:
    """A page, cast to :class:`Connection` (D154): a field answering a union of one
    connection and its errors resolves to the connection by the cast, where Strawberry would
    otherwise read each generic field to find the connection's type (and ``edges`` is a
    resolver, not a value, until asked for). A union of two connections would be ambiguous
    (Strawberry raises ``AmbiguousCastError``); none is."""
    return strawberry.cast(Connection, Connection(nodes=nodes, page_info=page_info, cursors=cursors))


def page_request(first: int | None, after: str | None) -> Result[PageRequest, InvalidInput]:
    """``first`` defaults to 50 and is capped at 200; below 1 is an error, like a huge cursor."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 1:
        return Failure(InvalidInput("first", "must be at least 1"))
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        return Failure(InvalidInput("after", "is not a cursor from this API"))
    return Success(PageRequest(min(size, MAX_PAGE_SIZE), after))


def check_id(field: str, value: str) -> InvalidInput | None:
    if not value.strip():
        return InvalidInput(field, "must not be blank")
    if len(value) > MAX_ID_CHARS or value != value.strip() or not value.isprintable():
        return InvalidInput(
            field, f"must be at most {MAX_ID_CHARS} printable characters, no surrounding spaces"
        )
    return None


def check_text(field: str, value: str | None, limit: int) -> InvalidInput | None:
    """Free text is bounded at the edge too, so an oversized string is refused before any I/O;
    so is one with characters no database column should hold (NUL, other control characters,
    unpaired surrogates), the same on every backend."""
    if value is None:
        return None
    if len(value) > limit:
        return InvalidInput(field, f"must be at most {limit} characters")
    if has_unstorable(value):  # D110: NUL and its kind, on every backend alike
        return InvalidInput(field, "must not contain control characters other than tabs and line breaks")
    return None


def check_aware(field: str, value: datetime | None) -> InvalidInput | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        return InvalidInput(field, "must carry a time zone offset, e.g. 2026-03-01T00:00:00Z")
    return None


def first_problem(*problems: InvalidInput | None) -> InvalidInput | None:
    return next((problem for problem in problems if problem is not None), None)


COUNTRY_DESCRIPTION: Final = "ISO-3166 alpha-2 country the operation runs in; one of the caller's."
FIRST_DESCRIPTION: Final = f"Page size: default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}."
AFTER_DESCRIPTION: Final = "The endCursor of the previous page."


# ----------------------------------------------------------------------------- dataloaders

Key = tuple[CountryCode, str]
"""Every dataloader key carries the country: ``(country, id)``."""
V = TypeVar("V")


def by_country(keys: Sequence[Key]) -> dict[CountryCode, list[str]]:
    grouped: dict[CountryCode, list[str]] = {}
    for country, value in keys:
        values = grouped.setdefault(country, [])
        if value not in values:
            values.append(value)
    return grouped


def batched(
    fetch: Callable[[CountryCode, list[str]], Awaitable[Mapping[str, V]]],
    *,
    country_of: Callable[[V], CountryCode | None],
    missing: Callable[[], V],
) -> Callable[[list[Key]], Awaitable[list[V]]]:
    """A dataloader batch function: one ``fetch`` per country among the keys (in practice
    one: a request works in the countries it names). A value whose own country differs
    from its key's is dropped, as a second wall behind the read port's country filter."""

    async def load(keys: list[Key]) -> list[V]:
        found: dict[Key, V] = {}
        for country, values in by_country(keys).items():
            for value, item in (await fetch(country, values)).items():
                owner = country_of(item)
                if owner is None or owner == country:
                    found[(country, value)] = item
        return [found[key] if key in found else missing() for key in keys]

    return load


# ----------------------------------------------------------------------------- loaded values (D143)


class Pending:
    """Not known without awaiting: a value not loaded yet (or whose load failed), a caller not
    checked yet. The one instance is :data:`PENDING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PENDING"


PENDING: Final = Pending()


def settled(loader: DataLoader[K, V], key: K) -> V | Pending:
    """What ``loader`` already loaded for ``key``, without awaiting; :data:`PENDING` when it
    holds no completed load of it (never asked, in flight, failed or cancelled): the caller
    then awaits ``loader.load(key)``, which answers or raises as before.

    A field resolver that answers from it returns a value instead of a coroutine, and
    graphql-core completes it in place: no coroutine, no task and no gather for that field
    or for the object and the list that hold it (D143)."""
    future = loader.cache_map.get(key) if loader.cache else None
    if future is None or not future.done() or future.cancelled() or future.exception() is not None:
        return PENDING
    return future.result()


async def load_one(loader: DataLoader[K, V], key: K) -> V:
    """``await loader.load(key)`` for a key a root field asks for on its own (D151): the
    value the loader holds, else its batch function called at once for that one key,
    without the batch's scheduling (a callback, a task, a turn of the loop). The load is
    kept in the loader as ``load`` keeps it: a concurrent or later load of the key (a nested
    field) waits for or reads this one, a failure stays as a failed batch's does, and a
    cancelled call leaves nothing behind (the next load asks again)."""
    if not loader.cache:
        return await loader.load(key)
    held = loader.cache_map.get(key)
    if held is not None and not held.cancelled():
        return await held
    [value] = await _load_now(loader, [key])
    if isinstance(value, BaseException):
        raise value
    return value


async def _load_now(loader: DataLoader[K, V], keys: list[K]) -> list[V | BaseException]:
    """``keys`` (none held by ``loader``) loaded by one call of its batch function, at once;
    each key's value or error. Each key's future is in the loader's cache while the call
    runs (a concurrent ``load`` waits for it) and holds the key's value or error after it, as
    ``dispatch_batch`` leaves it - unless a waiter's cancellation cancelled it meanwhile
    (asyncio cancels the future a cancelled task awaits): then it stays cancelled and the next
    load asks again. The call's own failure is in every future and raised; a cancellation of
    this call cancels them. An error is marked retrieved once it is in its future: it is
    raised to whoever reads it, never logged as lost."""
    futures: list[asyncio.Future[V]] = []
    for key in keys:
        future: asyncio.Future[V] = loader.loop.create_future()
        loader.cache_map.set(key, future)
        futures.append(future)
    try:
        values = list(await loader.load_fn(keys))
        if len(values) != len(keys):
            raise WrongNumberOfResultsReturned(expected=len(keys), received=len(values))
    except asyncio.CancelledError:
        for future in futures:
            future.cancel()
        raise
    except Exception as error:
        for future in futures:
            if not future.cancelled():
                future.set_exception(error)
                future.exception()
        raise
    for future, value in zip(futures, values, strict=True):
        if future.cancelled():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
            future.exception()
        else:
            future.set_result(value)
    return values


def _holds(loader: DataLoader[Any, Any], key: Hashable) -> bool:
    held = loader.cache_map.get(key)
    return held is not None and not held.cancelled()


async def preload(loads: Iterable[tuple[DataLoader[Any, Any], Sequence[Hashable]]]) -> None:
    """Load each ``(loader, keys)`` before a page is answered, so that its nested fields find
    their values :func:`settled` (D143): one call of each loader's batch function for the
    keys it does not hold yet (one statement per loader, as the fields' own loads would
    send), one loader after the other, at once rather than through the loaders' batches (a
    future, a callback and a task per key and per batch; D153). A failed load is left in its
    loader: the fields that read it await it and raise its error, as they would have. A
    loader without a cache keeps nothing, so nothing is preloaded for it."""
    for loader, keys in loads:
        if not loader.cache:
            continue
        fresh = [key for key in dict.fromkeys(keys) if not _holds(loader, key)]  # each once, in order
        if fresh:
            with contextlib.suppress(Exception):  # kept in the futures, raised by the fields
                await _load_now(loader, fresh)


def in_place_or_awaited(resolver: Callable[P, T | Awaitable[T]]) -> Callable[P, T]:
    """``resolver`` (returned as is) for ``strawberry.field``, typed as the value it gives: a
    resolver that answers in place when it can and returns a coroutine otherwise, which
    graphql-core awaits and completes as that value (D143). Strawberry takes the field's
    GraphQL type from the field's own annotation."""
    return cast("Callable[P, T]", resolver)


def _included(directives: Mapping[str, Mapping[str, Any]]) -> bool:
    skip, include = directives.get("skip"), directives.get("include")
    return not (skip is not None and skip.get("if") is True) and not (
        include is not None and include.get("if") is False
    )


def _selected(selections: Iterable[Selection], path: Sequence[str], names: set[str]) -> None:
    for selection in selections:
        if not _included(selection.directives):
            continue
        if not isinstance(selection, SelectedField):  # a fragment: its fields are this level's
            _selected(selection.selections, path, names)
        elif not path:
            names.add(selection.name)
        elif selection.name == path[0]:
            _selected(selection.selections, path[1:], names)


def node_fields(info: strawberry.Info[Any, Any]) -> frozenset[str]:
    """The fields (schema names, not aliases) the query selects on the nodes of the connection
    the current field returns: under ``nodes`` and under ``edges { node }``, through inline
    and named fragments, leaving out what ``@skip``/``@include`` leave out. Validation has
    checked every selection against its type, so a ``nodes`` found under any fragment is the
    connection's."""
    names: set[str] = set()
    for field in info.selected_fields:
        if isinstance(field, SelectedField):
            _selected(field.selections, ("nodes",), names)
            _selected(field.selections, ("edges", "node"), names)
    return frozenset(names)
