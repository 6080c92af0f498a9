"""Partner API keys on both databases: issued once, stored hashed, authenticate, revoke."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from returns.result import Failure
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence.api_keys import api_key_authenticator
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.context import RequestContext, Services
from application.errors import NotFound
from application.security.api_keys import (
    InvalidApiKey,
    IssueApiKey,
    country_of_key_id,
    issue_api_key,
    revoke_api_key,
)
from application.security.principal import Forbidden, PartnerKind, Principal, Role
from domain.shared import CountryCode, InvalidInput
from tests.fakes.time_and_ids import FixedClock, SequentialIds

CO = CountryCode("CO")
CLI = RequestContext(Principal("cli:test", Role.SYSTEM, frozenset({CO, CountryCode("MX")})), "req-cli")


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    return Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())


async def test_a_key_is_shown_once_stored_hashed_and_authenticates_as_its_partner(
    svc: Services, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    issued = (await issue_api_key(svc, CLI, IssueApiKey("sel_9", CO, "back office"))).unwrap()
    assert issued.record.key_id.startswith("co_key_")
    assert country_of_key_id(issued.record.key_id) == CO
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT * FROM api_keys"))).mappings().all()
        audit = (
            await connection.execute(text("SELECT action, target_id, country_code FROM audit_log"))
        ).all()
    assert len(stored) == 1
    assert issued.raw_key not in str(dict(stored[0]))
    assert stored[0]["country_code"] == "CO"
    assert [tuple(row) for row in audit] == [("api_key.created", issued.record.key_id, "CO")]

    check = api_key_authenticator(session_factory)
    principal = (await check(issued.raw_key)).unwrap()
    assert principal.role is Role.PARTNER
    assert principal.partner_id == "sel_9"
    assert principal.partner_kind is PartnerKind.SELLER_ORG
    assert principal.countries == frozenset({CO})
    # the last two characters changed (a key ending in "00" was once "tampered" into itself)
    tampered = issued.raw_key[:-2] + ("11" if issued.raw_key.endswith("00") else "00")
    assert tampered != issued.raw_key
    assert await check(tampered) == Failure(InvalidApiKey())
    assert await check("sos_mx_key_000001_" + "0" * 64) == Failure(InvalidApiKey())

    revoked = (await revoke_api_key(svc, CLI, issued.record.key_id)).unwrap()
    assert revoked.revoked_at is not None
    assert await check(issued.raw_key) == Failure(InvalidApiKey())
    again = (await revoke_api_key(svc, CLI, issued.record.key_id)).unwrap()
    assert again.revoked_at == revoked.revoked_at


async def test_issuing_and_revoking_are_refused_outside_the_system_and_its_countries(svc: Services) -> None:
    auditor = RequestContext(Principal("a", Role.AUDITOR, frozenset({CO})), "r")
    assert isinstance((await issue_api_key(svc, auditor, IssueApiKey("p", CO))).failure(), Forbidden)
    outside = RequestContext(Principal("s", Role.SYSTEM, frozenset({CountryCode("MX")})), "r")
    assert isinstance((await issue_api_key(svc, outside, IssueApiKey("p", CO))).failure(), Forbidden)
    bad = await issue_api_key(svc, CLI, IssueApiKey("has space", CO))
    assert isinstance(bad.failure(), InvalidInput)
    assert isinstance((await revoke_api_key(svc, CLI, "co_key_nope")).failure(), NotFound)
    assert isinstance((await revoke_api_key(svc, CLI, "nocountry")).failure(), NotFound)


async def test_a_payment_partner_key_is_stored_with_its_kind_and_authenticates_as_one(
    svc: Services, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    issued = await issue_api_key(svc, CLI, IssueApiKey("psp_9", CO, "acquirer", PartnerKind.PAYMENT_PARTNER))
    record = issued.unwrap().record
    assert record.partner_kind is PartnerKind.PAYMENT_PARTNER
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT partner_id, partner_kind FROM api_keys"))).all()
        audited = (
            await connection.execute(
                text("SELECT after_state FROM audit_log WHERE action = 'api_key.created'")
            )
        ).scalar_one()
    assert [tuple(row) for row in stored] == [("psp_9", "PAYMENT_PARTNER")]
    assert "PAYMENT_PARTNER" in str(audited)
    principal = (await api_key_authenticator(session_factory)(issued.unwrap().raw_key)).unwrap()
    assert (principal.role, principal.partner_id, principal.partner_kind) == (
        Role.PARTNER,
        "psp_9",
        PartnerKind.PAYMENT_PARTNER,
    )
