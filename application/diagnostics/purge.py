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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from application.audit.trail import record
from application.context import RequestContext, Services
from application.ports.diagnostics import BundleStore, StoredBundle
from domain.audit import iso_utc
from domain.shared import CountryCode

PURGE_ACTION: Final = "diagnostics.bundles_purged"
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
