"""Read-side ports: lists with keyset pagination, and batch loads for dataloaders.

Queries are scoped by country like everything else; a partner sees only its own orders
(a ``seller_id`` filter for a seller org's key, a ``payment_partner_id`` filter for a
payment partner's, set from the principal), a buyer, seller or courier only the orders
they are a party to (``application/security/visibility.py``). Cursors are opaque strings
built by the adapter from the sort key (never offsets), so a page costs the same at any
depth; a cursor the adapter did not make is an ``InvalidInput`` on the field ``after``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from returns.result import Result

from application.ports.api_keys import ApiKeyLookup
from domain.audit import AuditEntry
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.disputes.status import DisputeStatus
from domain.ledger import Account, LedgerTransaction, Posting
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency, InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    end_cursor: str | None
    has_next_page: bool
    cursors: Sequence[str] = ()  # one per item (the cursor just after it), for Relay edges


@dataclass(frozen=True, slots=True)
class OrderFilter:
    statuses: frozenset[OrderStatus] = frozenset()
    created_from: datetime | None = None
    created_before: datetime | None = None
    seller_id: str | None = None  # partners are restricted to their own orders
    buyer_id: str | None = None
    courier_id: str | None = None
    payment_partner_id: str | None = None  # a payment partner's key: the orders it processed


@dataclass(frozen=True, slots=True)
class DisputeFilter:
    statuses: frozenset[DisputeStatus] = frozenset()
    reasons: frozenset[DisputeReason] = frozenset()
    opened_before: datetime | None = None  # "older than": age filter
    opened_from: datetime | None = None
    evidence_deadline_before: datetime | None = None
    order_ids: frozenset[str] | None = None  # partners: restricted to their orders
    seller_id: str | None = None  # the dispute's order's parties (a join on orders)
    buyer_id: str | None = None
    courier_id: str | None = None
    payment_partner_id: str | None = None  # the dispute's order's payment partner (same join)


@dataclass(frozen=True, slots=True)
class PostingRecord:
    """One posting as stored: its global sequence and the transaction it belongs to."""

    sequence: int
    posting: Posting
    transaction_key: str
    transaction_kind: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int = 50
    after: str | None = None

    def clamped(self) -> PageRequest:
        return PageRequest(max(1, min(self.first, MAX_PAGE_SIZE)), self.after)


class OrderReads(Protocol):
    async def list_orders(
        self, country: CountryCode, where: OrderFilter, page: PageRequest
    ) -> Result[Page[Order], InvalidInput]:
        """Newest first, keyset on (created_at, id)."""
        ...

    async def get_many(self, country: CountryCode, ids: Sequence[str]) -> dict[str, Order]: ...


class DisputeReads(Protocol):
    async def list_disputes(
        self, country: CountryCode, where: DisputeFilter, page: PageRequest
    ) -> Result[Page[Dispute], InvalidInput]:
        """Newest first, keyset on (opened_at, id)."""
        ...

    async def get_many(self, country: CountryCode, ids: Sequence[str]) -> dict[str, Dispute]: ...

    async def by_order_ids(
        self, country: CountryCode, order_ids: Sequence[str]
    ) -> dict[str, list[Dispute]]: ...


class LedgerReads(Protocol):
    async def postings(
        self, country: CountryCode, account: Account, currency: Currency, page: PageRequest
    ) -> Result[Page[PostingRecord], InvalidInput]:
        """Newest first, keyset on the posting sequence."""
        ...

    async def transactions_by_prefix(
        self, country: CountryCode, key_prefixes: Sequence[str]
    ) -> dict[str, list[LedgerTransaction]]:
        """For each prefix (e.g. ``dispute:<id>/``), its transactions: one query for many."""
        ...


class AuditReads(Protocol):
    async def trail(
        self, country: CountryCode, target_type: str, target_id: str, page: PageRequest
    ) -> Result[Page[AuditEntry], InvalidInput]:
        """Oldest first (the entity's story in order), keyset on the audit sequence."""
        ...


@dataclass(frozen=True, slots=True)
class ReadModels:
    orders: OrderReads
    disputes: DisputeReads
    ledger: LedgerReads
    audit: AuditReads


class RequestReads(Protocol):
    """The reads of one GraphQL request on one connection and one read transaction (D53).

    The connection is checked out at the first read (or API-key lookup) and kept until
    :meth:`close`; on PostgreSQL the bound country scope is set in that transaction before
    the first scoped read (and again only if the binding changes). After :meth:`close`,
    or when made with ``one_transaction=False`` (websockets, whose context lives as long
    as the socket), every read runs in a short transaction of its own, as before.
    """

    @property
    def reads(self) -> ReadModels: ...

    @property
    def api_keys(self) -> ApiKeyLookup: ...

    def release(self) -> None:
        """End the open transaction before the next read (after a mutation committed
        elsewhere: on SQLite a read transaction keeps the snapshot it started with)."""
        ...

    async def close(self) -> None:
        """End the transaction and return the connection (the end of the request)."""
        ...


class RequestReadsFactory(Protocol):
    def __call__(self, *, one_transaction: bool = True) -> RequestReads: ...
