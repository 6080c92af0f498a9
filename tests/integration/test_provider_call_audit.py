"""Provider calls made outside the saga are audited with provider, operation, idempotency
key, outcome and latency, whatever the outcome (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from returns.result import Failure, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxFaults, SandboxPayments, SandboxStorage, SandboxTax
from application.context import Services
from application.integrations.provider_calls import audited_call
from domain.audit import AuditEntry
from domain.shared import Money
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import MX, SYSTEM


async def provider_calls(svc: Services) -> list[dict[str, object]]:
    async with svc.uow() as uow:
        return [
            dict(entry.after or {})
            async for entry in uow.audit.entries()
            if isinstance(entry, AuditEntry) and entry.action == "provider.call"
        ]


async def test_successes_acceptances_and_failures_are_all_audited(
    uow_factory: Callable[[], SqlAlchemyUnitOfWork], tmp_path: Path
) -> None:
    svc = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds())
    payments = SandboxPayments(faults=SandboxFaults(permanent_rate=1.0), rng=random.Random(1))
    storage = SandboxStorage(root=tmp_path)
    amount = Money.of(5_000, "MXN")

    declined = await audited_call(
        svc,
        SYSTEM,
        country=MX,
        provider=payments.name,
        operation="payout",
        idempotency_key="payout:sel_1:1",
        target_type="seller",
        target_id="sel_1",
        call=lambda: payments.payout(
            idempotency_key="payout:sel_1:1", country=MX, payee_id="sel_1", amount=amount
        ),
    )
    assert isinstance(declined, Failure)
    stored = await audited_call(
        svc,
        SYSTEM,
        country=MX,
        provider=storage.name,
        operation="put",
        idempotency_key="evidence:e1",
        target_type="evidence",
        target_id="e1",
        call=lambda: storage.put(idempotency_key="evidence:e1", content=b"photo", content_type="image/png"),
    )
    assert isinstance(stored, Success)
    tax = SandboxTax()
    quoted = await audited_call(
        svc,
        SYSTEM,
        country=MX,
        provider=tax.name,
        operation="compute",
        idempotency_key=None,
        target_type="order",
        target_id="o1",
        call=lambda: tax.compute(country=MX, amount=amount),
    )
    assert quoted.unwrap().tax == Money.of(800, "MXN")

    entries = await provider_calls(svc)
    assert [(e["provider"], e["operation"], e["idempotency_key"], e["outcome"]) for e in entries] == [
        ("sandbox-payments", "payout", "payout:sel_1:1", "PERMANENT"),
        ("sandbox-storage", "put", "evidence:e1", "OK"),
        ("sandbox-tax", "compute", None, "OK"),
    ]
    assert all(isinstance(e["latency_ms"], int) for e in entries)
    assert entries[0]["detail"] == "card_declined"
