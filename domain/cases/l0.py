"""L0: the rules that act on a case before any human does (SPEC §6).

Rules are data (frozen dataclasses with their thresholds) plus pure functions of the
facts the platform recorded (:class:`CaseFacts`); :func:`evaluate` returns one
:class:`L0Decision` that the application carries out as actor ``L0`` through the same
use cases, permission checks and audit as a person. Nothing here reads a clock or does
I/O: ``facts.now`` is the time of evaluation.

The rules, in the order they are tried (the first that fires decides):

1. :class:`LateStationaryCourier` — a ``LATE`` incident past the order policy's lateness
   threshold whose courier GPS shows no movement for ``window`` (every point in the window
   within ``radius_m`` of the first): ``STORE_CREDIT`` (the policy's goodwill amount) and
   the case is resolved by L0.
2. :class:`DeliveredAtAddress` — a ``NOT_DELIVERED`` dispute whose delivery proof has a
   photo and a GPS point within ``max_distance_m`` of the delivery address: routed to L1
   with the delivery proof attached to the dispute's evidence; nothing is refunded.
3. Otherwise the case is routed by severity (:data:`DEFAULT_ROUTING`: SEV0 -> L3,
   SEV1 -> L2, SEV2/SEV3 -> L1) and acknowledged automatically for the severities in
   :data:`DEFAULT_AUTO_ACKNOWLEDGE` (SEV2/SEV3: the automatic answer is the
   acknowledgement; SEV0/SEV1 page a person, who must acknowledge within the SLA).

Decision D43 explains the choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from domain.cases.kinds import OPEN_STATUSES, CaseKind, CaseStatus, IncidentType, Severity, Tier
from domain.disputes.codes import DisputeReason
from domain.disputes.evidence import DeliveryProof, GpsPoint

EARTH_RADIUS_M: Final = 6_371_000
MICRODEGREES_PER_DEGREE: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS-84 point in integer microdegrees (as GPS points and geocoding keep them)."""

    lat_microdeg: int
    lon_microdeg: int


def distance_m(a: Point, b: Point) -> int:
    """Great-circle distance in whole metres (haversine; metres are not money)."""
    lat1 = math.radians(a.lat_microdeg / MICRODEGREES_PER_DEGREE)
    lat2 = math.radians(b.lat_microdeg / MICRODEGREES_PER_DEGREE)
    dlat = lat2 - lat1
    dlon = math.radians((b.lon_microdeg - a.lon_microdeg) / MICRODEGREES_PER_DEGREE)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def _point(gps: GpsPoint) -> Point:
    return Point(gps.lat_microdeg, gps.lon_microdeg)


@dataclass(frozen=True, slots=True)
class DeliveryTrack:
    """What the delivery side recorded about an order (from the tracking port)."""

    promised_at: datetime | None = None  # when the buyer was told it would arrive
    destination: Point | None = None  # the delivery address, geocoded
    courier_trace: tuple[GpsPoint, ...] = ()  # the courier's recent positions
    delivery_proof: DeliveryProof | None = None  # photo hashes and GPS at the hand-over


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """Everything a rule may look at; built by the application from stored records."""

    now: datetime
    kind: CaseKind
    severity: Severity
    tier: Tier
    status: CaseStatus
    incident_type: IncidentType | None = None
    dispute_reason: DisputeReason | None = None
    dispute_decided: bool = False  # born decided (an operational cancellation): no judgement left
    lateness_threshold: timedelta | None = None  # from the order's snapshot policy
    goodwill_minor: int = 0  # the policy's goodwill amount, capped at what was charged
    track: DeliveryTrack = field(default_factory=DeliveryTrack)


class L0Outcome(StrEnum):
    STORE_CREDIT = "STORE_CREDIT"  # goodwill credit; the case is resolved by L0


@dataclass(frozen=True, slots=True)
class L0Decision:
    """What L0 does with a case. ``rule`` names the rule that decided (``routing`` when only
    the severity routing applied); ``explanation`` goes on the timeline and the audit log."""

    rule: str
    explanation: str
    route_to: Tier
    acknowledge: bool
    outcome: L0Outcome | None = None
    attach_delivery_proof: bool = False

    @property
    def resolves(self) -> bool:
        return self.outcome is not None


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True, slots=True)
class LateStationaryCourier:
    """A late order whose courier is not moving: goodwill credit, no human needed."""

    name: str = "late_stationary_courier"
    window: timedelta = timedelta(minutes=15)  # how long the courier must have stood still
    radius_m: int = 50  # GPS noise tolerated while standing still
    min_points: int = 3

    def applies(self, facts: CaseFacts) -> L0Decision | None:
        if facts.kind is not CaseKind.ORDER_INCIDENT or facts.incident_type is not IncidentType.LATE:
            return None
        promised, threshold = facts.track.promised_at, facts.lateness_threshold
        if promised is None or threshold is None or facts.now < promised + threshold:
            return None
        if facts.goodwill_minor <= 0:
            return None
        trace = facts.track.courier_trace
        if len(_window_points(trace, facts.now, self.window)) < self.min_points:
            return None
        if stationary_duration(trace, facts.now, self.window, self.radius_m) is None:
            return None
        late_by = facts.now - promised
        return L0Decision(
            rule=self.name,
            explanation=(
                f"late by {_minutes(late_by)} min (threshold {_minutes(threshold)} min) and the courier has"
                f" not moved more than {self.radius_m} m in {_minutes(self.window)} min: store credit"
            ),
            route_to=Tier.L1,
            acknowledge=True,
            outcome=L0Outcome.STORE_CREDIT,
        )


@dataclass(frozen=True, slots=True)
class DeliveredAtAddress:
    """A "not delivered" claim against a photo and GPS at the address: a person decides,
    with the proof in the pack; L0 never refunds it."""

    name: str = "delivered_at_address"
    max_distance_m: int = 100

    def applies(self, facts: CaseFacts) -> L0Decision | None:
        if facts.kind is not CaseKind.DISPUTE or facts.dispute_reason is not DisputeReason.NOT_DELIVERED:
            return None
        proof, destination = facts.track.delivery_proof, facts.track.destination
        if proof is None or destination is None or not proof.photo_sha256 or not proof.gps_points:
            return None
        nearest = min(distance_m(_point(p), destination) for p in proof.gps_points)
        if nearest > self.max_distance_m:
            return None
        return L0Decision(
            rule=self.name,
            explanation=(
                f"delivery photo ({len(proof.photo_sha256)}) and GPS {nearest} m from the address"
                f" (within {self.max_distance_m} m): routed to L1 with the delivery proof attached,"
                " not refunded"
            ),
            route_to=Tier.L1,
            acknowledge=True,
            attach_delivery_proof=True,
        )


Rule = LateStationaryCourier | DeliveredAtAddress

DEFAULT_RULES: Final[tuple[Rule, ...]] = (LateStationaryCourier(), DeliveredAtAddress())

DEFAULT_ROUTING: Final[Mapping[Severity, Tier]] = MappingProxyType(
    {Severity.SEV0: Tier.L3, Severity.SEV1: Tier.L2, Severity.SEV2: Tier.L1, Severity.SEV3: Tier.L1}
)
"""The tier a case goes to when no rule settles it."""

DEFAULT_AUTO_ACKNOWLEDGE: Final = frozenset({Severity.SEV2, Severity.SEV3})
"""Severities L0 acknowledges itself; SEV0/SEV1 wait for a person (their 5/10 min target)."""

DISPUTE_SEVERITY: Final[Mapping[DisputeReason, Severity]] = MappingProxyType(
    {
        DisputeReason.NOT_DELIVERED: Severity.SEV2,
        DisputeReason.DAMAGED: Severity.SEV3,
        DisputeReason.WRONG_ITEM: Severity.SEV3,
        DisputeReason.LATE: Severity.SEV3,
        DisputeReason.NOT_AS_DESCRIBED: Severity.SEV3,
        DisputeReason.OTHER: Severity.SEV3,
    }
)
"""The severity of the case opened with a dispute (triage as data)."""

OPERATIONAL_CANCELLATION_SEVERITY: Final = Severity.SEV2
"""A refund owed after an operational cancellation: watched more closely than a claim."""


@dataclass(frozen=True, slots=True)
class L0Policy:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    routing: Mapping[Severity, Tier] = field(default_factory=lambda: DEFAULT_ROUTING)
    auto_acknowledge: frozenset[Severity] = DEFAULT_AUTO_ACKNOWLEDGE


DEFAULT_L0_POLICY: Final = L0Policy()


def evaluate(facts: CaseFacts, policy: L0Policy = DEFAULT_L0_POLICY) -> L0Decision | None:
    """L0's decision for an open case at tier L0; ``None`` when L0 has nothing to do (the
    case is closed, or a person already holds it)."""
    if facts.tier is not Tier.L0 or facts.status not in (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED):
        return None
    for rule in policy.rules:
        decided = rule.applies(facts)
        if decided is not None:
            return decided
    route = policy.routing.get(facts.severity, Tier.L1)
    acknowledge = facts.severity in policy.auto_acknowledge
    return L0Decision(
        rule="routing",
        explanation=f"no rule settles it: {facts.severity.value} routed to {route.value}"
        + (", acknowledged automatically" if acknowledge else ", waiting for a person to acknowledge"),
        route_to=route,
        acknowledge=acknowledge,
    )


def revisit(facts: CaseFacts, policy: L0Policy = DEFAULT_L0_POLICY) -> L0Decision | None:
    """An open case L0 already routed, looked at again because new facts arrived (D90): only
    a rule that settles it (one with an outcome) may act; routing is never redone."""
    if facts.status not in OPEN_STATUSES:
        return None
    for rule in policy.rules:
        decided = rule.applies(facts)
        if decided is not None and decided.outcome is not None:
            return decided
    return None


def _window_points(trace: tuple[GpsPoint, ...], now: datetime, window: timedelta) -> list[GpsPoint]:
    return [p for p in trace if now - window <= p.at <= now]


def stationary_duration(
    trace: tuple[GpsPoint, ...], now: datetime, window: timedelta, radius_m: int
) -> timedelta | None:
    """How long the courier has stood still (points spanning at least ``window``, all within
    ``radius_m`` of the oldest one in the window), or ``None`` if it moved or the trace does
    not cover the window (a silent GPS proves nothing)."""
    points = sorted(_window_points(trace, now, window), key=GpsPoint.sort_key)
    if len(points) < 2:
        return None
    span = points[-1].at - points[0].at
    if span < window * 2 / 3:  # the trace must cover most of the window
        return None
    anchor = _point(points[0])
    if any(distance_m(anchor, _point(p)) > radius_m for p in points[1:]):
        return None
    return span


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
