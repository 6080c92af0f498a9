"""Outcomes -> execution plans: the only way money moves (SPEC §5).

:func:`plan_execution` is a pure function of (snapshot, outcome, tier, escrow state): the
policy in force at capture travels inside the snapshot. It returns an ordered list of
steps, each with an idempotency key derived from (reference, outcome, step name), so the
same inputs always give an identical plan and re-running any step can be detected and
ignored. No amount is ever accepted from a caller: every figure below is computed.

Step order is chosen so that a failure leaves the books consistent: for refunds the
provider is asked first and the ledger records the money leaving ``psp:clearing`` only
after the provider confirmed; notifications come last.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from returns.result import Failure, Result, Success

from domain.disputes.codes import OutcomeCode
from domain.disputes.errors import (
    PartialRefundTierForbidden,
    PartialRefundTierNotInPolicy,
    PartialRefundTierRequired,
)
from domain.ledger import LedgerTransaction, RefundSplit, rules
from domain.shared import Money
from domain.snapshots import OrderSnapshot


class EscrowState(StrEnum):
    """Where the buyer's money is when the outcome executes."""

    HELD = "HELD"  # still in escrow:order (the normal case: DISPUTED is a payout hold)
    RELEASED = "RELEASED"  # already released to the seller (e.g. a force-completed order)


class OrderResolution(StrEnum):
    """What the outcome does to the order once every immediate step has run."""

    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    COMPLETED = "COMPLETED"
    FORCE_COMPLETED = "FORCE_COMPLETED"
    AWAITING_REPLACEMENT = "AWAITING_REPLACEMENT"


class StepTrigger(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    ON_REPLACEMENT_DELIVERED = "ON_REPLACEMENT_DELIVERED"


@dataclass(frozen=True, slots=True)
class PostLedger:
    transaction: LedgerTransaction


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    order_id: str
    buyer_id: str
    amount: Money


@dataclass(frozen=True, slots=True)
class CreateReplacementOrder:
    original_order_id: str
    buyer_id: str
    seller_id: str


@dataclass(frozen=True, slots=True)
class Notify:
    recipient_role: str  # BUYER | SELLER
    recipient_id: str
    template: str


StepAction = PostLedger | ProviderRefund | CreateReplacementOrder | Notify


class StepKind(StrEnum):
    LEDGER_POSTING = "LEDGER_POSTING"
    PROVIDER_REFUND = "PROVIDER_REFUND"
    CREATE_REPLACEMENT_ORDER = "CREATE_REPLACEMENT_ORDER"
    NOTIFICATION = "NOTIFICATION"


def _kind(action: StepAction) -> StepKind:
    match action:
        case PostLedger():
            return StepKind.LEDGER_POSTING
        case ProviderRefund():
            return StepKind.PROVIDER_REFUND
        case CreateReplacementOrder():
            return StepKind.CREATE_REPLACEMENT_ORDER
        case Notify():
            return StepKind.NOTIFICATION


@dataclass(frozen=True, slots=True)
class ExecutionStep:
    index: int
    name: str
    idempotency_key: str
    action: StepAction
    trigger: StepTrigger = StepTrigger.IMMEDIATE

    @property
    def kind(self) -> StepKind:
        return _kind(self.action)


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    reference: str
    outcome: OutcomeCode
    tier_bp: int | None
    escrow: EscrowState
    steps: tuple[ExecutionStep, ...]
    refund_to_card: Money
    store_credit: Money
    seller_bears: Money
    platform_bears: Money
    order_resolution: OrderResolution
    # :meth:`fingerprint`, computed once per plan (a value); not part of its identity
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """A sha256 of the plan's canonical form: equal plans have equal fingerprints."""
        if self._fingerprint is None:
            digest = hashlib.sha256(
                json.dumps(_canonical(self), sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            object.__setattr__(self, "_fingerprint", digest)
        assert self._fingerprint is not None
        return self._fingerprint

    def ledger_transactions(self) -> tuple[LedgerTransaction, ...]:
        return tuple(s.action.transaction for s in self.steps if isinstance(s.action, PostLedger))

    def immediate_steps(self) -> tuple[ExecutionStep, ...]:
        return tuple(s for s in self.steps if s.trigger is StepTrigger.IMMEDIATE)


def _canonical(plan: ExecutionPlan) -> dict[str, object]:
    def money(m: Money) -> list[object]:
        return [m.minor, m.currency.code]

    def action(a: StepAction) -> dict[str, object]:
        match a:
            case PostLedger(transaction=t):
                return {
                    "key": t.idempotency_key,
                    "kind": t.kind.value,
                    "postings": [[p.account.name, p.side.value, *money(p.amount)] for p in t.postings],
                }
            case ProviderRefund():
                return {"order": a.order_id, "buyer": a.buyer_id, "amount": money(a.amount)}
            case CreateReplacementOrder():
                return {"order": a.original_order_id, "buyer": a.buyer_id, "seller": a.seller_id}
            case Notify():
                return {"role": a.recipient_role, "to": a.recipient_id, "template": a.template}

    return {
        "reference": plan.reference,
        "outcome": plan.outcome.value,
        "tier": plan.tier_bp,
        "escrow": plan.escrow.value,
        "refund": money(plan.refund_to_card),
        "credit": money(plan.store_credit),
        "seller": money(plan.seller_bears),
        "platform": money(plan.platform_bears),
        "resolution": plan.order_resolution.value,
        "steps": [
            [s.index, s.name, s.idempotency_key, s.kind.value, s.trigger.value, action(s.action)]
            for s in plan.steps
        ],
    }


OutcomePlanError = PartialRefundTierRequired | PartialRefundTierForbidden | PartialRefundTierNotInPolicy


_RESOLUTION: dict[OutcomeCode, OrderResolution] = {
    OutcomeCode.FULL_REFUND: OrderResolution.REFUNDED,
    OutcomeCode.PARTIAL_REFUND: OrderResolution.PARTIALLY_REFUNDED,
    OutcomeCode.STORE_CREDIT: OrderResolution.COMPLETED,
    OutcomeCode.REPLACEMENT: OrderResolution.AWAITING_REPLACEMENT,
    OutcomeCode.REJECTED: OrderResolution.COMPLETED,
    OutcomeCode.FORCE_COMPLETE: OrderResolution.FORCE_COMPLETED,
}


def step_key(reference: str, outcome: OutcomeCode, step: str) -> str:
    """The idempotency key of one step: (reference, outcome, step name)."""
    return f"{reference}/{outcome.value}/{step}"


class _PlanBuilder:
    def __init__(self, reference: str, outcome: OutcomeCode) -> None:
        self.reference = reference
        self.outcome = outcome
        self.steps: list[ExecutionStep] = []

    def key(self, name: str) -> str:
        return step_key(self.reference, self.outcome, name)

    def add(self, name: str, action: StepAction, trigger: StepTrigger = StepTrigger.IMMEDIATE) -> None:
        self.steps.append(ExecutionStep(len(self.steps) + 1, name, self.key(name), action, trigger))


def _zero_split(snapshot: OrderSnapshot) -> RefundSplit:
    zero = Money.zero(snapshot.currency)
    return RefundSplit(zero, zero, zero)


def amounts_to_full_refund(plan: ExecutionPlan, snapshot: OrderSnapshot) -> bool:
    """Whether ``plan`` is a PARTIAL_REFUND that the cap at the total charged makes the whole
    charge (a large discount): it is then decided as the FULL_REFUND it amounts to, each party
    giving back what it would take, instead of the seller owing the platform's fee on an order
    the buyer got back entirely (D134)."""
    return plan.outcome is OutcomeCode.PARTIAL_REFUND and plan.refund_to_card == snapshot.total_charged


def plan_execution(  # noqa: PLR0912 - one branch per closed outcome code
    *,
    reference: str,
    snapshot: OrderSnapshot,
    outcome: OutcomeCode,
    tier_bp: int | None = None,
    escrow: EscrowState = EscrowState.HELD,
) -> Result[ExecutionPlan, OutcomePlanError]:
    """Compute the execution plan of ``outcome`` for the order behind ``snapshot``.

    ``reference`` names what is being executed (``dispute:<id>`` or, for a force
    completion of a live incident, ``order:<id>``); it seeds every idempotency key.
    """
    policy = snapshot.policy
    if outcome is OutcomeCode.PARTIAL_REFUND:
        if tier_bp is None:
            return Failure(PartialRefundTierRequired())
        if not policy.has_tier(tier_bp):
            return Failure(PartialRefundTierNotInPolicy(tier_bp, policy.partial_refund_tiers_bp))
    elif tier_bp is not None:
        return Failure(PartialRefundTierForbidden(outcome, tier_bp))

    b = _PlanBuilder(reference, outcome)
    held = escrow is EscrowState.HELD
    split = _zero_split(snapshot)
    credit = Money.zero(snapshot.currency)
    buyer, seller, order = snapshot.buyer_id, snapshot.seller_id, snapshot.order_id

    match outcome:
        case OutcomeCode.FULL_REFUND | OutcomeCode.PARTIAL_REFUND:
            split = (
                rules.full_refund_split(snapshot)
                if outcome is OutcomeCode.FULL_REFUND
                else rules.partial_refund_split(snapshot, tier_bp or 0)
            )
            if split.refund.is_positive:
                b.add("provider_refund", ProviderRefund(order, buyer, split.refund))
                if held:
                    b.add(
                        "ledger_refund",
                        PostLedger(rules.refund_from_escrow(snapshot, split, b.key("ledger_refund"))),
                    )
                else:
                    b.add(
                        "ledger_clawback",
                        PostLedger(rules.refund_with_clawback(snapshot, split, b.key("ledger_clawback"))),
                    )
            if held and outcome is OutcomeCode.PARTIAL_REFUND:
                remainder = rules.release_remainder(snapshot, split, b.key("ledger_release"))
                if remainder is not None:
                    b.add("ledger_release", PostLedger(remainder))
            b.add("notify_buyer", Notify("BUYER", buyer, f"outcome.{outcome.value.lower()}.buyer"))
            b.add("notify_seller", Notify("SELLER", seller, f"outcome.{outcome.value.lower()}.seller"))
        case OutcomeCode.STORE_CREDIT:
            # The goodwill amount is the policy's, capped at what was charged: a buyer
            # never receives more than they paid.
            credit = policy.goodwill_credit.min(snapshot.total_charged)
            if credit.is_positive:
                b.add(
                    "ledger_store_credit",
                    PostLedger(rules.store_credit(snapshot, credit, b.key("ledger_store_credit"))),
                )
            if held:
                b.add("ledger_release", PostLedger(rules.release(snapshot, b.key("ledger_release"))))
            b.add("notify_buyer", Notify("BUYER", buyer, "outcome.store_credit.buyer"))
            b.add("notify_seller", Notify("SELLER", seller, "outcome.store_credit.seller"))
        case OutcomeCode.REPLACEMENT:
            b.add("create_replacement", CreateReplacementOrder(order, buyer, seller))
            if held:
                b.add(
                    "ledger_release",
                    PostLedger(rules.release(snapshot, b.key("ledger_release"))),
                    StepTrigger.ON_REPLACEMENT_DELIVERED,
                )
            b.add("notify_buyer", Notify("BUYER", buyer, "outcome.replacement.buyer"))
            b.add("notify_seller", Notify("SELLER", seller, "outcome.replacement.seller"))
        case OutcomeCode.REJECTED:
            if held:
                b.add("ledger_release", PostLedger(rules.release(snapshot, b.key("ledger_release"))))
            b.add("notify_buyer", Notify("BUYER", buyer, "outcome.rejected.buyer"))
            b.add("notify_seller", Notify("SELLER", seller, "outcome.rejected.seller"))
        case OutcomeCode.FORCE_COMPLETE:
            if held:
                b.add(
                    "ledger_release",
                    PostLedger(rules.release(snapshot, b.key("ledger_release"), forced=True)),
                )
            b.add("notify_buyer", Notify("BUYER", buyer, "outcome.force_complete.buyer"))
            b.add("notify_seller", Notify("SELLER", seller, "outcome.force_complete.seller"))

    return Success(
        ExecutionPlan(
            reference=reference,
            outcome=outcome,
            tier_bp=tier_bp,
            escrow=escrow,
            steps=tuple(b.steps),
            refund_to_card=split.refund,
            store_credit=credit,
            seller_bears=split.seller_bears,
            platform_bears=split.platform_bears,
            order_resolution=_RESOLUTION[outcome],
        )
    )
