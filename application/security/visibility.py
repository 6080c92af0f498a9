"""Which orders (and so which disputes) an actor may see inside a country they are scoped to.

Country scope is ``authorize``'s business; this is the second, per-object rule of SPEC §2:

- staff roles (L0-L3, AUDITOR, SYSTEM) see every order of their countries;
- a ``PARTNER`` sees the orders that belong to its partner (D88): a seller org's key the
  orders it sells (``seller_id == partner_id``), a payment partner's key the orders whose
  payment it processed (``payment_partner_id == partner_id``; an order with no payment
  partner recorded belongs to none). A partner id is only ever compared with the column of
  its own kind, so a seller and a payment partner that happen to share an id see nothing
  of each other's;
- ``BUYER`` / ``SELLER`` / ``COURIER`` see only the orders they are a party to.

An order someone may not see is reported exactly like one that does not exist
(``NOT_FOUND``): no existence oracle. Lists are filtered in the query itself
(:func:`party_scope`), never after the fact.

Inside an order or a dispute a partner or a party may read, some fields are support's own:
an agent's note and id, a saga's error text, a force-complete reason. Only a
principal with ``SUPPORT_INTERNAL_READ`` (L0-L3, AUDITOR, SYSTEM) reads them
(:func:`sees_support_internals`); who did something is shown to everyone when a party did it,
and to support only when support did (:func:`sees_actor`; D128).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from application.security.principal import Operation, PartnerKind, Principal, Role
from domain.orders import Order
from domain.shared import CountryCode

PARTY_ROLES: Final = frozenset({Role.BUYER.value, Role.SELLER.value, Role.COURIER.value})
"""The roles a marketplace party acts as; any other actor (an agent, a rule, the system) is support."""


@dataclass(frozen=True, slots=True)
class PartyScope:
    """The restriction a principal puts on order (and dispute) queries; all ``None``: none."""

    seller_id: str | None = None
    buyer_id: str | None = None
    courier_id: str | None = None
    payment_partner_id: str | None = None  # the payment partner that processed the payment
    nothing: bool = False  # a principal that may see no order at all (e.g. a partner without id)

    @property
    def unrestricted(self) -> bool:
        parties = (self.seller_id, self.buyer_id, self.courier_id, self.payment_partner_id)
        return not self.nothing and all(value is None for value in parties)


def party_scope(principal: Principal) -> PartyScope:
    match principal.role:
        case Role.PARTNER:
            if not principal.partner_id:
                return PartyScope(nothing=True)
            if principal.partner_kind is PartnerKind.PAYMENT_PARTNER:
                return PartyScope(payment_partner_id=principal.partner_id)
            return PartyScope(seller_id=principal.partner_id)  # SELLER_ORG (or no kind: the default)
        case Role.BUYER:
            return PartyScope(buyer_id=principal.actor_id)
        case Role.SELLER:
            return PartyScope(seller_id=principal.actor_id)
        case Role.COURIER:
            return PartyScope(courier_id=principal.actor_id)
        case _:
            return PartyScope()


def may_see_order(principal: Principal, order: Order) -> bool:
    """The per-object rule; the caller has already checked the order's country is in scope."""
    if not principal.in_scope(order.country):
        return False
    scope = party_scope(principal)
    if scope.nothing:
        return False
    return (
        (scope.seller_id is None or order.seller_id == scope.seller_id)
        and (scope.buyer_id is None or order.buyer_id == scope.buyer_id)
        and (scope.courier_id is None or order.courier_id == scope.courier_id)
        and (scope.payment_partner_id is None or order.payment_partner_id == scope.payment_partner_id)
    )


def may_see_seller(principal: Principal, seller_id: str) -> bool:
    """Whether ``principal`` may read what belongs to the seller ``seller_id`` itself - its
    balance and payouts (D156): staff any seller's, the seller (its token) and a seller
    org's partner key (whose partner id is the seller's id) their own, no other party any.
    The caller has already checked the country is in scope."""
    scope = party_scope(principal)
    return scope.unrestricted or scope == PartyScope(seller_id=seller_id)


def sees_support_internals(principal: Principal | None, country: CountryCode) -> bool:
    """Whether the caller reads support's own fields of an object of ``country``;
    ``None`` (a caller not known) reads none."""
    return (
        principal is not None
        and principal.in_scope(country)
        and principal.may(Operation.SUPPORT_INTERNAL_READ)
    )


def sees_actor(principal: Principal | None, country: CountryCode, actor_role: str) -> bool:
    """Whether the caller reads who did something, and what they wrote with it: a party's act
    is anyone's to read, an act of support (any role but a party's) only support's."""
    return actor_role in PARTY_ROLES or sees_support_internals(principal, country)
