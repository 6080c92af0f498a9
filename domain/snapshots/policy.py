"""Versioned, per-country refund policies.

A policy is data: the version in force when a payment is captured is copied into the
order snapshot and governs every outcome computed for that order, whatever newer
versions exist later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from returns.result import Failure, Result, Success

from domain.shared import BASIS_POINTS, CountryCode, Currency, InvalidInput, Money
from domain.shared.ids import PolicyVersion

DEFAULT_PARTIAL_REFUND_TIERS_BP: tuple[int, ...] = (2_500, 5_000)
DEFAULT_DISPUTE_WINDOW = timedelta(hours=72)
DEFAULT_EVIDENCE_DEADLINE = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class RefundPolicy:
    """One version of a country's refund policy."""

    country: CountryCode
    version: PolicyVersion
    currency: Currency
    goodwill_credit: Money
    partial_refund_tiers_bp: tuple[int, ...] = DEFAULT_PARTIAL_REFUND_TIERS_BP
    dispute_window: timedelta = DEFAULT_DISPUTE_WINDOW
    evidence_deadline: timedelta = DEFAULT_EVIDENCE_DEADLINE
    lateness_threshold: timedelta = field(default=timedelta(minutes=45))

    @staticmethod
    def create(
        *,
        country: CountryCode,
        version: str,
        currency: Currency,
        goodwill_credit_minor: int,
        partial_refund_tiers_bp: tuple[int, ...] = DEFAULT_PARTIAL_REFUND_TIERS_BP,
        dispute_window: timedelta = DEFAULT_DISPUTE_WINDOW,
        evidence_deadline: timedelta = DEFAULT_EVIDENCE_DEADLINE,
        lateness_threshold: timedelta = timedelta(minutes=45),
    ) -> Result[RefundPolicy, InvalidInput]:
        if not version.strip():
            return Failure(InvalidInput("version", "must not be empty"))
        if goodwill_credit_minor < 0:
            return Failure(InvalidInput("goodwill_credit", "must not be negative"))
        if not partial_refund_tiers_bp:
            return Failure(InvalidInput("partial_refund_tiers", "at least one tier is required"))
        if any(not 0 < tier < BASIS_POINTS for tier in partial_refund_tiers_bp):
            return Failure(
                InvalidInput("partial_refund_tiers", "each tier must be strictly between 0 and 100 %")
            )
        if len(set(partial_refund_tiers_bp)) != len(partial_refund_tiers_bp):
            return Failure(InvalidInput("partial_refund_tiers", "tiers must be distinct"))
        for name, span in (
            ("dispute_window", dispute_window),
            ("evidence_deadline", evidence_deadline),
            ("lateness_threshold", lateness_threshold),
        ):
            if span <= timedelta(0):
                return Failure(InvalidInput(name, "must be positive"))
        return Success(
            RefundPolicy(
                country=country,
                version=PolicyVersion(version.strip()),
                currency=currency,
                goodwill_credit=Money(goodwill_credit_minor, currency),
                partial_refund_tiers_bp=tuple(sorted(partial_refund_tiers_bp)),
                dispute_window=dispute_window,
                evidence_deadline=evidence_deadline,
                lateness_threshold=lateness_threshold,
            )
        )

    def has_tier(self, tier_bp: int) -> bool:
        return tier_bp in self.partial_refund_tiers_bp
