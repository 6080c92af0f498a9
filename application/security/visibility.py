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
"""

from __future__ import annotations

from dataclasses import dataclass

from application.security.principal import PartnerKind, Principal, Role
from domain.orders import Order


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
