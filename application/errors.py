"""Typed errors of the application layer (expected failures, returned as values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from domain.shared import DomainError


@dataclass(frozen=True, slots=True)
class NotFound(DomainError):
    """No such object in this country (objects of other countries are never revealed)."""

    code: ClassVar[str] = "NOT_FOUND"
    kind: str
    id: str

    @property
    def message(self) -> str:
        return f"{self.kind} {self.id!r} not found"


@dataclass(frozen=True, slots=True)
class OrderIdTaken(DomainError):
    """An order with this id exists for other parties: the marketplace reused an id (D91)."""

    code: ClassVar[str] = "ORDER_ID_TAKEN"
    order_id: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} exists for another buyer or seller"


@dataclass(frozen=True, slots=True)
class NotCaptured(DomainError):
    code: ClassVar[str] = "ORDER_NOT_CAPTURED"
    order_id: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} has no captured payment"


@dataclass(frozen=True, slots=True)
class OrderNotDisputable(DomainError):
    code: ClassVar[str] = "ORDER_NOT_DISPUTABLE"
    order_id: str
    status: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} is {self.status}; disputes open on DELIVERED orders"


@dataclass(frozen=True, slots=True)
class DisputeAlreadyOpen(DomainError):
    code: ClassVar[str] = "DISPUTE_ALREADY_OPEN"
    order_id: str

    @property
    def message(self) -> str:
        return f"order {self.order_id} already has an open dispute"


@dataclass(frozen=True, slots=True)
class NoPolicyInForce(DomainError):
    code: ClassVar[str] = "NO_POLICY_IN_FORCE"
    country: str

    @property
    def message(self) -> str:
        return f"no refund policy is in force for {self.country}"


@dataclass(frozen=True, slots=True)
class PlanDrift(DomainError):
    """The plan recomputed at execution time differs from the one decided: refuse to move
    money on a plan nobody decided."""

    code: ClassVar[str] = "EXECUTION_PLAN_DRIFT"
    reference: str

    @property
    def message(self) -> str:
        return f"the execution plan of {self.reference} no longer matches the decided plan"
