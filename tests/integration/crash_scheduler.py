"""An SLA scheduler run as a real subprocess by the scheduler's crash test.

    python -m tests.integration.crash_scheduler URL NOW_ISO --crash-at-breach N
    python -m tests.integration.crash_scheduler URL NOW_ISO --crash-at-checkpoint N

Runs one tick at ``NOW_ISO`` and SIGKILLs itself inside the transaction of the N-th
breach, right after its audit entry was appended and before the commit (so breaches
1..N-1 are committed and the N-th is not). With ``--crash-at-checkpoint`` the tick is the
ledger checkpoints' (every account with a posting after its snapshot is due), and the
process dies right after the N-th checkpoint wrote its snapshot, before that commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from adapters.persistence import audit_log as audit_module
from adapters.persistence import ledger as ledger_module
from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from adapters.system import TimeOrderedIds
from application.cases.scheduler import SlaBreaches, run_tick
from application.context import Services
from application.ledger.checkpoints import LedgerCheckpoints
from tests.fakes.time_and_ids import FixedClock


def crash_at_append(n: int) -> None:
    # staged entries are appended by the unit of work's commit() (``flush``), right before
    # the COMMIT: die after the N-th append that wrote entries, before its COMMIT
    original = audit_module.SqlAlchemyAuditLog.flush
    calls = [0]

    async def flush_then_maybe_die(self: audit_module.SqlAlchemyAuditLog) -> object:
        result = await original(self)
        if result:
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    audit_module.SqlAlchemyAuditLog.flush = flush_then_maybe_die  # type: ignore[assignment,method-assign]


def crash_at_checkpoint(n: int) -> None:
    original = ledger_module.SqlAlchemyLedgerRepository.checkpoint
    calls = [0]

    async def checkpoint_then_maybe_die(
        self: ledger_module.SqlAlchemyLedgerRepository, *args: object
    ) -> object:
        result = await original(self, *args)  # type: ignore[arg-type]
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    ledger_module.SqlAlchemyLedgerRepository.checkpoint = checkpoint_then_maybe_die  # type: ignore[assignment,method-assign]


ROOT = Path(__file__).resolve().parents[2]


async def run_killed(url: str, now: datetime, *flags: str) -> int:
    """Run this module as a subprocess (``URL NOW_ISO FLAGS...``); its return code
    (``-SIGKILL`` when it died where the flags said)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, url, now.isoformat(), *flags, cwd=ROOT
    )
    return await asyncio.wait_for(process.wait(), timeout=120)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("now")
    parser.add_argument("--crash-at-breach", type=int, default=0)
    parser.add_argument("--crash-at-checkpoint", type=int, default=0)
    args = parser.parse_args()
    if args.crash_at_breach:
        crash_at_append(args.crash_at_breach)
    if args.crash_at_checkpoint:
        crash_at_checkpoint(args.crash_at_checkpoint)
    engine = create_engine(args.url)
    svc = Services(
        uow=unit_of_work_factory(create_session_factory(engine)),
        clock=FixedClock(datetime.fromisoformat(args.now)),
        ids=TimeOrderedIds(),
    )
    if args.crash_at_checkpoint:
        await run_tick(svc, [LedgerCheckpoints(every=1, window=1_000)])
    else:
        await run_tick(svc, [SlaBreaches(batch=10)])
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
