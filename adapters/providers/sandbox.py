"""In-process sandbox providers: the embedded default (SPEC §7).

They behave like real providers where it matters to the core:

- **Idempotency.** A repeated idempotency key answers the first answer and moves no money
  again. The same key with different parameters is refused (permanent), as real payment
  providers do.
- **Latency.** Every call answers after ``SandboxFaults.latency_s`` (plus up to
  ``jitter_s``), slept with an injectable ``sleep``.
- **Failures.** A share of *new* calls fails, drawn from an injected ``random.Random`` (a
  seed makes a run repeatable): transiently, either ``http_503`` (nothing happened) or
  ``timeout`` (it happened, the answer was lost: the retry with the same key gets the
  first answer), or permanently (``card_declined`` and the like, remembered for the key).
- **Asynchronous confirmation.** With ``SandboxWebhooks``, a call answers
  ``confirmed=False`` (accepted) and the sandbox later settles the operation and sends a
  signed Standard Webhooks request to our endpoint: ``<operation>.succeeded`` or
  ``<operation>.failed`` (a permanent draw becomes an asynchronous failure). Money moves
  when the operation settles, once. After that, asking again with the same key answers
  the settled result, as a real provider's retrieve would (so a lost webhook is survived).
- ``fail_orders`` (payments) declines every operation on those orders: the demo data uses
  it to show the dead-letter path.
- **Failures after success.** ``SandboxPayments.fail_after_success(key, reason)`` reports an
  operation that had succeeded as failed after all, as a real provider does when a bank
  returns a payout days after it was paid (Stripe's ``payout.failed`` after ``payout.paid``):
  the money comes back (``returned``), the key answers the failure from then on, and a signed
  ``<operation>.failed`` event follows (D130).

Geocoding and tax are deterministic functions of their input; storage keeps
content-addressed files on the local disk (``var/blobs`` by default).

Every call is counted per idempotency key (``calls``) and every movement of money is kept
(``refunded``, ``captured``, ``paid_out``), so tests can prove exactly-once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final

import httpx
from returns.result import Failure, Result, Success

from adapters.providers.webhook_delivery import WebhookSender, sign_webhook
from application.ports.maps import MICRODEGREES, GeocodedAddress, GeoPoint
from application.ports.providers import ProviderError, ProviderFailureKind, ProviderReceipt
from application.ports.storage import StoredBlob, content_key
from application.ports.tax import TaxQuote
from domain.shared import BASIS_POINTS, CountryCode, Money, round_half_even

Sleep = Callable[[float], Awaitable[None]]
JsonValue = str | int | bool | None


def _reference(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# ------------------------------------------------------------------------------ faults


@dataclass(frozen=True, slots=True)
class SandboxFaults:
    """How slow and how unreliable a sandbox is. Rates are shares of new calls."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    transient_rate: float = 0.0  # http_503 or timeout, half and half
    permanent_rate: float = 0.0  # declined / refused for good

    def __post_init__(self) -> None:
        if min(self.latency_s, self.jitter_s, self.transient_rate, self.permanent_rate) < 0:
            raise ValueError("latency and failure rates cannot be negative")
        if self.transient_rate + self.permanent_rate > 1:
            raise ValueError("transient_rate + permanent_rate cannot exceed 1")


NO_FAULTS: Final = SandboxFaults()


class Draw(Enum):
    OK = "ok"
    UNAVAILABLE = "http_503"  # transient, nothing happened
    TIMEOUT = "timeout"  # transient, it happened but the answer was lost
    DECLINED = "declined"  # permanent


class _Faults:
    """Latency and drawn failures, from one seeded random source."""

    def __init__(self, faults: SandboxFaults, rng: random.Random | None, sleep: Sleep) -> None:
        self.faults = faults
        self._rng = rng if rng is not None else random.Random(0)  # noqa: S311 - simulation, not crypto
        self._sleep = sleep

    async def wait(self) -> None:
        delay = self.faults.latency_s
        if self.faults.jitter_s:
            delay += self.faults.jitter_s * self._rng.random()
        if delay > 0:
            await self._sleep(delay)

    def draw(self) -> Draw:
        if not (self.faults.transient_rate or self.faults.permanent_rate):
            return Draw.OK
        roll = self._rng.random()
        if roll < self.faults.permanent_rate:
            return Draw.DECLINED
        if roll < self.faults.permanent_rate + self.faults.transient_rate:
            return Draw.UNAVAILABLE if self._rng.random() < 0.5 else Draw.TIMEOUT
        return Draw.OK


def _transient(provider: str, operation: str, draw: Draw) -> ProviderError:
    detail = "http_503: service unavailable" if draw is Draw.UNAVAILABLE else "timeout: no answer in time"
    return ProviderError(provider, operation, ProviderFailureKind.TRANSIENT, detail)


# ---------------------------------------------------------------------------- webhooks


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event as the sandbox sent it: its id, body and the last attempt's status."""

    webhook_id: str
    event_type: str
    body: bytes
    attempts: int
    status: int | None  # None: the last attempt did not reach the endpoint

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class SandboxWebhooks:
    """Where and how a sandbox sends its signed webhooks.

    - ``secrets``: the signing secrets (``whsec_...``); each delivery carries one ``v1``
      signature per secret, as a provider does while rotating.
    - ``delay_s``: settle and send this long after the call (a background task), or
      ``None`` to queue the events until ``deliver_pending()`` (deterministic tests).
    - A delivery that does not get a 2xx is retried with exponential backoff up to
      ``max_attempts`` times, each attempt freshly timestamped and signed.
    """

    def __init__(
        self,
        sender: WebhookSender,
        *,
        secrets: Sequence[str],
        delay_s: float | None = 0.0,
        max_attempts: int = 5,
        retry_delay_s: float = 0.5,
        now: Callable[[], datetime] = _wall_clock,
        new_id: Callable[[], str] = _new_webhook_id,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not secrets:
            raise ValueError("a webhook needs at least one signing secret")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.secrets = list(secrets)
        self._sender = sender
        self._delay_s = delay_s
        self._max_attempts = max_attempts
        self._retry_delay_s = retry_delay_s
        self._now = now
        self._new_id = new_id
        self._sleep = sleep
        self._pending: list[Callable[[], tuple[str, dict[str, Any]]]] = []
        self._tasks: set[asyncio.Task[WebhookDelivery]] = set()
        self.deliveries: list[WebhookDelivery] = []

    def schedule(self, settle: Callable[[], tuple[str, dict[str, Any]]]) -> None:
        """``settle()`` settles the operation and answers the event's (type, data)."""
        if self._delay_s is None:
            self._pending.append(settle)
            return
        task = asyncio.get_running_loop().create_task(self._later(settle, self._delay_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._tasks)

    async def deliver_pending(self) -> list[WebhookDelivery]:
        """Settle and send every queued event now (``delay_s=None``), in order."""
        sent: list[WebhookDelivery] = []
        while self._pending:
            sent.append(await self._emit(*self._pending.pop(0)()))
        return sent

    async def wait_idle(self) -> None:
        """Wait for every delivery in flight (``delay_s`` set)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def redeliver(self, webhook_id: str) -> WebhookDelivery:
        """Send an event again, same id and body, freshly signed (at-least-once delivery)."""
        first = next(d for d in self.deliveries if d.webhook_id == webhook_id)
        return await self._send(webhook_id, first.event_type, first.body)

    async def _later(self, settle: Callable[[], tuple[str, dict[str, Any]]], delay: float) -> WebhookDelivery:
        if delay > 0:
            await self._sleep(delay)
        return await self._emit(*settle())

    async def _emit(self, event_type: str, data: dict[str, Any]) -> WebhookDelivery:
        webhook_id = self._new_id()
        event = {"type": event_type, "timestamp": self._now().isoformat(), "data": data}
        body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return await self._send(webhook_id, event_type, body)

    async def _send(self, webhook_id: str, event_type: str, body: bytes) -> WebhookDelivery:
        status: int | None = None
        attempt = 0
        for attempt in range(1, self._max_attempts + 1):
            headers = sign_webhook(
                secrets=self.secrets, webhook_id=webhook_id, timestamp=self._now(), body=body
            )
            try:
                status = await self._sender(body, headers)
            except (httpx.HTTPError, OSError):
                status = None
            if status is not None and 200 <= status < 300:
                break
            if attempt < self._max_attempts:
                await self._sleep(self._retry_delay_s * 2 ** (attempt - 1))
        delivery = WebhookDelivery(webhook_id, event_type, body, attempt, status)
        self.deliveries.append(delivery)
        return delivery


# ----------------------------------------------------------- operations that change things


class _Settlement(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(slots=True)
class _Answer:
    request: tuple[JsonValue, ...]
    receipt: ProviderReceipt
    settlement: _Settlement
    failure: str = ""

    def result(self) -> Result[ProviderReceipt, ProviderError]:
        match self.settlement:
            case _Settlement.PENDING:
                return Success(self.receipt)
            case _Settlement.SUCCEEDED:
                return Success(
                    ProviderReceipt(
                        self.receipt.provider,
                        self.receipt.operation,
                        self.receipt.idempotency_key,
                        self.receipt.reference,
                        confirmed=True,
                    )
                )
            case _Settlement.FAILED:
                return Failure(
                    ProviderError(
                        self.receipt.provider,
                        self.receipt.operation,
                        ProviderFailureKind.PERMANENT,
                        self.failure,
                    )
                )


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str  # "refund", "notify", ...
    idempotency_key: str
    country: CountryCode
    request: tuple[JsonValue, ...]  # what was asked (a reused key must ask the same)
    data: dict[str, JsonValue]  # echoed in the webhook event
    reference_prefix: str
    effect: Callable[[], None]  # what happens once, when the operation succeeds
    decline: str | None = None  # declined whatever the draw (``fail_orders``)
    undo: Callable[[], None] = lambda: None  # what a failure after success takes back


class _IdempotentSandbox:
    """Latency, drawn failures, first-answer idempotency and webhooks, for one provider."""

    decline_reason: str = "http_422: refused"

    def __init__(
        self,
        name: str,
        *,
        faults: SandboxFaults,
        rng: random.Random | None,
        webhooks: SandboxWebhooks | None,
        sleep: Sleep,
    ) -> None:
        self.name = name
        self.webhooks = webhooks
        self.calls: Counter[str] = Counter()
        self._faults = _Faults(faults, rng, sleep)
        self._answers: dict[str, _Answer] = {}
        self._operations: dict[str, _Operation] = {}

    async def _perform(self, op: _Operation) -> Result[ProviderReceipt, ProviderError]:
        self.calls[op.idempotency_key] += 1
        await self._faults.wait()
        answer = self._answers.get(op.idempotency_key)
        if answer is not None:
            if answer.request != op.request:
                return Failure(
                    ProviderError(
                        self.name,
                        op.name,
                        ProviderFailureKind.PERMANENT,
                        "idempotency_key_reused: the key was first used with other parameters",
                    )
                )
            return answer.result()
        draw = self._faults.draw()
        if draw is Draw.UNAVAILABLE:
            return Failure(_transient(self.name, op.name, draw))
        decline = op.decline or (self.decline_reason if draw is Draw.DECLINED else None)
        receipt = ProviderReceipt(
            self.name,
            op.name,
            op.idempotency_key,
            _reference(op.reference_prefix, op.idempotency_key),
            confirmed=self.webhooks is None,
        )
        answer = _Answer(op.request, receipt, _Settlement.PENDING)
        self._answers[op.idempotency_key] = answer
        self._operations[op.idempotency_key] = op
        if self.webhooks is None:
            self._settle(answer, op, decline)
        else:
            self.webhooks.schedule(lambda: self._settle(answer, op, decline))
        if draw is Draw.TIMEOUT:
            return Failure(_transient(self.name, op.name, draw))
        return answer.result()

    def fail_after_success(self, idempotency_key: str, reason: str) -> None:
        """Report the succeeded operation of ``idempotency_key`` as failed after all (a bank
        returned a payout it had been paid, D130): what it moved is taken back, the key
        answers the failure from now on, and a signed ``<operation>.failed`` event is sent
        (queued or delayed like every event). Only with webhooks: a late failure has no other
        way to reach the caller."""
        answer = self._answers.get(idempotency_key)
        if answer is None or answer.settlement is not _Settlement.SUCCEEDED:
            raise ValueError(f"{idempotency_key!r} has no succeeded operation to fail")
        if self.webhooks is None:
            raise ValueError("a failure after success is reported by webhook: this sandbox has none")
        op = self._operations[idempotency_key]
        op.undo()
        answer.settlement = _Settlement.FAILED
        answer.failure = reason
        self.webhooks.schedule(lambda: self._event(answer, op, reason))

    @classmethod
    def _settle(cls, answer: _Answer, op: _Operation, decline: str | None) -> tuple[str, dict[str, Any]]:
        if decline is None:
            op.effect()
            answer.settlement = _Settlement.SUCCEEDED
        else:
            answer.settlement = _Settlement.FAILED
            answer.failure = decline
        return cls._event(answer, op, decline)

    @staticmethod
    def _event(answer: _Answer, op: _Operation, failure: str | None) -> tuple[str, dict[str, Any]]:
        data: dict[str, Any] = {
            **op.data,
            "object": op.name,
            "id": answer.receipt.reference,
            "idempotency_key": op.idempotency_key,
            "country": op.country.value,
            "status": answer.settlement.value,
            "failure_reason": failure,
        }
        return f"{op.name}.{answer.settlement.value}", data


class SandboxPayments(_IdempotentSandbox):
    """Card captures, refunds and payouts."""

    decline_reason = "card_declined"

    def __init__(
        self,
        fail_orders: frozenset[str] = frozenset(),
        *,
        faults: SandboxFaults = NO_FAULTS,
        rng: random.Random | None = None,
        webhooks: SandboxWebhooks | None = None,
        sleep: Sleep = asyncio.sleep,
        name: str = "sandbox-payments",
    ) -> None:
        super().__init__(name, faults=faults, rng=rng, webhooks=webhooks, sleep=sleep)
        self._fail_orders = fail_orders
        self.captured: dict[str, Money] = {}
        self.refunded: dict[str, Money] = {}
        self.paid_out: dict[str, Money] = {}
        self.returned: dict[str, Money] = {}  # taken back by ``fail_after_success``

    def _money_op(
        self,
        operation: str,
        prefix: str,
        *,
        idempotency_key: str,
        country: CountryCode,
        subject: tuple[str, str],
        amount: Money,
        moved: dict[str, Money],
        decline: str | None,
    ) -> _Operation:
        def effect() -> None:
            moved.setdefault(idempotency_key, amount)

        def undo() -> None:
            if idempotency_key in moved:
                self.returned[idempotency_key] = moved.pop(idempotency_key)

        return _Operation(
            name=operation,
            idempotency_key=idempotency_key,
            country=country,
            request=(country.value, subject[1], amount.minor, amount.currency.code),
            data={
                subject[0]: subject[1],
                "amount_minor": amount.minor,
                "currency": amount.currency.code,
            },
            reference_prefix=prefix,
            effect=effect,
            decline=decline,
            undo=undo,
        )

    def _declined(self, order_id: str) -> str | None:
        return self.decline_reason if order_id in self._fail_orders else None

    async def capture(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._perform(
            self._money_op(
                "capture",
                "ch",
                idempotency_key=idempotency_key,
                country=country,
                subject=("order_id", order_id),
                amount=amount,
                moved=self.captured,
                decline=self._declined(order_id),
            )
        )

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._perform(
            self._money_op(
                "refund",
                "re",
                idempotency_key=idempotency_key,
                country=country,
                subject=("order_id", order_id),
                amount=amount,
                moved=self.refunded,
                decline=self._declined(order_id),
            )
        )

    async def payout(
        self, *, idempotency_key: str, country: CountryCode, payee_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._perform(
            self._money_op(
                "payout",
                "po",
                idempotency_key=idempotency_key,
                country=country,
                subject=("payee_id", payee_id),
                amount=amount,
                moved=self.paid_out,
                decline=None,
            )
        )

    @property
    def total_refunded_minor(self) -> int:
        return sum(money.minor for money in self.refunded.values())


class SandboxNotifications(_IdempotentSandbox):
    """Templated party notifications, push and e-mail; each sent once per key."""

    decline_reason = "invalid_recipient"

    def __init__(
        self,
        *,
        faults: SandboxFaults = NO_FAULTS,
        rng: random.Random | None = None,
        webhooks: SandboxWebhooks | None = None,
        sleep: Sleep = asyncio.sleep,
        name: str = "sandbox-notifications",
    ) -> None:
        super().__init__(name, faults=faults, rng=rng, webhooks=webhooks, sleep=sleep)
        self.sent: dict[str, tuple[str, str, str]] = {}  # templated: (role, recipient, template)
        self.pushes: dict[str, tuple[str, str, str]] = {}  # (recipient, title, body)
        self.emails: dict[str, tuple[str, str, str]] = {}  # (to, subject, body)

    def _message_op(
        self,
        operation: str,
        *,
        idempotency_key: str,
        country: CountryCode,
        message: tuple[str, str, str],
        sent: dict[str, tuple[str, str, str]],
        recipient: str,
    ) -> _Operation:
        def effect() -> None:
            sent.setdefault(idempotency_key, message)

        return _Operation(
            name=operation,
            idempotency_key=idempotency_key,
            country=country,
            request=(country.value, *message),
            data={"recipient": recipient},
            reference_prefix="msg",
            effect=effect,
        )

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._perform(
            self._message_op(
                "notify",
                idempotency_key=idempotency_key,
                country=country,
                message=(recipient_role, recipient_id, template),
                sent=self.sent,
                recipient=recipient_id,
            )
        )

    async def push(
        self, *, idempotency_key: str, country: CountryCode, recipient_id: str, title: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._perform(
            self._message_op(
                "push",
                idempotency_key=idempotency_key,
                country=country,
                message=(recipient_id, title, body),
                sent=self.pushes,
                recipient=recipient_id,
            )
        )

    async def email(
        self, *, idempotency_key: str, country: CountryCode, to_address: str, subject: str, body: str
    ) -> Result[ProviderReceipt, ProviderError]:
        if "@" not in to_address:
            return Failure(
                ProviderError(self.name, "email", ProviderFailureKind.PERMANENT, "invalid_address")
            )
        return await self._perform(
            self._message_op(
                "email",
                idempotency_key=idempotency_key,
                country=country,
                message=(to_address, subject, body),
                sent=self.emails,
                recipient=to_address,
            )
        )


# ------------------------------------------------------------------- read-only providers


@dataclass(frozen=True, slots=True)
class BoundingBox:
    south_e6: int
    west_e6: int
    north_e6: int
    east_e6: int


def _box(south: float, west: float, north: float, east: float) -> BoundingBox:
    return BoundingBox(*(round(v * MICRODEGREES) for v in (south, west, north, east)))


COUNTRY_BOXES: Final[dict[str, BoundingBox]] = {
    "MX": _box(14.5, -117.1, 32.7, -86.7),
    "CO": _box(-4.2, -79.0, 12.5, -66.9),
    "BR": _box(-33.7, -73.9, 5.3, -34.8),
    "CL": _box(-55.9, -75.6, -17.5, -66.4),
    "AR": _box(-55.1, -73.6, -21.8, -53.6),
    "PE": _box(-18.4, -81.3, -0.04, -68.7),
}
WORLD: Final = _box(-60.0, -180.0, 75.0, 180.0)


class SandboxGeocoder:
    """Deterministic geocoding: the same address always lands on the same point inside its
    country's bounding box (a hash of the normalised address); a blank address, or one
    containing ``nowhere``, is not found."""

    def __init__(
        self,
        *,
        faults: SandboxFaults = NO_FAULTS,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        name: str = "sandbox-maps",
    ) -> None:
        self.name = name
        self._faults = _Faults(faults, rng, sleep)

    async def geocode(self, *, country: CountryCode, address: str) -> Result[GeocodedAddress, ProviderError]:
        await self._faults.wait()
        draw = self._faults.draw()
        if draw in (Draw.UNAVAILABLE, Draw.TIMEOUT):
            return Failure(_transient(self.name, "geocode", draw))
        normalised = " ".join(address.split()).lower()
        if draw is Draw.DECLINED or not normalised or "nowhere" in normalised:
            return Failure(
                ProviderError(self.name, "geocode", ProviderFailureKind.PERMANENT, "address_not_found")
            )
        digest = hashlib.sha256(f"{country.value}|{normalised}".encode()).digest()
        box = COUNTRY_BOXES.get(country.value, WORLD)
        lat = box.south_e6 + int.from_bytes(digest[:8], "big") % (box.north_e6 - box.south_e6 + 1)
        lon = box.west_e6 + int.from_bytes(digest[8:16], "big") % (box.east_e6 - box.west_e6 + 1)
        formatted = f"{' '.join(address.split())}, {country.value}"
        return Success(GeocodedAddress(GeoPoint(lat, lon), formatted, _reference("geo", formatted)))


TAX_RATES_BP: Final[dict[str, int]] = {
    "MX": 1_600,  # IVA 16 %
    "CO": 1_900,  # IVA 19 %
    "BR": 1_700,  # a flat stand-in for ICMS
    "CL": 1_900,  # IVA 19 %
    "AR": 2_100,  # IVA 21 %
    "PE": 1_800,  # IGV 18 %
}


class SandboxTax:
    """Deterministic tax: a flat VAT rate per country (``TAX_RATES_BP``), rounded half to
    even in integer minor units. A country without a rate is refused (permanent)."""

    def __init__(
        self,
        rates_bp: dict[str, int] | None = None,
        *,
        faults: SandboxFaults = NO_FAULTS,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        name: str = "sandbox-tax",
    ) -> None:
        self.name = name
        self._rates = dict(TAX_RATES_BP if rates_bp is None else rates_bp)
        self._faults = _Faults(faults, rng, sleep)

    async def compute(self, *, country: CountryCode, amount: Money) -> Result[TaxQuote, ProviderError]:
        await self._faults.wait()
        draw = self._faults.draw()
        if draw in (Draw.UNAVAILABLE, Draw.TIMEOUT):
            return Failure(_transient(self.name, "compute", draw))
        rate = self._rates.get(country.value)
        if draw is Draw.DECLINED or rate is None:
            return Failure(
                ProviderError(self.name, "compute", ProviderFailureKind.PERMANENT, "unsupported_country")
            )
        if amount.minor < 0:
            return Failure(
                ProviderError(self.name, "compute", ProviderFailureKind.PERMANENT, "negative_amount")
            )
        tax = Money(round_half_even(amount.minor * rate, BASIS_POINTS), amount.currency)
        return Success(TaxQuote(country, amount, rate, tax))


# ----------------------------------------------------------------------------- storage

_CONTENT_KEY: Final = re.compile(r"[0-9a-f]{64}")


@dataclass
class SandboxStorage:
    """Content-addressed blobs on the local disk: ``<root>/<key[:2]>/<key>``, the key
    being the sha256 of the bytes. Writes go to a temporary file and are renamed into
    place, so a reader never sees half a blob. Idempotency keys are remembered on disk
    too (``<root>/keys/``), so a key reused with other bytes is refused across restarts.
    File I/O runs in a thread, off the event loop."""

    root: Path = field(default_factory=lambda: Path("var") / "blobs")
    name: str = "sandbox-storage"

    def _blob(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _key_file(self, idempotency_key: str) -> Path:
        return self.root / "keys" / hashlib.sha256(idempotency_key.encode()).hexdigest()

    async def put(
        self, *, idempotency_key: str, content: bytes, content_type: str
    ) -> Result[StoredBlob, ProviderError]:
        return await asyncio.to_thread(self._put, idempotency_key, content, content_type)

    async def get(self, *, key: str) -> Result[bytes | None, ProviderError]:
        if not _CONTENT_KEY.fullmatch(key):
            return Failure(ProviderError(self.name, "get", ProviderFailureKind.PERMANENT, "invalid_key"))
        return await asyncio.to_thread(self._get, key)

    async def delete(self, *, key: str) -> Result[bool, ProviderError]:
        if not _CONTENT_KEY.fullmatch(key):
            return Failure(ProviderError(self.name, "delete", ProviderFailureKind.PERMANENT, "invalid_key"))
        return await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> Result[bool, ProviderError]:
        """Unlink the blob (idempotency-key files stay: they hold only the key, which is a
        hash, and let the same bytes be stored again under it)."""
        try:
            self._blob(key).unlink()
        except FileNotFoundError:
            return Success(False)
        except OSError as error:
            return Failure(
                ProviderError(self.name, "delete", ProviderFailureKind.TRANSIENT, type(error).__name__)
            )
        return Success(True)

    def _put(
        self, idempotency_key: str, content: bytes, content_type: str
    ) -> Result[StoredBlob, ProviderError]:
        key = content_key(content)
        key_file = self._key_file(idempotency_key)
        if key_file.exists() and key_file.read_text().strip() != key:
            return Failure(
                ProviderError(
                    self.name,
                    "put",
                    ProviderFailureKind.PERMANENT,
                    "idempotency_key_reused: the key was first used with other content",
                )
            )
        path = self._blob(key)
        created = not (path.exists() and content_key(path.read_bytes()) == key)
        if created:
            _write_atomically(path, content)
        if not key_file.exists():
            _write_atomically(key_file, key.encode())
        return Success(StoredBlob(key, len(content), content_type, created))

    def _get(self, key: str) -> Result[bytes | None, ProviderError]:
        path = self._blob(key)
        if not path.exists():
            return Success(None)
        content = path.read_bytes()
        if content_key(content) != key:
            return Failure(
                ProviderError(self.name, "get", ProviderFailureKind.PERMANENT, "content_hash_mismatch")
            )
        return Success(content)


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
