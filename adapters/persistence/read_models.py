"""The read side on SQLAlchemy Core: keyset-paginated lists and batch loads for dataloaders.

Every query filters by country first (``WHERE country_code = :country AND ...``), so it is
served by an index that starts with ``country_code`` and can never return a row of another
country, whatever ids it is given. A batch (``get_many``, ``by_order_ids``,
``transactions_by_prefix``) is one statement for all its keys (two for ledger
transactions: their rows, then all their postings), never one per key.

Cursors are opaque: URL-safe base64 of ``[list kind, sort key...]``. A page asks for one
row more than it returns to know whether another page follows. A cursor made for another
list, or not made here at all, is ``InvalidInput("after", ...)``, never an exception.

Reads run outside any unit of work, on connections from a :class:`ReadConnections`: by
default each read on a connection and in a transaction of its own (``engine.connect()``);
a GraphQL request's reads share one connection and one read transaction
(``request_reads.py``, D53). On SQLite the composition root hands in an engine whose
transactions ``BEGIN DEFERRED``, so readers never take the write lock. Rows never leave
this module: the mappers of ``adapters/persistence/mappers.py`` rebuild domain objects.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Literal, Protocol, TypeVar, overload

from returns.result import Failure, Result, Success
from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import BindParameter

from adapters.persistence.audit_log import row_to_entry
from adapters.persistence.mappers import dispute_from_row, order_from_row
from adapters.persistence.prepared import POSTGRESQL, PreparedRead, Row, text_read
from adapters.persistence.tables import audit_log, disputes, ledger_postings, ledger_transactions, orders
from application.ports.read_models import (
    DisputeFilter,
    OrderFilter,
    Page,
    PageRequest,
    PostingRecord,
    ReadModels,
)
from domain.audit import AuditEntry
from domain.disputes import Dispute
from domain.ledger import Account, LedgerTransaction, Posting, Side, TransactionKind
from domain.orders import Order
from domain.shared import CountryCode, Currency, InvalidInput, Money

T = TypeVar("T")

_MAX_CODE_POINT: Final = 0x10FFFF
_BAD_CURSOR: Final = "is not a cursor of this list (use the endCursor of the previous page)"


# ----------------------------------------------------------------------------- connections


class ReadConnections(Protocol):
    """Where a read gets its connection (its transaction begins at the first statement)."""

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class PerReadConnections:
    """Each read on a pooled connection and in a transaction of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._engine.connect()


def _connections(source: AsyncEngine | ReadConnections) -> ReadConnections:
    return PerReadConnections(source) if isinstance(source, AsyncEngine) else source


# ----------------------------------------------------------------------------- cursors


def encode_cursor(kind: str, *key: str | int) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, shape: tuple[type, ...]) -> list[Any] | None:
    """The sort key in ``cursor`` if it was made for ``kind`` with values of ``shape``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    if not isinstance(decoded, list) or len(decoded) != len(shape) + 1 or decoded[0] != kind:
        return None
    values = decoded[1:]
    if not all(type(value) is expected for value, expected in zip(values, shape, strict=True)):
        return None
    return values


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class _Cursors(Sequence[str]):
    """A page's cursors, one per item, encoded when first read (D154): a page's edges are
    made only when a query asks for them, and its end cursor is encoded on its own."""

    __slots__ = ("_cursor_of", "_encoded", "_items")

    def __init__(self, items: Sequence[T], cursor_of: Callable[[T], str]) -> None:
        self._items: Sequence[Any] = items
        self._cursor_of: Callable[[Any], str] = cursor_of
        self._encoded: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        encoded = self._encoded
        if encoded is None:
            encoded = self._encoded = tuple(self._cursor_of(item) for item in self._items)
        return encoded

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Cursors):
            return self._all() == other._all()
        return self._all() == other

    __hash__ = None  # type: ignore[assignment]  # compared by value, as the tuple it stands for

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


def _page(rows: Sequence[T], page: PageRequest, cursor_of: Callable[[T], str]) -> Page[T]:
    items = list(rows[: page.first])
    return Page(
        items=items,
        end_cursor=cursor_of(items[-1]) if items else page.after,
        has_next_page=len(rows) > page.first,
        cursors=_Cursors(items, cursor_of),
    )


def _bad_cursor() -> Failure[InvalidInput]:
    return Failure(InvalidInput("after", _BAD_CURSOR))


def _distinct(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# ----------------------------------------------------------------------------- prepared reads
# The reads every partner poll and console page makes, built once (D61): on PostgreSQL a
# list of ids is one array parameter (``= ANY``: one statement text for any number of ids,
# so asyncpg prepares it once); on SQLite the list is one JSON parameter read by
# ``json_each`` (one text too, so the statement runs on the ``sqlite3`` connection, D145,
# where an expanding ``IN`` would need SQLAlchemy to render it per call).


@dataclass(frozen=True, slots=True)
class _ByIds:
    postgresql: PreparedRead
    sqlite: PreparedRead
    expanding: PreparedRead  # SQLite's JSON functions end a string at a NUL: for such ids


_IdsForm = Literal["postgresql", "sqlite", "expanding"]


def _ids_form(connection: AsyncConnection, ids: Sequence[object]) -> _IdsForm:
    """How a list of ids is bound on ``connection``: an array on PostgreSQL, a JSON text on
    SQLite, expanded per call when an id holds a NUL (which SQLite's JSON functions cut)."""
    if connection.dialect.name == POSTGRESQL:
        return "postgresql"
    return "expanding" if _has_nul(ids) else "sqlite"


def _by_ids(connection: AsyncConnection, statements: _ByIds, ids: Sequence[object]) -> PreparedRead:
    form = _ids_form(connection, ids)
    if form == "postgresql":
        return statements.postgresql
    return statements.expanding if form == "expanding" else statements.sqlite


def _in_ids(target: ColumnElement[Any], form: _IdsForm) -> ColumnElement[bool]:
    """``target`` is one of the ``ids`` parameter's values, bound in ``form``."""
    if form == "postgresql":
        return target == any_(bindparam("ids", type_=ARRAY(target.type)))
    if form == "expanding":
        return target.in_(bindparam("ids", expanding=True))
    return target.in_(select(func.json_each(bindparam("ids", type_=JSON)).table_valued("value").c.value))


def _has_nul(values: Sequence[object]) -> bool:
    return any(isinstance(value, str) and "\x00" in value for value in values)


def _ids_statements(
    table: Table, column: str, *, columns: Sequence[Any] = (), order_by: Sequence[Any] = ()
) -> _ByIds:
    """``table``'s rows (or ``columns``) of one country whose ``column`` is in the list ``ids``."""

    def build(condition: ColumnElement[bool]) -> PreparedRead:
        query = select(*columns) if columns else select(table)
        query = query.where(table.c.country_code == bindparam("country"), condition)
        return PreparedRead(query.order_by(*order_by) if order_by else query)

    target = table.c[column]
    return _ByIds(
        postgresql=build(_in_ids(target, "postgresql")),
        expanding=build(_in_ids(target, "expanding")),
        sqlite=build(_in_ids(target, "sqlite")),
    )


def documents_as_text(table: Table) -> tuple[ColumnElement[Any], ...]:
    """``table``'s columns, its JSON documents as their stored text (``CAST(... AS TEXT)``):
    the mappers parse a text through a memo keyed by it, so a row read again is not decoded
    and rebuilt again (D67)."""
    return tuple(
        cast(column, Text).label(column.key) if isinstance(column.type, JSON) else column
        for column in table.columns
    )


_ORDER_COLUMNS: Final = documents_as_text(orders)
_DISPUTE_COLUMNS: Final = documents_as_text(disputes)
_ORDERS_BY_IDS: Final = _ids_statements(orders, "id", columns=_ORDER_COLUMNS)
_DISPUTES_BY_IDS: Final = _ids_statements(disputes, "id", columns=_DISPUTE_COLUMNS)
_DISPUTES_BY_ORDER_IDS: Final = _ids_statements(
    disputes, "order_id", columns=_DISPUTE_COLUMNS, order_by=(disputes.c.opened_at, disputes.c.id)
)
_POSTINGS_OF: Final = _ids_statements(
    ledger_postings,
    "transaction_id",
    columns=(
        ledger_postings.c.transaction_id,
        ledger_postings.c.account,
        ledger_postings.c.side,
        ledger_postings.c.amount_minor,
    ),
    order_by=(ledger_postings.c.id,),
)
_TRANSACTION_COLUMNS: Final = ", ".join(f"t.{column.name}" for column in ledger_transactions.c)
# Transactions whose key falls in any of the ranges [low, high): one statement for any number
# of prefixes. The ranges must drive the plan - each one an index range on (country_code,
# idempotency_key) - whatever the estimates: a LATERAL subquery fenced with OFFSET 0 (so the
# planner cannot flatten it into a join) is run once per range. Unfenced, under row-level
# security at 1M orders, the planner joined a sequential scan of the ledger instead (0.7 s),
# and a plain join with DISTINCT ON (id) walked the ledger in id order (1.7 s; bench/RESULTS.md).
# Overlapping ranges may repeat a row: the caller keeps one per id, in id order.
_TRANSACTIONS_IN_RANGES: Final = PreparedRead(
    text_read(
        # the only interpolation is the table's own column names (a constant)
        f"SELECT {_TRANSACTION_COLUMNS}"  # noqa: S608
        " FROM unnest(CAST(:lows AS VARCHAR[]), CAST(:highs AS VARCHAR[])) AS r(low, high)"
        " CROSS JOIN LATERAL (SELECT * FROM ledger_transactions AS l WHERE l.country_code = :country"
        " AND l.idempotency_key >= r.low AND l.idempotency_key < r.high OFFSET 0) AS t",
        list(ledger_transactions.c),
    )
)
# The same on SQLite (D145): the ranges are one JSON array of [low, high] pairs; CROSS JOIN
# makes SQLite keep the left table (the ranges) as the outer loop, so each range is an index
# range on (country_code, idempotency_key) and not a filter on a walk of the country's ledger.
_TRANSACTIONS_IN_RANGES_SQLITE: Final = PreparedRead(
    text_read(
        f"SELECT {_TRANSACTION_COLUMNS}"  # noqa: S608 - the table's own column names
        " FROM json_each(:ranges) AS r CROSS JOIN ledger_transactions AS t"
        " WHERE t.country_code = :country AND t.idempotency_key >= json_extract(r.value, '$[0]')"
        " AND t.idempotency_key < json_extract(r.value, '$[1]')",
        list(ledger_transactions.c),
    )
)


# ----------------------------------------------------------------------------- orders


class SqlAlchemyOrderReads:
    """``OrderReads``: newest first, keyset on ``(created_at, id)``."""

    KIND: Final = "orders"

    def __init__(self, source: AsyncEngine | ReadConnections) -> None:
        self._connections = _connections(source)

    async def list_orders(
        self, country: CountryCode, where: OrderFilter, page: PageRequest
    ) -> Result[Page[Order], InvalidInput]:
        page = page.clamped()
        c = orders.c
        conditions: list[ColumnElement[bool]] = [c.country_code == country.value]
        if where.statuses:
            conditions.append(c.status.in_(sorted(s.value for s in where.statuses)))
        if where.created_from is not None:
            conditions.append(c.created_at >= where.created_from)
        if where.created_before is not None:
            conditions.append(c.created_at < where.created_before)
        for column, value in (
            (c.seller_id, where.seller_id),
            (c.buyer_id, where.buyer_id),
            (c.courier_id, where.courier_id),
            (c.payment_partner_id, where.payment_partner_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if page.after is not None:
            key = decode_cursor(self.KIND, page.after, (str, str))
            moment = None if key is None else _moment(key[0])
            if key is None or moment is None:
                return _bad_cursor()
            # the redundant bound makes the keyset an index range (the OR alone is a filter)
            conditions.append(c.created_at <= moment)
            conditions.append(or_(c.created_at < moment, and_(c.created_at == moment, c.id < key[1])))
        query = (
            select(*_ORDER_COLUMNS)
            .where(*conditions)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(page.first + 1)
        )
        async with self._connections.connection() as connection:
            rows = (await connection.execute(query)).all()
        found = [order_from_row(row._mapping) for row in rows]
        return Success(_page(found, page, lambda o: encode_cursor(self.KIND, o.created_at.isoformat(), o.id)))

    async def get_many(self, country: CountryCode, ids: Sequence[str]) -> dict[str, Order]:
        wanted = _distinct(ids)
        if not wanted:
            return {}
        async with self._connections.connection() as connection:
            rows = await _by_ids(connection, _ORDERS_BY_IDS, wanted).rows(
                connection, {"country": country.value, "ids": wanted}
            )
        return {order.id: order for order in map(order_from_row, rows)}


# ----------------------------------------------------------------------------- disputes


_PAGE_DATES: Final = ("opened_before", "opened_from", "evidence_deadline_before")
_PAGE_PARTIES: Final = ("seller_id", "buyer_id", "courier_id", "payment_partner_id")


@dataclass(frozen=True, slots=True)
class _DisputePage:
    """The shape of a page of disputes: which filters it has (and how many values in each
    list), the form of its order ids for the dialect, whether it starts after a cursor."""

    statuses: int
    reasons: int
    dates: tuple[bool, ...]  # opened_before, opened_from, evidence_deadline_before
    order_ids: _IdsForm | None  # how the order ids are bound (``_ids_form``), or no such filter
    after: bool
    parties: tuple[bool, ...]  # seller_id, buyer_id, courier_id, payment_partner_id


def _present(names: Sequence[str], values: Sequence[object]) -> dict[str, object]:
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}


@lru_cache(maxsize=256)
def _dispute_page(shape: _DisputePage) -> PreparedRead:
    """The page statement of one shape, built once (D160): every value a named parameter, so
    the statement's text is the same for every page of the shape and, on PostgreSQL, runs on
    the driver path (``PreparedRead``). On SQLite it stays on aiosqlite's thread, as every
    list does (D147), built once instead of per call."""
    d = disputes.c
    conditions: list[ColumnElement[bool]] = [d.country_code == bindparam("country")]
    if shape.statuses:
        conditions.append(d.status.in_([bindparam(f"status_{n}") for n in range(shape.statuses)]))
    if shape.reasons:
        conditions.append(d.reason.in_([bindparam(f"reason_{n}") for n in range(shape.reasons)]))
    before, since, deadline = shape.dates
    if before:
        conditions.append(d.opened_at < bindparam("opened_before"))
    if since:
        conditions.append(d.opened_at >= bindparam("opened_from"))
    if deadline:
        conditions.append(d.evidence_deadline < bindparam("evidence_deadline_before"))
    if shape.order_ids is not None:
        conditions.append(_in_ids(d.order_id, shape.order_ids))
    if shape.after:
        at: BindParameter[datetime] = bindparam("after_at")
        conditions.append(d.opened_at <= at)  # an index range, as for orders
        conditions.append(or_(d.opened_at < at, and_(d.opened_at == at, d.id < bindparam("after_id"))))
    query: Select[Any] = select(*_DISPUTE_COLUMNS)
    if any(shape.parties):
        # The parties are the order's: join it (same country, so the same shard).
        query = query.select_from(
            disputes.join(orders, and_(orders.c.country_code == d.country_code, orders.c.id == d.order_id))
        )
        conditions.append(orders.c.country_code == bindparam("country"))
        columns = (orders.c.seller_id, orders.c.buyer_id, orders.c.courier_id, orders.c.payment_partner_id)
        conditions.extend(
            column == bindparam(name)
            for column, name, present in zip(columns, _PAGE_PARTIES, shape.parties, strict=True)
            if present
        )
    page = query.where(*conditions).order_by(d.opened_at.desc(), d.id.desc()).limit(bindparam("limit"))
    return PreparedRead(page, sqlite_on_loop=False)  # a filter may scan: not on the loop (D147)


class SqlAlchemyDisputeReads:
    """``DisputeReads``: newest first, keyset on ``(opened_at, id)``."""

    KIND: Final = "disputes"

    def __init__(self, source: AsyncEngine | ReadConnections) -> None:
        self._connections = _connections(source)

    async def list_disputes(
        self, country: CountryCode, where: DisputeFilter, page: PageRequest
    ) -> Result[Page[Dispute], InvalidInput]:
        page = page.clamped()
        parameters: dict[str, Any] = {"country": country.value, "limit": page.first + 1}
        after = False
        if page.after is not None:
            key = decode_cursor(self.KIND, page.after, (str, str))
            moment = None if key is None else _moment(key[0])
            if key is None or moment is None:
                return _bad_cursor()
            parameters.update(after_at=moment, after_id=key[1])
            after = True
        statuses = sorted(s.value for s in where.statuses)
        reasons = sorted(r.value for r in where.reasons)
        parameters.update({f"status_{n}": value for n, value in enumerate(statuses)})
        parameters.update({f"reason_{n}": value for n, value in enumerate(reasons)})
        dates = (where.opened_before, where.opened_from, where.evidence_deadline_before)
        parameters.update(_present(_PAGE_DATES, dates))
        parties = (where.seller_id, where.buyer_id, where.courier_id, where.payment_partner_id)
        parameters.update(_present(_PAGE_PARTIES, parties))
        async with self._connections.connection() as connection:
            order_ids: _IdsForm | None = None
            if where.order_ids is not None:
                wanted = sorted(where.order_ids)
                parameters["ids"] = wanted
                order_ids = _ids_form(connection, wanted)
            shape = _DisputePage(
                statuses=len(statuses),
                reasons=len(reasons),
                dates=tuple(value is not None for value in dates),
                order_ids=order_ids,
                after=after,
                parties=tuple(value is not None for value in parties),
            )
            rows = await _dispute_page(shape).rows(connection, parameters)
        found = [dispute_from_row(row) for row in rows]
        return Success(_page(found, page, lambda x: encode_cursor(self.KIND, x.opened_at.isoformat(), x.id)))

    async def get_many(self, country: CountryCode, ids: Sequence[str]) -> dict[str, Dispute]:
        wanted = _distinct(ids)
        if not wanted:
            return {}
        async with self._connections.connection() as connection:
            rows = await _by_ids(connection, _DISPUTES_BY_IDS, wanted).rows(
                connection, {"country": country.value, "ids": wanted}
            )
        return {dispute.id: dispute for dispute in map(dispute_from_row, rows)}

    async def by_order_ids(self, country: CountryCode, order_ids: Sequence[str]) -> dict[str, list[Dispute]]:
        wanted = _distinct(order_ids)
        if not wanted:
            return {}
        async with self._connections.connection() as connection:
            rows = await _by_ids(connection, _DISPUTES_BY_ORDER_IDS, wanted).rows(
                connection, {"country": country.value, "ids": wanted}
            )
        grouped: dict[str, list[Dispute]] = {order_id: [] for order_id in wanted}
        for row in rows:
            dispute = dispute_from_row(row)
            grouped[dispute.order_id].append(dispute)
        return grouped


# ----------------------------------------------------------------------------- ledger


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``."""
    stem = prefix
    while stem:
        nxt = ord(stem[-1]) + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not encodable; skip the block
            nxt = 0xE000
        if nxt <= _MAX_CODE_POINT:
            return stem[:-1] + chr(nxt)
        stem = stem[:-1]
    return None


class SqlAlchemyLedgerReads:
    """``LedgerReads``: an account's postings (newest first) and transactions by key prefix."""

    KIND: Final = "postings"

    def __init__(self, source: AsyncEngine | ReadConnections) -> None:
        self._connections = _connections(source)

    async def postings(
        self, country: CountryCode, account: Account, currency: Currency, page: PageRequest
    ) -> Result[Page[PostingRecord], InvalidInput]:
        page = page.clamped()
        p, t = ledger_postings.c, ledger_transactions.c
        conditions: list[ColumnElement[bool]] = [
            p.country_code == country.value,
            p.account == account.name,
            p.currency == currency.code,
        ]
        if page.after is not None:
            key = decode_cursor(self.KIND, page.after, (int,))
            if key is None:
                return _bad_cursor()
            conditions.append(p.id < key[0])
        query = (
            select(p.id, p.side, p.amount_minor, t.idempotency_key, t.kind, t.created_at)
            .select_from(
                ledger_postings.join(
                    ledger_transactions,
                    and_(t.country_code == p.country_code, t.id == p.transaction_id),
                )
            )
            .where(*conditions)
            .order_by(p.id.desc())
            .limit(page.first + 1)
        )
        async with self._connections.connection() as connection:
            rows = (await connection.execute(query)).all()
        records = [
            PostingRecord(
                sequence=int(row.id),
                posting=Posting(account, Side(str(row.side)), Money(int(row.amount_minor), currency)),
                transaction_key=str(row.idempotency_key),
                transaction_kind=str(row.kind),
                recorded_at=row.created_at,
            )
            for row in rows
        ]
        return Success(_page(records, page, lambda r: encode_cursor(self.KIND, r.sequence)))

    async def transactions_by_prefix(
        self, country: CountryCode, key_prefixes: Sequence[str]
    ) -> dict[str, list[LedgerTransaction]]:
        prefixes = [prefix for prefix in _distinct(key_prefixes) if prefix]
        if not prefixes:
            return {}
        uppers = [prefix_upper_bound(prefix) for prefix in prefixes]
        async with self._connections.connection() as connection:
            postgresql = connection.dialect.name == POSTGRESQL
            bounded = all(upper is not None for upper in uppers)
            if bounded and (postgresql or not _has_nul([*prefixes, *uppers])):
                if postgresql:
                    found = await _TRANSACTIONS_IN_RANGES.rows(
                        connection, {"country": country.value, "lows": prefixes, "highs": uppers}
                    )
                else:
                    pairs = json.dumps(list(zip(prefixes, uppers, strict=True)))
                    found = await _TRANSACTIONS_IN_RANGES_SQLITE.rows(
                        connection, {"country": country.value, "ranges": pairs}
                    )
                rows = sorted({int(row["id"]): row for row in found}.values(), key=lambda row: int(row["id"]))
            else:
                t = ledger_transactions.c
                # the country in every range: each is one range of the (country, key) index (D148)
                ranges: list[ColumnElement[bool]] = [
                    and_(
                        t.country_code == country.value,
                        t.idempotency_key >= prefix,
                        *([t.idempotency_key < upper] if upper else []),
                    )
                    for prefix, upper in zip(prefixes, uppers, strict=True)
                ]
                query = select(ledger_transactions).where(or_(*ranges))
                rows = [row._mapping for row in await connection.execute(query.order_by(t.id))]
            legs: dict[int, list[Row]] = {int(row["id"]): [] for row in rows}
            if legs:
                posting_rows = await _by_ids(connection, _POSTINGS_OF, list(legs)).rows(
                    connection, {"country": country.value, "ids": list(legs)}
                )
                for leg in posting_rows:
                    legs[int(leg["transaction_id"])].append(leg)
        grouped: dict[str, list[LedgerTransaction]] = {prefix: [] for prefix in prefixes}
        for row in rows:
            key = str(row["idempotency_key"])
            transaction: LedgerTransaction | None = None
            for prefix in prefixes:
                if key.startswith(prefix):
                    transaction = transaction or _transaction(row, legs[int(row["id"])])
                    grouped[prefix].append(transaction)
        return grouped


def _transaction(row: Row, legs: Sequence[Row]) -> LedgerTransaction:
    currency = Currency.of(str(row["currency"]))
    reverses = row["reverses"]
    return LedgerTransaction(
        idempotency_key=str(row["idempotency_key"]),
        kind=TransactionKind(str(row["kind"])),
        country=CountryCode(str(row["country_code"])),
        currency=currency,
        postings=tuple(
            Posting(
                Account(str(leg["account"])),
                Side(str(leg["side"])),
                Money(int(leg["amount_minor"]), currency),
            )
            for leg in legs
        ),
        memo=str(row["memo"]),
        reverses=None if reverses is None else str(reverses),
    )


# ----------------------------------------------------------------------------- audit


class SqlAlchemyAuditReads:
    """``AuditReads``: one entity's trail, oldest first, keyset on the audit sequence.

    An entry that no longer reads back (tampered types) is skipped here and left to
    ``supportos audit-verify``, which reports the first broken link.
    """

    KIND: Final = "audit"

    def __init__(self, source: AsyncEngine | ReadConnections) -> None:
        self._connections = _connections(source)

    async def trail(
        self, country: CountryCode, target_type: str, target_id: str, page: PageRequest
    ) -> Result[Page[AuditEntry], InvalidInput]:
        page = page.clamped()
        a = audit_log.c
        conditions: list[ColumnElement[bool]] = [
            a.country_code == country.value,
            a.target_type == target_type,
            a.target_id == target_id,
        ]
        if page.after is not None:
            key = decode_cursor(self.KIND, page.after, (int,))
            if key is None:
                return _bad_cursor()
            conditions.append(a.sequence > key[0])
        query = select(audit_log).where(*conditions).order_by(a.sequence).limit(page.first + 1)
        async with self._connections.connection() as connection:
            rows = (await connection.execute(query)).all()
        paged = _page(rows, page, lambda row: encode_cursor(self.KIND, int(row.sequence)))
        kept = [
            (entry, cursor)
            for entry, cursor in zip((row_to_entry(row) for row in paged.items), paged.cursors, strict=True)
            if isinstance(entry, AuditEntry)
        ]
        return Success(
            Page(
                items=[entry for entry, _ in kept],
                end_cursor=paged.end_cursor,
                has_next_page=paged.has_next_page,
                cursors=tuple(cursor for _, cursor in kept),
            )
        )


def read_models(source: AsyncEngine | ReadConnections) -> ReadModels:
    """Every read port on one engine (on SQLite, give it ``sqlite_begin="DEFERRED"``), or
    on one connection source (a request's read transaction)."""
    connections = _connections(source)
    return ReadModels(
        orders=SqlAlchemyOrderReads(connections),
        disputes=SqlAlchemyDisputeReads(connections),
        ledger=SqlAlchemyLedgerReads(connections),
        audit=SqlAlchemyAuditReads(connections),
    )
