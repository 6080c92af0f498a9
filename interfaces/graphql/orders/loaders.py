"""Orders by ``(country, id)``: one ``get_many`` per batch."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from application.ports.read_models import OrderReads
from domain.orders import Order
from domain.shared import CountryCode
from interfaces.graphql.common import Key, batched


def order_loader(reads: OrderReads) -> DataLoader[Key, Order | None]:
    async def fetch(country: CountryCode, ids: list[str]) -> dict[str, Order | None]:
        return dict(await reads.get_many(country, ids))

    def country_of(order: Order | None) -> CountryCode | None:
        return None if order is None else order.country

    return DataLoader(load_fn=batched(fetch, country_of=country_of, missing=lambda: None))
