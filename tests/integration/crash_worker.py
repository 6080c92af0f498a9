"""A saga worker run as a real subprocess by the crash tests.

    python -m tests.integration.crash_worker URL STATE_FILE --crash-at provider|ledger|never
        [--clock-offset-seconds N]

The payment provider keeps its memory in STATE_FILE (as a real provider keeps its own
records across our crashes): a repeated idempotency key returns the first answer and
moves no money again. ``--crash-at provider`` SIGKILLs this process right after the
provider moved money and before anything is recorded; ``--crash-at ledger`` SIGKILLs it
inside the transaction that posts a ledger entry, before commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from returns.result import Result, Success

from adapters.persistence import ledger as ledger_module
from adapters.persistence.database import create_engine, create_session_factory
from adapters.persistence.unit_of_work import unit_of_work_factory
from adapters.system import TimeOrderedIds
from application.context import Services
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers, SagaRunner
from domain.shared import CountryCode, Money
from tests.fakes.providers import FakeNotifications


class OffsetClock:
    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


class FilePayments:
    name = "file-payments"

    def __init__(self, path: Path, crash: bool) -> None:
        self._path = path
        self._crash = crash

    def _load(self) -> dict[str, dict[str, int]]:
        if self._path.exists():
            data: dict[str, dict[str, int]] = json.loads(self._path.read_text())
            return data
        return {"refunds": {}, "calls": {}}

    def _save(self, state: dict[str, dict[str, int]]) -> None:
        with self._path.open("w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        state = self._load()
        state["calls"][idempotency_key] = state["calls"].get(idempotency_key, 0) + 1
        state["refunds"].setdefault(idempotency_key, amount.minor)
        self._save(state)
        if self._crash:
            os.kill(os.getpid(), signal.SIGKILL)
        return Success(ProviderReceipt(self.name, "refund", idempotency_key, f"re_{idempotency_key}"))


def crash_after_ledger_posts() -> None:
    original = ledger_module.SqlAlchemyLedgerRepository.post

    async def post_then_die(self: ledger_module.SqlAlchemyLedgerRepository, transaction: object) -> object:
        await original(self, transaction)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    ledger_module.SqlAlchemyLedgerRepository.post = post_then_die  # type: ignore[assignment,method-assign]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("state", type=Path)
    parser.add_argument("--crash-at", choices=["provider", "ledger", "never"], default="never")
    parser.add_argument("--clock-offset-seconds", type=int, default=0)
    args = parser.parse_args()
    if args.crash_at == "ledger":
        crash_after_ledger_posts()
    engine = create_engine(args.url)
    svc = Services(
        uow=unit_of_work_factory(create_session_factory(engine)),
        clock=OffsetClock(timedelta(seconds=args.clock_offset_seconds)),
        ids=TimeOrderedIds(),
    )
    runner = SagaRunner(
        svc,
        Providers(FilePayments(args.state, crash=args.crash_at == "provider"), FakeNotifications()),
        worker_id=f"crash-{os.getpid()}",
        lease=timedelta(seconds=30),
    )
    await runner.drain()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
