"""Closed vocabularies of the dispute domain."""

from __future__ import annotations

from enum import StrEnum


class OutcomeCode(StrEnum):
    """The only way money moves. An agent picks one of these, never an amount."""

    FULL_REFUND = "FULL_REFUND"
    PARTIAL_REFUND = "PARTIAL_REFUND"
    STORE_CREDIT = "STORE_CREDIT"
    REPLACEMENT = "REPLACEMENT"
    REJECTED = "REJECTED"
    FORCE_COMPLETE = "FORCE_COMPLETE"


class DisputeReason(StrEnum):
    NOT_DELIVERED = "NOT_DELIVERED"
    DAMAGED = "DAMAGED"
    WRONG_ITEM = "WRONG_ITEM"
    LATE = "LATE"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    OTHER = "OTHER"


class DecisionReasonCode(StrEnum):
    """Why an outcome was chosen: a closed list, so reports can group decisions."""

    EVIDENCE_SUPPORTS_BUYER = "EVIDENCE_SUPPORTS_BUYER"
    EVIDENCE_SUPPORTS_SELLER = "EVIDENCE_SUPPORTS_SELLER"
    DELIVERY_NOT_PROVEN = "DELIVERY_NOT_PROVEN"
    ITEM_DAMAGED_IN_TRANSIT = "ITEM_DAMAGED_IN_TRANSIT"
    ITEM_NOT_AS_DESCRIBED = "ITEM_NOT_AS_DESCRIBED"
    LATE_DELIVERY = "LATE_DELIVERY"
    GOODWILL = "GOODWILL"
    OPERATIONAL_CANCELLATION = "OPERATIONAL_CANCELLATION"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    OTHER = "OTHER"
