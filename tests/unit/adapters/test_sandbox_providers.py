"""The sandbox providers behave like real ones: idempotent by key, slow and unreliable on
request (from a seeded random source, so every run is the same), and confirming
asynchronously by signed Standard Webhooks when given somewhere to send them."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from returns.result import Failure, Success
from standardwebhooks import Webhook

from adapters.providers.sandbox import (
    SandboxFaults,
    SandboxGeocoder,
    SandboxNotifications,
    SandboxPayments,
    SandboxStorage,
    SandboxTax,
    SandboxWebhooks,
)
from adapters.providers.webhook_delivery import new_webhook_secret, sign_webhook
from application.ports.maps import MICRODEGREES
from application.ports.providers import ProviderFailureKind
from application.ports.storage import content_key
from domain.shared import CountryCode, Money

MX = CountryCode("MX")
CO = CountryCode("CO")
AMOUNT = Money.of(123_000, "MXN")


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


class Inbox:
    """An in-process webhook endpoint: records what it receives, answers a set status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self._statuses = statuses or []

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.received.append((body, dict(headers)))
        return self._statuses.pop(0) if self._statuses else 204


# ------------------------------------------------------------------------ idempotency


async def test_a_repeated_key_answers_the_first_answer_and_moves_no_money_twice() -> None:
    payments = SandboxPayments()
    first = await payments.refund(idempotency_key="k1", country=MX, order_id="o1", amount=AMOUNT)
    again = await payments.refund(idempotency_key="k1", country=MX, order_id="o1", amount=AMOUNT)
    assert first == again
    assert isinstance(first, Success)
    assert first.unwrap().confirmed
    assert payments.refunded == {"k1": AMOUNT}
    assert payments.calls == {"k1": 2}
    other = await payments.refund(idempotency_key="k2", country=MX, order_id="o1", amount=AMOUNT)
    assert other.unwrap().reference != first.unwrap().reference
    assert payments.total_refunded_minor == 2 * AMOUNT.minor


async def test_a_key_reused_with_other_parameters_is_refused_for_good() -> None:
    payments = SandboxPayments()
    await payments.capture(idempotency_key="k1", country=MX, order_id="o1", amount=AMOUNT)
    reused = await payments.capture(
        idempotency_key="k1", country=MX, order_id="o1", amount=Money.of(1, "MXN")
    )
    assert isinstance(reused, Failure)
    assert reused.failure().kind is ProviderFailureKind.PERMANENT
    assert "idempotency_key_reused" in reused.failure().detail
    assert payments.captured == {"k1": AMOUNT}


async def test_capture_refund_and_payout_each_move_their_money_once() -> None:
    payments = SandboxPayments()
    for _ in range(2):
        await payments.capture(idempotency_key="c", country=MX, order_id="o1", amount=AMOUNT)
        await payments.refund(idempotency_key="r", country=MX, order_id="o1", amount=AMOUNT)
        await payments.payout(idempotency_key="p", country=MX, payee_id="sel_1", amount=AMOUNT)
    assert payments.captured == {"c": AMOUNT}
    assert payments.refunded == {"r": AMOUNT}
    assert payments.paid_out == {"p": AMOUNT}


async def test_notifications_push_and_email_are_each_sent_once_per_key() -> None:
    notifications = SandboxNotifications()
    for _ in range(3):
        await notifications.notify(
            idempotency_key="n", country=MX, recipient_role="BUYER", recipient_id="buy_1", template="t"
        )
        await notifications.push(idempotency_key="p", country=MX, recipient_id="buy_1", title="T", body="B")
        await notifications.email(
            idempotency_key="e", country=MX, to_address="a@example.com", subject="S", body="B"
        )
    assert notifications.sent == {"n": ("BUYER", "buy_1", "t")}
    assert notifications.pushes == {"p": ("buy_1", "T", "B")}
    assert notifications.emails == {"e": ("a@example.com", "S", "B")}
    bad = await notifications.email(idempotency_key="x", country=MX, to_address="nobody", subject="", body="")
    assert isinstance(bad, Failure)
    assert bad.failure().kind is ProviderFailureKind.PERMANENT


async def test_fail_orders_are_declined_permanently_and_the_decline_is_remembered() -> None:
    payments = SandboxPayments(fail_orders=frozenset({"o-bad"}))
    first = await payments.refund(idempotency_key="k", country=MX, order_id="o-bad", amount=AMOUNT)
    assert isinstance(first, Failure)
    assert first.failure().kind is ProviderFailureKind.PERMANENT
    assert first.failure().detail == "card_declined"
    assert await payments.refund(idempotency_key="k", country=MX, order_id="o-bad", amount=AMOUNT) == first
    assert payments.refunded == {}


# ------------------------------------------------------------------ latency and faults


async def test_latency_is_slept_on_every_call() -> None:
    sleeps = Sleeps()
    payments = SandboxPayments(
        faults=SandboxFaults(latency_s=0.2, jitter_s=0.1), rng=random.Random(7), sleep=sleeps
    )
    await payments.refund(idempotency_key="k", country=MX, order_id="o1", amount=AMOUNT)
    await payments.refund(idempotency_key="k", country=MX, order_id="o1", amount=AMOUNT)
    assert len(sleeps.slept) == 2
    assert all(0.2 <= s <= 0.3 for s in sleeps.slept)


async def _outcomes(seed: int, calls: int) -> list[str]:
    payments = SandboxPayments(
        faults=SandboxFaults(transient_rate=0.3, permanent_rate=0.2), rng=random.Random(seed)
    )
    seen: list[str] = []
    for i in range(calls):
        result = await payments.refund(idempotency_key=f"k{i}", country=MX, order_id="o1", amount=AMOUNT)
        seen.append("ok" if isinstance(result, Success) else result.failure().detail.split(":")[0])
    return seen


async def test_failures_are_drawn_from_the_seeded_source_so_runs_repeat() -> None:
    first, second = await _outcomes(42, 400), await _outcomes(42, 400)
    assert first == second
    assert first != await _outcomes(43, 400)
    counts = {kind: first.count(kind) for kind in set(first)}
    assert set(counts) == {"ok", "card_declined", "http_503", "timeout"}
    assert 0.40 <= counts["ok"] / 400 <= 0.60
    assert 0.12 <= counts["card_declined"] / 400 <= 0.28
    assert 0.08 <= counts["http_503"] / 400 <= 0.22
    assert 0.08 <= counts["timeout"] / 400 <= 0.22


async def test_transient_failures_can_be_retried_with_the_same_key() -> None:
    payments = SandboxPayments(faults=SandboxFaults(transient_rate=1.0), rng=random.Random(1))
    unavailable = timeout = 0
    for i in range(40):
        key = f"k{i}"
        first = await payments.refund(idempotency_key=key, country=MX, order_id="o1", amount=AMOUNT)
        assert isinstance(first, Failure)
        assert first.failure().kind is ProviderFailureKind.TRANSIENT
        if first.failure().detail.startswith("timeout"):
            # it happened, the answer was lost: the retry gets the first answer, no new money
            timeout += 1
            assert key in payments.refunded
            retried = await payments.refund(idempotency_key=key, country=MX, order_id="o1", amount=AMOUNT)
            assert isinstance(retried, Success)
        else:
            unavailable += 1  # nothing happened
            assert key not in payments.refunded
    assert unavailable and timeout
    assert all(money == AMOUNT for money in payments.refunded.values())


async def test_permanent_failures_are_not_retried_into_success() -> None:
    payments = SandboxPayments(faults=SandboxFaults(permanent_rate=1.0), rng=random.Random(3))
    first = await payments.payout(idempotency_key="k", country=MX, payee_id="s", amount=AMOUNT)
    assert isinstance(first, Failure)
    assert first.failure().kind is ProviderFailureKind.PERMANENT
    assert await payments.payout(idempotency_key="k", country=MX, payee_id="s", amount=AMOUNT) == first
    assert payments.paid_out == {}


def test_fault_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="exceed"):
        SandboxFaults(transient_rate=0.7, permanent_rate=0.4)
    with pytest.raises(ValueError, match="negative"):
        SandboxFaults(latency_s=-1)


# -------------------------------------------------------------------------- webhooks


async def test_with_webhooks_a_call_is_accepted_and_a_signed_event_confirms_it_later() -> None:
    secret = new_webhook_secret()
    inbox = Inbox()
    payments = SandboxPayments(webhooks=SandboxWebhooks(inbox, secrets=[secret], delay_s=None))
    accepted = await payments.refund(idempotency_key="k1", country=MX, order_id="o1", amount=AMOUNT)
    receipt = accepted.unwrap()
    assert not receipt.confirmed
    assert payments.refunded == {}  # money moves when the operation settles
    assert inbox.received == []

    assert payments.webhooks is not None
    [delivery] = await payments.webhooks.deliver_pending()
    assert delivery.delivered
    assert payments.refunded == {"k1": AMOUNT}
    [(body, headers)] = inbox.received
    Webhook(secret).verify(body, headers)  # raises unless the signature is right
    event = json.loads(body)
    assert event["type"] == "refund.succeeded"
    assert event["data"] == {
        "object": "refund",
        "id": receipt.reference,
        "idempotency_key": "k1",
        "country": "MX",
        "status": "succeeded",
        "failure_reason": None,
        "order_id": "o1",
        "amount_minor": AMOUNT.minor,
        "currency": "MXN",
    }
    assert headers["webhook-id"] == delivery.webhook_id

    # settled: asking again answers the settled result (a lost webhook is survived)
    again = await payments.refund(idempotency_key="k1", country=MX, order_id="o1", amount=AMOUNT)
    assert again.unwrap().confirmed
    assert again.unwrap().reference == receipt.reference
    assert payments.webhooks.pending == 0
    assert payments.refunded == {"k1": AMOUNT}


async def test_with_webhooks_a_decline_arrives_as_a_failed_event() -> None:
    inbox = Inbox()
    payments = SandboxPayments(
        fail_orders=frozenset({"o-bad"}),
        webhooks=SandboxWebhooks(inbox, secrets=[new_webhook_secret()], delay_s=None),
    )
    accepted = await payments.refund(idempotency_key="k", country=CO, order_id="o-bad", amount=AMOUNT)
    assert isinstance(accepted, Success)
    assert payments.webhooks is not None
    await payments.webhooks.deliver_pending()
    event = json.loads(inbox.received[0][0])
    assert event["type"] == "refund.failed"
    assert event["data"]["failure_reason"] == "card_declined"
    assert event["data"]["country"] == "CO"
    later = await payments.refund(idempotency_key="k", country=CO, order_id="o-bad", amount=AMOUNT)
    assert isinstance(later, Failure)
    assert later.failure().kind is ProviderFailureKind.PERMANENT
    assert payments.refunded == {}


async def test_a_payout_paid_can_fail_afterwards_by_a_failed_event() -> None:
    """A bank returns a payout days after it was paid (Stripe's ``payout.failed`` after
    ``payout.paid``): the money comes back, the key answers the failure, one event (D130)."""
    inbox = Inbox()
    payments = SandboxPayments(webhooks=SandboxWebhooks(inbox, secrets=[new_webhook_secret()], delay_s=None))
    with pytest.raises(ValueError, match="no succeeded operation"):
        payments.fail_after_success("po-key", "account_closed")  # never asked
    accepted = await payments.payout(idempotency_key="po-key", country=MX, payee_id="sel_1", amount=AMOUNT)
    with pytest.raises(ValueError, match="no succeeded operation"):
        payments.fail_after_success("po-key", "account_closed")  # not settled yet
    assert payments.webhooks is not None
    await payments.webhooks.deliver_pending()
    assert payments.paid_out == {"po-key": AMOUNT}

    payments.fail_after_success("po-key", "account_closed")
    assert payments.paid_out == {} and payments.returned == {"po-key": AMOUNT}
    [late] = await payments.webhooks.deliver_pending()
    assert (late.event_type, late.delivered) == ("payout.failed", True)
    [(body, _)] = inbox.received[1:]
    event = json.loads(body)
    assert event["type"] == "payout.failed"
    assert event["data"] | {"id": None} == {
        "object": "payout",
        "id": None,
        "idempotency_key": "po-key",
        "country": "MX",
        "status": "failed",
        "failure_reason": "account_closed",
        "payee_id": "sel_1",
        "amount_minor": AMOUNT.minor,
        "currency": "MXN",
    }
    assert event["data"]["id"] == accepted.unwrap().reference
    again = await payments.payout(idempotency_key="po-key", country=MX, payee_id="sel_1", amount=AMOUNT)
    assert isinstance(again, Failure) and again.failure().kind is ProviderFailureKind.PERMANENT
    with pytest.raises(ValueError, match="no succeeded operation"):
        payments.fail_after_success("po-key", "account_closed")  # failed already

    without = SandboxPayments()  # confirms at once: a late failure has no way to be reported
    assert (
        (await without.payout(idempotency_key="k", country=MX, payee_id="s", amount=AMOUNT))
        .unwrap()
        .confirmed
    )
    with pytest.raises(ValueError, match="by webhook"):
        without.fail_after_success("k", "account_closed")
    assert without.paid_out == {"k": AMOUNT}


async def test_deliveries_without_2xx_are_retried_with_backoff_and_fresh_signatures() -> None:
    inbox = Inbox(statuses=[500, 503, 200])
    sleeps = Sleeps()
    clock = iter(datetime.fromtimestamp(1_800_000_000 + i, tz=UTC) for i in range(100))
    webhooks = SandboxWebhooks(
        inbox,
        secrets=[new_webhook_secret()],
        delay_s=None,
        retry_delay_s=1.0,
        sleep=sleeps,
        now=lambda: next(clock),
    )
    notifications = SandboxNotifications(webhooks=webhooks)
    await notifications.push(idempotency_key="p", country=MX, recipient_id="b", title="t", body="b")
    [delivery] = await webhooks.deliver_pending()
    assert delivery.attempts == 3
    assert delivery.status == 200
    assert sleeps.slept == [1.0, 2.0]
    ids = {headers["webhook-id"] for _, headers in inbox.received}
    timestamps = [headers["webhook-timestamp"] for _, headers in inbox.received]
    assert len(ids) == 1  # the same event
    assert len(set(timestamps)) == 3  # signed afresh each time


async def test_background_delivery_and_redelivery_of_the_same_event() -> None:
    inbox = Inbox()
    webhooks = SandboxWebhooks(inbox, secrets=[new_webhook_secret()], delay_s=0.0)
    payments = SandboxPayments(webhooks=webhooks)
    await payments.capture(idempotency_key="c1", country=MX, order_id="o1", amount=AMOUNT)
    await webhooks.wait_idle()
    assert len(inbox.received) == 1
    first = webhooks.deliveries[0]
    again = await webhooks.redeliver(first.webhook_id)
    assert again.webhook_id == first.webhook_id
    assert inbox.received[1][0] == inbox.received[0][0]  # the same body
    assert payments.captured == {"c1": AMOUNT}


async def test_rotating_providers_sign_with_every_secret() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = sign_webhook(
        secrets=[new, old], webhook_id="msg_1", timestamp=datetime.now(UTC), body=b'{"a":1}'
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(b'{"a":1}', headers)


# ---------------------------------------------------------------- maps, tax, storage


async def test_geocoding_is_deterministic_and_inside_the_country() -> None:
    maps = SandboxGeocoder()
    first = (await maps.geocode(country=MX, address="Av. Reforma 222, CDMX")).unwrap()
    again = (await maps.geocode(country=MX, address="  av. reforma   222, cdmx ")).unwrap()
    assert first.point == again.point
    assert 14 * MICRODEGREES <= first.point.lat_e6 <= 33 * MICRODEGREES
    assert -118 * MICRODEGREES <= first.point.lon_e6 <= -86 * MICRODEGREES
    other = (await maps.geocode(country=MX, address="Calle 5, Guadalajara")).unwrap()
    assert other.point != first.point
    missing = await maps.geocode(country=MX, address="   ")
    assert isinstance(missing, Failure)
    assert missing.failure().kind is ProviderFailureKind.PERMANENT


async def test_tax_is_integer_minor_units_rounded_half_to_even() -> None:
    tax = SandboxTax()
    quote = (await tax.compute(country=MX, amount=Money.of(100_000, "MXN"))).unwrap()
    assert quote.rate_bp == 1_600
    assert quote.tax == Money.of(16_000, "MXN")
    assert quote.total == Money.of(116_000, "MXN")
    # 1_600 bp of 3_125 is 500; of 3_128 is 500.48 -> 500; of 3_131 is 500.96 -> 501
    assert (await tax.compute(country=MX, amount=Money.of(3_128, "MXN"))).unwrap().tax.minor == 500
    assert (await tax.compute(country=MX, amount=Money.of(3_131, "MXN"))).unwrap().tax.minor == 501
    # exact halves go to even: 1_900 bp of 50 is 9.5 -> 10 (even); of 150 is 28.5 -> 28 (even)
    assert (await tax.compute(country=CO, amount=Money.of(50, "COP"))).unwrap().tax.minor == 10
    assert (await tax.compute(country=CO, amount=Money.of(150, "COP"))).unwrap().tax.minor == 28
    unknown = await tax.compute(country=CountryCode("JP"), amount=Money.of(1, "JPY"))
    assert isinstance(unknown, Failure)
    assert unknown.failure().kind is ProviderFailureKind.PERMANENT


async def test_geocoding_and_tax_fail_transiently_on_request() -> None:
    maps = SandboxGeocoder(faults=SandboxFaults(transient_rate=1.0), rng=random.Random(5))
    failed = await maps.geocode(country=MX, address="somewhere")
    assert isinstance(failed, Failure)
    assert failed.failure().kind is ProviderFailureKind.TRANSIENT
    tax = SandboxTax(faults=SandboxFaults(transient_rate=1.0), rng=random.Random(5))
    assert isinstance(await tax.compute(country=MX, amount=AMOUNT), Failure)


async def test_storage_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    storage = SandboxStorage(root=tmp_path / "blobs")
    content = b"photo of a broken vase"
    first = (await storage.put(idempotency_key="e1", content=content, content_type="image/jpeg")).unwrap()
    assert first.key == content_key(content)
    assert first.created
    again = (await storage.put(idempotency_key="e1", content=content, content_type="image/jpeg")).unwrap()
    assert again.key == first.key
    assert not again.created
    same_bytes = (await storage.put(idempotency_key="e2", content=content, content_type="x")).unwrap()
    assert not same_bytes.created
    assert (await storage.get(key=first.key)).unwrap() == content
    assert (await storage.get(key="0" * 64)).unwrap() is None
    folder = tmp_path / "blobs" / first.key[:2]
    assert list(folder.iterdir()) == [folder / first.key]

    reused = await storage.put(idempotency_key="e1", content=b"other bytes", content_type="x")
    assert isinstance(reused, Failure)
    assert reused.failure().kind is ProviderFailureKind.PERMANENT
    # the key survives a restart (kept on disk)
    restarted = SandboxStorage(root=tmp_path / "blobs")
    assert isinstance(await restarted.put(idempotency_key="e1", content=b"other", content_type="x"), Failure)

    bad_key = await storage.get(key="../../etc/passwd")
    assert isinstance(bad_key, Failure)
    (folder / first.key).write_bytes(b"tampered")
    tampered = await storage.get(key=first.key)
    assert isinstance(tampered, Failure)
    assert tampered.failure().detail == "content_hash_mismatch"
