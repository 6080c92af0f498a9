"""The refund-policy repository contract, on SQLite and PostgreSQL: versions round-trip
exactly, ``in_force`` picks the version by ``effective_from``, everything is per country."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from domain.shared import CountryCode, Currency
from domain.snapshots import RefundPolicy
from tests.integration.aggregate_builders import CO, MEXICO_CITY, MX, ok

UowFactory = Callable[[], SqlAlchemyUnitOfWork]

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
JUN = datetime(2026, 6, 1, tzinfo=UTC)


def version(
    name: str,
    country: CountryCode = MX,
    currency: str = "MXN",
    *,
    goodwill: int = 10_000,
    tiers: tuple[int, ...] = (2_500, 5_000),
    window: timedelta = timedelta(hours=72),
) -> RefundPolicy:
    return ok(
        RefundPolicy.create(
            country=country,
            version=name,
            currency=Currency.of(currency),
            goodwill_credit_minor=goodwill,
            partial_refund_tiers_bp=tiers,
            dispute_window=window,
            evidence_deadline=timedelta(hours=36, minutes=30),
            lateness_threshold=timedelta(minutes=45, seconds=15),
        )
    )


async def add(uow_factory: UowFactory, *versions: tuple[RefundPolicy, datetime]) -> None:
    async with uow_factory() as uow:
        for policy, effective_from in versions:
            await uow.policies.add(policy, effective_from=effective_from)
        await uow.commit()


@pytest.mark.parametrize(
    ("country", "currency", "goodwill"),
    [("CL", "CLP", 5_000), ("MX", "MXN", 150_00), ("KW", "KWD", 2_500), ("MX", "MXN", 2**40 + 3)],
    ids=["CLP", "MXN", "KWD", "large"],
)
async def test_a_policy_version_reads_back_exactly(
    uow_factory: UowFactory, country: str, currency: str, goodwill: int
) -> None:
    policy = version(
        "v-1",
        CountryCode(country),
        currency,
        goodwill=goodwill,
        tiers=(7_500, 1_000, 3_333),
        window=timedelta(days=4, hours=1, seconds=7),
    )
    await add(uow_factory, (policy, JAN))

    async with uow_factory() as uow:
        back = await uow.policies.get(CountryCode(country), "v-1")

    assert back == policy
    assert back is not None
    assert back.partial_refund_tiers_bp == (1_000, 3_333, 7_500)
    assert back.goodwill_credit.currency.exponent == Currency.of(currency).exponent


async def test_in_force_picks_the_latest_version_that_has_taken_effect(uow_factory: UowFactory) -> None:
    v1, v2, v3 = version("v1", goodwill=1), version("v2", goodwill=2), version("v3", goodwill=3)
    await add(
        uow_factory, (v3, JUN), (v1, JAN), (v2, MAR), (version("co-1", CO, "COP"), JAN - timedelta(days=1))
    )

    async with uow_factory() as uow:
        assert await uow.policies.in_force(MX, JAN - timedelta(microseconds=1)) is None
        assert await uow.policies.in_force(MX, JAN) == v1  # effective from that instant on
        assert await uow.policies.in_force(MX, MAR - timedelta(microseconds=1)) == v1
        assert await uow.policies.in_force(MX, MAR) == v2
        assert await uow.policies.in_force(MX, MAR.astimezone(MEXICO_CITY)) == v2
        assert await uow.policies.in_force(MX, JUN - timedelta(seconds=1)) == v2
        assert await uow.policies.in_force(MX, JUN + timedelta(days=400)) == v3
        co = await uow.policies.in_force(CO, JUN)
    assert co is not None
    assert (co.version, co.country) == ("co-1", CO)


async def test_policies_are_scoped_by_country(uow_factory: UowFactory) -> None:
    await add(uow_factory, (version("v1"), JAN))
    async with uow_factory() as uow:
        assert await uow.policies.get(CO, "v1") is None
        assert await uow.policies.in_force(CO, JUN) is None
        assert await uow.policies.get(MX, "v1") == version("v1")
        assert await uow.policies.get(MX, "v2") is None


async def test_the_same_version_name_in_two_countries_is_two_policies(uow_factory: UowFactory) -> None:
    mx, co = version("2026-01", MX, "MXN"), version("2026-01", CO, "COP")
    await add(uow_factory, (mx, JAN), (co, MAR))
    async with uow_factory() as uow:
        assert await uow.policies.get(MX, "2026-01") == mx
        assert await uow.policies.get(CO, "2026-01") == co


async def test_versions_are_never_overwritten(uow_factory: UowFactory) -> None:
    await add(uow_factory, (version("v1"), JAN))
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.policies.add(version("v1", goodwill=99), effective_from=MAR)


async def test_two_versions_cannot_take_effect_at_the_same_instant(uow_factory: UowFactory) -> None:
    await add(uow_factory, (version("v1"), JAN))
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.policies.add(version("v2"), effective_from=JAN)


async def test_a_rollback_leaves_nothing(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.policies.add(version("v1"), effective_from=JAN)
    async with uow_factory() as uow:
        assert await uow.policies.get(MX, "v1") is None


async def test_a_span_with_a_fractional_second_is_refused_not_rounded(uow_factory: UowFactory) -> None:
    policy = version("v1", window=timedelta(hours=72, microseconds=1))
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="whole number of seconds"):
            await uow.policies.add(policy, effective_from=JAN)
