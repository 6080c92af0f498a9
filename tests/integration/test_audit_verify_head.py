"""``audit-verify`` reports the chain's head and checks an expected one (SEQ:HASH): a hash
chain alone cannot show a truncated tail, a head kept elsewhere can."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from returns.result import Failure, Success
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_cli import EXIT_BROKEN, EXIT_INTACT, run_audit_verify
from adapters.persistence.audit_log import SqlAlchemyAuditReader
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.audit.verify import (
    ChainHead,
    HeadMismatch,
    VerifiedAuditChain,
    verify_audit_chain_head,
)
from domain.audit import AuditDraft, AuditEntry
from domain.shared import CountryCode
from domain.shared.ids import ActorId

UowFactory = Callable[[], SqlAlchemyUnitOfWork]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def append(uow_factory: UowFactory, count: int) -> list[AuditEntry]:
    async with uow_factory() as uow:
        entries = [
            await uow.audit.append(
                AuditDraft(
                    actor_id=ActorId("l3-1"),
                    actor_role="L3",
                    country=CountryCode("MX"),
                    action="test.action",
                    target_type="order",
                    target_id=f"o{n}",
                    request_id=f"r{n}",
                    occurred_at=T0 + timedelta(seconds=n),
                    after={"n": n},
                )
            )
            for n in range(count)
        ]
        await uow.commit()
    return entries


def head_of(entry: AuditEntry) -> ChainHead:
    return ChainHead(entry.sequence, entry.entry_hash)


async def test_the_head_is_reported(uow_factory: UowFactory, engine: AsyncEngine, migrated_url: str) -> None:
    assert await verify_audit_chain_head(SqlAlchemyAuditReader(engine)) == Success(
        VerifiedAuditChain(0, None)
    )
    code, report = await run_audit_verify(migrated_url)
    assert (code, report) == (
        EXIT_INTACT,
        "audit chain intact: 0 entries verified\nhead: none (the log is empty)",
    )

    entries = await append(uow_factory, 3)
    head = head_of(entries[-1])
    result = await verify_audit_chain_head(SqlAlchemyAuditReader(engine), batch_size=2)
    assert result == Success(VerifiedAuditChain(3, head))
    code, report = await run_audit_verify(migrated_url)
    assert code == EXIT_INTACT
    assert report.splitlines()[:2] == ["audit chain intact: 3 entries verified", f"head: 3:{head.entry_hash}"]
    assert "--expect-head" in report


async def test_an_expected_head_that_matches_passes_also_after_the_chain_grew(
    uow_factory: UowFactory, migrated_url: str
) -> None:
    entries = await append(uow_factory, 3)
    for expected in (head_of(entries[-1]), head_of(entries[0])):
        code, report = await run_audit_verify(migrated_url, expect_head=expected, batch_size=2)
        assert code == EXIT_INTACT, report
        assert f"expected head {expected} found" in report
    later = await append(uow_factory, 2)
    code, report = await run_audit_verify(migrated_url, expect_head=head_of(entries[-1]))
    assert code == EXIT_INTACT, report
    assert f"head: 5:{later[-1].entry_hash}" in report


async def test_a_missing_sequence_or_another_hash_fails(
    uow_factory: UowFactory, engine: AsyncEngine, migrated_url: str
) -> None:
    entries = await append(uow_factory, 3)
    # a head kept from a longer chain: entry 5 is gone (the tail was removed)
    gone = ChainHead(5, "a" * 64)
    result = await verify_audit_chain_head(SqlAlchemyAuditReader(engine), expect=gone)
    assert result == Failure(HeadMismatch(gone, None, VerifiedAuditChain(3, head_of(entries[-1]))))
    code, report = await run_audit_verify(migrated_url, expect_head=gone)
    assert code == EXIT_BROKEN
    assert report.startswith(f"AUDIT CHAIN DOES NOT HOLD THE EXPECTED HEAD 5:{'a' * 64}")
    assert "no entry at sequence 5 (the chain ends at 3)" in report

    # the right sequence, another hash (the chain was rewritten and re-hashed)
    other = ChainHead(2, "b" * 64)
    code, report = await run_audit_verify(migrated_url, expect_head=other)
    assert code == EXIT_BROKEN
    assert f"entry 2 has hash {entries[1].entry_hash}, expected {'b' * 64}" in report


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_empty_log_does_not_hold_an_expected_head(migrated_url: str) -> None:
    code, report = await run_audit_verify(migrated_url, expect_head=ChainHead(1, "c" * 64))
    assert code == EXIT_BROKEN
    assert "no entry at sequence 1 (the chain ends at 0)" in report


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (f"7:{'A' * 64}", ChainHead(7, "a" * 64)),
        (f" 12:{'0f' * 32} ", ChainHead(12, "0f" * 32)),
    ],
)
def test_a_head_is_written_seq_colon_hash(text: str, parsed: ChainHead) -> None:
    assert ChainHead.parse(text) == parsed
    assert ChainHead.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text", ["", "7", f"0:{'a' * 64}", f"-1:{'a' * 64}", "7:abc", f"7:{'g' * 64}", f"x:{'a' * 64}"]
)
def test_anything_else_is_not_a_head(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        ChainHead.parse(text)
