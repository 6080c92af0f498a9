"""Diagnostics bundles (SPEC §10): bundle model, PII findings, span and metric summaries.

Pure: bundles are read by ``adapters.diagnostics`` and handed in as parsed JSON and text
chunks; phone numbers are recognised through the :class:`PhoneNumberFinder` port.
"""

from domain.diagnostics.bundle import (
    METADATA,
    REQUIRED_FILES,
    SNAPSHOT,
    TRACE,
    BundleMetadata,
    BundleName,
    InspectionReport,
    TelemetryConsent,
    check_consent,
    parse_metadata,
    parse_snapshot,
    parse_spans,
)
from domain.diagnostics.errors import BundleRefusal, InspectionRefusal, TelemetryConsentMissing
from domain.diagnostics.metrics import SnapshotSummary, Trend, summarise_snapshot
from domain.diagnostics.pii import (
    FindingCollector,
    PhoneNumberFinder,
    PiiDetector,
    PiiFinding,
    PiiKind,
    PiiSummary,
    StreamingTextScanner,
    scan_document,
)
from domain.diagnostics.spans import (
    CatalogueEntry,
    FailedSpan,
    Span,
    SpanStatus,
    TraceErrorCode,
    failed_spans,
)

__all__ = [
    "METADATA",
    "REQUIRED_FILES",
    "SNAPSHOT",
    "TRACE",
    "BundleMetadata",
    "BundleName",
    "BundleRefusal",
    "CatalogueEntry",
    "FailedSpan",
    "FindingCollector",
    "InspectionRefusal",
    "InspectionReport",
    "PhoneNumberFinder",
    "PiiDetector",
    "PiiFinding",
    "PiiKind",
    "PiiSummary",
    "SnapshotSummary",
    "Span",
    "SpanStatus",
    "StreamingTextScanner",
    "TelemetryConsent",
    "TelemetryConsentMissing",
    "TraceErrorCode",
    "Trend",
    "check_consent",
    "failed_spans",
    "parse_metadata",
    "parse_snapshot",
    "parse_spans",
    "scan_document",
    "summarise_snapshot",
]
