"""Ledger transactions by ``(country, idempotency-key prefix)``: one query per batch."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from application.ports.read_models import LedgerReads
from domain.ledger import LedgerTransaction
from domain.shared import CountryCode
from interfaces.graphql.common import Key, batched


def transactions_by_prefix_loader(reads: LedgerReads) -> DataLoader[Key, list[LedgerTransaction]]:
    async def fetch(country: CountryCode, prefixes: list[str]) -> dict[str, list[LedgerTransaction]]:
        grouped = await reads.transactions_by_prefix(country, prefixes)
        return {prefix: [t for t in found if t.country == country] for prefix, found in grouped.items()}

    return DataLoader(load_fn=batched(fetch, country_of=lambda _: None, missing=list))
