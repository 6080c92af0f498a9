"""GraphQL types of disputes and their evidence, built from domain objects with ``from_domain``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Final

import strawberry

from application.disputes.queries import amount_refunded
from application.disputes.use_cases import DecisionReceipt as DomainReceipt
from application.security.principal import Principal
from domain.disputes import Decision as DomainDecision
from domain.disputes import Dispute as DomainDispute
from domain.disputes import Withdrawal as DomainWithdrawal
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.evidence import (
    ActorRef,
    ConversationTranscript,
    DeliveryProof,
    EvidenceKind,
    EvidencePack,
    EvidenceSubmission,
    GpsPoint,
    PlatformFacts,
    TimelineEntry,
    TranscriptEntry,
)
from domain.disputes.references import ledger_prefix
from domain.disputes.returns import ReissueMethod, refund_awaiting_reissue
from domain.disputes.status import DisputeOrigin, DisputeStatus
from domain.ledger import LedgerTransaction as DomainLedgerTransaction
from domain.orders import Order as DomainOrder
from domain.shared import CountryCode, Currency
from domain.shared import Money as DomainMoney
from interfaces.graphql.common import (
    BigInt,
    Key,
    Money,
    Pending,
    in_place_or_awaited,
    load_one,
    node_fields,
    preload,
    settled,
)
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.ledger.types import LedgerTransaction
from interfaces.graphql.orders.types import Order
from interfaces.graphql.scope import (
    actor_shown,
    load_relation,
    reads_ledger,
    relation_in_place,
    settled_viewer,
    support_internal,
    viewer,
)

strawberry.enum(DisputeStatus, description="Where a dispute is in its life (SPEC §5).")
strawberry.enum(DisputeReason, description="Why the buyer disputes the order.")
strawberry.enum(DisputeOrigin, description="Opened by a party, or by an operational cancellation.")
strawberry.enum(OutcomeCode, description="The only way money moves: a named outcome, never an amount.")
strawberry.enum(DecisionReasonCode, description="Why an outcome was chosen (a closed list, for reports).")
strawberry.enum(EvidenceKind, description="A stored file or a written statement.")
strawberry.enum(
    ReissueMethod,
    description="How a refund the provider returned goes back to the buyer: to the card again, or as "
    "store credit.",
)


@strawberry.type(name="Actor", description="Who did something, as which role.")
class ActorType:
    actor_id: str
    role: str

    @staticmethod
    def from_domain(actor: ActorRef) -> ActorType:
        return ActorType(actor_id=actor.actor_id, role=actor.role)


# Support's own fields: what a partner or a party reads as null.
INTERNAL = "Internal to support: null for a partner or a party."
PARTY_OR_SUPPORT = (
    "A party is shown to every reader; an agent, a rule or the system is internal to support: "
    "null for a partner or a party."
)


def resolve_decided_by(root: DecisionType, info: GraphQLInfo) -> ActorType | None:
    if not support_internal(info, root.country):
        return None
    return ActorType.from_domain(root.domain.decided_by)


def resolve_decision_note(root: DecisionType, info: GraphQLInfo) -> str | None:
    return root.domain.note if support_internal(info, root.country) else None


@strawberry.type(name="Decision", description="The outcome decided, by whom, on which frozen evidence.")
class DecisionType:
    outcome: OutcomeCode
    reason_code: DecisionReasonCode
    partial_refund_tier_bp: int | None
    decided_by: ActorType | None = strawberry.field(
        resolver=resolve_decided_by, description=f"The agent, rule or system that decided. {INTERNAL}"
    )
    decided_at: datetime
    note: str | None = strawberry.field(
        resolver=resolve_decision_note,
        description=f"The decider's note (empty if none). {INTERNAL}",
    )
    evidence_pack_hash: str
    domain: strawberry.Private[DomainDecision]
    country: strawberry.Private[CountryCode]

    @staticmethod
    def from_domain(decision: DomainDecision, country: CountryCode) -> DecisionType:
        return DecisionType(
            outcome=decision.outcome,
            reason_code=decision.reason_code,
            partial_refund_tier_bp=decision.partial_refund_tier_bp,
            decided_at=decision.decided_at,
            evidence_pack_hash=decision.evidence_pack_hash,
            domain=decision,
            country=country,
        )


def resolve_withdrawn_by(root: WithdrawalType, info: GraphQLInfo) -> ActorType | None:
    by = root.domain.withdrawn_by
    return ActorType.from_domain(by) if actor_shown(info, root.country, by.role) else None


def resolve_withdrawal_reason(root: WithdrawalType, info: GraphQLInfo) -> str | None:
    withdrawal = root.domain
    return withdrawal.reason if actor_shown(info, root.country, withdrawal.withdrawn_by.role) else None


@strawberry.type(name="Withdrawal", description="The claim given up before a decision.")
class WithdrawalType:
    withdrawn_by: ActorType | None = strawberry.field(
        resolver=resolve_withdrawn_by, description=f"Who withdrew the claim. {PARTY_OR_SUPPORT}"
    )
    withdrawn_at: datetime
    reason: str | None = strawberry.field(
        resolver=resolve_withdrawal_reason,
        description="Why, as the withdrawer wrote it; null when the withdrawer's name is (see withdrawnBy).",
    )
    evidence_pack_hash: str
    domain: strawberry.Private[DomainWithdrawal]
    country: strawberry.Private[CountryCode]

    @staticmethod
    def from_domain(withdrawal: DomainWithdrawal, country: CountryCode) -> WithdrawalType:
        return WithdrawalType(
            withdrawn_at=withdrawal.withdrawn_at,
            evidence_pack_hash=withdrawal.evidence_pack_hash,
            domain=withdrawal,
            country=country,
        )


async def _ledger_and_order(
    info: GraphQLInfo, dispute: DomainDispute
) -> tuple[list[DomainLedgerTransaction], DomainOrder | None]:
    """Batched: the dispute's ledger transactions and its order, both asked for in the same
    tick as every other dispute's, so a page costs two queries whichever fields ask."""
    loaders = info.context.loaders
    transactions, order = await asyncio.gather(
        loaders.ledger_by_prefix.load((dispute.country, ledger_prefix(dispute.id))),
        loaders.orders.load((dispute.country, dispute.order_id)),
    )
    return transactions, order


def _loaded_ledger_and_order(
    info: GraphQLInfo, dispute: DomainDispute
) -> tuple[list[DomainLedgerTransaction], DomainOrder | None] | None:
    """:func:`_ledger_and_order` when both are loaded already (a preloaded page); else None."""
    loaders = info.context.loaders
    transactions = settled(loaders.ledger_by_prefix, (dispute.country, ledger_prefix(dispute.id)))
    order = settled(loaders.orders, (dispute.country, dispute.order_id))
    if isinstance(transactions, Pending) or isinstance(order, Pending):
        return None
    return transactions, order


def _refunded(transactions: list[DomainLedgerTransaction], order: DomainOrder | None) -> DomainMoney | None:
    snapshot = None if order is None else order.snapshot
    currency = transactions[0].currency if transactions else None if snapshot is None else snapshot.currency
    return None if currency is None else amount_refunded(transactions, currency)


async def refunded_so_far(info: GraphQLInfo, dispute: DomainDispute) -> DomainMoney | None:
    """What the dispute's refunds took out, in the ledger's currency (the order's before any).
    For one root field's dispute (``disputeState``): each loaded at once, one after the
    other, as they would be on the request's one connection anyway (D151)."""
    loaders = info.context.loaders
    transactions = await load_one(loaders.ledger_by_prefix, (dispute.country, ledger_prefix(dispute.id)))
    return _refunded(transactions, await load_one(loaders.orders, (dispute.country, dispute.order_id)))


# A page's nested relations (D143): each resolver below answers from what the page preloaded
# (``preload_relations``) when it is there, as a value, and otherwise loads it (a coroutine);
# both ways give the same answer, from the same loaders.


def _order_shown(principal: Principal | None, found: DomainOrder | None) -> Order | None:
    if principal is None or found is None or not principal.in_scope(found.country):
        return None
    return Order.from_domain(found)


async def _load_dispute_order(root: Dispute, info: GraphQLInfo) -> Order | None:
    principal = await viewer(info)
    found = await info.context.loaders.orders.load((root.domain.country, root.domain.order_id))
    return _order_shown(principal, found)


def resolve_dispute_order(root: Dispute, info: GraphQLInfo) -> Order | Awaitable[Order | None] | None:
    principal = settled_viewer(info)
    found = settled(info.context.loaders.orders, (root.domain.country, root.domain.order_id))
    if isinstance(principal, Pending) or isinstance(found, Pending):
        return _load_dispute_order(root, info)
    return _order_shown(principal, found)


def _refunded_shown(transactions: list[DomainLedgerTransaction], order: DomainOrder | None) -> Money | None:
    refunded = _refunded(transactions, order)
    return None if refunded is None else Money.from_domain(refunded)


async def _load_dispute_refunded(root: Dispute, info: GraphQLInfo) -> Money | None:
    return _refunded_shown(*await _ledger_and_order(info, root.domain))


def resolve_dispute_refunded(root: Dispute, info: GraphQLInfo) -> Money | Awaitable[Money | None] | None:
    loaded = _loaded_ledger_and_order(info, root.domain)
    return _load_dispute_refunded(root, info) if loaded is None else _refunded_shown(*loaded)


def _awaiting_shown(transactions: list[DomainLedgerTransaction], order: DomainOrder | None) -> Money | None:
    if order is None or order.snapshot is None:
        return None
    awaiting = refund_awaiting_reissue(transactions, order.id, order.snapshot.currency)
    return Money.from_domain(awaiting) if awaiting.is_positive else None


async def _load_refund_awaiting_reissue(root: Dispute, info: GraphQLInfo) -> Money | None:
    return _awaiting_shown(*await _ledger_and_order(info, root.domain))


def resolve_refund_awaiting_reissue(
    root: Dispute, info: GraphQLInfo
) -> Money | Awaitable[Money | None] | None:
    """Batched like ``amountRefunded`` (the same two loaders), and shown to whoever may read
    that: ``amountRefunded`` is down by as much. Null when nothing awaits."""
    loaded = _loaded_ledger_and_order(info, root.domain)
    return _load_refund_awaiting_reissue(root, info) if loaded is None else _awaiting_shown(*loaded)


def _ledger_shown(found: list[DomainLedgerTransaction]) -> list[LedgerTransaction]:
    return [LedgerTransaction.from_domain(transaction) for transaction in found]


def _ledger_key(dispute: DomainDispute, principal: Principal | None) -> Key | None:
    """The dispute's ledger transactions, when the caller may read the ledger of its country."""
    return (dispute.country, ledger_prefix(dispute.id)) if reads_ledger(principal, dispute.country) else None


async def _load_dispute_ledger(root: Dispute, info: GraphQLInfo) -> list[LedgerTransaction] | None:
    loader = info.context.loaders.ledger_by_prefix
    return await load_relation(info, root.domain, _ledger_key, loader, _ledger_shown, None)


def resolve_dispute_ledger(
    root: Dispute, info: GraphQLInfo
) -> list[LedgerTransaction] | Awaitable[list[LedgerTransaction] | None] | None:
    loader = info.context.loaders.ledger_by_prefix
    return relation_in_place(
        info, root.domain, _ledger_key, loader, _ledger_shown, None, lambda: _load_dispute_ledger(root, info)
    )


_NEEDS_ORDER: Final = frozenset({"order", "amountRefunded", "refundAwaitingReissue"})
_NEEDS_LEDGER: Final = frozenset({"amountRefunded", "refundAwaitingReissue"})


async def preload_relations(info: GraphQLInfo, disputes: Sequence[DomainDispute]) -> None:
    """Load the relations a page's nodes ask for (their orders, their ledger transactions)
    before the page is answered, in the loaders' own batches: the same statements the nested
    fields would send, one per relation, now sent by the list's resolver. Each nested field
    then answers from the loaded value in place, not with a coroutine and a task per row
    (D143). A relation no node field asks for is not loaded (``ledgerTransactions`` only for a
    caller who may read the ledger, as the field itself)."""
    if not disputes:
        return
    wanted = node_fields(info)
    loaders = info.context.loaders
    every_ledger = bool(wanted & _NEEDS_LEDGER)  # the refund amounts read it whoever asks
    listed = "ledgerTransactions" in wanted
    principal = await viewer(info) if listed and not every_ledger else None
    orders = [(d.country, d.order_id) for d in disputes] if wanted & _NEEDS_ORDER else []
    ledger = [
        (d.country, ledger_prefix(d.id))
        for d in disputes
        if every_ledger or (listed and reads_ledger(principal, d.country))
    ]
    await preload([(loaders.orders, orders), (loaders.ledger_by_prefix, ledger)])


def resolve_dispute_opened_by(root: Dispute, info: GraphQLInfo) -> ActorType | None:
    by = root.domain.opened_by
    return ActorType.from_domain(by) if actor_shown(info, root.domain.country, by.role) else None


def resolve_last_execution_error(root: Dispute, info: GraphQLInfo) -> str | None:
    return root.domain.last_execution_error if support_internal(info, root.domain.country) else None


@strawberry.type(description="A post-delivery dispute on one order.")
class Dispute:
    id: str
    country_code: str
    order_id: str
    reason: DisputeReason
    origin: DisputeOrigin
    status: DisputeStatus
    opened_by: ActorType | None = strawberry.field(
        resolver=resolve_dispute_opened_by,
        description="Who opened the dispute (an operational cancellation's: the agent or rule that "
        f"cancelled). {PARTY_OR_SUPPORT}",
    )
    opened_at: datetime
    evidence_deadline: datetime
    evidence_frozen: bool
    evidence_submission_count: int
    decision: DecisionType | None
    withdrawal: WithdrawalType | None
    last_execution_error: str | None = strawberry.field(
        resolver=resolve_last_execution_error,
        description=f"Why the last execution of the outcome failed (provider or saga error text). {INTERNAL}",
    )
    updated_at: datetime
    version: int
    order: Order | None = strawberry.field(
        resolver=in_place_or_awaited(resolve_dispute_order), description="The disputed order."
    )
    amount_refunded: Money | None = strawberry.field(
        resolver=in_place_or_awaited(resolve_dispute_refunded),
        description="Back to the buyer's card so far, per the ledger (refund, partial refund, clawback, "
        "re-issue), less what the payments provider took back after confirming it (see "
        "refundAwaitingReissue).",
    )
    refund_awaiting_reissue: Money | None = strawberry.field(
        resolver=in_place_or_awaited(resolve_refund_awaiting_reissue),
        description="Refunded to the card, then taken back by the payments provider (a closed card, a "
        "bank's return), and not re-issued yet: held for the buyer until an L3 re-issues it "
        "(disputeRefundReissue). Null when nothing awaits.",
    )
    ledger_transactions: list[LedgerTransaction] | None = strawberry.field(
        resolver=in_place_or_awaited(resolve_dispute_ledger),
        description="The ledger transactions of this dispute's execution; "
        "null if the caller may not read the ledger.",
    )
    domain: strawberry.Private[DomainDispute]

    @staticmethod
    def from_domain(dispute: DomainDispute) -> Dispute:
        return Dispute(
            id=dispute.id,
            country_code=dispute.country.value,
            order_id=dispute.order_id,
            reason=dispute.reason,
            origin=dispute.origin,
            status=dispute.status,
            opened_at=dispute.opened_at,
            evidence_deadline=dispute.evidence_deadline,
            evidence_frozen=dispute.is_evidence_frozen,
            evidence_submission_count=len(dispute.evidence.submissions),
            decision=None
            if dispute.decision is None
            else DecisionType.from_domain(dispute.decision, dispute.country),
            withdrawal=None
            if dispute.withdrawal is None
            else WithdrawalType.from_domain(dispute.withdrawal, dispute.country),
            updated_at=dispute.updated_at,
            version=dispute.version,
            domain=dispute,
        )


@strawberry.type(description="The small shape partner tools poll.")
class DisputeState:
    dispute_id: str
    status: DisputeStatus
    outcome: OutcomeCode | None
    evidence_deadline: datetime
    decided_at: datetime | None
    amount_refunded: Money | None = strawberry.field(
        description="Back to the buyer's card so far, per the ledger (minor units and currency)."
    )

    @staticmethod
    def from_domain(dispute: DomainDispute, refunded: DomainMoney | None) -> DisputeState:
        decision = dispute.decision
        return DisputeState(
            dispute_id=dispute.id,
            status=dispute.status,
            outcome=None if decision is None else decision.outcome,
            evidence_deadline=dispute.evidence_deadline,
            decided_at=None if decision is None else decision.decided_at,
            amount_refunded=None if refunded is None else Money.from_domain(refunded),
        )


# ----------------------------------------------------------------------------- evidence


@strawberry.type(name="TimelineEntry")
class TimelineEntryType:
    at: datetime
    kind: str
    detail: str


@strawberry.type(name="GpsPoint", description="Integer microdegrees: no floats.")
class GpsPointType:
    at: datetime
    lat_microdeg: int
    lon_microdeg: int

    @staticmethod
    def from_domain(point: GpsPoint) -> GpsPointType:
        return GpsPointType(at=point.at, lat_microdeg=point.lat_microdeg, lon_microdeg=point.lon_microdeg)


@strawberry.type(name="DeliveryProof")
class DeliveryProofType:
    delivered_at: datetime | None
    gps_points: list[GpsPointType]
    photo_sha256: list[str]

    @staticmethod
    def from_domain(proof: DeliveryProof) -> DeliveryProofType:
        return DeliveryProofType(
            delivered_at=proof.delivered_at,
            gps_points=[GpsPointType.from_domain(point) for point in proof.gps_points],
            photo_sha256=list(proof.photo_sha256),
        )


@strawberry.type(name="PlatformFacts", description="Prong 1: the platform's own record of the order.")
class PlatformFactsType:
    timeline: list[TimelineEntryType]
    delivery_proof: DeliveryProofType | None

    @staticmethod
    def from_domain(facts: PlatformFacts) -> PlatformFactsType:
        return PlatformFactsType(
            timeline=[_timeline(entry) for entry in facts.timeline],
            delivery_proof=None
            if facts.delivery_proof is None
            else DeliveryProofType.from_domain(facts.delivery_proof),
        )


def _timeline(entry: TimelineEntry) -> TimelineEntryType:
    return TimelineEntryType(at=entry.at, kind=entry.kind, detail=entry.detail)


@strawberry.type(name="TranscriptEntry", description="One message, as hashes (bodies stay in messaging).")
class TranscriptEntryType:
    message_id: str
    sender_role: str
    sent_at: datetime
    body_sha256: str
    blocked: bool
    chain_hash: str

    @staticmethod
    def from_domain(entry: TranscriptEntry) -> TranscriptEntryType:
        return TranscriptEntryType(
            message_id=entry.message_id,
            sender_role=entry.sender_role,
            sent_at=entry.sent_at,
            body_sha256=entry.body_sha256,
            blocked=entry.blocked,
            chain_hash=entry.chain_hash,
        )


@strawberry.type(name="ConversationTranscript", description="Prong 2: the order's conversation.")
class TranscriptType:
    conversation_id: str | None
    entries: list[TranscriptEntryType]

    @staticmethod
    def from_domain(transcript: ConversationTranscript) -> TranscriptType:
        return TranscriptType(
            conversation_id=transcript.conversation_id,
            entries=[TranscriptEntryType.from_domain(entry) for entry in transcript.entries],
        )


@strawberry.type(
    name="EvidenceSubmission", description="Prong 3: a party's file or statement, by content hash."
)
class EvidenceSubmissionType:
    evidence_id: str
    kind: EvidenceKind
    submitted_by: ActorType
    submitted_at: datetime
    content_sha256: str
    filename: str | None
    media_type: str | None
    size_bytes: BigInt | None
    statement: str | None

    @staticmethod
    def from_domain(submission: EvidenceSubmission) -> EvidenceSubmissionType:
        return EvidenceSubmissionType(
            evidence_id=submission.evidence_id,
            kind=submission.kind,
            submitted_by=ActorType.from_domain(submission.submitted_by),
            submitted_at=submission.submitted_at,
            content_sha256=submission.content_sha256,
            filename=submission.filename,
            media_type=submission.media_type,
            size_bytes=None if submission.size_bytes is None else BigInt(submission.size_bytes),
            statement=submission.statement,
        )


@strawberry.type(name="EvidencePack", description="The trident: platform facts, transcript, submissions.")
class EvidencePackType:
    dispute_id: str
    frozen: bool = strawberry.field(description="Frozen by the decision or withdrawal: it can never change.")
    content_hash: str = strawberry.field(description="sha256 of the pack's canonical JSON, as it is now.")
    frozen_hash: str | None = strawberry.field(description="The hash recorded when the pack froze.")
    missing_prongs: list[str]
    platform_facts: PlatformFactsType | None
    transcript: TranscriptType | None
    submissions: list[EvidenceSubmissionType]

    @staticmethod
    def from_domain(dispute: DomainDispute) -> EvidencePackType:
        pack: EvidencePack = dispute.evidence
        return EvidencePackType(
            dispute_id=dispute.id,
            frozen=dispute.is_evidence_frozen,
            content_hash=pack.content_hash(),
            frozen_hash=dispute.frozen_pack_hash,
            missing_prongs=list(pack.missing_prongs),
            platform_facts=None
            if pack.platform_facts is None
            else PlatformFactsType.from_domain(pack.platform_facts),
            transcript=None if pack.transcript is None else TranscriptType.from_domain(pack.transcript),
            submissions=[EvidenceSubmissionType.from_domain(s) for s in pack.submissions],
        )


@strawberry.type(description="What deciding answered (and answers again to a replay of the same key).")
class DecisionReceipt:
    dispute_id: str
    status: str
    outcome: str = strawberry.field(
        description="The outcome decided: the one asked for, except a PARTIAL_REFUND of the whole "
        "charge, decided as FULL_REFUND (D134)."
    )
    requested_outcome: str = strawberry.field(
        description="The outcome asked for: `outcome` unless a PARTIAL_REFUND of the whole charge was "
        "decided as FULL_REFUND (D134)."
    )
    requested_partial_refund_tier_bp: int | None = strawberry.field(
        description="The tier asked for with a PARTIAL_REFUND (basis points), whatever was decided; null "
        "in the replay of a decision answered before this field existed."
    )
    evidence_pack_hash: str
    plan_fingerprint: str
    refund_to_card: Money
    store_credit: Money
    steps: list[str]

    @staticmethod
    def from_domain(receipt: DomainReceipt) -> DecisionReceipt:
        currency = Currency.of(receipt.currency)
        return DecisionReceipt(
            dispute_id=receipt.dispute_id,
            status=receipt.status,
            outcome=receipt.outcome,
            requested_outcome=receipt.requested_outcome or receipt.outcome,
            requested_partial_refund_tier_bp=receipt.requested_tier_bp,
            evidence_pack_hash=receipt.evidence_pack_hash,
            plan_fingerprint=receipt.plan_fingerprint,
            refund_to_card=Money.from_domain(DomainMoney(receipt.refund_to_card_minor, currency)),
            store_credit=Money.from_domain(DomainMoney(receipt.store_credit_minor, currency)),
            steps=list(receipt.steps),
        )
