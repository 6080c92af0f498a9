"""The L0 runner: the rules of :mod:`domain.cases.l0` acting on a case as actor ``L0``.

When a case opens (an order incident, a dispute) it sits at tier L0; :func:`run_l0`
gathers the facts (the case, its order and snapshot policy, its dispute, the delivery
track from the tracking port), asks :func:`domain.cases.l0.evaluate`, and carries the
decision out through the ordinary use cases with an ``L0`` principal scoped to the case's
country — the same permission checks, the same timeline entries, the same audit entries
(actor ``L0``, role ``L0``) as a person's:

1. :func:`record_l0_decision` — the decision (rule and explanation) on the case's timeline
   and in the audit log; for the "delivered at the address" rule, the delivery proof
   (photos, GPS) attached to the dispute's platform facts in the same transaction;
2. then either :func:`grant_store_credit` (the goodwill outcome: the credit is posted,
   the case resolved by L0, the order's hold lifted) or the routing: ``acknowledge_case``
   (SEV2/SEV3) and ``escalate_case`` up to the decided tier.

The goodwill credit is granted at most once per *order*, whatever the number of incidents
opened on it: its ledger key is the order's (:func:`store_credit_key`), so a second post is
``AlreadyPosted`` and refused as :class:`GoodwillAlreadyGranted`. When the order already had
its credit, L0 does not settle the case: it records why on the timeline and routes it by
severity, as a case no rule covers fully, for a person to judge.

Each step is its own transaction, as the use cases are. L0 is best effort: a failure
leaves the case where it was (at L0 it breaches its acknowledge target and the scheduler
escalates it to L1), is logged, and never undoes the opening that triggered it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.errors import NotAnIncident
from application.cases.tracks import recorded_track
from application.cases.use_cases import (
    AcknowledgeCase,
    EscalateCase,
    acknowledge_case,
    actor_of,
    change_case,
    escalate_case,
    release_order_hold,
)
from application.context import RequestContext, Services
from application.disputes.facts import platform_facts_for
from application.errors import NotCaptured, NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, Principal, Role
from domain.cases.case import Case
from domain.cases.errors import CaseError
from domain.cases.kinds import OPEN_STATUSES, CaseKind, IncidentType, Tier
from domain.cases.l0 import (
    CaseFacts,
    DeliveryTrack,
    L0Decision,
    L0Outcome,
    L0Policy,
    evaluate,
    revisit,
)
from domain.disputes.errors import AttachEvidenceError
from domain.disputes.evidence import DeliveryProof
from domain.ledger import AlreadyPosted, EscrowOverdrawn, rules
from domain.orders import UnfreezeError
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import DisputeId, OrderId

log = logging.getLogger("supportos.l0")

L0_ACTOR_ID: Final = "L0"
_TIER_ORDER: Final = list(Tier)


def l0_context(country: CountryCode, case_id: str) -> RequestContext:
    """Who L0 is: actor ``L0``, role ``L0``, the case's country only."""
    return RequestContext(Principal(L0_ACTOR_ID, Role.L0, frozenset({country})), f"l0:{case_id}")


GOODWILL_ONCE_RULE: Final = "goodwill_once_per_order"
"""The ``rule`` of the decision L0 records when the order already had its goodwill credit."""


def store_credit_key(order_id: str) -> str:
    """The ledger key of L0's goodwill credit on an order: one per order, so at most one
    credit however many incidents are opened on it (the ledger's idempotency is the guard)."""
    return f"order:{order_id}/L0_{L0Outcome.STORE_CREDIT.value}/ledger_store_credit"


def legacy_store_credit_key(case_id: str) -> str:
    """The key L0's credits were posted under before they were keyed by order (per case);
    those rows keep it, and still count as the order's credit."""
    return f"case:{case_id}/{L0Outcome.STORE_CREDIT.value}/ledger_store_credit"


@dataclass(frozen=True, slots=True)
class GoodwillAlreadyGranted:
    """The order already received L0's goodwill credit (under ``ledger_key``): L0 grants it
    once per order; another one is a person's judgement. Internal to L0, never an API error."""

    code: ClassVar[str] = "GOODWILL_ALREADY_GRANTED"
    order_id: str
    ledger_key: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} already received its L0 goodwill credit ({self.ledger_key})"


async def _legacy_credit_key(uow: UnitOfWork, country: CountryCode, order_id: str) -> str | None:
    for case in await uow.cases.for_order(country, order_id):
        key = legacy_store_credit_key(case.case_id)
        if await uow.ledger.get(country, key) is not None:
            return key
    return None


async def granted_credit_key(uow: UnitOfWork, country: CountryCode, order_id: str) -> str | None:
    """The ledger key of the goodwill credit L0 already granted on the order, if any."""
    key = store_credit_key(order_id)
    if await uow.ledger.get(country, key) is not None:
        return key
    return await _legacy_credit_key(uow, country, order_id)


async def _already_granted(svc: Services, country: CountryCode, order_id: str | None) -> str | None:
    if order_id is None:
        return None
    async with svc.uow() as uow:
        return await granted_credit_key(uow, country, order_id)


def goodwill_already_granted(facts: CaseFacts, order_id: str, ledger_key: str) -> L0Decision:
    """What L0 decides instead of a second goodwill credit: no credit, the case routed by
    severity as one no rule covers fully (a person judges), and the reason on the timeline.
    A case already routed (a revisit) stays where it is."""
    routed = evaluate(facts, L0Policy(rules=()))
    if routed is None:
        route_to, acknowledge, routing = facts.tier, False, f"the case stays with {facts.tier.value}"
    else:
        route_to, acknowledge, routing = routed.route_to, routed.acknowledge, routed.explanation
    return L0Decision(
        rule=GOODWILL_ONCE_RULE,
        explanation=(
            f"no store credit: order {order_id} already received its L0 goodwill credit ({ledger_key});"
            f" L0 grants it once per order, anything more is a person's call; {routing}"
        ),
        route_to=route_to,
        acknowledge=acknowledge,
    )


# ------------------------------------------------------------------------- facts


async def gather_facts(svc: Services, country: CountryCode, case_id: str) -> tuple[Case, CaseFacts] | None:
    async with svc.uow() as uow:
        case = await uow.cases.get(country, case_id)
        if case is None:
            return None
        state = case.state
        order = None if state.order_id is None else await uow.orders.get(country, OrderId(state.order_id))
        dispute = None
        if state.kind is CaseKind.DISPUTE and state.subject_ref is not None:
            dispute = await uow.disputes.get(country, DisputeId(state.subject_ref))
        # what the tracking feed recorded (D90); else what the tracking port knows
        track = None if state.order_id is None else await recorded_track(uow, country, state.order_id)
    if track is None and state.order_id is not None:
        track = await svc.tracking.track(country, state.order_id)
    snapshot = order.snapshot if order is not None else None
    facts = CaseFacts(
        now=svc.clock.now(),
        kind=state.kind,
        severity=state.severity,
        tier=state.tier,
        status=state.status,
        incident_type=state.incident_type,
        dispute_reason=dispute.reason if dispute is not None else None,
        dispute_decided=dispute is not None and dispute.decision is not None,
        lateness_threshold=snapshot.policy.lateness_threshold if snapshot is not None else None,
        goodwill_minor=(
            snapshot.policy.goodwill_credit.min(snapshot.total_charged).minor if snapshot is not None else 0
        ),
        track=track or DeliveryTrack(),
    )
    return case, facts


# ---------------------------------------------------------------------- use cases


@dataclass(frozen=True, slots=True)
class RecordL0Decision:
    country: CountryCode
    case_id: str
    decision: L0Decision
    delivery_proof: DeliveryProof | None = None  # attached to the dispute when the decision says so
    details: tuple[tuple[str, str], ...] = ()  # more facts for the timeline entry (e.g. a ledger key)


RecordFailure = Forbidden | NotFound | CaseError | AttachEvidenceError | ConcurrencyConflict


async def record_l0_decision(
    svc: Services, ctx: RequestContext, cmd: RecordL0Decision
) -> Result[Case, RecordFailure]:
    decision = cmd.decision
    operations: tuple[Operation, ...] = (Operation.CASE_UPDATE,)
    if decision.attach_delivery_proof:
        operations += (Operation.DISPUTE_SUBMIT_EVIDENCE,)

    async def change(
        uow: UnitOfWork, case: Case, now: datetime
    ) -> Result[None, CaseError | AttachEvidenceError | NotFound | ConcurrencyConflict]:
        data = {"rule": decision.rule, "route_to": decision.route_to.value, **dict(cmd.details)}
        if decision.outcome is not None:
            data["outcome"] = decision.outcome.value
        if decision.attach_delivery_proof and cmd.delivery_proof is not None:
            attached = await _attach_proof(uow, ctx, case, cmd.delivery_proof, now)
            if isinstance(attached, Failure):
                return attached
            data["evidence"] = "delivery proof attached to the dispute"
        return case.record_action(now, actor_of(ctx.principal), "L0_DECISION", decision.explanation, data)

    return await change_case(
        svc,
        ctx,
        operations=operations,
        country=cmd.country,
        case_id=cmd.case_id,
        action="l0.decided",
        change=change,
    )


async def _attach_proof(
    uow: UnitOfWork, ctx: RequestContext, case: Case, proof: DeliveryProof, now: datetime
) -> Result[None, AttachEvidenceError | NotFound | ConcurrencyConflict]:
    state = case.state
    if state.subject_ref is None or state.order_id is None:
        return Failure(NotFound("dispute", "-"))
    dispute = await uow.disputes.get(state.country, DisputeId(state.subject_ref))
    order = await uow.orders.get(state.country, OrderId(state.order_id))
    if dispute is None or order is None:
        return Failure(NotFound("dispute", state.subject_ref))
    attached = dispute.attach_platform_facts(platform_facts_for(order, proof), now)
    if isinstance(attached, Failure):
        return attached
    saved = await uow.disputes.save(dispute)
    if isinstance(saved, Failure):
        return saved
    await record(
        uow,
        ctx,
        country=state.country,
        action="dispute.platform_facts_attached",
        target_type="dispute",
        target_id=dispute.id,
        at=now,
        after={
            "case_id": case.case_id,
            "photo_sha256": list(proof.photo_sha256),
            "gps_points": len(proof.gps_points),
            "status": dispute.status.value,
        },
    )
    return Success(None)


@dataclass(frozen=True, slots=True)
class GrantStoreCredit:
    """L0's goodwill outcome on a live incident: the amount is the order's snapshot policy's
    goodwill credit (capped at what was charged), never an input."""

    country: CountryCode
    case_id: str
    rule: str


GrantFailure = (
    GoodwillAlreadyGranted
    | Forbidden
    | NotFound
    | NotAnIncident
    | NotCaptured
    | CaseError
    | EscrowOverdrawn
    | UnfreezeError
    | ConcurrencyConflict
    | InvalidInput
)


async def grant_store_credit(
    svc: Services, ctx: RequestContext, cmd: GrantStoreCredit
) -> Result[Case, GrantFailure]:
    """Post the goodwill credit (Dr platform:expense:goodwill / Cr buyer:credit, key
    ``order:<order id>/L0_STORE_CREDIT/ledger_store_credit``: at most once per order), record
    it, resolve the case and lift the order's hold — one transaction.

    :class:`GoodwillAlreadyGranted` (nothing written) when the order already had its credit:
    a credit posted before under the per-case key of an earlier version, or the order's key
    answered ``AlreadyPosted`` (another incident's credit, possibly committed concurrently).
    A replay is never reported as a fresh grant."""

    money: dict[str, Any] = {}

    async def change(uow: UnitOfWork, case: Case, now: datetime) -> Result[None, GrantFailure]:
        state = case.state
        if state.kind is not CaseKind.ORDER_INCIDENT or state.order_id is None:
            return Failure(NotAnIncident(case.case_id, state.kind.value))
        order = await uow.orders.get(state.country, OrderId(state.order_id))
        if order is None or order.snapshot is None:
            return Failure(NotCaptured(OrderId(state.order_id)))
        snapshot = order.snapshot
        credit = snapshot.policy.goodwill_credit.min(snapshot.total_charged)
        if not credit.is_positive:
            return Failure(InvalidInput("goodwill_credit", "the order's policy grants no goodwill credit"))
        legacy = await _legacy_credit_key(uow, state.country, state.order_id)
        if legacy is not None:
            return Failure(GoodwillAlreadyGranted(state.order_id, legacy))
        key = store_credit_key(state.order_id)
        posted = await uow.ledger.post(rules.store_credit(snapshot, credit, key))
        if isinstance(posted, Failure):
            return posted
        if isinstance(posted.unwrap(), AlreadyPosted):  # the order's credit exists: not ours to grant
            return Failure(GoodwillAlreadyGranted(state.order_id, key))
        actor = actor_of(ctx.principal)
        recorded = case.record_action(
            now,
            actor,
            L0Outcome.STORE_CREDIT.value,
            f"STORE_CREDIT: {credit.format()} goodwill credit to the buyer",
            {
                "rule": cmd.rule,
                "credit_minor": str(credit.minor),
                "currency": credit.currency.code,
                "ledger_key": key,
            },
        )
        if isinstance(recorded, Failure):
            return recorded
        money.update(credit_minor=credit.minor, currency=credit.currency.code, ledger_key=key)
        resolved = case.resolve(now, actor, f"store credit of {credit.format()} ({cmd.rule})")
        if isinstance(resolved, Failure):
            return resolved
        return await release_order_hold(uow, ctx, case, now)

    return await change_case(
        svc,
        ctx,
        operations=(Operation.INCIDENT_STORE_CREDIT,),
        country=cmd.country,
        case_id=cmd.case_id,
        action="incident.store_credit_granted",
        change=change,
        audit_extra=money,
    )


# -------------------------------------------------------------------------- runner


async def run_l0(svc: Services, country: CountryCode, case_id: str) -> Case | None:
    """Let L0 act on a case it holds; the case as L0 left it (``None`` if L0 could not
    look at it). Never raises: L0 is best effort (see the module's docstring)."""
    try:
        return await _run(svc, country, case_id)
    except Exception:  # a failing rule must never fail the request that opened the case
        log.exception("L0 failed on case %s (%s); it stays at its tier", case_id, country.value)
        return None


async def _run(svc: Services, country: CountryCode, case_id: str) -> Case | None:
    gathered = await gather_facts(svc, country, case_id)
    if gathered is None:
        return None
    case, facts = gathered
    decision = evaluate(facts)
    if decision is None:
        return case
    ctx = l0_context(country, case_id)
    decision, details = await _once_per_order(svc, case, facts, decision)
    recorded = await record_l0_decision(
        svc,
        ctx,
        RecordL0Decision(country, case_id, decision, facts.track.delivery_proof, details),
    )
    if isinstance(recorded, Failure):
        return _stopped(recorded, case)
    case = recorded.unwrap()
    if decision.outcome is L0Outcome.STORE_CREDIT:
        granted = await grant_store_credit(svc, ctx, GrantStoreCredit(country, case_id, decision.rule))
        if not isinstance(granted, Failure):
            return granted.unwrap()
        refused = granted.failure()
        if not isinstance(refused, GoodwillAlreadyGranted):
            return _stopped(Failure(refused), case)
        # another incident's credit took the order's key after we looked: no credit, a person judges
        decision = goodwill_already_granted(facts, refused.order_id, refused.ledger_key)
        recorded = await record_l0_decision(
            svc,
            ctx,
            RecordL0Decision(country, case_id, decision, details=(("ledger_key", refused.ledger_key),)),
        )
        if isinstance(recorded, Failure):
            return _stopped(recorded, case)
        case = recorded.unwrap()
    return await _route(svc, ctx, case, decision)


async def _once_per_order(
    svc: Services, case: Case, facts: CaseFacts, decision: L0Decision
) -> tuple[L0Decision, tuple[tuple[str, str], ...]]:
    """The decision, unless it is a goodwill credit for an order that already had one: then
    no credit, the routing of a case no rule covers, and the credit's ledger key to show."""
    order_id = case.state.order_id
    if decision.outcome is not L0Outcome.STORE_CREDIT or order_id is None:
        return decision, ()
    granted_key = await _already_granted(svc, case.state.country, order_id)
    if granted_key is None:
        return decision, ()
    return goodwill_already_granted(facts, order_id, granted_key), (("ledger_key", granted_key),)


async def _route(svc: Services, ctx: RequestContext, case: Case, decision: L0Decision) -> Case:
    """Acknowledge (if the decision says so) and escalate the case up to the decided tier."""
    country, case_id = case.state.country, case.case_id
    if decision.acknowledge:
        acknowledged = await acknowledge_case(svc, ctx, AcknowledgeCase(country, case_id))
        if isinstance(acknowledged, Failure):
            return _stopped(acknowledged, case)
        case = acknowledged.unwrap()
    while _TIER_ORDER.index(case.state.tier) < _TIER_ORDER.index(decision.route_to):
        escalated = await escalate_case(
            svc,
            ctx,
            EscalateCase(country, case_id, f"L0 routing ({decision.rule}): {decision.route_to.value}"),
        )
        if isinstance(escalated, Failure):
            return _stopped(escalated, case)
        case = escalated.unwrap()
    return case


async def revisit_late_incident(svc: Services, country: CountryCode, order_id: str) -> Case | None:
    """New tracking facts for ``order_id`` (D90): if the order has an open ``LATE`` incident
    that no person has taken (unassigned), L0 looks again, and settles it if its store-credit
    rule now fires (the courier has stood still long enough) and the order has not had its
    goodwill credit yet; if it had, L0 says so on the timeline (once) and leaves the case to
    its tier. Nothing else is re-run: the case keeps its routing. The case as L0 left it, or
    ``None`` when L0 did not act. Never raises (best effort, like :func:`run_l0`)."""
    try:
        async with svc.uow() as uow:
            cases = await uow.cases.for_order(country, order_id)
        late = next(
            (
                case
                for case in cases
                if case.state.kind is CaseKind.ORDER_INCIDENT
                and case.state.incident_type is IncidentType.LATE
                and case.state.status in OPEN_STATUSES
                and case.state.assignee is None
            ),
            None,
        )
        if late is None:
            return None
        gathered = await gather_facts(svc, country, late.case_id)
        if gathered is None:
            return None
        _, facts = gathered
        decision = revisit(facts)
        if decision is None or decision.outcome is not L0Outcome.STORE_CREDIT:
            return None
        ctx = l0_context(country, late.case_id)
        granted_key = await _already_granted(svc, country, order_id)
        if granted_key is not None:
            return await _note_already_granted(svc, ctx, late, facts=facts, ledger_key=granted_key)
        recorded = await record_l0_decision(svc, ctx, RecordL0Decision(country, late.case_id, decision))
        if isinstance(recorded, Failure):
            _stopped(recorded, late)
            return None
        granted = await grant_store_credit(svc, ctx, GrantStoreCredit(country, late.case_id, decision.rule))
        if isinstance(granted, Failure):
            refused = granted.failure()
            if isinstance(refused, GoodwillAlreadyGranted):  # lost the order's key to another incident
                return await _note_already_granted(
                    svc, ctx, recorded.unwrap(), facts=facts, ledger_key=refused.ledger_key
                )
            _stopped(granted, recorded.unwrap())
            return None
        return granted.unwrap()
    except Exception:
        log.exception("L0 failed to revisit the late incident of order %s (%s)", order_id, country.value)
        return None


async def _note_already_granted(
    svc: Services, ctx: RequestContext, case: Case, *, facts: CaseFacts, ledger_key: str
) -> Case | None:
    """On a revisit: say once on the case's timeline why L0 gives no second credit."""
    if case.state.order_id is None or any(
        entry.data.get("rule") == GOODWILL_ONCE_RULE for entry in case.state.timeline
    ):
        return None
    decision = goodwill_already_granted(facts, case.state.order_id, ledger_key)
    recorded = await record_l0_decision(
        svc,
        ctx,
        RecordL0Decision(case.state.country, case.case_id, decision, details=(("ledger_key", ledger_key),)),
    )
    if isinstance(recorded, Failure):
        _stopped(recorded, case)
        return None
    return recorded.unwrap()


def _stopped(failure: Failure[object], case: Case) -> Case:
    """L0 stops where a step was refused (logged); the case as it last was."""
    log.warning("L0 stopped on case %s: %s", case.case_id, failure.failure())
    return case
