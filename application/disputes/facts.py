"""Prong 1 of the trident, from what the platform itself recorded about an order.

Shared by the dispute use cases (attached before a decision freezes the pack) and by L0
(which attaches the courier's delivery proof to a "not delivered" dispute it routes).

At decision time (:func:`recorded_platform_facts`) the facts are rebuilt from the records:

- the **timeline** is the order's audit entries (``order.*`` on the order), the freezes and
  actions of its incidents (``incident.*`` on its ``ORDER_INCIDENT`` cases) and the opening
  of the dispute being decided, each mapped to a :class:`TimelineEntry` with a stable event
  name and a short detail taken from the entry's before/after state — never free text,
  party ids or anything personal. What the log does not hold (an order seeded without
  audit) is filled in from the order row: created, captured, delivered.
- the **delivery proof** is the one already in the pack when it carries GPS points or
  photos (L0 attaches the courier's), else the tracking port's (``Services.tracking``,
  the port L0 reads), else the delivery time only, with a ``DELIVERY_PROOF_UNAVAILABLE``
  entry saying why. The tracking call is bounded by :data:`TRACKING_TIMEOUT`; a failure
  or a timeout never blocks the decision.

Everything in the facts comes from stored data or the tracking answer (never the clock),
and :class:`PlatformFacts` orders the timeline by ``(at, kind, detail)``, so the same
records always give the same pack hash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from application.cases.tracks import recorded_track
from application.ports.tracking import DeliveryTracking
from application.ports.unit_of_work import UnitOfWork
from domain.audit import AuditEntry
from domain.cases.kinds import CaseKind
from domain.cases.l0 import DeliveryTrack
from domain.disputes import Dispute
from domain.disputes.evidence import DeliveryProof, PlatformFacts, TimelineEntry
from domain.orders import Order
from domain.shared import Currency, Money

log = logging.getLogger("supportos.disputes.facts")

TRACKING_TIMEOUT: Final = 2.0
"""Seconds the decision waits for the tracking service before it falls back."""

PROOF_UNAVAILABLE: Final = "DELIVERY_PROOF_UNAVAILABLE"
NO_PROOF_RECORDED: Final = "tracking recorded no courier proof; delivery time only"
TRACKING_FAILED: Final = "tracking service unavailable; delivery time only"

_CREATED: Final = "ORDER_CREATED"
_CAPTURED: Final = "PAYMENT_CAPTURED"
_DELIVERED: Final = "DELIVERED"


def platform_facts_for(
    order: Order, proof: DeliveryProof | None = None, recorded: Sequence[TimelineEntry] = ()
) -> PlatformFacts:
    """The order's timeline and its delivery proof: ``proof`` when the delivery side
    recorded one (photos, GPS), else just the delivery time when the order was delivered.

    ``recorded`` is the timeline read from the audit log (:func:`recorded_timeline`); the
    order row fills in only what it lacks (created, captured, delivered)."""
    kinds = {entry.kind for entry in recorded}
    timeline = list(recorded)
    if _CREATED not in kinds:
        timeline.append(TimelineEntry(order.created_at, _CREATED))
    if order.snapshot is not None and _CAPTURED not in kinds:
        timeline.append(
            TimelineEntry(
                order.snapshot.captured_at,
                _CAPTURED,
                f"{order.snapshot.total_charged.format()} under policy {order.snapshot.policy.version}",
            )
        )
    if order.delivered_at is not None and _DELIVERED not in kinds:
        timeline.append(TimelineEntry(order.delivered_at, _DELIVERED))
    if proof is None and order.delivered_at is not None:
        proof = DeliveryProof(delivered_at=order.delivered_at)
    return PlatformFacts(timeline=tuple(timeline), delivery_proof=proof)


# ------------------------------------------------------------------ at decision time


async def recorded_platform_facts(
    uow: UnitOfWork, tracking: DeliveryTracking, dispute: Dispute, order: Order
) -> PlatformFacts:
    """Prong 1 as a decision freezes it: the recorded timeline and the courier's proof."""
    recorded = list(await recorded_timeline(uow, order, dispute.id))
    proof = _courier_proof(dispute.evidence.platform_facts)
    if proof is None and order.delivered_at is not None:
        reported = await recorded_track(uow, order.country, order.id)  # the tracking feed's (D90)
        proof, problem = await courier_proof(tracking, order, recorded=reported)
        if problem is not None:
            recorded.append(TimelineEntry(order.delivered_at, PROOF_UNAVAILABLE, problem))
    return platform_facts_for(order, proof, recorded)


async def recorded_timeline(
    uow: UnitOfWork, order: Order, dispute_id: str | None = None
) -> tuple[TimelineEntry, ...]:
    """The order's events as the audit log holds them, in sequence order."""
    incidents = [
        case.case_id
        for case in await uow.cases.for_order(order.country, order.id)
        if case.state.kind is CaseKind.ORDER_INCIDENT
    ]
    targets = [("order", str(order.id)), *(("case", case_id) for case_id in incidents)]
    if dispute_id is not None:
        targets.append(("dispute", dispute_id))
    entries = await uow.audit.for_targets(order.country, targets)
    return tuple(entry for entry in map(timeline_entry, entries) if entry is not None)


async def courier_proof(
    tracking: DeliveryTracking, order: Order, *, recorded: DeliveryTrack | None = None
) -> tuple[DeliveryProof, str | None]:
    """The courier's proof: from the reports the tracking feed ``recorded`` (D90), else from
    the tracking port, else the delivery time only and why.

    Like L0, the decision treats the port as best effort: ``None``, a track without a
    proof, an error or no answer within :data:`TRACKING_TIMEOUT` all fall back."""
    fallback = DeliveryProof(delivered_at=order.delivered_at)
    track = recorded
    if track is None:
        try:
            async with asyncio.timeout(TRACKING_TIMEOUT):
                track = await tracking.track(order.country, order.id)
        except Exception:  # an outage must not block a decision: fall back, say so
            log.warning(
                "tracking failed for order %s (%s); deciding on the delivery time", order.id, order.country
            )
            return fallback, TRACKING_FAILED
    proof = None if track is None else track.delivery_proof
    if proof is None or not (proof.gps_points or proof.photo_sha256):
        return fallback, NO_PROOF_RECORDED
    if proof.delivered_at is None:
        proof = replace(proof, delivered_at=order.delivered_at)
    return proof, None


def _courier_proof(facts: PlatformFacts | None) -> DeliveryProof | None:
    """The proof already attached, if it holds what the courier recorded (GPS, photos)."""
    proof = None if facts is None else facts.delivery_proof
    if proof is None or not (proof.gps_points or proof.photo_sha256):
        return None
    return proof


# ------------------------------------------------------------------ audit -> timeline


@dataclass(frozen=True, slots=True)
class _Event:
    kind: Callable[[Mapping[str, Any], Mapping[str, Any]], str]
    detail: Callable[[Mapping[str, Any], Mapping[str, Any]], str]


def _fixed(kind: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str]:
    return lambda _before, _after: kind


def _none(_before: Mapping[str, Any], _after: Mapping[str, Any]) -> str:
    return ""


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) else ""


def _amount(values: Mapping[str, Any], minor_key: str, currency_key: str = "currency") -> str:
    minor, code = values.get(minor_key), _text(values, currency_key)
    if isinstance(minor, str) and minor.lstrip("-").isdigit():
        minor = int(minor)
    if type(minor) is not int or not code:
        return ""
    try:
        return Money(minor, Currency.of(code)).format()
    except Exception:  # an unknown code in an old entry: the raw figures, still deterministic
        return f"{minor} {code} (minor units)"


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _captured(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    amount, policy = _amount(after, "total_charged_minor"), _text(after, "policy_version")
    return f"{amount} under policy {policy}" if amount and policy else amount


def _moved(before: Mapping[str, Any], _after: Mapping[str, Any]) -> str:
    status = _text(before, "status")
    return f"from {status}" if status else ""


def _transition_kind(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return _text(after, "status") or "ORDER_TRANSITIONED"


def _unfrozen(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return _joined(
        f"back to {_text(after, 'status')}" if _text(after, "status") else "", _text(before, "incident_ref")
    )


def _completed(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    released = _amount(after, "released_minor")
    return f"released {released}" if released else ""


def _force_completed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return _joined(_moved(before, after), _completed(before, after))


def _replacement(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    replaces = _text(after, "replaces")
    return f"replaces {replaces}" if replaces else ""


def _frozen(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    incident = _text(after, "incident_type")
    return _joined(
        f"{incident} incident" if incident else "",
        f"was {_text(after, 'frozen_from')}" if _text(after, "frozen_from") else "",
    )


def _incident_kind(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    action = _text(after, "action")
    return f"INCIDENT_{action}" if action else "INCIDENT_ACTION"


def _incident_action(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    entry = after.get("entry")
    replaced = _text(entry, "replace") if isinstance(entry, Mapping) else ""
    return _joined(
        f"{replaced.lower()} replaced" if replaced else "",
        f"order {_text(after, 'order_status')}" if _text(after, "order_status") else "",
    )


def _credit(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return _amount(after, "credit_minor")


def _dispute_opened(_before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return _text(after, "reason")


_ORDER_EVENTS: Final[Mapping[str, _Event]] = {
    "order.created": _Event(_fixed(_CREATED), _none),
    "order.payment_captured": _Event(_fixed(_CAPTURED), _captured),
    "order.transitioned": _Event(_transition_kind, _moved),
    "order.unfrozen": _Event(_fixed("ORDER_UNFROZEN"), _unfrozen),
    "order.force_completed": _Event(_fixed("FORCE_COMPLETED"), _force_completed),
    "order.completed": _Event(_fixed("COMPLETED"), _completed),
    "order.replacement_created": _Event(_fixed("REPLACEMENT_CREATED"), _replacement),
}
_CASE_EVENTS: Final[Mapping[str, _Event]] = {
    "incident.opened": _Event(_fixed("ORDER_FROZEN"), _frozen),
    "incident.action_applied": _Event(_incident_kind, _incident_action),
    "incident.store_credit_granted": _Event(_fixed("STORE_CREDIT_GRANTED"), _credit),
}
_DISPUTE_EVENTS: Final[Mapping[str, _Event]] = {
    "dispute.opened": _Event(_fixed("DISPUTE_OPENED"), _dispute_opened),
}
_BY_TARGET: Final[Mapping[str, Mapping[str, _Event]]] = {
    "order": _ORDER_EVENTS,
    "case": _CASE_EVENTS,
    "dispute": _DISPUTE_EVENTS,
}


def timeline_entry(entry: AuditEntry) -> TimelineEntry | None:
    """One audit entry as a timeline event, or ``None`` when it is not an order event.

    An ``order.*`` action this module does not know still appears, named after the action
    (``order.re_weighed`` -> ``ORDER_RE_WEIGHED``) and without detail."""
    events = _BY_TARGET.get(entry.target_type, {})
    event = events.get(entry.action)
    if event is None:
        if entry.target_type != "order" or not entry.action.startswith("order."):
            return None
        event = _Event(_fixed(entry.action.upper().replace(".", "_")), _none)
    before, after = entry.before or {}, entry.after or {}
    return TimelineEntry(
        entry.occurred_at, event.kind(before, after)[:128], event.detail(before, after)[:2000]
    )
