"""The vocabulary of cases (SPEC §6): what a case is about, how bad it is, who holds it.

A *case* is what support works on: a live incident on an in-flight order, a dispute, a
platform incident or a customer's diagnostics ticket. Each has a severity, a tier, a
status and SLA clocks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class CaseKind(StrEnum):
    ORDER_INCIDENT = "ORDER_INCIDENT"
    DISPUTE = "DISPUTE"
    PLATFORM_INCIDENT = "PLATFORM_INCIDENT"
    DIAGNOSTICS = "DIAGNOSTICS"


class Severity(StrEnum):
    """``SEV0`` (total outage, critical legal or financial risk) to ``SEV3`` (non-blocking).

    Diagnostics tickets use ``SEV1``..``SEV3`` only (the SPEC's "Sev-1..3")."""

    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"


class Tier(StrEnum):
    L0 = "L0"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"

    def next(self) -> Tier | None:
        """The tier a breach escalates to; ``None`` at the top (L3)."""
        order = list(Tier)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class CaseStatus(StrEnum):
    NEW = "NEW"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    MITIGATED = "MITIGATED"
    WAITING_ON_CUSTOMER = "WAITING_ON_CUSTOMER"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


OPEN_STATUSES: Final = frozenset(
    {CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.MITIGATED, CaseStatus.WAITING_ON_CUSTOMER}
)


class ClockKind(StrEnum):
    """The three SLA targets of a case."""

    ACKNOWLEDGE = "ACKNOWLEDGE"
    MITIGATE = "MITIGATE"
    STATUS_UPDATE = "STATUS_UPDATE"


class IncidentType(StrEnum):
    """What went wrong with an order in flight."""

    LATE = "LATE"
    SELLER_UNRESPONSIVE = "SELLER_UNRESPONSIVE"
    COURIER_UNAVAILABLE = "COURIER_UNAVAILABLE"
    ADDRESS_PROBLEM = "ADDRESS_PROBLEM"
    PAYMENT_PROBLEM = "PAYMENT_PROBLEM"
    OTHER = "OTHER"


class IncidentAction(StrEnum):
    RETRY = "RETRY"  # re-dispatch
    URGENT_REPLACEMENT = "URGENT_REPLACEMENT"  # reassign seller or courier
    OPERATIONAL_CANCELLATION = "OPERATIONAL_CANCELLATION"  # money back through a FULL_REFUND outcome
    FORCE_COMPLETE = "FORCE_COMPLETE"  # L3 only, reason required, at most once per order
