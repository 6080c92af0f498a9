"""Disputes by ``(country, id)`` and by ``(country, order id)``: one query per batch each."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from application.ports.read_models import DisputeReads
from domain.disputes import Dispute
from domain.shared import CountryCode
from interfaces.graphql.common import Key, batched


def dispute_loader(reads: DisputeReads) -> DataLoader[Key, Dispute | None]:
    async def fetch(country: CountryCode, ids: list[str]) -> dict[str, Dispute | None]:
        return dict(await reads.get_many(country, ids))

    def country_of(dispute: Dispute | None) -> CountryCode | None:
        return None if dispute is None else dispute.country

    return DataLoader(load_fn=batched(fetch, country_of=country_of, missing=lambda: None))


def disputes_by_order_loader(reads: DisputeReads) -> DataLoader[Key, list[Dispute]]:
    async def fetch(country: CountryCode, order_ids: list[str]) -> dict[str, list[Dispute]]:
        grouped = await reads.by_order_ids(country, order_ids)
        return {order_id: [d for d in found if d.country == country] for order_id, found in grouped.items()}

    return DataLoader(load_fn=batched(fetch, country_of=lambda _: None, missing=list))
