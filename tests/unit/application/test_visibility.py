"""Per-party visibility: staff see their countries, partners their seller id, parties their own orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.security.principal import Principal, Role
from application.security.visibility import PartyScope, may_see_order, party_scope
from domain.orders import Order
from domain.shared import CountryCode
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId

MX, CO = CountryCode("MX"), CountryCode("CO")


def new_order(
    *, country: CountryCode = MX, buyer_id: str = "b1", seller_id: str = "s1", courier_id: str = "c1"
) -> Order:
    return Order.create(
        id=OrderId("ord_1"),
        country=country,
        buyer_id=BuyerId(buyer_id),
        seller_id=SellerId(seller_id),
        courier_id=CourierId(courier_id),
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    ).unwrap()


def principal(role: Role, actor: str = "someone", partner: str | None = None) -> Principal:
    return Principal(actor, role, frozenset({MX}), partner)


@pytest.mark.parametrize("role", [Role.L0, Role.L1, Role.L2, Role.L3, Role.AUDITOR, Role.SYSTEM])
def test_staff_see_every_order_of_their_countries_only(role: Role) -> None:
    assert party_scope(principal(role)).unrestricted
    assert may_see_order(principal(role), new_order(country=MX))
    assert not may_see_order(principal(role), new_order(country=CO))


def test_a_partner_sees_the_orders_of_its_seller_id() -> None:
    partner = principal(Role.PARTNER, "partner:s9", partner="s9")
    assert party_scope(partner) == PartyScope(seller_id="s9")
    assert may_see_order(partner, new_order(seller_id="s9"))
    assert not may_see_order(partner, new_order(seller_id="s1"))
    assert party_scope(principal(Role.PARTNER)).nothing
    assert not may_see_order(principal(Role.PARTNER), new_order(seller_id="s9"))


@pytest.mark.parametrize(
    ("role", "field"), [(Role.BUYER, "buyer_id"), (Role.SELLER, "seller_id"), (Role.COURIER, "courier_id")]
)
def test_parties_see_only_their_own_orders(role: Role, field: str) -> None:
    me = principal(role, "me")
    assert getattr(party_scope(me), field) == "me"
    assert may_see_order(me, order_with(field, "me"))
    assert not may_see_order(me, order_with(field, "you"))


def order_with(field: str, party: str) -> Order:
    if field == "buyer_id":
        return new_order(buyer_id=party)
    if field == "seller_id":
        return new_order(seller_id=party)
    return new_order(courier_id=party)
