"""A diagnostics bundle attached to a case (SPEC §10 "attaches the result to a case", D48).

The inspection result is kept as a JSON document on the case. It says what was found and
where - never what the personal data *was*: a leak is its file, JSON path, offset, length,
kind and detector (``email``, ``CPF``, ``visa``...), without even the masked preview the
CLI prints. The verdict is one of:

- ``CLEAN``: inspected, no personal data found;
- ``LEAKS``: inspected, personal data found (listed);
- ``MALFORMED``: refused by the hostile-input reader or a schema (the refusal's code);
- ``NO_CONSENT``: ``metadata.json`` records no telemetry consent; nothing but that file was
  read, and the bytes are not kept (D49).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.diagnostics.bundle import InspectionReport
from domain.diagnostics.errors import InspectionRefusal, TelemetryConsentMissing
from domain.disputes.evidence import ActorRef
from domain.shared import CountryCode

REPORT_FORMAT: Final = "supportos.case-bundle/v1"
MAX_STORED_LEAKS: Final = 1000  # the inspector reports at most this many (and says when it cut)


class BundleVerdict(StrEnum):
    CLEAN = "CLEAN"
    LEAKS = "LEAKS"
    MALFORMED = "MALFORMED"
    NO_CONSENT = "NO_CONSENT"


@dataclass(frozen=True, slots=True)
class BundleAttachment:
    """One bundle on one case (a bundle is attached to a case once: its sha256 is the key)."""

    country: CountryCode
    case_id: str
    sha256: str
    blob_key: str | None  # the storage key; None when the bytes were not kept (NO_CONSENT)
    filename: str
    size_bytes: int
    verdict: BundleVerdict
    leak_count: int
    report: Mapping[str, object]
    attached_by: ActorRef
    attached_at: datetime
    purged_at: datetime | None = None  # the retention purge deleted this attachment's bytes (D57)

    @property
    def stored(self) -> bool:
        """The bytes are kept: not refused for consent, not purged after the retention window."""
        return self.blob_key is not None and self.purged_at is None


@dataclass(frozen=True, slots=True)
class BundlePurge:
    """The end of an attached bundle's retention (write-once, D57): its bytes were deleted
    from storage (``bytes_deleted``), or kept only because a newer attachment holds the same
    bytes. The attachment's verdict, leak locations and sha256 stay: they are the evidence."""

    country: CountryCode
    case_id: str
    sha256: str
    purged_at: datetime
    retention_days: int
    bytes_deleted: bool
    purged_by: ActorRef


def verdict_of(result: InspectionReport | InspectionRefusal) -> BundleVerdict:
    if isinstance(result, InspectionReport):
        return BundleVerdict.CLEAN if result.clean else BundleVerdict.LEAKS
    if isinstance(result, TelemetryConsentMissing):
        return BundleVerdict.NO_CONSENT
    return BundleVerdict.MALFORMED


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def inspection_document(result: InspectionReport | InspectionRefusal) -> dict[str, object]:
    """The stored summary of an inspection (JSON-ready; no personal data values)."""
    verdict = verdict_of(result)
    if not isinstance(result, InspectionReport):
        return {
            "format": REPORT_FORMAT,
            "verdict": verdict.value,
            "refusal": {"code": result.code, "message": result.message},
        }
    snapshot, metadata = result.snapshot, result.metadata
    return {
        "format": REPORT_FORMAT,
        "verdict": verdict.value,
        "bundle": result.bundle,
        "metadata": {
            "country": metadata.country.value,
            "channel": metadata.channel,
            "created_at": metadata.created_at.isoformat(),
            "app_version": metadata.app_version,
            "consent_recorded_at": metadata.consent.recorded_at.isoformat(),
        },
        "files": list(result.files),
        "snapshot": {
            "captured_at": snapshot.captured_at.isoformat(),
            "queue_depth": snapshot.queue_depth,
            "queues": dict(snapshot.queues),
            "error_counts": dict(snapshot.error_counts),
            "total_errors": snapshot.total_errors,
            "latency_ms": {
                "samples": snapshot.samples,
                "p50": _ms(snapshot.p50_ms),
                "p95": _ms(snapshot.p95_ms),
                "p99": _ms(snapshot.p99_ms),
            },
            "trend": snapshot.trend.direction.value,
        },
        "spans": {"total": result.span_count, "failed": len(result.failed_spans)},
        "failed_spans": [
            {
                "span_id": span.span_id,
                "name": span.name,
                "start": span.start.isoformat(),
                "duration_ms": _ms(span.duration_ms),
                "error_code": span.error_code,
                "meaning": None if span.catalogue is None else span.catalogue.meaning,
            }
            for span in result.failed_spans
        ],
        "pii": {
            "total": result.pii.total,
            "by_kind": dict(result.pii.by_kind),
            "truncated": result.pii.truncated,
        },
        "leaks": [
            {
                "file": finding.file,
                "path": finding.json_path,
                "offset": finding.offset,
                "length": finding.length,
                "kind": finding.kind.value,
                "detector": finding.detail,
                "in_key": finding.in_key,
            }
            for finding in result.pii.findings[:MAX_STORED_LEAKS]
        ],
    }
