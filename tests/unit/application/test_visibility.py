"""Per-party visibility: staff see their countries, partners their own orders (a seller org's
by seller id, a payment partner's by the payment partner of the capture), parties their own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.security.principal import PERMISSIONS, Operation, PartnerKind, Principal, Role
from application.security.visibility import (
    PartyScope,
    may_see_order,
    party_scope,
    sees_actor,
    sees_support_internals,
)
from domain.orders import Order
from domain.shared import CountryCode
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from tests.unit.domain.orders.factories import make_snapshot

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


def principal(
    role: Role, actor: str = "someone", partner: str | None = None, kind: PartnerKind | None = None
) -> Principal:
    return Principal(actor, role, frozenset({MX}), partner, kind)


def paid_order(payment_partner: str | None, *, seller_id: str = "s1") -> Order:
    """Captured, the payment processed by ``payment_partner`` (None: not reported)."""
    order = new_order(seller_id=seller_id)
    snapshot = make_snapshot(
        order_id=order.id,
        buyer_id=order.buyer_id,
        seller_id=order.seller_id,
        payment_partner_id=payment_partner,
    )
    order.capture_payment(snapshot, datetime(2026, 3, 1, 1, tzinfo=UTC)).unwrap()
    return order


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
    seller_org = principal(Role.PARTNER, "partner:s9", partner="s9", kind=PartnerKind.SELLER_ORG)
    assert party_scope(seller_org) == PartyScope(seller_id="s9")  # the kind, named: the same
    assert may_see_order(seller_org, paid_order("s1", seller_id="s9"))


def test_a_payment_partner_sees_the_orders_whose_payment_it_processed() -> None:
    psp = principal(Role.PARTNER, "partner:psp_9", partner="psp_9", kind=PartnerKind.PAYMENT_PARTNER)
    assert party_scope(psp) == PartyScope(payment_partner_id="psp_9")
    assert not party_scope(psp).unrestricted
    assert may_see_order(psp, paid_order("psp_9"))
    assert not may_see_order(psp, paid_order("psp_1"))  # another payment partner's
    assert not may_see_order(psp, paid_order(None))  # not reported: nobody's
    assert not may_see_order(psp, new_order())  # not captured
    elsewhere = Principal(
        "partner:psp_9", Role.PARTNER, frozenset({CO}), "psp_9", PartnerKind.PAYMENT_PARTNER
    )
    assert not may_see_order(elsewhere, paid_order("psp_9"))
    no_id = principal(Role.PARTNER, kind=PartnerKind.PAYMENT_PARTNER)
    assert party_scope(no_id).nothing and not may_see_order(no_id, paid_order("psp_9"))


def test_one_id_as_a_seller_and_as_a_payment_partner_sees_only_its_own_kind() -> None:
    """``x`` sells one order and processed the payment of another: each key sees its own."""
    sold_by_x = paid_order("psp_1", seller_id="x")
    paid_through_x = paid_order("x", seller_id="s1")
    seller_org = principal(Role.PARTNER, "partner:x", partner="x", kind=PartnerKind.SELLER_ORG)
    psp = principal(Role.PARTNER, "partner:x", partner="x", kind=PartnerKind.PAYMENT_PARTNER)
    assert may_see_order(seller_org, sold_by_x) and not may_see_order(seller_org, paid_through_x)
    assert may_see_order(psp, paid_through_x) and not may_see_order(psp, sold_by_x)


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


# --------------------------------------------------------------------------- support's own fields

STAFF = (Role.L0, Role.L1, Role.L2, Role.L3, Role.AUDITOR, Role.SYSTEM)


def test_only_support_reads_supports_own_fields() -> None:
    """SPEC §2: a partner reads "the disputes and orders that belong to that partner; nothing
    else"; a note, an agent's id or a saga's error on them is support's, not the partner's."""
    granted = {role for role in Role if Operation.SUPPORT_INTERNAL_READ in PERMISSIONS[role]}
    assert granted == set(STAFF)
    for role in Role:
        assert sees_support_internals(principal(role), MX) is (role in STAFF), role
    assert not sees_support_internals(principal(Role.L2), CO)  # not the caller's country
    assert not sees_support_internals(None, MX)  # a caller not known


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_who_did_it_is_shown_for_a_party_and_to_support_for_support(role: Role) -> None:
    caller = principal(role, partner="s1" if role is Role.PARTNER else None)
    for party in ("BUYER", "SELLER", "COURIER"):
        assert sees_actor(caller, MX, party)
    for agent in ("L0", "L1", "L2", "L3", "AUDITOR", "SYSTEM", "SOMETHING_NEW"):
        assert sees_actor(caller, MX, agent) is (role in STAFF), (role, agent)
