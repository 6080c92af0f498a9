"""Which orders (and so which disputes) an actor may see inside a country they are scoped to.

Country scope is ``authorize``'s business; this is the second, per-object rule of SPEC §2:

- staff roles (L0-L3, AUDITOR, SYSTEM) see every order of their countries;
- a ``PARTNER`` sees the orders whose seller is the partner (``seller_id == partner_id``);
- ``BUYER`` / ``SELLER`` / ``COURIER`` see only the orders they are a party to.

An order someone may not see is reported exactly like one that does not exist
(``NOT_FOUND``): no existence oracle. Lists are filtered in the query itself
(:func:`party_scope`), never after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.security.principal import Principal, Role
from domain.orders import Order


@dataclass(frozen=True, slots=True)
class PartyScope:
    """The restriction a principal puts on order (and dispute) queries; all ``None``: none."""

    seller_id: str | None = None
    buyer_id: str | None = None
    courier_id: str | None = None
    nothing: bool = False  # a principal that may see no order at all (e.g. a partner without id)

    @property
    def unrestricted(self) -> bool:
        return not self.nothing and self.seller_id is self.buyer_id is self.courier_id is None


def party_scope(principal: Principal) -> PartyScope:
    match principal.role:
        case Role.PARTNER:
            if not principal.partner_id:
                return PartyScope(nothing=True)
            return PartyScope(seller_id=principal.partner_id)
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
    )
