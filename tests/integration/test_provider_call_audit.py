"""Provider calls made outside the saga are audited with provider, operation, idempotency
key, outcome and latency, whatever the outcome (SQLite and PostgreSQL): through
``audited_call`` directly, and through the use cases that call the storage - attaching a
bundle to a case (``put``) and the retention purge of attached bundles (``delete``) -
including a refused call and an adapter that raises."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from returns.result import Failure, Result, Success

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxFaults, SandboxPayments, SandboxStorage, SandboxTax
from application.cases.bundles import AttachBundle, BundleServices, attach_bundle
from application.cases.tickets import OpenDiagnosticsTicket, open_diagnostics_ticket
from application.context import Services
from application.diagnostics.purge import PurgeBundles, purge_expired_case_bundles
from application.integrations.provider_calls import audited_call
from application.ports.providers import ProviderError, ProviderFailureKind
from application.ports.storage import StoredBlob
from domain.audit import AuditEntry
from domain.cases.kinds import Severity
from domain.shared import Money
from interfaces.container import bundle_inspector
from tests.fakes import bundles as fake_bundles
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, MX, SYSTEM

FILENAME = "trace-20260301T120000Z-ui.zip"


async def provider_call_entries(svc: Services) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [
            entry
            async for entry in uow.audit.entries()
            if isinstance(entry, AuditEntry) and entry.action == "provider.call"
        ]


async def provider_calls(svc: Services) -> list[dict[str, object]]:
    return [dict(entry.after or {}) for entry in await provider_call_entries(svc)]


def without_latency(after: dict[str, object]) -> dict[str, object]:
    assert isinstance(after["latency_ms"], int) and after["latency_ms"] >= 0
    return {k: v for k, v in after.items() if k != "latency_ms"}


@dataclass
class BrokenStorage:
    """A storage whose writes fail: ``answer`` a provider error, or raise ``raises``."""

    inner: SandboxStorage
    name: str = "sandbox-storage"
    answer: ProviderFailureKind | None = ProviderFailureKind.TRANSIENT
    raises: Exception | None = None
    puts: list[str] = field(default_factory=list)

    async def put(
        self, *, idempotency_key: str, content: bytes, content_type: str
    ) -> Result[StoredBlob, ProviderError]:
        self.puts.append(idempotency_key)
        if self.raises is not None:
            raise self.raises
        if self.answer is not None:
            return Failure(ProviderError(self.name, "put", self.answer, "503 service unavailable"))
        return await self.inner.put(
            idempotency_key=idempotency_key, content=content, content_type=content_type
        )

    async def get(self, *, key: str) -> Result[bytes | None, ProviderError]:
        return await self.inner.get(key=key)

    async def delete(self, *, key: str) -> Result[bool, ProviderError]:
        if self.raises is not None:
            raise self.raises
        return await self.inner.delete(key=key)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    return Services(uow=uow_factory, clock=clock, ids=SequentialIds())


@pytest.fixture
def storage(tmp_path: Path) -> SandboxStorage:
    return SandboxStorage(root=tmp_path / "blobs")


def services_with(svc: Services, storage: SandboxStorage | BrokenStorage) -> BundleServices:
    inspector = bundle_inspector()
    return BundleServices(
        base=svc,
        storage=storage,
        inspect=inspector.inspect,
        named_country=inspector.named_country,
        max_bytes=64 * 1024,
    )


async def diagnostics_case(svc: Services) -> str:
    cmd = OpenDiagnosticsTicket(
        country=MX,
        customer_id="cus_8f14e45f",
        channel="ui",
        summary="The app freezes at checkout",
        severity=Severity.SEV2,
        order_id=None,
    )
    return (await open_diagnostics_ticket(svc, L1, cmd)).unwrap().case_id


def bundle_content(tmp_path: Path, name: str = "b.zip") -> bytes:
    return fake_bundles.write_bundle(tmp_path / name).read_bytes()


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


# ----------------------------------------------------------------- bundles attached to cases


async def test_attaching_a_bundle_audits_the_storage_put(
    svc: Services, storage: SandboxStorage, tmp_path: Path
) -> None:
    case_id = await diagnostics_case(svc)
    content = bundle_content(tmp_path)
    sha256 = hashlib.sha256(content).hexdigest()

    attached = (
        await attach_bundle(services_with(svc, storage), L1, AttachBundle(MX, case_id, FILENAME, content))
    ).unwrap()

    assert attached.attachment.blob_key == sha256
    [entry] = await provider_call_entries(svc)
    assert (entry.country, entry.actor_id, entry.actor_role) == (MX, "l1-1", "L1")
    assert (entry.target_type, entry.target_id) == ("case", case_id)
    assert entry.after is not None
    assert without_latency(dict(entry.after)) == {
        "provider": "sandbox-storage",
        "operation": "put",
        "idempotency_key": f"case-bundle:MX:{case_id}:{sha256}",
        "outcome": "OK",
        "content_sha256": sha256,
        "size_bytes": len(content),
    }
    # the same bytes again answer the first attachment: no second call, no second entry
    again = await attach_bundle(services_with(svc, storage), L1, AttachBundle(MX, case_id, FILENAME, content))
    assert again.unwrap().created is False
    assert len(await provider_call_entries(svc)) == 1


async def test_a_refused_put_is_audited_and_attaches_nothing(
    svc: Services, storage: SandboxStorage, tmp_path: Path
) -> None:
    case_id = await diagnostics_case(svc)
    content = bundle_content(tmp_path)
    sha256 = hashlib.sha256(content).hexdigest()
    broken = BrokenStorage(storage)

    refused = await attach_bundle(
        services_with(svc, broken), L1, AttachBundle(MX, case_id, FILENAME, content)
    )

    assert isinstance(refused, Failure)
    assert refused.failure() == ProviderError(
        "sandbox-storage", "put", ProviderFailureKind.TRANSIENT, "503 service unavailable"
    )
    [after] = await provider_calls(svc)
    assert without_latency(after) == {
        "provider": "sandbox-storage",
        "operation": "put",
        "idempotency_key": f"case-bundle:MX:{case_id}:{sha256}",
        "outcome": "TRANSIENT",
        "detail": "503 service unavailable",
        "content_sha256": sha256,
        "size_bytes": len(content),
    }
    async with svc.uow() as uow:
        assert await uow.case_bundles.for_case(MX, case_id) == []
        assert [e.action async for e in uow.audit.entries() if isinstance(e, AuditEntry)][
            -1
        ] == "provider.call"


async def test_a_put_that_raises_is_audited_and_the_exception_goes_on(
    svc: Services, storage: SandboxStorage, tmp_path: Path
) -> None:
    case_id = await diagnostics_case(svc)
    content = bundle_content(tmp_path)
    broken = BrokenStorage(storage, answer=None, raises=PermissionError("/var/blobs: permission denied"))

    with pytest.raises(PermissionError):
        await attach_bundle(services_with(svc, broken), L1, AttachBundle(MX, case_id, FILENAME, content))

    [after] = await provider_calls(svc)
    assert (after["operation"], after["outcome"], after["detail"]) == ("put", "ERROR", "PermissionError")
    assert after["idempotency_key"] == broken.puts[0]
    assert "permission denied" not in str(after)  # the class, never the message


async def test_the_retention_purge_audits_each_delete(
    svc: Services, storage: SandboxStorage, clock: FixedClock, tmp_path: Path
) -> None:
    bundles = services_with(svc, storage)
    stuck_case, gone_case = await diagnostics_case(svc), await diagnostics_case(svc)
    stuck = (
        await attach_bundle(
            bundles, L1, AttachBundle(MX, stuck_case, FILENAME, bundle_content(tmp_path, "a.zip"))
        )
    ).unwrap()
    files = fake_bundles.clean_files()
    files["logs/app.log"] = "another bundle\n"
    other = fake_bundles.write_bundle(tmp_path / "b.zip", files).read_bytes()
    gone = (await attach_bundle(bundles, L1, AttachBundle(MX, gone_case, FILENAME, other))).unwrap()
    stuck_key, gone_key = stuck.attachment.blob_key, gone.attachment.blob_key
    assert stuck_key is not None and gone_key is not None
    blob = storage.root / stuck_key[:2] / stuck_key
    blob.unlink()
    blob.mkdir()  # unlink() of a directory fails: the storage refuses this delete
    clock.advance(timedelta(days=31))
    puts = len(await provider_calls(svc))

    report = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))

    assert [b.case_id for b in report.purged] == [gone_case]
    assert [f.case_id for f in report.failed] == [stuck_case]
    deletes = (await provider_call_entries(svc))[puts:]
    assert sorted((e.country, e.actor_role, e.target_type, e.target_id) for e in deletes) == sorted(
        [(MX, "SYSTEM", "blob", stuck_key), (MX, "SYSTEM", "blob", gone_key)]
    )
    by_key = {e.target_id: without_latency(dict(e.after or {})) for e in deletes}
    assert by_key[gone_key] == {
        "provider": "sandbox-storage",
        "operation": "delete",
        "idempotency_key": gone_key,
        "outcome": "OK",
    }
    assert by_key[stuck_key] == {
        "provider": "sandbox-storage",
        "operation": "delete",
        "idempotency_key": stuck_key,
        "outcome": "TRANSIENT",
        "detail": by_key[stuck_key]["detail"],
    }
    assert by_key[stuck_key]["detail"] in {"IsADirectoryError", "PermissionError", "OSError"}

    # the next run retries the refused delete: one more entry, and a dry run calls nothing
    blob.rmdir()
    assert (await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30, dry_run=True))).purged
    assert len(await provider_calls(svc)) == puts + 2
    retried = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))
    assert [b.case_id for b in retried.purged] == [stuck_case]
    last = (await provider_calls(svc))[-1]
    assert (last["operation"], last["idempotency_key"], last["outcome"]) == ("delete", stuck_key, "OK")
    assert len(await provider_calls(svc)) == puts + 3
