"""Diagnostics tickets (D56) and the retention purge of bundles attached to cases (D57),
through the use cases, on SQLite and PostgreSQL.

Bundles are built in the test (tests/fakes/bundles.py) and kept by the sandbox's
content-addressed storage in a temporary directory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.sandbox import SandboxStorage
from application.cases.bundles import BundleServices, BundleUploadTooLarge
from application.cases.tickets import (
    OpenDiagnosticsTicket,
    TicketBundle,
    open_diagnostics_ticket,
    open_diagnostics_ticket_with_bundle,
)
from application.cases.use_cases import AcknowledgeCase, WaitOnCustomer, acknowledge_case, wait_on_customer
from application.context import Services
from application.diagnostics.purge import PurgeBundles, purge_expired_case_bundles
from application.errors import NotFound
from application.security.principal import Forbidden, Role
from domain.audit import AuditEntry, iso_utc
from domain.cases.case import TimelineKind
from domain.cases.kinds import CaseKind, CaseStatus, ClockKind, Severity, Tier
from domain.cases.sla import SeverityNotCovered
from domain.diagnostics.attachment import BundleVerdict
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import OrderId
from interfaces.container import bundle_inspector
from tests.fakes import bundles as fake_bundles
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.scenario import L1, MX, SYSTEM, add_policy, ctx, delivered_order

CO = CountryCode("CO")
CUSTOMER = "cus_8f14e45f"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    return Services(uow=uow_factory, clock=clock, ids=SequentialIds())


@pytest.fixture
def storage(tmp_path: Path) -> SandboxStorage:
    return SandboxStorage(root=tmp_path / "blobs")


@pytest.fixture
def bundle_services(svc: Services, storage: SandboxStorage) -> BundleServices:
    inspector = bundle_inspector()
    return BundleServices(
        base=svc,
        storage=storage,
        inspect=inspector.inspect,
        named_country=inspector.named_country,
        max_bytes=64 * 1024,
    )


def ticket(severity: Severity = Severity.SEV2, **changes: Any) -> OpenDiagnosticsTicket:
    fields: dict[str, Any] = {
        "country": MX,
        "customer_id": CUSTOMER,
        "channel": "ui",
        "summary": "The app freezes at checkout",
        "severity": severity,
        "order_id": None,
    }
    fields.update(changes)
    return OpenDiagnosticsTicket(**fields)


def bundle(tmp_path: Path, name: str, files: dict[str, object] | None = None) -> TicketBundle:
    filename = "trace-20260301T120000Z-ui.zip"
    return TicketBundle(filename, fake_bundles.write_bundle(tmp_path / name, files).read_bytes())


def leaky_files() -> dict[str, object]:
    files = fake_bundles.clean_files()
    files["logs/app.log"] = "2026-03-01T11:59:00Z INFO login user=juan.perez@gmail.com ok\n"
    return files


async def audit(svc: Services, action: str) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry) and e.action == action]


def blobs(storage: SandboxStorage) -> list[Path]:
    root = storage.root
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "keys")


# ------------------------------------------------------------------------ tickets


async def test_a_ticket_is_a_diagnostics_case_on_the_diagnostics_sla(svc: Services) -> None:
    opened_at = svc.clock.now()  # Monday 2026-03-02 12:00 UTC, 06:00 in Mexico City

    case = (await open_diagnostics_ticket(svc, L1, ticket(Severity.SEV1))).unwrap()

    state = case.state
    assert (state.kind, state.severity, state.tier, state.status) == (
        CaseKind.DIAGNOSTICS,
        Severity.SEV1,
        Tier.L1,
        CaseStatus.NEW,
    )
    assert state.subject_ref == CUSTOMER and state.title == "The app freezes at checkout"
    # Sev-1 runs 24x7: acknowledge in 30 min, mitigate in 4 h (SPEC §10)
    assert state.clocks[ClockKind.ACKNOWLEDGE].deadline == opened_at + timedelta(minutes=30)
    assert state.clocks[ClockKind.MITIGATE].deadline == opened_at + timedelta(hours=4)
    opened, noted = state.timeline
    assert opened.kind is TimelineKind.OPENED
    assert noted.kind is TimelineKind.ACTION
    assert dict(noted.data) == {
        "action": "diagnostics_ticket_opened",
        "customer_id": CUSTOMER,
        "channel": "ui",
    }
    async with svc.uow() as uow:
        stored = await uow.cases.for_subject(MX, CaseKind.DIAGNOSTICS, CUSTOMER)
    assert [c.case_id for c in stored] == [case.case_id]
    (entry,) = await audit(svc, "case.opened")
    assert entry.target_id == case.case_id and entry.actor_role == "L1"
    assert entry.after is not None
    assert entry.after["kind"] == "DIAGNOSTICS" and entry.after["channel"] == "ui"
    assert entry.after["customer_id"] == CUSTOMER


async def test_sev2_acknowledges_in_4_hours_and_the_rest_runs_on_business_time(svc: Services) -> None:
    # Monday 12:00 UTC is 06:00 in Mexico City: the desk opens at 09:00 (15:00 UTC).
    # SPEC §10: "acknowledge ... Sev-2 4 h" (the clock's hours, D81), "mitigate ... Sev-2 1
    # business day": the close of Tuesday in Mexico City (Wednesday 00:00 UTC).
    sev2 = (await open_diagnostics_ticket(svc, L1, ticket(Severity.SEV2))).unwrap().state
    assert sev2.clocks[ClockKind.ACKNOWLEDGE].deadline == svc.clock.now() + timedelta(hours=4)
    assert sev2.clocks[ClockKind.MITIGATE].deadline == svc.clock.now() + timedelta(hours=36)
    sev3 = (await open_diagnostics_ticket(svc, L1, ticket(Severity.SEV3))).unwrap().state
    # the close of the next business day: Tuesday 18:00 in Mexico City (Wednesday 00:00 UTC)
    assert sev3.clocks[ClockKind.ACKNOWLEDGE].deadline == svc.clock.now() + timedelta(hours=36)


async def test_there_is_no_sev0_ticket_and_nothing_is_written(svc: Services) -> None:
    refused = await open_diagnostics_ticket(svc, L1, ticket(Severity.SEV0))

    assert isinstance(refused, Failure)
    error = refused.failure()
    assert isinstance(error, SeverityNotCovered) and error.code == "SEVERITY_NOT_COVERED"
    async with svc.uow() as uow:
        assert await uow.cases.for_subject(MX, CaseKind.DIAGNOSTICS, CUSTOMER) == []
    assert await audit(svc, "case.opened") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "Android App"}, "channel"),
        ({"channel": ""}, "channel"),
        ({"customer_id": "  "}, "customer_id"),
        ({"summary": "x" * 201}, "summary"),
        ({"summary": " "}, "summary"),
    ],
)
async def test_bad_input_is_refused(svc: Services, changes: dict[str, Any], field: str) -> None:
    refused = await open_diagnostics_ticket(svc, L1, ticket(**changes))

    assert isinstance(refused, Failure)
    error = refused.failure()
    assert isinstance(error, InvalidInput) and error.field == field
    assert await audit(svc, "case.opened") == []


async def test_the_order_must_exist_and_be_the_customers(svc: Services) -> None:
    await add_policy(svc)
    await delivered_order(svc, "ord_1")  # bought by buy_1, sold by sel_1

    missing = await open_diagnostics_ticket(svc, L1, ticket(order_id=OrderId("ord_404"), customer_id="buy_1"))
    assert isinstance(missing, Failure) and isinstance(missing.failure(), NotFound)
    stranger = await open_diagnostics_ticket(svc, L1, ticket(order_id=OrderId("ord_1")))
    assert isinstance(stranger, Failure)
    error = stranger.failure()
    assert isinstance(error, InvalidInput) and error.field == "order_id"

    case = (
        await open_diagnostics_ticket(svc, L1, ticket(order_id=OrderId("ord_1"), customer_id="buy_1"))
    ).unwrap()
    assert case.state.order_id == "ord_1" and case.state.subject_ref == "buy_1"


@pytest.mark.parametrize("role", [Role.L0, Role.BUYER, Role.AUDITOR, Role.PARTNER])
async def test_only_support_tiers_open_tickets(svc: Services, role: Role) -> None:
    refused = await open_diagnostics_ticket(svc, ctx(role, "buy_1" if role is Role.BUYER else None), ticket())

    assert isinstance(refused, Failure) and isinstance(refused.failure(), Forbidden)


async def test_another_countrys_agent_may_not_open_one(svc: Services) -> None:
    colombian = ctx(Role.L2, countries=("CO",))
    refused = await open_diagnostics_ticket(svc, colombian, ticket())
    assert isinstance(refused, Failure) and isinstance(refused.failure(), Forbidden)


async def test_a_ticket_waits_on_the_customer_like_any_case(svc: Services) -> None:
    case = (await open_diagnostics_ticket(svc, L1, ticket(Severity.SEV1))).unwrap()

    (await acknowledge_case(svc, L1, AcknowledgeCase(MX, case.case_id))).unwrap()
    waiting = (
        await wait_on_customer(svc, L1, WaitOnCustomer(MX, case.case_id, "Send a bundle with telemetry on"))
    ).unwrap()
    assert waiting.state.status is CaseStatus.WAITING_ON_CUSTOMER


async def test_a_ticket_with_its_first_bundle(
    bundle_services: BundleServices, storage: SandboxStorage, tmp_path: Path
) -> None:
    svc = bundle_services.base
    opened = (
        await open_diagnostics_ticket_with_bundle(bundle_services, L1, ticket(), bundle(tmp_path, "a.zip"))
    ).unwrap()

    assert opened.bundle_refusal is None and opened.attached is not None
    attachment = opened.attached.attachment
    assert attachment.case_id == opened.case.case_id
    assert attachment.verdict is BundleVerdict.CLEAN and attachment.stored
    assert [entry.kind for entry in opened.case.state.timeline] == [
        TimelineKind.OPENED,
        TimelineKind.ACTION,
        TimelineKind.ACTION,
    ]
    assert len(blobs(storage)) == 1
    assert [e.action for e in await audit(svc, "case.opened")] == ["case.opened"]
    assert len(await audit(svc, "case.bundle_attached")) == 1


async def test_an_oversized_first_bundle_opens_nothing(bundle_services: BundleServices) -> None:
    too_big = TicketBundle("trace-20260301T120000Z-ui.zip", b"x" * (64 * 1024 + 1))

    refused = await open_diagnostics_ticket_with_bundle(bundle_services, L1, ticket(), too_big)

    assert isinstance(refused, Failure) and isinstance(refused.failure(), BundleUploadTooLarge)
    assert await audit(bundle_services.base, "case.opened") == []


async def test_a_bundle_of_another_country_leaves_the_ticket_open_and_says_why(
    bundle_services: BundleServices, storage: SandboxStorage, tmp_path: Path
) -> None:
    files = {**fake_bundles.clean_files(), "metadata.json": fake_bundles.metadata(country="CO")}

    opened = (
        await open_diagnostics_ticket_with_bundle(
            bundle_services, L1, ticket(), bundle(tmp_path, "co.zip", files)
        )
    ).unwrap()

    assert opened.attached is None and opened.bundle_refusal is not None
    assert opened.bundle_refusal.code == "BUNDLE_COUNTRY_MISMATCH"
    assert opened.case.state.kind is CaseKind.DIAGNOSTICS
    assert blobs(storage) == []


# ------------------------------------------------------------------------ retention purge


async def attached_ticket(
    bundle_services: BundleServices, tmp_path: Path, name: str, files: dict[str, object] | None = None
) -> str:
    opened = (
        await open_diagnostics_ticket_with_bundle(
            bundle_services, L1, ticket(), bundle(tmp_path, name, files)
        )
    ).unwrap()
    assert opened.attached is not None
    return opened.case.case_id


async def test_the_purge_deletes_expired_bytes_keeps_the_record_and_audits_it(
    bundle_services: BundleServices, storage: SandboxStorage, clock: FixedClock, tmp_path: Path
) -> None:
    svc = bundle_services.base
    old_case = await attached_ticket(bundle_services, tmp_path, "old.zip")
    clock.advance(timedelta(days=20))
    fresh_case = await attached_ticket(bundle_services, tmp_path, "fresh.zip", leaky_files())
    assert len(blobs(storage)) == 2
    clock.advance(timedelta(days=11))  # the first is 31 days old, the second 11

    dry = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30, dry_run=True))
    assert [(b.case_id, b.bytes_deleted) for b in dry.purged] == [(old_case, True)]
    assert len(blobs(storage)) == 2
    assert await audit(svc, "diagnostics.case_bundles_purged") == []

    report = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))

    (purged,) = report.purged
    assert purged.case_id == old_case and purged.bytes_deleted
    assert report.deleted_bytes == purged.size_bytes and report.failed == ()
    assert len(blobs(storage)) == 1
    async with svc.uow() as uow:
        (old,) = await uow.case_bundles.for_case(MX, old_case)
        (fresh,) = await uow.case_bundles.for_case(MX, fresh_case)
    assert old.purged_at == clock.now() and not old.stored
    assert old.blob_key is not None and old.sha256 == purged.sha256  # the evidence stays
    assert old.verdict is BundleVerdict.CLEAN and old.report["verdict"] == "CLEAN"
    assert fresh.stored and fresh.purged_at is None
    assert (await storage.get(key=old.blob_key)).unwrap() is None
    (entry,) = await audit(svc, "diagnostics.case_bundles_purged")
    assert entry.country == MX and entry.actor_role == "SYSTEM"
    assert entry.after is not None
    assert entry.after["purged_count"] == 1 and entry.after["bytes_deleted_count"] == 1
    assert entry.after["deleted_bytes"] == purged.size_bytes
    assert entry.after["purged"] == [
        {
            "case_id": old_case,
            "sha256": purged.sha256,
            "bytes": purged.size_bytes,
            "attached_at": iso_utc(purged.attached_at),
            "bytes_deleted": True,
        }
    ]

    again = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))
    assert again.purged == () and len(await audit(svc, "diagnostics.case_bundles_purged")) == 1


async def test_bytes_still_attached_to_a_newer_case_are_kept(
    bundle_services: BundleServices, storage: SandboxStorage, clock: FixedClock, tmp_path: Path
) -> None:
    svc = bundle_services.base
    content = bundle(tmp_path, "shared.zip")
    old = (await open_diagnostics_ticket_with_bundle(bundle_services, L1, ticket(), content)).unwrap()
    clock.advance(timedelta(days=25))
    (await open_diagnostics_ticket_with_bundle(bundle_services, L1, ticket(), content)).unwrap()
    clock.advance(timedelta(days=10))

    report = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))

    (purged,) = report.purged
    assert purged.case_id == old.case.case_id and not purged.bytes_deleted
    assert report.deleted_bytes == 0
    assert len(blobs(storage)) == 1  # the newer case still has them
    async with svc.uow() as uow:
        (attachment,) = await uow.case_bundles.for_case(MX, old.case.case_id)
    assert attachment.purged_at is not None and not attachment.stored
    (entry,) = await audit(svc, "diagnostics.case_bundles_purged")
    assert entry.after is not None and entry.after["kept_shared_count"] == 1


async def test_bytes_already_gone_are_purged_all_the_same(
    bundle_services: BundleServices, storage: SandboxStorage, clock: FixedClock, tmp_path: Path
) -> None:
    svc = bundle_services.base
    case_id = await attached_ticket(bundle_services, tmp_path, "gone.zip")
    for path in blobs(storage):
        path.unlink()  # a crash after the delete, before the record: the next run finishes
    clock.advance(timedelta(days=31))

    report = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))

    assert [b.case_id for b in report.purged] == [case_id]
    async with svc.uow() as uow:
        (attachment,) = await uow.case_bundles.for_case(MX, case_id)
    assert not attachment.stored


async def test_a_refused_delete_is_reported_and_left_for_the_next_run(
    bundle_services: BundleServices, storage: SandboxStorage, clock: FixedClock, tmp_path: Path
) -> None:
    svc = bundle_services.base
    await attached_ticket(bundle_services, tmp_path, "stuck.zip")
    (blob,) = blobs(storage)
    blob.unlink()
    blob.mkdir()  # unlink() of a directory fails: the storage refuses the delete
    clock.advance(timedelta(days=31))

    report = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))

    assert report.purged == () and len(report.failed) == 1
    assert await audit(svc, "diagnostics.case_bundles_purged") == []
    blob.rmdir()
    retried = await purge_expired_case_bundles(svc, SYSTEM, storage, PurgeBundles(30))
    assert len(retried.purged) == 1


async def test_sandbox_delete_is_idempotent_and_checks_the_key(storage: SandboxStorage) -> None:
    stored = (await storage.put(idempotency_key="k", content=b"bytes", content_type="text/plain")).unwrap()
    assert (await storage.delete(key=stored.key)).unwrap() is True
    assert (await storage.delete(key=stored.key)).unwrap() is False
    assert isinstance(await storage.delete(key="../etc/passwd"), Failure)
    again = (await storage.put(idempotency_key="k", content=b"bytes", content_type="text/plain")).unwrap()
    assert again.created and (await storage.get(key=stored.key)).unwrap() == b"bytes"
