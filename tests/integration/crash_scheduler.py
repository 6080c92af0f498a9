"""An SLA scheduler run as a real subprocess by the scheduler's crash test.

    python -m tests.integration.crash_scheduler URL NOW_ISO --crash-at-breach N

Runs one tick at ``NOW_ISO`` and SIGKILLs itself inside the transaction of the N-th
breach, right after its audit entry was appended and before the commit (so breaches
1..N-1 are committed and the N-th is not).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import datetime

from adapters.persistence import audit_log as audit_module
from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from adapters.system import TimeOrderedIds
from application.cases.scheduler import SlaBreaches, run_tick
from application.context import Services
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("now")
    parser.add_argument("--crash-at-breach", type=int, default=0)
    args = parser.parse_args()
    if args.crash_at_breach:
        crash_at_append(args.crash_at_breach)
    engine = create_engine(args.url)
    svc = Services(
        uow=unit_of_work_factory(create_session_factory(engine)),
        clock=FixedClock(datetime.fromisoformat(args.now)),
        ids=TimeOrderedIds(),
    )
    await run_tick(svc, [SlaBreaches(batch=10)])
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
