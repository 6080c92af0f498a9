"""OrderSnapshot: the financial facts of an order, frozen at payment capture.

All outcome money is computed from the snapshot, never from the live order.

Who gets what (recorded in docs/decisions.md):
- the platform's take is its commission on the items subtotal (``commission_bp``,
  rounded half to even) plus the service fee;
- the seller's payout is everything else charged: ``total_charged - platform_take``
  (items net of commission, the delivery fee the seller arranges, the tax the seller
  remits, less any seller-funded discount).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from returns.result import Failure, Result, Success

from domain.shared import BASIS_POINTS, CountryCode, Currency, InvalidInput, Money
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots.policy import RefundPolicy

MAX_PAYMENT_PARTNER_ID_LENGTH: Final = 128  # as a partner API key's partner id


def payment_partner_problem(payment_partner_id: str | None) -> InvalidInput | None:
    """None if ``payment_partner_id`` is absent or a usable id (1..128 printable characters,
    no spaces): the exact id a payment partner's API key is issued for."""
    if payment_partner_id is None:
        return None
    if (
        not payment_partner_id
        or len(payment_partner_id) > MAX_PAYMENT_PARTNER_ID_LENGTH
        or not payment_partner_id.isprintable()
        or any(character.isspace() for character in payment_partner_id)
    ):
        return InvalidInput(
            "payment_partner_id",
            f"must be 1..{MAX_PAYMENT_PARTNER_ID_LENGTH} printable characters without spaces",
        )
    return None


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    order_id: OrderId
    country: CountryCode
    currency: Currency
    items_subtotal: Money
    delivery_fee: Money
    service_fee: Money
    tax: Money
    discount: Money
    total_charged: Money
    commission_bp: int
    policy: RefundPolicy
    buyer_id: BuyerId
    seller_id: SellerId
    courier_id: CourierId | None
    captured_at: datetime
    payment_partner_id: str | None = None

    @staticmethod
    def capture(
        *,
        order_id: OrderId,
        country: CountryCode,
        currency: Currency,
        items_subtotal_minor: int,
        delivery_fee_minor: int,
        service_fee_minor: int,
        tax_minor: int,
        discount_minor: int,
        commission_bp: int,
        policy: RefundPolicy,
        buyer_id: BuyerId,
        seller_id: SellerId,
        courier_id: CourierId | None,
        captured_at: datetime,
        payment_partner_id: str | None = None,
    ) -> Result[OrderSnapshot, InvalidInput]:
        """Validate and freeze the snapshot. The total is derived, never accepted."""
        components = {
            "items_subtotal": items_subtotal_minor,
            "delivery_fee": delivery_fee_minor,
            "service_fee": service_fee_minor,
            "tax": tax_minor,
            "discount": discount_minor,
        }
        for name, value in components.items():
            if type(value) is not int:
                return Failure(InvalidInput(name, "must be an integer number of minor units"))
            if value < 0:
                return Failure(InvalidInput(name, "must not be negative"))
        if items_subtotal_minor == 0:
            return Failure(InvalidInput("items_subtotal", "must be positive"))
        if type(commission_bp) is not int or not 0 <= commission_bp < BASIS_POINTS:
            return Failure(InvalidInput("commission_bp", "must be in [0, 10000) basis points"))
        if policy.country != country:
            return Failure(InvalidInput("policy", "belongs to another country"))
        if policy.currency != currency:
            return Failure(InvalidInput("policy", "is in another currency"))
        if captured_at.tzinfo is None:
            return Failure(InvalidInput("captured_at", "must be timezone-aware"))
        if (problem := payment_partner_problem(payment_partner_id)) is not None:
            return Failure(problem)
        total = items_subtotal_minor + delivery_fee_minor + service_fee_minor + tax_minor - discount_minor
        if total <= 0:
            return Failure(InvalidInput("discount", "leaves nothing to charge"))
        snapshot = OrderSnapshot(
            order_id=order_id,
            country=country,
            currency=currency,
            items_subtotal=Money(items_subtotal_minor, currency),
            delivery_fee=Money(delivery_fee_minor, currency),
            service_fee=Money(service_fee_minor, currency),
            tax=Money(tax_minor, currency),
            discount=Money(discount_minor, currency),
            total_charged=Money(total, currency),
            commission_bp=commission_bp,
            policy=policy,
            buyer_id=buyer_id,
            seller_id=seller_id,
            courier_id=courier_id,
            captured_at=captured_at,
            payment_partner_id=payment_partner_id,
        )
        if snapshot.seller_payout.is_negative:
            return Failure(
                InvalidInput("discount", "exceeds what the seller receives after the platform's take")
            )
        return Success(snapshot)

    def records_charge(
        self,
        *,
        currency: Currency,
        items_subtotal_minor: int,
        delivery_fee_minor: int,
        service_fee_minor: int,
        tax_minor: int,
        discount_minor: int,
        commission_bp: int,
        payment_partner_id: str | None,
    ) -> bool:
        """Whether this snapshot froze exactly this charge: a capture reported again is the
        same capture (D91), anything else is another one."""
        return (
            self.currency,
            self.items_subtotal.minor,
            self.delivery_fee.minor,
            self.service_fee.minor,
            self.tax.minor,
            self.discount.minor,
            self.commission_bp,
            self.payment_partner_id,
        ) == (
            currency,
            items_subtotal_minor,
            delivery_fee_minor,
            service_fee_minor,
            tax_minor,
            discount_minor,
            commission_bp,
            payment_partner_id,
        )

    @property
    def commission(self) -> Money:
        """The platform's commission on the items subtotal."""
        return self.items_subtotal.times_basis_points(self.commission_bp)

    @property
    def platform_take(self) -> Money:
        return self.commission + self.service_fee

    @property
    def seller_payout(self) -> Money:
        return self.total_charged - self.platform_take
