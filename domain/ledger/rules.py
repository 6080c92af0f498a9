"""Posting rules: how each business event moves money (SPEC §4, §5).

Every amount here is derived from the order snapshot; nothing is typed in. Sign
conventions are handled by :class:`LegBuilder`, so a share that turns negative (a
seller whose discount exceeds their share of a refund, say) is posted on the other side
of the right account instead of producing a negative posting.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.ledger.accounts import Account
from domain.ledger.transactions import LedgerTransaction, LegBuilder, Posting, TransactionKind
from domain.shared import BASIS_POINTS, CountryCode, Currency, InvariantViolation, Money
from domain.snapshots import OrderSnapshot


@dataclass(frozen=True, slots=True)
class RefundSplit:
    """Who bears a refund: ``refund == seller_bears + platform_bears``."""

    refund: Money
    seller_bears: Money
    platform_bears: Money


def full_refund_split(snapshot: OrderSnapshot) -> RefundSplit:
    """A full refund returns the total charged; each party gives back what it would take."""
    return RefundSplit(snapshot.total_charged, snapshot.seller_payout, snapshot.platform_take)


def partial_refund_split(snapshot: OrderSnapshot, tier_bp: int) -> RefundSplit:
    """R = round(S × tier), capped at the total charged; the seller bears R × (1 − c)."""
    if not 0 < tier_bp < BASIS_POINTS:
        raise InvariantViolation(f"tier out of range: {tier_bp}")
    refund = snapshot.items_subtotal.times_basis_points(tier_bp).min(snapshot.total_charged)
    seller_bears = refund.times_basis_points(BASIS_POINTS - snapshot.commission_bp)
    return RefundSplit(refund, seller_bears, refund - seller_bears)


def _transaction(
    snapshot: OrderSnapshot,
    key: str,
    kind: TransactionKind,
    postings: tuple[Posting, ...],
    memo: str,
) -> LedgerTransaction:
    return LedgerTransaction(
        idempotency_key=key,
        kind=kind,
        country=snapshot.country,
        currency=snapshot.currency,
        postings=postings,
        memo=memo,
    )


def _seller_leg(legs: LegBuilder, snapshot: OrderSnapshot, amount: Money) -> None:
    """Credit what the seller is owed; a negative share becomes a receivable from them."""
    if amount.is_negative:
        legs.debit(Account.seller_receivable(snapshot.seller_id), -amount)
    else:
        legs.credit(Account.seller_payable(snapshot.seller_id), amount)


def _platform_leg(legs: LegBuilder, amount: Money) -> None:
    """Credit the platform's revenue; a negative share is absorbed as goodwill expense."""
    if amount.is_negative:
        legs.debit(Account.goodwill_expense(), -amount)
    else:
        legs.credit(Account.commission_revenue(), amount)


def capture(snapshot: OrderSnapshot, key: str) -> LedgerTransaction:
    """Payment captured: Dr psp:clearing / Cr escrow:order, the total charged."""
    legs = LegBuilder(snapshot.currency)
    legs.debit(Account.psp_clearing(), snapshot.total_charged)
    legs.credit(Account.escrow(snapshot.order_id), snapshot.total_charged)
    return _transaction(snapshot, key, TransactionKind.CAPTURE, legs.postings(), "payment captured")


def _release_legs(
    snapshot: OrderSnapshot, held: Money, seller: Money, platform: Money
) -> tuple[Posting, ...]:
    legs = LegBuilder(snapshot.currency)
    legs.debit(Account.escrow(snapshot.order_id), held)
    _seller_leg(legs, snapshot, seller)
    _platform_leg(legs, platform)
    return legs.postings()


def release(snapshot: OrderSnapshot, key: str, *, forced: bool = False) -> LedgerTransaction:
    """Release the escrow: the seller's payout and the platform's take."""
    postings = _release_legs(snapshot, snapshot.total_charged, snapshot.seller_payout, snapshot.platform_take)
    kind = TransactionKind.FORCED_RELEASE if forced else TransactionKind.RELEASE
    memo = "escrow released (forced by L3)" if forced else "escrow released"
    return _transaction(snapshot, key, kind, postings, memo)


def release_remainder(snapshot: OrderSnapshot, refunded: RefundSplit, key: str) -> LedgerTransaction | None:
    """After a partial refund, release the rest "as usual": each party receives its normal
    share less the part of the refund it bears. ``None`` when nothing is left to move."""
    postings = _release_legs(
        snapshot,
        snapshot.total_charged - refunded.refund,
        snapshot.seller_payout - refunded.seller_bears,
        snapshot.platform_take - refunded.platform_bears,
    )
    if not postings:
        return None
    return _transaction(snapshot, key, TransactionKind.RELEASE, postings, "remainder released")


def refund_from_escrow(snapshot: OrderSnapshot, split: RefundSplit, key: str) -> LedgerTransaction:
    """Refund while the money is still held: Dr escrow / Cr psp:clearing."""
    legs = LegBuilder(snapshot.currency)
    legs.debit(Account.escrow(snapshot.order_id), split.refund)
    legs.credit(Account.psp_clearing(), split.refund)
    kind = (
        TransactionKind.REFUND if split.refund == snapshot.total_charged else TransactionKind.PARTIAL_REFUND
    )
    return _transaction(snapshot, key, kind, legs.postings(), "refund to the buyer's card")


def refund_with_clawback(snapshot: OrderSnapshot, split: RefundSplit, key: str) -> LedgerTransaction:
    """Refund after release: claw the seller's share back into seller:receivable and
    reverse the platform's share of revenue; the money leaves psp:clearing."""
    legs = LegBuilder(snapshot.currency)
    legs.debit(Account.seller_receivable(snapshot.seller_id), split.seller_bears)
    legs.debit(Account.commission_revenue(), split.platform_bears)
    legs.credit(Account.psp_clearing(), split.refund)
    return _transaction(
        snapshot, key, TransactionKind.CLAWBACK, legs.postings(), "refund after release: clawback"
    )


def store_credit(snapshot: OrderSnapshot, amount: Money, key: str) -> LedgerTransaction:
    """Goodwill credit: Dr platform:expense:goodwill / Cr buyer:credit."""
    legs = LegBuilder(snapshot.currency)
    legs.debit(Account.goodwill_expense(), amount)
    legs.credit(Account.buyer_credit(snapshot.buyer_id), amount)
    return _transaction(snapshot, key, TransactionKind.STORE_CREDIT, legs.postings(), "store credit issued")


def _between(
    *,
    country: CountryCode,
    key: str,
    kind: TransactionKind,
    debit: Account,
    credit: Account,
    amount: Money,
    memo: str,
) -> LedgerTransaction:
    if not amount.is_positive:
        raise InvariantViolation(f"{kind.value} must move a positive amount, got {amount}")
    legs = LegBuilder(amount.currency)
    legs.debit(debit, amount)
    legs.credit(credit, amount)
    return LedgerTransaction(
        idempotency_key=key,
        kind=kind,
        country=country,
        currency=amount.currency,
        postings=legs.postings(),
        memo=memo,
    )


def refund_returned(*, country: CountryCode, order_id: str, amount: Money, key: str) -> LedgerTransaction:
    """A refund the provider took back after confirming it (D136): the money is at the
    provider again and owed to the buyer again, held for the order until it is re-issued:
    Dr psp:clearing / Cr escrow:order."""
    return _between(
        country=country,
        key=key,
        kind=TransactionKind.REFUND_RETURNED,
        debit=Account.psp_clearing(),
        credit=Account.escrow(order_id),
        amount=amount,
        memo="refund returned by the provider",
    )


def refund_reissued_to_card(
    *, country: CountryCode, order_id: str, amount: Money, key: str
) -> LedgerTransaction:
    """A returned refund sent to the card again, once the provider confirmed it (D136):
    Dr escrow:order / Cr psp:clearing."""
    return _between(
        country=country,
        key=key,
        kind=TransactionKind.REFUND_REISSUED,
        debit=Account.escrow(order_id),
        credit=Account.psp_clearing(),
        amount=amount,
        memo="returned refund re-issued to the card",
    )


def refund_reissued_as_credit(
    *, country: CountryCode, order_id: str, buyer_id: str, amount: Money, key: str
) -> LedgerTransaction:
    """A returned refund given to the buyer as store credit instead (D136): the buyer's own
    money, not goodwill: Dr escrow:order / Cr buyer:credit."""
    return _between(
        country=country,
        key=key,
        kind=TransactionKind.REFUND_AS_CREDIT,
        debit=Account.escrow(order_id),
        credit=Account.buyer_credit(buyer_id),
        amount=amount,
        memo="returned refund re-issued as store credit",
    )


@dataclass(frozen=True, slots=True)
class PayoutDue:
    """What a seller is paid out: ``amount`` (owed less what was clawed back) and the
    clawback debt it settles (``settled_receivable``). ``amount + settled_receivable`` leaves
    ``seller:payable``."""

    amount: Money
    settled_receivable: Money


def payout_due(payable: Money, receivable: Money) -> PayoutDue | None:
    """The payout owed to a seller whose ``seller:payable`` holds ``payable`` and whose
    ``seller:receivable`` holds ``receivable`` (both in their normal direction): the money
    owed net of the clawbacks (SPEC §5: a refund after release claws the seller's share back
    into ``seller:receivable``). ``None`` when nothing is owed net: a seller who owes the
    platform more than it owes them is paid nothing and the debt stays. A negative
    receivable (a clawback reversed after a payout had settled it: the platform owes it back)
    adds to the payout, and the payout's posting brings it back to zero."""
    if payable.currency != receivable.currency:
        raise InvariantViolation("payable and receivable in different currencies")
    net = payable - receivable
    if not net.is_positive:
        return None
    return PayoutDue(net, receivable)


def payout(
    *,
    country: CountryCode,
    currency: Currency,
    seller_id: str,
    amount: Money,
    key: str,
    settled_receivable: Money | None = None,
) -> LedgerTransaction:
    """Seller paid out: Dr seller:payable (``amount`` + the clawback debt it settles) /
    Cr seller:receivable (that debt) / Cr psp:clearing (``amount``, what left the provider)."""
    if not amount.is_positive:
        raise InvariantViolation(f"a payout must be positive, got {amount}")
    settled = settled_receivable if settled_receivable is not None else Money.zero(currency)
    legs = LegBuilder(currency)  # a negative settled receivable is debited: it goes back to zero
    legs.debit(Account.seller_payable(seller_id), amount + settled)
    legs.credit(Account.seller_receivable(seller_id), settled)
    legs.credit(Account.psp_clearing(), amount)
    return LedgerTransaction(
        idempotency_key=key,
        kind=TransactionKind.PAYOUT,
        country=country,
        currency=currency,
        postings=legs.postings(),
        memo="seller payout",
    )
