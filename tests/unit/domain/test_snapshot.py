from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from returns.result import Failure

from domain.shared import CountryCode, Currency, InvalidInput, Money
from domain.shared.ids import BuyerId, OrderId, SellerId
from domain.snapshots import OrderSnapshot, RefundPolicy
from tests.strategies import CAPTURED_AT, policy, snapshot


def test_total_is_derived_and_shares_add_up() -> None:
    s = snapshot(
        items=100_000, delivery=5_000, service=2_000, tax=16_000, discount=3_000, commission_bp=1_500
    )
    assert s.total_charged == Money.of(120_000, "MXN")
    assert s.commission == Money.of(15_000, "MXN")
    assert s.platform_take == Money.of(17_000, "MXN")
    assert s.seller_payout == Money.of(103_000, "MXN")
    assert s.seller_payout + s.platform_take == s.total_charged


def test_commission_rounds_half_even() -> None:
    # 15 % of 10 minor units = 1.5 -> 2; of 30 = 4.5 -> 4.
    assert snapshot(items=10, delivery=0, service=0, tax=0).commission.minor == 2
    assert snapshot(items=30, delivery=0, service=0, tax=0).commission.minor == 4


def _capture(**overrides: object) -> object:
    args: dict[str, object] = {
        "order_id": OrderId("ord_1"),
        "country": CountryCode("MX"),
        "currency": Currency.of("MXN"),
        "items_subtotal_minor": 1_000,
        "delivery_fee_minor": 0,
        "service_fee_minor": 0,
        "tax_minor": 0,
        "discount_minor": 0,
        "commission_bp": 1_000,
        "policy": policy(),
        "buyer_id": BuyerId("b"),
        "seller_id": SellerId("s"),
        "courier_id": None,
        "captured_at": CAPTURED_AT,
    }
    args.update(overrides)
    return OrderSnapshot.capture(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items_subtotal_minor": -1}, "items_subtotal"),
        ({"items_subtotal_minor": 0}, "items_subtotal"),
        ({"tax_minor": 1.5}, "tax"),
        ({"commission_bp": 10_000}, "commission_bp"),
        ({"commission_bp": -1}, "commission_bp"),
        ({"policy": policy("CO", "COP")}, "policy"),
        ({"currency": Currency.of("CLP")}, "policy"),
        ({"captured_at": datetime(2026, 1, 1)}, "captured_at"),
        ({"discount_minor": 1_000}, "discount"),
        ({"discount_minor": 950}, "discount"),  # seller payout would be negative
    ],
)
def test_invalid_snapshots_are_typed_failures(overrides: dict[str, object], field: str) -> None:
    result = _capture(**overrides)
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, InvalidInput)
    assert error.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"version": " "}, "version"),
        ({"goodwill_credit_minor": -1}, "goodwill_credit"),
        ({"partial_refund_tiers_bp": ()}, "partial_refund_tiers"),
        ({"partial_refund_tiers_bp": (0,)}, "partial_refund_tiers"),
        ({"partial_refund_tiers_bp": (10_000,)}, "partial_refund_tiers"),
        ({"partial_refund_tiers_bp": (2_500, 2_500)}, "partial_refund_tiers"),
        ({"dispute_window": timedelta(0)}, "dispute_window"),
        ({"evidence_deadline": timedelta(hours=-1)}, "evidence_deadline"),
    ],
)
def test_invalid_policies_are_typed_failures(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "country": CountryCode("MX"),
        "version": "v1",
        "currency": Currency.of("MXN"),
        "goodwill_credit_minor": 100,
    }
    args.update(kwargs)
    result = RefundPolicy.create(**args)  # type: ignore[arg-type]
    assert isinstance(result, Failure)
    assert result.failure().field == field


def test_policy_defaults_match_the_spec() -> None:
    p = policy()
    assert p.partial_refund_tiers_bp == (2_500, 5_000)
    assert p.dispute_window == timedelta(hours=72)
    assert p.evidence_deadline == timedelta(hours=48)
