"""Dispute use cases: open, submit evidence, start review, decide, withdraw, replay.

Deciding is the money-moving command: it freezes the evidence pack, computes the
execution plan from the order's snapshot and the named outcome (no amount is accepted
anywhere), and writes the first saga job to the outbox — in one transaction, at most
once per idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from returns.result import Failure, Result, Success

from application.audit.denials import DenialTarget, audit_hidden
from application.audit.trail import record
from application.cases.l0 import run_l0
from application.cases.use_cases import open_case_for_dispute, publish_changes, resolve_cases_for_dispute
from application.context import RequestContext, Services
from application.disputes.evidence_storage import PDF, EvidenceFileNotUploaded, uploaded_file
from application.disputes.facts import recorded_platform_facts
from application.errors import DisputeAlreadyOpen, NotCaptured, NotFound, OrderNotDisputable
from application.messaging.queries import transcript_for_order
from application.ports.concurrency import ConcurrencyConflict
from application.ports.idempotency import IdempotencyScope, JsonObject
from application.ports.providers import ProviderError
from application.ports.storage import EvidenceStorage
from application.ports.unit_of_work import UnitOfWork
from application.saga.scheduling import schedule_first_step
from application.security.principal import Forbidden, Operation, Principal, Role, authorize
from application.shared.idempotent import IdempotencyFailure, run_idempotent
from domain.cases.case import Case
from domain.disputes import (
    AttachEvidenceError,
    DecideError,
    Dispute,
    OpenDisputeError,
    SubmitEvidenceError,
    TransitionError,
)
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.evidence import (
    EvidenceSubmission,
)
from domain.disputes.outcomes import (
    EscrowState,
    ExecutionPlan,
    OutcomePlanError,
    amounts_to_full_refund,
    plan_execution,
)
from domain.disputes.references import dispute_reference
from domain.ledger import EscrowOverdrawn, rules
from domain.orders import Order, OrderStatus, ReplacementNotDisputable
from domain.orders import TransitionError as OrderTransitionError
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import ActorId, DisputeId, OrderId

PARTY_ROLES = frozenset({Role.BUYER, Role.SELLER, Role.COURIER})


def party_may_act_on(principal: Principal, order: Order) -> bool:
    """Marketplace parties act only on their own orders; staff roles on any in scope."""
    if principal.role not in PARTY_ROLES:
        return True
    owner = {Role.BUYER: order.buyer_id, Role.SELLER: order.seller_id, Role.COURIER: order.courier_id}
    return owner[principal.role] == principal.actor_id


def dispute_summary(dispute: Dispute) -> dict[str, Any]:
    summary: dict[str, Any] = {"status": dispute.status.value, "version": dispute.version}
    if dispute.decision is not None:
        summary |= {
            "outcome": dispute.decision.outcome.value,
            "reason_code": dispute.decision.reason_code.value,
            "tier_bp": dispute.decision.partial_refund_tier_bp,
            "evidence_pack_hash": dispute.decision.evidence_pack_hash,
        }
    if dispute.withdrawal is not None:
        summary |= {
            "withdrawn_by_role": dispute.withdrawal.withdrawn_by.role,
            "evidence_pack_hash": dispute.withdrawal.evidence_pack_hash,
        }
    return summary


def escrow_state_of(order: Order) -> EscrowState:
    released = order.status in (OrderStatus.COMPLETED, OrderStatus.FORCE_COMPLETED)
    return EscrowState.RELEASED if released else EscrowState.HELD


@dataclass(frozen=True, slots=True)
class DisputeLookup:
    """A dispute and its order if the caller may act on them. ``hidden``: the dispute exists
    but its order is another party's: answered ``NOT_FOUND`` like a missing id, and audited
    as a denial once the use case's own unit of work has closed (D17, D135)."""

    country: CountryCode
    dispute_id: DisputeId
    found: tuple[Dispute, Order] | None
    hidden: bool = False

    def result(self) -> Result[tuple[Dispute, Order], NotFound]:
        if self.found is None:
            return Failure(NotFound("dispute", self.dispute_id))
        return Success(self.found)

    async def audit(self, svc: Services, ctx: RequestContext, operation: Operation) -> None:
        """Record the denial if the dispute was hidden from the caller; call it outside any
        unit of work (the denial commits on its own, and nothing else was changed)."""
        if self.hidden:
            target = DenialTarget("dispute", self.dispute_id)
            await audit_hidden(svc, ctx, operation, self.country, target)


async def load_for_party(
    uow: UnitOfWork, principal: Principal, country: CountryCode, dispute_id: DisputeId
) -> DisputeLookup:
    """The dispute and its order, as the caller may act on them (parties: their own orders)."""
    dispute = await uow.disputes.get(country, dispute_id)
    order = None if dispute is None else await uow.orders.get(country, dispute.order_id)
    if dispute is None or order is None:
        return DisputeLookup(country, dispute_id, None)
    if not party_may_act_on(principal, order):
        return DisputeLookup(country, dispute_id, None, hidden=True)
    return DisputeLookup(country, dispute_id, (dispute, order))


async def _load(
    uow: UnitOfWork, principal: Principal, country: CountryCode, dispute_id: DisputeId
) -> Result[tuple[Dispute, Order], NotFound]:
    """For staff-only commands (review, decide): a party never gets this far (``authorize``)."""
    return (await load_for_party(uow, principal, country, dispute_id)).result()


# --------------------------------------------------------------------------- open


@dataclass(frozen=True, slots=True)
class OpenDispute:
    country: CountryCode
    order_id: OrderId
    reason: DisputeReason
    statement: str


OpenFailure = (
    Forbidden
    | NotFound
    | NotCaptured
    | OrderNotDisputable
    | DisputeAlreadyOpen
    | OpenDisputeError
    | OrderTransitionError
    | ConcurrencyConflict
)


async def open_dispute(svc: Services, ctx: RequestContext, cmd: OpenDispute) -> Result[Dispute, OpenFailure]:
    allowed = authorize(ctx.principal, Operation.DISPUTE_OPEN, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        order = await uow.orders.get(cmd.country, cmd.order_id)
        hidden = order is not None and not party_may_act_on(ctx.principal, order)
        if order is None or hidden:
            opened: Result[tuple[Dispute, Case], OpenFailure] = Failure(NotFound("order", cmd.order_id))
        else:
            opened = await _open(svc, ctx, uow, cmd=cmd, order=order, now=now)
    if hidden:  # another party's order: the same NOT_FOUND as a missing one, audited (D135)
        target = DenialTarget("order", cmd.order_id)
        await audit_hidden(svc, ctx, Operation.DISPUTE_OPEN, cmd.country, target)
    if isinstance(opened, Failure):
        return opened
    dispute, case = opened.unwrap()
    await publish_changes(svc, case.pull_events())  # the new case joins the country's live queue
    await run_l0(svc, cmd.country, case.case_id)  # the rules look first, as actor L0 (after commit)
    return Success(dispute)


async def _open(
    svc: Services, ctx: RequestContext, uow: UnitOfWork, *, cmd: OpenDispute, order: Order, now: datetime
) -> Result[tuple[Dispute, Case], OpenFailure]:
    """The dispute and its case, committed; any failure changes nothing."""
    if order.snapshot is None:
        return Failure(NotCaptured(order.id))
    if order.replaces is not None:  # nothing was charged for it: no outcome has money to move
        return Failure(ReplacementNotDisputable(order.id, order.replaces))
    if order.status is not OrderStatus.DELIVERED or order.delivered_at is None:
        return Failure(OrderNotDisputable(order.id, order.status.value))
    policy = order.snapshot.policy
    opened = Dispute.open(
        dispute_id=DisputeId(svc.ids.new_id("dsp")),
        order_id=order.id,
        country=cmd.country,
        reason=cmd.reason,
        opened_by_actor=ActorId(ctx.principal.actor_id),
        opened_by_role=ctx.principal.role.value,
        statement=cmd.statement,
        delivered_at=order.delivered_at,
        now=now,
        # the window did not run while a live incident held the delivered order (D127)
        dispute_window=policy.dispute_window + order.window_paused,
        evidence_window=policy.evidence_deadline,
    )
    if isinstance(opened, Failure):
        return opened
    dispute = opened.unwrap()
    moved = order.transition_to(OrderStatus.DISPUTED, now)
    if isinstance(moved, Failure):
        return moved
    if not await uow.disputes.add(dispute):
        return Failure(DisputeAlreadyOpen(order.id))
    saved = await uow.orders.save(order)
    if isinstance(saved, Failure):
        return saved
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="dispute.opened",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        after={**dispute_summary(dispute), "order_id": order.id, "reason": cmd.reason.value},
    )
    case = await open_case_for_dispute(svc, uow, ctx, dispute, now)  # every dispute has its case
    await uow.commit()
    return Success((dispute, case))


# ------------------------------------------------------------------- evidence


@dataclass(frozen=True, slots=True)
class SubmitEvidence:
    """A file (uploaded for this dispute first, D84) or a statement; exactly one of the two.
    A file's size and media type are the stored file's: ``media_type`` and ``size_bytes``
    are ignored (kept for older clients)."""

    country: CountryCode
    dispute_id: DisputeId
    statement: str | None = None
    content_sha256: str | None = None
    filename: str | None = None
    media_type: str | None = None
    size_bytes: int | None = None


SubmitFailure = (
    Forbidden
    | NotFound
    | InvalidInput
    | SubmitEvidenceError
    | ConcurrencyConflict
    | EvidenceFileNotUploaded
    | ProviderError
)


async def submit_evidence(
    svc: Services, ctx: RequestContext, cmd: SubmitEvidence, files: EvidenceStorage | None = None
) -> Result[EvidenceSubmission, SubmitFailure]:
    """A file must have been uploaded for this dispute (``files``: the evidence storage;
    without it no file is accepted): after the dispute is loaded and the caller's party
    checked, the stored bytes are read back (``EVIDENCE_FILE_NOT_UPLOADED`` if absent,
    nothing changed) and their size and sniffed media type are what the pack records."""
    allowed = authorize(ctx.principal, Operation.DISPUTE_SUBMIT_EVIDENCE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    evidence_id = svc.ids.new_id("evd")
    actor, role = ctx.principal.actor_id, ctx.principal.role.value
    if cmd.statement is not None and cmd.content_sha256 is None:
        built = EvidenceSubmission.of_statement(
            evidence_id=evidence_id,
            submitted_by_actor=actor,
            submitted_by_role=role,
            submitted_at=now,
            text=cmd.statement,
        )
    elif cmd.statement is None and cmd.content_sha256 is not None:
        built = EvidenceSubmission.of_file(
            evidence_id=evidence_id,
            submitted_by_actor=actor,
            submitted_by_role=role,
            submitted_at=now,
            content_sha256=cmd.content_sha256,
            filename=cmd.filename or "",
            media_type=PDF,  # placeholders until the stored file answers (below)
            size_bytes=1,
        )
    else:
        return Failure(InvalidInput("evidence", "give either a statement or a file's content hash"))
    if isinstance(built, Failure):
        return built
    evidence = built.unwrap()
    if cmd.content_sha256 is not None:
        async with svc.uow() as uow:  # the party check comes first: no oracle on other disputes
            lookup = await load_for_party(uow, ctx.principal, cmd.country, cmd.dispute_id)
        await lookup.audit(svc, ctx, Operation.DISPUTE_SUBMIT_EVIDENCE)
        found = lookup.result()
        if isinstance(found, Failure):
            return found
        stored = await uploaded_file(
            svc,
            ctx,
            storage=files,
            country=cmd.country,
            dispute_id=cmd.dispute_id,
            sha256=cmd.content_sha256,
        )
        if isinstance(stored, Failure):
            return stored
        file = stored.unwrap()
        evidence = replace(evidence, size_bytes=file.size_bytes, media_type=file.media_type)
    async with svc.uow() as uow:
        lookup = await load_for_party(uow, ctx.principal, cmd.country, cmd.dispute_id)
        submitted = await _submit(uow, ctx, cmd=cmd, lookup=lookup, evidence=evidence, now=now)
    await lookup.audit(svc, ctx, Operation.DISPUTE_SUBMIT_EVIDENCE)  # another party's: NOT_FOUND, audited
    return submitted


async def _submit(
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    cmd: SubmitEvidence,
    lookup: DisputeLookup,
    evidence: EvidenceSubmission,
    now: datetime,
) -> Result[EvidenceSubmission, SubmitFailure]:
    loaded = lookup.result()
    if isinstance(loaded, Failure):
        return loaded
    dispute, _ = loaded.unwrap()
    version = dispute.version
    submitted = dispute.submit_evidence(evidence, now)
    if isinstance(submitted, Failure):
        return submitted
    if dispute.version == version:  # the same content again: the earlier submission, unchanged
        return Success(submitted.unwrap())  # nothing saved, nothing audited (D114)
    saved = await uow.disputes.save(dispute)
    if isinstance(saved, Failure):
        return saved
    submission = submitted.unwrap()
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="dispute.evidence_submitted",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        after={
            "evidence_id": submission.evidence_id,
            "kind": submission.kind.value,
            "content_sha256": submission.content_sha256,
            **dispute_summary(dispute),
        },
    )
    await uow.commit()
    return Success(submission)


# --------------------------------------------------------------------- review


@dataclass(frozen=True, slots=True)
class StartReview:
    country: CountryCode
    dispute_id: DisputeId


async def start_review(
    svc: Services, ctx: RequestContext, cmd: StartReview
) -> Result[Dispute, Forbidden | NotFound | TransitionError | ConcurrencyConflict]:
    allowed = authorize(ctx.principal, Operation.DISPUTE_START_REVIEW, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        loaded = await _load(uow, ctx.principal, cmd.country, cmd.dispute_id)
        if isinstance(loaded, Failure):
            return loaded
        dispute, _ = loaded.unwrap()
        before = dispute_summary(dispute)
        moved = dispute.start_review(now)
        if isinstance(moved, Failure):
            return moved
        saved = await uow.disputes.save(dispute)
        if isinstance(saved, Failure):
            return saved
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="dispute.review_started",
            target_type="dispute",
            target_id=dispute.id,
            at=now,
            before=before,
            after=dispute_summary(dispute),
        )
        await uow.commit()
    return Success(dispute)


# --------------------------------------------------------------------- decide


@dataclass(frozen=True, slots=True)
class DecideDispute:
    """An outcome code and a reason code — never an amount."""

    country: CountryCode
    dispute_id: DisputeId
    outcome: OutcomeCode
    reason_code: DecisionReasonCode
    idempotency_key: str
    partial_refund_tier_bp: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class DecisionReceipt:
    """What a decide call answers (and what a replay of it answers again)."""

    dispute_id: str
    status: str
    outcome: str
    evidence_pack_hash: str
    plan_fingerprint: str
    refund_to_card_minor: int
    store_credit_minor: int
    currency: str
    steps: tuple[str, ...]
    # what the caller asked for: ``outcome`` but for a PARTIAL_REFUND decided as the
    # FULL_REFUND it amounts to (D134)
    requested_outcome: str = ""
    requested_tier_bp: int | None = None

    def encode(self) -> JsonObject:
        return {
            "dispute_id": self.dispute_id,
            "status": self.status,
            "outcome": self.outcome,
            "evidence_pack_hash": self.evidence_pack_hash,
            "plan_fingerprint": self.plan_fingerprint,
            "refund_to_card_minor": self.refund_to_card_minor,
            "store_credit_minor": self.store_credit_minor,
            "currency": self.currency,
            "steps": list(self.steps),
            "requested_outcome": self.requested_outcome or self.outcome,
            "requested_tier_bp": self.requested_tier_bp,
        }

    @staticmethod
    def decode(data: JsonObject) -> DecisionReceipt:
        # a receipt stored before the requested outcome was (its replay within the key's life)
        # answers the outcome decided
        tier = data.get("requested_tier_bp")
        return DecisionReceipt(
            dispute_id=str(data["dispute_id"]),
            status=str(data["status"]),
            outcome=str(data["outcome"]),
            evidence_pack_hash=str(data["evidence_pack_hash"]),
            plan_fingerprint=str(data["plan_fingerprint"]),
            refund_to_card_minor=int(data["refund_to_card_minor"]),
            store_credit_minor=int(data["store_credit_minor"]),
            currency=str(data["currency"]),
            steps=tuple(str(s) for s in data["steps"]),
            requested_outcome=str(data.get("requested_outcome") or data["outcome"]),
            requested_tier_bp=tier if isinstance(tier, int) and not isinstance(tier, bool) else None,
        )


DecideFailure = (
    Forbidden
    | NotFound
    | NotCaptured
    | DecideError
    | OutcomePlanError
    | ConcurrencyConflict
    | IdempotencyFailure
)


async def decide_dispute(
    svc: Services, ctx: RequestContext, cmd: DecideDispute
) -> Result[DecisionReceipt, DecideFailure]:
    allowed = authorize(ctx.principal, Operation.DISPUTE_DECIDE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    scope = IdempotencyScope(cmd.country, ctx.principal.actor_id, "dispute.decide", cmd.idempotency_key)
    request = {
        "dispute_id": cmd.dispute_id,
        "outcome": cmd.outcome.value,
        "reason_code": cmd.reason_code.value,
        "tier_bp": cmd.partial_refund_tier_bp,
        "note": cmd.note,
    }

    async def command(uow: UnitOfWork) -> Result[DecisionReceipt, DecideFailure]:
        return await _decide(uow, svc, ctx, cmd)

    return await run_idempotent(
        uow_factory=svc.uow,
        clock=svc.clock,
        scope=scope,
        request=request,
        command=command,
        encode=DecisionReceipt.encode,
        decode=DecisionReceipt.decode,
        metrics=svc.metrics,
    )


async def _complete_trident(
    uow: UnitOfWork, svc: Services, dispute: Dispute, order: Order, now: datetime
) -> Result[None, AttachEvidenceError]:
    """Prongs 1 and 2 as the pack freezes (a decision or a withdrawal, D125): platform facts
    from our own records (the order's audited timeline and the courier's delivery proof, from
    the pack or the tracking port, best effort) and the order's conversation as it stands
    (hashes and blocked marks; empty if none was opened), read in this transaction, so the
    pack hash covers them. A frozen pack is left alone: deciding or withdrawing again is
    refused as the transition it is, and nobody is asked for a proof it could not take."""
    if dispute.is_evidence_frozen:
        return Success(None)
    facts = await recorded_platform_facts(uow, svc.tracking, dispute, order)
    attached = dispute.attach_platform_facts(facts, now)
    if isinstance(attached, Failure) or dispute.evidence.transcript is not None:
        return attached
    return dispute.attach_transcript(await transcript_for_order(uow, dispute.country, order.id), now)


async def _decide(
    uow: UnitOfWork, svc: Services, ctx: RequestContext, cmd: DecideDispute
) -> Result[DecisionReceipt, DecideFailure]:
    now = svc.clock.now()
    loaded = await _load(uow, ctx.principal, cmd.country, cmd.dispute_id)
    if isinstance(loaded, Failure):
        return loaded
    dispute, order = loaded.unwrap()
    if order.snapshot is None:
        return Failure(NotCaptured(order.id))
    before = dispute_summary(dispute)
    attached = await _complete_trident(uow, svc, dispute, order, now)
    if isinstance(attached, Failure):
        return attached
    # Compute the plan first: an outcome the policy does not allow changes nothing.
    planned = plan_execution(
        reference=dispute_reference(dispute.id),
        snapshot=order.snapshot,
        outcome=cmd.outcome,
        tier_bp=cmd.partial_refund_tier_bp,
        escrow=escrow_state_of(order),
    )
    if isinstance(planned, Failure):
        return planned
    plan = planned.unwrap()
    outcome, tier_bp = cmd.outcome, cmd.partial_refund_tier_bp
    requested: dict[str, str | int | None] = {}
    if amounts_to_full_refund(plan, order.snapshot):
        # decided as the full refund it is (D134), so the plan each step re-checks is that one
        requested = {"requested_outcome": outcome.value, "requested_tier_bp": tier_bp}
        outcome, tier_bp = OutcomeCode.FULL_REFUND, None
        full = plan_execution(
            reference=dispute_reference(dispute.id),
            snapshot=order.snapshot,
            outcome=outcome,
            tier_bp=None,
            escrow=escrow_state_of(order),
        )
        if isinstance(full, Failure):
            return full
        plan = full.unwrap()
    decided = dispute.decide(
        outcome=outcome,
        reason_code=cmd.reason_code,
        decided_by_actor=ActorId(ctx.principal.actor_id),
        decided_by_role=ctx.principal.role.value,
        at=now,
        note=cmd.note,
        partial_refund_tier_bp=tier_bp,
        allowed_tiers_bp=order.snapshot.policy.partial_refund_tiers_bp,
    )
    if isinstance(decided, Failure):
        return decided
    saved = await uow.disputes.save(dispute)
    if isinstance(saved, Failure):
        return saved
    await schedule_first_step(uow, plan, dispute_id=dispute.id, country=cmd.country, now=now)
    receipt = _receipt(dispute, plan, cmd.outcome, cmd.partial_refund_tier_bp)
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="dispute.decided",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        before=before,
        after={
            **dispute_summary(dispute),
            "plan_fingerprint": plan.fingerprint(),
            "refund_to_card_minor": plan.refund_to_card.minor,
            "store_credit_minor": plan.store_credit.minor,
            "currency": plan.refund_to_card.currency.code,
            **requested,
        },
    )
    return Success(receipt)


def _receipt(
    dispute: Dispute, plan: ExecutionPlan, requested: OutcomeCode, requested_tier_bp: int | None
) -> DecisionReceipt:
    assert dispute.decision is not None
    return DecisionReceipt(
        dispute_id=dispute.id,
        status=dispute.status.value,
        outcome=plan.outcome.value,
        evidence_pack_hash=dispute.decision.evidence_pack_hash,
        plan_fingerprint=plan.fingerprint(),
        refund_to_card_minor=plan.refund_to_card.minor,
        store_credit_minor=plan.store_credit.minor,
        currency=plan.refund_to_card.currency.code,
        steps=tuple(s.name for s in plan.steps),
        requested_outcome=requested.value,
        requested_tier_bp=requested_tier_bp,
    )


# ------------------------------------------------------------------- withdraw


@dataclass(frozen=True, slots=True)
class WithdrawDispute:
    country: CountryCode
    dispute_id: DisputeId
    reason: str


WithdrawFailure = (
    Forbidden
    | NotFound
    | TransitionError
    | AttachEvidenceError
    | InvalidInput
    | OrderTransitionError
    | ConcurrencyConflict
    | EscrowOverdrawn
)


async def withdraw_dispute(
    svc: Services, ctx: RequestContext, cmd: WithdrawDispute
) -> Result[Dispute, WithdrawFailure]:
    """Withdrawing ends the payout hold: the order completes and the escrow is released
    as usual (the buyer gave up the claim)."""
    allowed = authorize(ctx.principal, Operation.DISPUTE_WITHDRAW, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        lookup = await load_for_party(uow, ctx.principal, cmd.country, cmd.dispute_id)
        withdrawn = await _withdraw(svc, uow, ctx, cmd=cmd, lookup=lookup, now=now)
    await lookup.audit(svc, ctx, Operation.DISPUTE_WITHDRAW)  # another party's: NOT_FOUND, audited
    if isinstance(withdrawn, Failure):
        return withdrawn
    dispute, resolved = withdrawn.unwrap()
    await publish_changes(svc, [event for case in resolved for event in case.pull_events()])
    return Success(dispute)


async def _withdraw(
    svc: Services,
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    cmd: WithdrawDispute,
    lookup: DisputeLookup,
    now: datetime,
) -> Result[tuple[Dispute, list[Case]], WithdrawFailure]:
    loaded = lookup.result()
    if isinstance(loaded, Failure):
        return loaded
    dispute, order = loaded.unwrap()
    before = dispute_summary(dispute)
    attached = await _complete_trident(uow, svc, dispute, order, now)
    if isinstance(attached, Failure):
        return attached
    withdrawn = dispute.withdraw(
        at=now,
        by_actor=ActorId(ctx.principal.actor_id),
        by_role=ctx.principal.role.value,
        reason=cmd.reason,
    )
    if isinstance(withdrawn, Failure):
        return withdrawn
    released: dict[str, Any] = {}
    if order.status is OrderStatus.DISPUTED and order.snapshot is not None:
        moved = order.transition_to(OrderStatus.COMPLETED, now)
        if isinstance(moved, Failure):
            return moved
        key = f"{dispute_reference(dispute.id)}/WITHDRAWN/ledger_release"
        release = rules.release(order.snapshot, key)
        posted = await uow.ledger.post(release)
        if isinstance(posted, Failure):
            return posted
        released = {
            "escrow_released_minor": order.snapshot.total_charged.minor,
            "seller_payout_minor": order.snapshot.seller_payout.minor,
            "currency": order.snapshot.currency.code,
            "ledger_key": release.idempotency_key,
        }
        saved_order = await uow.orders.save(order)
        if isinstance(saved_order, Failure):
            return saved_order
    saved = await uow.disputes.save(dispute)
    if isinstance(saved, Failure):
        return saved
    resolved = await resolve_cases_for_dispute(uow, ctx, dispute, now)
    await record(
        uow,
        ctx,
        country=cmd.country,
        action="dispute.withdrawn",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        before=before,
        after={**dispute_summary(dispute), **released},
    )
    await uow.commit()
    return Success((dispute, resolved))
