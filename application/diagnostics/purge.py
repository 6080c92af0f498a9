"""Use case: purge diagnostics bundles older than the retention window (SPEC §10, runbook
"Post-resolution" 2: ``telemetry.retentionDays``).

A bundle's age is the timestamp in its name (``trace-<timestamp>-<channel>.zip``), not the
file's modification time, which a copy or a restore resets. A bundle is expired when it was
created more than ``retention_days`` days before now.

The audit log records every removal (SPEC §9: who, as which role, in which country): one
``diagnostics.bundles_purged`` entry per country, listing the removed bundles, in one unit
of work after the files are gone (a file cannot be un-deleted by a rollback, so the entry
records what was really removed). The country of a bundle is the one its ``metadata.json``
names. A bundle whose country cannot be read is kept and reported, unless the operator
names the country to record it under (``unattributed_country``): nothing is removed
without an audit entry in some country. A dry run lists what would go and writes nothing.

Bundles attached to cases (D48) are kept through the storage port, not in the directory;
:func:`purge_expired_case_bundles` ends their retention (D57): an attachment made more than
``retention_days`` days ago whose bytes are still kept gets them deleted from storage
(``BlobStorage.delete``, idempotent) and a write-once purge record; the attachment's row -
verdict, leak locations (never values), sha256 - stays as evidence. Storage is
content-addressed, so bytes still attached to a newer case (any country) are not deleted:
the old attachment's purge is recorded with ``bytes_deleted`` false. Bytes are deleted
first and the records written after (a crash in between leaves attachments that the next
run finds again, and deleting twice is harmless); one audit entry per country
(``diagnostics.case_bundles_purged``) lists what was purged. A failed delete is reported
and left for the next run. Every delete call is audited whatever it answers
(``provider.call``: provider, ``delete``, the object key - the content's sha256, which is
what makes the delete idempotent - as its idempotency key, outcome, latency; SPEC §7), in
the country of each expired attachment of those bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from returns.result import Failure, Result

from application.audit.trail import record
from application.cases.use_cases import actor_of
from application.context import RequestContext, Services
from application.integrations.provider_calls import audited_call
from application.ports.diagnostics import BundleStore, StoredBundle
from application.ports.providers import ProviderError
from application.ports.storage import BlobStorage
from domain.audit import iso_utc
from domain.diagnostics.attachment import BundleAttachment, BundlePurge
from domain.shared import CountryCode

PURGE_ACTION: Final = "diagnostics.bundles_purged"
CASE_PURGE_ACTION: Final = "diagnostics.case_bundles_purged"
CASE_TARGET_TYPE: Final = "case_bundles"
TARGET_TYPE: Final = "diagnostics_bundle_directory"
MAX_LISTED_PER_ENTRY: Final = 1000
MAX_TARGET_ID_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class PurgeBundles:
    retention_days: int
    dry_run: bool = False
    unattributed_country: CountryCode | None = None


@dataclass(frozen=True, slots=True)
class PurgedBundle:
    file_name: str
    created_at: datetime
    size_bytes: int
    country: CountryCode


@dataclass(frozen=True, slots=True)
class PurgeReport:
    directory: str
    retention_days: int
    cutoff: datetime
    dry_run: bool
    removed: tuple[PurgedBundle, ...]  # in a dry run: what would be removed
    kept_unattributed: tuple[str, ...]  # expired, but no readable country and none given
    vanished: tuple[str, ...]  # expired, but already gone when it was to be removed

    @property
    def removed_bytes(self) -> int:
        return sum(bundle.size_bytes for bundle in self.removed)


async def purge_expired_bundles(
    svc: Services, ctx: RequestContext, store: BundleStore, command: PurgeBundles
) -> PurgeReport:
    if command.retention_days < 0:
        raise ValueError("retention_days must not be negative")
    now = svc.clock.now()
    cutoff = now - timedelta(days=command.retention_days)
    expired = [b for b in store.bundles() if b.name.expired(now, command.retention_days)]
    attributed: list[tuple[StoredBundle, CountryCode]] = []
    unattributed: list[str] = []
    for bundle in expired:
        country = store.country_of(bundle.name.file_name) or command.unattributed_country
        if country is None:
            unattributed.append(bundle.name.file_name)
        else:
            attributed.append((bundle, country))

    removed: list[PurgedBundle] = []
    vanished: list[str] = []
    for bundle, country in attributed:
        if command.dry_run or store.remove(bundle.name.file_name):
            removed.append(
                PurgedBundle(bundle.name.file_name, bundle.name.created_at, bundle.size_bytes, country)
            )
        else:
            vanished.append(bundle.name.file_name)

    report = PurgeReport(
        directory=store.location,
        retention_days=command.retention_days,
        cutoff=cutoff,
        dry_run=command.dry_run,
        removed=tuple(removed),
        kept_unattributed=tuple(unattributed),
        vanished=tuple(vanished),
    )
    if not command.dry_run and removed:
        await _audit(svc, ctx, report, at=now)
    return report


async def _audit(svc: Services, ctx: RequestContext, report: PurgeReport, *, at: datetime) -> None:
    by_country: dict[CountryCode, list[PurgedBundle]] = defaultdict(list)
    for bundle in report.removed:
        by_country[bundle.country].append(bundle)
    async with svc.uow() as uow:
        for country, bundles in sorted(by_country.items()):
            await record(
                uow,
                ctx,
                country=country,
                action=PURGE_ACTION,
                target_type=TARGET_TYPE,
                target_id=report.directory[-MAX_TARGET_ID_CHARS:] or "-",
                at=at,
                after={
                    "retention_days": report.retention_days,
                    "cutoff": iso_utc(report.cutoff),
                    "removed_count": len(bundles),
                    "removed_bytes": sum(b.size_bytes for b in bundles),
                    "removed": [
                        {"file": b.file_name, "created_at": iso_utc(b.created_at), "bytes": b.size_bytes}
                        for b in bundles[:MAX_LISTED_PER_ENTRY]
                    ],
                },
            )
        await uow.commit()


# ------------------------------------------------------------- bundles attached to cases


@dataclass(frozen=True, slots=True)
class PurgedCaseBundle:
    country: CountryCode
    case_id: str
    sha256: str
    filename: str
    size_bytes: int
    attached_at: datetime
    bytes_deleted: bool  # False: the same bytes are still attached to a newer case


@dataclass(frozen=True, slots=True)
class UnpurgedCaseBundle:
    country: CountryCode
    case_id: str
    sha256: str
    reason: str


@dataclass(frozen=True, slots=True)
class CaseBundlePurgeReport:
    retention_days: int
    cutoff: datetime
    dry_run: bool
    purged: tuple[PurgedCaseBundle, ...]  # in a dry run: what would be purged
    failed: tuple[UnpurgedCaseBundle, ...]  # the storage refused the delete: left for the next run

    @property
    def deleted_bytes(self) -> int:
        """Bytes freed: each deleted blob once (two expired attachments may share one)."""
        return sum({b.sha256: b.size_bytes for b in self.purged if b.bytes_deleted}.values())


def _purged(attachment: BundleAttachment, bytes_deleted: bool) -> PurgedCaseBundle:
    return PurgedCaseBundle(
        attachment.country,
        attachment.case_id,
        attachment.sha256,
        attachment.filename,
        attachment.size_bytes,
        attachment.attached_at,
        bytes_deleted,
    )


async def purge_expired_case_bundles(
    svc: Services, ctx: RequestContext, storage: BlobStorage, command: PurgeBundles
) -> CaseBundlePurgeReport:
    """End the retention of bundles attached to cases (see the module's docstring). Runs in
    the system's scope (every country): the CLI binds it."""
    if command.retention_days < 0:
        raise ValueError("retention_days must not be negative")
    now = svc.clock.now()
    cutoff = now - timedelta(days=command.retention_days)
    async with svc.uow() as uow:
        expired = await uow.case_bundles.expired_stored(cutoff)
        keys = {a.blob_key for a in expired if a.blob_key is not None}
        live = await uow.case_bundles.live_blob_keys(keys, cutoff) if keys else set()

    refused: dict[str, str] = {}
    if not command.dry_run:
        for key in sorted(keys - live):
            deleted = await _delete(svc, ctx, storage, key, expired)
            if isinstance(deleted, Failure):
                refused[key] = deleted.failure().message
    purged = [_purged(a, a.blob_key not in live) for a in expired if a.blob_key not in refused]
    failed = [
        UnpurgedCaseBundle(a.country, a.case_id, a.sha256, refused[a.blob_key])
        for a in expired
        if a.blob_key is not None and a.blob_key in refused
    ]
    if not command.dry_run and purged:
        purged = await _record_purges(
            svc, ctx, purged, retention_days=command.retention_days, cutoff=cutoff, now=now
        )
    return CaseBundlePurgeReport(
        retention_days=command.retention_days,
        cutoff=cutoff,
        dry_run=command.dry_run,
        purged=tuple(purged),
        failed=tuple(failed),
    )


async def _delete(
    svc: Services, ctx: RequestContext, storage: BlobStorage, key: str, expired: list[BundleAttachment]
) -> Result[bool, ProviderError]:
    """Delete the bytes under ``key``, audited in the countries of its expired attachments."""
    countries = sorted({a.country for a in expired if a.blob_key == key})
    return await audited_call(
        svc,
        ctx,
        country=countries[0],
        also_in=countries[1:],
        provider=storage.name,
        operation="delete",
        idempotency_key=key,  # a content-addressed delete is idempotent by its object key
        target_type="blob",
        target_id=key,
        call=lambda: storage.delete(key=key),
    )


async def _record_purges(
    svc: Services,
    ctx: RequestContext,
    purged: list[PurgedCaseBundle],
    *,
    retention_days: int,
    cutoff: datetime,
    now: datetime,
) -> list[PurgedCaseBundle]:
    """One transaction: a purge row per attachment (one recorded by a concurrent run is
    left out of this run's report) and one audit entry per country."""
    actor = actor_of(ctx.principal)
    recorded: list[PurgedCaseBundle] = []
    async with svc.uow() as uow:
        for bundle in purged:
            purge = BundlePurge(
                bundle.country,
                bundle.case_id,
                bundle.sha256,
                now,
                retention_days,
                bundle.bytes_deleted,
                actor,
            )
            if await uow.case_bundles.add_purge(purge):
                recorded.append(bundle)
        by_country: dict[CountryCode, list[PurgedCaseBundle]] = defaultdict(list)
        for bundle in recorded:
            by_country[bundle.country].append(bundle)
        for country, bundles in sorted(by_country.items()):
            deleted = [b for b in bundles if b.bytes_deleted]
            await record(
                uow,
                ctx,
                country=country,
                action=CASE_PURGE_ACTION,
                target_type=CASE_TARGET_TYPE,
                target_id=f"retention-{retention_days}d",
                at=now,
                after={
                    "retention_days": retention_days,
                    "cutoff": iso_utc(cutoff),
                    "purged_count": len(bundles),
                    "bytes_deleted_count": len(deleted),
                    "kept_shared_count": len(bundles) - len(deleted),
                    "deleted_bytes": sum({b.sha256: b.size_bytes for b in deleted}.values()),
                    "purged": [
                        {
                            "case_id": b.case_id,
                            "sha256": b.sha256,
                            "bytes": b.size_bytes,
                            "attached_at": iso_utc(b.attached_at),
                            "bytes_deleted": b.bytes_deleted,
                        }
                        for b in bundles[:MAX_LISTED_PER_ENTRY]
                    ],
                },
            )
        await uow.commit()
    return recorded
