"""L0 rules: pure functions of the facts (no clock, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.cases.kinds import CaseKind, CaseStatus, IncidentType, Severity, Tier
from domain.cases.l0 import (
    CaseFacts,
    DeliveryTrack,
    L0Outcome,
    Point,
    distance_m,
    evaluate,
    revisit,
    stationary_duration,
)
from domain.disputes.codes import DisputeReason
from domain.disputes.evidence import DeliveryProof, GpsPoint

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
HOME = Point(19_432_600, -99_133_200)
PHOTO = "b" * 64


def trace(step_microdeg: int = 0) -> tuple[GpsPoint, ...]:
    return tuple(
        GpsPoint(NOW - timedelta(minutes=m), 19_400_000 + m * step_microdeg, -99_100_000)
        for m in (15, 10, 5, 0)
    )


def late(**track: object) -> CaseFacts:
    return CaseFacts(
        now=NOW,
        kind=CaseKind.ORDER_INCIDENT,
        severity=Severity.SEV2,
        tier=Tier.L0,
        status=CaseStatus.NEW,
        incident_type=IncidentType.LATE,
        lateness_threshold=timedelta(minutes=45),
        goodwill_minor=10_000,
        track=DeliveryTrack(**track),  # type: ignore[arg-type]
    )


def test_distance_is_whole_metres() -> None:
    assert distance_m(HOME, HOME) == 0
    assert distance_m(HOME, Point(HOME.lat_microdeg + 1_000, HOME.lon_microdeg)) == 111  # 0.001 degree


def test_late_with_a_stationary_courier_is_store_credit() -> None:
    decision = evaluate(late(promised_at=NOW - timedelta(minutes=46), courier_trace=trace()))
    assert decision is not None
    assert (decision.rule, decision.outcome, decision.resolves) == (
        "late_stationary_courier",
        L0Outcome.STORE_CREDIT,
        True,
    )


@pytest.mark.parametrize(
    "facts",
    [
        late(promised_at=NOW - timedelta(minutes=44), courier_trace=trace()),  # under the threshold
        late(
            promised_at=NOW - timedelta(hours=2), courier_trace=trace(step_microdeg=100)
        ),  # moving ~11 m/min
        late(
            promised_at=NOW - timedelta(hours=2), courier_trace=trace()[2:]
        ),  # the trace does not cover 15 min
        late(promised_at=None, courier_trace=trace()),  # no promise recorded
    ],
)
def test_no_store_credit_without_every_condition(facts: CaseFacts) -> None:
    decision = evaluate(facts)
    assert decision is not None
    assert (decision.rule, decision.outcome, decision.route_to, decision.acknowledge) == (
        "routing",
        None,
        Tier.L1,
        True,
    )


def test_stationary_duration_tolerates_gps_noise_only() -> None:
    assert stationary_duration(trace(step_microdeg=3), NOW, timedelta(minutes=15), 50) == timedelta(
        minutes=15
    )
    assert stationary_duration(trace(step_microdeg=50), NOW, timedelta(minutes=15), 50) is None


def dispute(
    reason: DisputeReason, proof: DeliveryProof | None, destination: Point | None = HOME
) -> CaseFacts:
    return CaseFacts(
        now=NOW,
        kind=CaseKind.DISPUTE,
        severity=Severity.SEV2,
        tier=Tier.L0,
        status=CaseStatus.NEW,
        dispute_reason=reason,
        track=DeliveryTrack(destination=destination, delivery_proof=proof),
    )


def proof(offset_microdeg: int, photos: tuple[str, ...] = (PHOTO,)) -> DeliveryProof:
    point = GpsPoint(NOW, HOME.lat_microdeg + offset_microdeg, HOME.lon_microdeg)
    return DeliveryProof(delivered_at=NOW, gps_points=(point,), photo_sha256=photos)


def test_not_delivered_with_photo_and_gps_at_the_address_goes_to_l1_with_the_proof() -> None:
    decision = evaluate(dispute(DisputeReason.NOT_DELIVERED, proof(500)))  # ~56 m
    assert decision is not None
    assert (decision.rule, decision.route_to, decision.attach_delivery_proof, decision.outcome) == (
        "delivered_at_address",
        Tier.L1,
        True,
        None,
    )


@pytest.mark.parametrize(
    "facts",
    [
        dispute(DisputeReason.NOT_DELIVERED, proof(2_000)),  # ~222 m away
        dispute(DisputeReason.NOT_DELIVERED, proof(0, photos=())),  # no photo
        dispute(DisputeReason.NOT_DELIVERED, proof(0), destination=None),  # address unknown
        dispute(DisputeReason.DAMAGED, proof(0)),  # another claim
    ],
)
def test_the_delivery_rule_needs_photo_gps_and_address(facts: CaseFacts) -> None:
    decision = evaluate(facts)
    assert decision is not None
    assert decision.rule == "routing"
    assert not decision.attach_delivery_proof


@pytest.mark.parametrize(
    ("severity", "tier", "acknowledge"),
    [
        (Severity.SEV0, Tier.L3, False),
        (Severity.SEV1, Tier.L2, False),
        (Severity.SEV2, Tier.L1, True),
        (Severity.SEV3, Tier.L1, True),
    ],
)
def test_routing_by_severity(severity: Severity, tier: Tier, acknowledge: bool) -> None:
    facts = CaseFacts(
        now=NOW, kind=CaseKind.PLATFORM_INCIDENT, severity=severity, tier=Tier.L0, status=CaseStatus.NEW
    )
    decision = evaluate(facts)
    assert decision is not None
    assert (decision.route_to, decision.acknowledge) == (tier, acknowledge)


def test_l0_leaves_cases_people_hold_or_that_are_closed() -> None:
    held = CaseFacts(
        now=NOW, kind=CaseKind.DISPUTE, severity=Severity.SEV2, tier=Tier.L1, status=CaseStatus.NEW
    )
    done = CaseFacts(
        now=NOW, kind=CaseKind.DISPUTE, severity=Severity.SEV2, tier=Tier.L0, status=CaseStatus.RESOLVED
    )
    assert evaluate(held) is None
    assert evaluate(done) is None


def test_a_revisit_only_settles_and_never_reroutes() -> None:
    """New tracking facts for a case L0 already routed (D90): the store-credit rule may act
    at any open tier; routing is not redone; a closed case is left alone."""
    routed = replace(late(promised_at=NOW - timedelta(minutes=46), courier_trace=trace()), tier=Tier.L1)
    routed = replace(routed, status=CaseStatus.ACKNOWLEDGED)
    decision = revisit(routed)
    assert decision is not None and decision.outcome is L0Outcome.STORE_CREDIT
    assert evaluate(routed) is None  # the opening's evaluation leaves a routed case alone
    moving = replace(
        routed, track=DeliveryTrack(promised_at=NOW - timedelta(minutes=46), courier_trace=trace(1_000))
    )
    assert revisit(moving) is None  # no settling rule fires: nothing, not a routing decision
    assert revisit(replace(routed, status=CaseStatus.RESOLVED)) is None
