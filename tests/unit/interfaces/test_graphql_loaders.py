"""A request's dataloaders (D149): each is made when first used, is the same loader for the
rest of the request, and ``clear_all`` (after a mutation) clears the ones made and always
ends the request's read transaction."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from application.ports.read_models import ReadModels
from domain.shared import CountryCode
from interfaces.graphql.context import Loaders

MX = CountryCode("MX")


def loaders_with_release() -> tuple[Loaders, list[str]]:
    released: list[str] = []
    reads = cast(ReadModels, SimpleNamespace(orders=object(), disputes=object(), ledger=object()))
    return Loaders(reads, lambda: released.append("released")), released


async def test_a_loader_is_made_when_first_used_and_kept_for_the_request() -> None:
    loaders, _ = loaders_with_release()
    names = ("orders", "disputes", "disputes_by_order", "ledger_by_prefix", "case_bundles")
    assert not any(name in vars(loaders) for name in names)  # nothing made up front
    orders = loaders.orders
    assert loaders.orders is orders and loaders.disputes is not orders
    assert [name for name in names if name in vars(loaders)] == ["orders", "disputes"]
    assert loaders.case_bundles is None  # made without services


async def test_clear_all_clears_the_loaders_made_and_always_ends_the_read_transaction() -> None:
    loaders, released = loaders_with_release()
    loaders.clear_all()  # nothing made yet: nothing to clear, the transaction still ends
    assert released == ["released"]
    assert "orders" not in vars(loaders)
    loaders.orders.prime((MX, "ord_1"), None)
    loaders.disputes_by_order.prime((MX, "ord_1"), [])
    assert loaders.orders.cache_map.get((MX, "ord_1")) is not None
    loaders.clear_all()
    assert loaders.orders.cache_map.get((MX, "ord_1")) is None
    assert loaders.disputes_by_order.cache_map.get((MX, "ord_1")) is None
    assert released == ["released", "released"]
