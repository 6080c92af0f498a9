"""Provider ports: the outside world the core talks to (SPEC §7).

Payments (capture, refund, payout), notifications (a templated message to a party, push,
e-mail), maps/geocoding (``maps.py``), evidence storage (``storage.py``) and tax
(``tax.py``). Each has a sandbox adapter (the embedded default) and may have real ones.

Every call that changes something carries an idempotency key: a provider that sees a key
again must answer with its first result and move no money twice. Calls also carry the
country they act for; a provider echoes it back in its webhooks (like a real provider's
metadata), so a confirmation is stored and processed in its own country. Expected
provider failures are values: transient ones (5xx, timeouts) are retried, permanent ones
(4xx, declines) are not.

The dispute saga needs only a refund and a party notification: it depends on the
narrow ``RefundsProvider`` and ``PartyNotifier``; the full ports extend them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from returns.result import Result

from domain.shared import CountryCode, DomainError, Money


class ProviderFailureKind(StrEnum):
    TRANSIENT = "TRANSIENT"  # 5xx, timeouts: retry with backoff
    PERMANENT = "PERMANENT"  # 4xx, declines: do not retry


@dataclass(frozen=True, slots=True)
class ProviderError(DomainError):
    code: ClassVar[str] = "PROVIDER_ERROR"
    provider: str
    operation: str
    kind: ProviderFailureKind
    detail: str

    @property
    def message(self) -> str:
        return f"{self.provider}.{self.operation} failed ({self.kind.value.lower()}): {self.detail}"

    @property
    def transient(self) -> bool:
        return self.kind is ProviderFailureKind.TRANSIENT


@dataclass(frozen=True, slots=True)
class ProviderReceipt:
    """What a provider answered: its own reference for the operation.

    ``confirmed=False`` means *accepted, confirmation to follow*: the provider will send a
    signed webhook when the operation settles (or fails); until then the step waits.
    """

    provider: str
    operation: str
    idempotency_key: str
    reference: str
    confirmed: bool = True


class RefundsProvider(Protocol):
    """The part of payments the dispute saga uses."""

    name: str

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        """Give ``amount`` of the order's captured payment back to the buyer's card."""
        ...


class PayoutsProvider(Protocol):
    """The part of payments the seller payout run uses (D89)."""

    name: str

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        """Pay ``amount`` out to a payee (a seller's bank account)."""
        ...


class PaymentsProvider(RefundsProvider, PayoutsProvider, Protocol):
    """A payment service provider: card captures, refunds and seller payouts."""

    async def capture(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        """Capture ``amount`` of the order's authorised card payment."""
        ...


class NotificationChannel(StrEnum):
    PUSH = "PUSH"
    EMAIL = "EMAIL"


class PartyNotifier(Protocol):
    """The part of notifications the dispute saga uses."""

    name: str

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        """A templated message to a party, on the channel the provider knows they prefer."""
        ...


class NotificationsProvider(PartyNotifier, Protocol):
    """Push and e-mail delivery."""

    async def push(
        self, *, idempotency_key: str, country: CountryCode, recipient_id: str, title: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        """A push notification to every device of ``recipient_id``."""
        ...

    async def email(
        self, *, idempotency_key: str, country: CountryCode, to_address: str, subject: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        """A plain-text e-mail."""
        ...
