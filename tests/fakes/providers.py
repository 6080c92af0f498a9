"""In-memory providers that behave like real ones where it matters for exactly-once:
a repeated idempotency key returns the first answer and moves no money twice, and every
call is counted per key so tests can prove it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from returns.result import Failure, Result, Success

from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from domain.shared import Money


@dataclass
class FakePayments:
    name: str = "fake-payments"
    calls: Counter[str] = field(default_factory=Counter)
    refunds: dict[str, Money] = field(default_factory=dict)  # money actually moved, by key
    fail_next: list[ProviderFailureKind] = field(default_factory=list)
    fail_always: ProviderFailureKind | None = None

    async def refund(
        self, *, idempotency_key: str, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        kind = self.fail_always or (self.fail_next.pop(0) if self.fail_next else None)
        if kind is not None:
            return Failure(ProviderError(self.name, "refund", kind, "simulated failure"))
        self.refunds.setdefault(idempotency_key, amount)
        return Success(ProviderReceipt(self.name, "refund", idempotency_key, f"re_{idempotency_key}"))

    @property
    def total_refunded_minor(self) -> int:
        return sum(m.minor for m in self.refunds.values())


@dataclass
class FakeNotifications:
    name: str = "fake-notifications"
    calls: Counter[str] = field(default_factory=Counter)
    sent: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    async def notify(
        self, *, idempotency_key: str, recipient_role: str, recipient_id: str, template: str
    ) -> Result[ProviderReceipt, ProviderError]:
        self.calls[idempotency_key] += 1
        self.sent.setdefault(idempotency_key, (recipient_role, recipient_id, template))
        return Success(ProviderReceipt(self.name, "notify", idempotency_key, f"msg_{idempotency_key}"))
