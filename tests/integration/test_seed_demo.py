"""The demo data: every dispute state in every demo country, consistent books, idempotent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.screening import MarketplacePhoneFinder
from adapters.system import TimeOrderedIds
from application.demo.conversations import FREEZE_REASON
from application.demo.seed import DEMO_COUNTRIES, OUTAGE_COUNTRY, demo_payment_partner, seed_demo
from domain.disputes.status import DisputeStatus
from domain.integrations import CircuitState
from domain.messaging import Screener
from interfaces.container import demo_providers
from tests.fakes.time_and_ids import FixedClock

pytestmark = pytest.mark.slow


async def test_seed_demo_covers_every_state_and_balances(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], engine: AsyncEngine, migrated_url: str
) -> None:
    report = await seed_demo(
        uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock()
    )
    assert not report.skipped
    async with engine.connect() as connection:
        disputes = (await connection.execute(text("SELECT country_code, status FROM disputes"))).all()
        totals = (
            await connection.execute(
                text("SELECT currency, SUM(signed_minor) FROM ledger_postings GROUP BY currency")
            )
        ).all()
        dead = (
            await connection.execute(text("SELECT COUNT(*) FROM outbox_jobs WHERE status = 'DEAD'"))
        ).scalar_one()
        paid_through = (
            await connection.execute(
                text("SELECT country_code, captured_at IS NOT NULL, payment_partner_id FROM orders")
            )
        ).all()
    for country in DEMO_COUNTRIES:
        assert {status for c, status in disputes if c == country} == {s.value for s in DisputeStatus}
    assert sorted(currency for currency, _ in totals) == ["BRL", "CLP", "COP", "MXN"]
    assert all(total == 0 for _, total in totals)
    assert dead == len(DEMO_COUNTRIES)
    # every captured demo order names its country's demo payment partner (D88); others none
    assert {(c, captured, psp) for c, captured, psp in paid_through} <= {
        (c, True, demo_payment_partner(c)) for c in DEMO_COUNTRIES
    } | {(c, False, None) for c in DEMO_COUNTRIES}
    assert {(c, psp) for c, captured, psp in paid_through if captured} == {
        (c, demo_payment_partner(c)) for c in DEMO_COUNTRIES
    }
    async with uow_factory() as uow:
        circuits = [(c.country.value, c.provider, c.state) for c in await uow.circuits.everywhere()]
    assert circuits == [(OUTAGE_COUNTRY, "payments", CircuitState.OPEN)]
    assert {
        "COMPLETED",
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "DISPUTED",
        "DELIVERED",
        "CANCELLED",
        "CREATED",
    } <= set(report.orders)
    code, summary = await run_audit_verify(migrated_url)
    assert code == 0, summary

    again = await seed_demo(
        uow=uow_factory, ids=TimeOrderedIds(), providers=demo_providers(), clock=FixedClock()
    )
    assert again.skipped


async def _conversation_rows(engine: AsyncEngine) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    async with engine.connect() as connection:
        conversations = (
            await connection.execute(
                text(
                    "SELECT country_code, order_id, opening_ground, status, frozen_reason FROM conversations"
                    " ORDER BY country_code, order_id"
                )
            )
        ).all()
        messages = (
            await connection.execute(
                text(
                    "SELECT country_code, order_id, party, status, body, findings FROM messages"
                    " ORDER BY country_code, order_id, sequence"
                )
            )
        ).all()
    return [tuple(row) for row in conversations], [tuple(row) for row in messages]


async def test_seed_demo_adds_conversations_with_blocked_bypass_and_one_frozen(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], engine: AsyncEngine, migrated_url: str
) -> None:
    screener = Screener(MarketplacePhoneFinder())
    report = await seed_demo(
        uow=uow_factory,
        ids=TimeOrderedIds(),
        providers=demo_providers(),
        clock=FixedClock(),
        screener=screener,
    )
    conversations, messages = await _conversation_rows(engine)
    assert report.conversations == len(conversations)
    for country in DEMO_COUNTRIES:
        mine = [row for row in conversations if row[0] == country]
        prefix = country.lower()
        assert {row[1] for row in mine if row[2] == "DISPUTE"} == {
            f"{prefix}-disputed",
            f"{prefix}-open-dispute",
            f"{prefix}-under-review",
        }
        assert any(row[2] == "INCIDENT" for row in mine), country
        blocked = [row for row in messages if row[0] == country and row[3] == "BLOCKED"]
        # the buyer's WhatsApp number, the seller's Pix e-mail and bank transfer, the courier's
        # spelled-out phone number: kept as evidence, each with what was found
        assert {(row[1], row[2]) for row in blocked} >= {
            (f"{prefix}-disputed", "BUYER"),
            (f"{prefix}-open-dispute", "SELLER"),
            (f"{prefix}-under-review", "SELLER"),
        }
        assert all(row[5] for row in blocked)
        delivered = [row for row in messages if row[0] == country and row[3] == "DELIVERED"]
        assert {row[2] for row in delivered} >= {"BUYER", "SELLER", "COURIER", "SUPPORT"}
    whatsapp = next(row for row in messages if row[1] == "mx-disputed" and row[3] == "BLOCKED")
    assert whatsapp[4] == "mi whatsapp 55 1234 5678, mándame la foto por ahí"
    assert "PHONE" in str(whatsapp[5]) and "HANDLE" in str(whatsapp[5])
    pix = next(row for row in messages if row[1] == "mx-open-dispute" and row[3] == "BLOCKED")
    assert "PAYMENT" in str(pix[5]) and "EMAIL" in str(pix[5])
    frozen = [row for row in conversations if row[3] == "FROZEN"]
    assert frozen == [("MX", "mx-under-review", "DISPUTE", "FROZEN", FREEZE_REASON)]
    code, summary = await run_audit_verify(migrated_url)
    assert code == 0, summary

    again = await seed_demo(
        uow=uow_factory,
        ids=TimeOrderedIds(),
        providers=demo_providers(),
        clock=FixedClock(),
        screener=screener,
    )
    assert again.skipped
    assert again.conversations == 0
    assert await _conversation_rows(engine) == (conversations, messages)
