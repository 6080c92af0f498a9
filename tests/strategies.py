"""Hypothesis strategies and small builders shared by the domain tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from domain.cases.calendar import BusinessCalendar
from domain.shared import CountryCode, Currency, round_half_even
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import OrderSnapshot, RefundPolicy
from tests.fakes.calendars import fixed_calendar

CAPTURED_AT = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)

# (country, currency) pairs with 0, 2 and 3-decimal currencies.
MARKETS: tuple[tuple[str, str], ...] = (
    ("MX", "MXN"),
    ("CO", "COP"),
    ("BR", "BRL"),
    ("CL", "CLP"),
    ("KW", "KWD"),
)


def policy(
    country: str = "MX",
    currency: str = "MXN",
    goodwill_minor: int = 10_000,
    tiers_bp: tuple[int, ...] = (2_500, 5_000),
) -> RefundPolicy:
    result = RefundPolicy.create(
        country=CountryCode(country),
        version=f"{country}-2026-01",
        currency=Currency.of(currency),
        goodwill_credit_minor=goodwill_minor,
        partial_refund_tiers_bp=tiers_bp,
    )
    return result.unwrap()


def snapshot(
    *,
    order_id: str = "ord_1",
    country: str = "MX",
    currency: str = "MXN",
    items: int = 100_000,
    delivery: int = 5_000,
    service: int = 2_000,
    tax: int = 16_000,
    discount: int = 0,
    commission_bp: int = 1_500,
    goodwill_minor: int = 10_000,
    tiers_bp: tuple[int, ...] = (2_500, 5_000),
) -> OrderSnapshot:
    result = OrderSnapshot.capture(
        order_id=OrderId(order_id),
        country=CountryCode(country),
        currency=Currency.of(currency),
        items_subtotal_minor=items,
        delivery_fee_minor=delivery,
        service_fee_minor=service,
        tax_minor=tax,
        discount_minor=discount,
        commission_bp=commission_bp,
        policy=policy(country, currency, goodwill_minor, tiers_bp),
        buyer_id=BuyerId("buy_1"),
        seller_id=SellerId("sel_1"),
        courier_id=CourierId("cou_1"),
        captured_at=CAPTURED_AT,
    )
    return result.unwrap()


@st.composite
def snapshots(draw: st.DrawFn, order_id: str | None = None) -> OrderSnapshot:
    """Any valid snapshot: amounts from 1 minor unit to large, any commission, any discount
    the snapshot rules accept, any tiers and goodwill amount."""
    country, currency = draw(st.sampled_from(MARKETS))
    items = draw(st.integers(min_value=1, max_value=10**10))
    delivery = draw(st.integers(min_value=0, max_value=10**8))
    service = draw(st.integers(min_value=0, max_value=10**8))
    tax = draw(st.integers(min_value=0, max_value=10**9))
    commission_bp = draw(st.integers(min_value=0, max_value=9_999))
    tiers = tuple(sorted(draw(st.sets(st.integers(min_value=1, max_value=9_999), min_size=1, max_size=4))))
    goodwill = draw(st.integers(min_value=0, max_value=10**9))
    gross = items + delivery + service + tax
    take = round_commission(items, commission_bp) + service
    max_discount = max(0, min(gross - 1, gross - take))
    discount = draw(st.integers(min_value=0, max_value=max_discount))
    oid = order_id or draw(st.from_regex(r"ord_[a-z0-9]{1,8}", fullmatch=True))
    return snapshot(
        order_id=oid,
        country=country,
        currency=currency,
        items=items,
        delivery=delivery,
        service=service,
        tax=tax,
        discount=discount,
        commission_bp=commission_bp,
        goodwill_minor=goodwill,
        tiers_bp=tiers,
    )


def round_commission(items: int, commission_bp: int) -> int:
    return round_half_even(items * commission_bp, 10_000)


# Business calendars (SLA clocks): the desk zones of the tests, from no DST (MX, CO, BR) to
# DST both ways (ES, CL).
CALENDAR_COUNTRIES: tuple[str, ...] = ("MX", "CO", "BR", "ES", "CL", "KW")


def instants(
    start: datetime = datetime(2026, 1, 1), end: datetime = datetime(2027, 12, 31)
) -> st.SearchStrategy[datetime]:
    """Aware UTC instants between two naive UTC wall times (DST changes included)."""
    return st.datetimes(min_value=start, max_value=end, timezones=st.just(UTC))


@st.composite
def business_calendars(draw: st.DrawFn) -> BusinessCalendar:
    """A country's default zone and hours with up to 30 random holidays in 2026-2028."""
    country = draw(st.sampled_from(CALENDAR_COUNTRIES))
    days = draw(st.sets(st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)), max_size=30))
    return fixed_calendar(country, *days)


def business_amounts(max_hours: int = 200) -> st.SearchStrategy[timedelta]:
    """Amounts of business time, to the second."""
    return st.integers(min_value=0, max_value=max_hours * 3600).map(lambda s: timedelta(seconds=s))
