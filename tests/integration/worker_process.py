"""The real ``supportos worker`` command, run as a subprocess by the worker tests, with the
container's providers swapped for ones that write every call to a file.

    python -m tests.integration.worker_process CALLS_DIR [--latency-ms N] -- worker [OPTIONS]

A test-only provider job kind, ``test.echo`` (one notification per job), is registered
besides the dispute steps. The database comes from ``SUPPORTOS_DATABASE_URL`` like in
production. Each call appends ``start <operation> <idempotency key>`` before its
(optional) latency and ``end ...`` after it to ``CALLS_DIR/calls-<pid>.log``, flushed at
once, so the test sees every call of every process, and which was in flight when it
sent a signal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from dependency_injector import providers
from returns.result import Result, Success

from application.ports.outbox import Job
from application.ports.providers import ProviderError, ProviderReceipt
from application.saga.executor import Providers
from domain.shared import CountryCode, Money
from interfaces.cli import worker as worker_cli
from interfaces.cli.main import app
from interfaces.container import Container
from interfaces.settings import Settings


class CallLog:
    def __init__(self, directory: Path, latency_s: float) -> None:
        self._file: TextIO = (directory / f"calls-{os.getpid()}.log").open("a", buffering=1)
        self._latency_s = latency_s

    async def call(self, provider: str, operation: str, key: str) -> Result[ProviderReceipt, ProviderError]:
        self._write(f"start {operation} {key}")
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        self._write(f"end {operation} {key}")
        return Success(ProviderReceipt(provider, operation, key, f"{operation}_{key}"))

    def _write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


class LoggedPayments:
    name = "logged-payments"

    def __init__(self, log: CallLog) -> None:
        self._log = log

    async def refund(
        self, *, idempotency_key: str, country: CountryCode, order_id: str, amount: Money
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._log.call(self.name, "refund", idempotency_key)


class LoggedNotifications:
    name = "logged-notifications"

    def __init__(self, log: CallLog) -> None:
        self._log = log

    async def notify(
        self,
        *,
        idempotency_key: str,
        country: CountryCode,
        recipient_role: str,
        recipient_id: str,
        template: str,
    ) -> Result[ProviderReceipt, ProviderError]:
        return await self._log.call(self.name, "notify", idempotency_key)


ECHO_KIND = "test.echo"


class Echo:
    """A test-only provider job kind: one notification per job, to ``payload["to"]``."""

    async def __call__(self, job: Job, providers: Providers) -> Result[ProviderReceipt, ProviderError]:
        return await providers.notifications.notify(
            idempotency_key=job.idempotency_key,
            country=job.country,
            recipient_role="BUYER",
            recipient_id=str(job.payload["to"]),
            template=ECHO_KIND,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("calls", type=Path)
    parser.add_argument("--latency-ms", type=int, default=0)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    log = CallLog(args.calls, args.latency_ms / 1000)
    real_build: Callable[[Settings | None], Container] = getattr(worker_cli, "build_container")  # noqa: B009

    def build_with_logged_providers(settings: Settings | None = None) -> Container:
        container = real_build(settings)
        container.saga_providers.override(
            providers.Object(Providers(LoggedPayments(log), LoggedNotifications(log)))
        )
        container.job_kinds.override(providers.Object({ECHO_KIND: Echo()}))
        return container

    setattr(worker_cli, "build_container", build_with_logged_providers)  # noqa: B010
    sys.exit(app(command, standalone_mode=True))


if __name__ == "__main__":
    main()
