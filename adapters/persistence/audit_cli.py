"""What ``supportos audit-verify`` runs: recompute the audit chain, report the first broken link.

``interfaces/cli`` calls :func:`run_audit_verify` and exits with the code it returns:

- 0: the chain is intact (the report says how many entries were verified, and the head:
  the last sequence and its entry hash, ``SEQ:HASH``, to keep somewhere else);
- 1: the chain is broken (the report names the first broken sequence number and why), or
  it is intact but does not hold the expected head given (``expect_head``, the CLI's
  ``--expect-head SEQ:HASH``): that entry is gone (a truncated tail) or has another hash;
- 2: the log could not be read (no such database, schema not migrated, database down).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from returns.result import Failure, Success
from sqlalchemy import inspect, pool
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.audit_log import DEFAULT_BATCH_SIZE, SqlAlchemyAuditReader
from adapters.persistence.database import create_engine, normalise_url
from adapters.persistence.tables import audit_log
from application.audit.verify import ChainHead, HeadMismatch, verify_audit_chain_head

EXIT_INTACT: Final = 0
EXIT_BROKEN: Final = 1
EXIT_UNREADABLE: Final = 2
KEEP_THE_HEAD: Final = (
    "(keep the head elsewhere: `supportos audit-verify --expect-head SEQ:HASH` fails"
    " if that entry is later gone or changed)"
)


async def run_audit_verify(
    url: str, *, batch_size: int = DEFAULT_BATCH_SIZE, expect_head: ChainHead | None = None
) -> tuple[int, str]:
    """``(exit code, report text)`` for the audit log of the database at ``url``; with
    ``expect_head``, an intact chain must also hold that entry with that hash."""
    try:
        parsed = normalise_url(url)
    except ValueError as error:
        return EXIT_UNREADABLE, f"audit-verify: {error}"
    database = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and bool(database) and database != ":memory:"
    if is_file and not await asyncio.to_thread(Path(str(database)).is_file):
        return EXIT_UNREADABLE, f"audit-verify: no database file at {database}"  # SQLite would create one
    engine = create_engine(parsed, poolclass=pool.NullPool, sqlite_begin="DEFERRED")
    try:
        if not await _has_audit_log(engine):
            return EXIT_UNREADABLE, "audit-verify: no audit_log table (run `supportos migrate` first)"
        result = await verify_audit_chain_head(
            SqlAlchemyAuditReader(engine), batch_size=batch_size, expect=expect_head
        )
    except (SQLAlchemyError, OSError) as error:
        return EXIT_UNREADABLE, f"audit-verify: cannot read the audit log: {error}"
    finally:
        await engine.dispose()
    if isinstance(result, Success):
        verified = result.unwrap()
        report = f"audit chain intact: {verified.entries} entries verified"
        if verified.head is None:
            return EXIT_INTACT, f"{report}\nhead: none (the log is empty)"
        report += f"\nhead: {verified.head}"
        if expect_head is not None:
            report += f"\nexpected head {expect_head} found"
        return EXIT_INTACT, f"{report}\n{KEEP_THE_HEAD}"
    assert isinstance(result, Failure)
    broken = result.failure()
    if isinstance(broken, HeadMismatch):
        return EXIT_BROKEN, f"AUDIT CHAIN DOES NOT HOLD THE EXPECTED HEAD {broken.expected}: {broken.message}"
    return (
        EXIT_BROKEN,
        f"AUDIT CHAIN BROKEN at sequence {broken.sequence}: {broken.reason.value}\n{broken.detail}",
    )


async def _has_audit_log(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).has_table(audit_log.name))
