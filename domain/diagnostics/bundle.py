"""A diagnostics bundle: its metadata, consent, parsed files, name, retention and report.

The three files are validated against their JSON Schemas (``docs/diagnostics/``) by an
adapter first; the parsers here still check every type they read (they take ``object``)
and add the rules a schema cannot say (an end after its start, a real country code, an
ISO-8601 time with its offset).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from returns.result import Failure, Result, Success

from domain.diagnostics.errors import BundleSchemaInvalid, TelemetryConsentMissing
from domain.diagnostics.metrics import LatencySample, Snapshot, SnapshotSummary
from domain.diagnostics.pii import PiiSummary
from domain.diagnostics.spans import FailedSpan, Span, SpanStatus
from domain.shared import CountryCode

METADATA: Final = "metadata.json"
SNAPSHOT: Final = "snapshot.json"
TRACE: Final = "trace.json"
REQUIRED_FILES: Final = (METADATA, SNAPSHOT, TRACE)


class _Invalid(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


# ----------------------------------------------------------------------------- metadata


@dataclass(frozen=True, slots=True)
class TelemetryConsent:
    granted: bool
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BundleMetadata:
    customer_id: str
    country: CountryCode
    channel: str
    created_at: datetime
    consent: TelemetryConsent
    app_version: str | None = None


def check_consent(raw: object) -> Result[None, TelemetryConsentMissing]:
    """The gate, on the raw ``metadata.json`` before anything else is read: consent must be
    recorded as ``"telemetry_consent": {"granted": true, ...}`` (exactly ``true``)."""
    if not isinstance(raw, Mapping):
        return Failure(TelemetryConsentMissing("metadata.json is not a JSON object"))
    consent = raw.get("telemetry_consent")
    if consent is None:
        return Failure(TelemetryConsentMissing("no telemetry_consent"))
    if not isinstance(consent, Mapping) or "granted" not in consent:
        return Failure(TelemetryConsentMissing("telemetry_consent does not say whether it was granted"))
    if consent["granted"] is not True:
        return Failure(TelemetryConsentMissing("telemetry_consent.granted is not true"))
    return Success(None)


def parse_metadata(raw: object) -> Result[BundleMetadata, BundleSchemaInvalid]:
    try:
        root = _object(raw, "$")
        consent = _object(root.get("telemetry_consent"), "$.telemetry_consent")
        country_raw = _string(root.get("country"), "$.country")
        country = CountryCode.parse(country_raw).value_or(None)
        if country is None or country.value != country_raw:
            raise _Invalid("$.country", f"{country_raw!r} is not an ISO-3166 alpha-2 code")
        granted = consent.get("granted")
        if not isinstance(granted, bool):
            raise _Invalid("$.telemetry_consent.granted", "must be a boolean")
        version = root.get("app_version")
        return Success(
            BundleMetadata(
                customer_id=_string(root.get("customer_id"), "$.customer_id"),
                country=country,
                channel=_string(root.get("channel"), "$.channel"),
                created_at=_time(root.get("created_at"), "$.created_at"),
                consent=TelemetryConsent(
                    granted, _time(consent.get("recorded_at"), "$.telemetry_consent.recorded_at")
                ),
                app_version=None if version is None else _string(version, "$.app_version"),
            )
        )
    except _Invalid as invalid:
        return Failure(BundleSchemaInvalid(METADATA, invalid.path, invalid.reason))


# ----------------------------------------------------------------------------- snapshot and trace


def parse_snapshot(raw: object) -> Result[Snapshot, BundleSchemaInvalid]:
    try:
        root = _object(raw, "$")
        queues = _object(root.get("queues", {}), "$.queues")
        errors = _object(root.get("error_counts"), "$.error_counts")
        series = _array(root.get("latency_ms"), "$.latency_ms")
        samples = []
        for index, item in enumerate(series):
            path = f"$.latency_ms[{index}]"
            sample = _object(item, path)
            samples.append(
                LatencySample(_time(sample.get("at"), f"{path}.at"), _number(sample.get("ms"), f"{path}.ms"))
            )
        return Success(
            Snapshot(
                captured_at=_time(root.get("captured_at"), "$.captured_at"),
                queue_depth=_count(root.get("queue_depth"), "$.queue_depth"),
                queues={str(k): _count(v, f"$.queues.{k}") for k, v in queues.items()},
                error_counts={str(k): _count(v, f"$.error_counts.{k}") for k, v in errors.items()},
                latency=tuple(samples),
            )
        )
    except _Invalid as invalid:
        return Failure(BundleSchemaInvalid(SNAPSHOT, invalid.path, invalid.reason))


def parse_spans(raw: object) -> Result[tuple[Span, ...], BundleSchemaInvalid]:
    try:
        root = _object(raw, "$")
        spans = []
        for index, item in enumerate(_array(root.get("spans"), "$.spans")):
            path = f"$.spans[{index}]"
            span = _object(item, path)
            start = _time(span.get("start"), f"{path}.start")
            end = _time(span.get("end"), f"{path}.end")
            if end < start:
                raise _Invalid(f"{path}.end", "the span ends before it starts")
            status_raw = _string(span.get("status"), f"{path}.status")
            if status_raw not in SpanStatus.__members__:
                raise _Invalid(f"{path}.status", f"{status_raw!r} is not OK, ERROR or UNSET")
            parent, code = span.get("parent_id"), span.get("error_code")
            spans.append(
                Span(
                    span_id=_string(span.get("span_id"), f"{path}.span_id"),
                    parent_id=None if parent is None else _string(parent, f"{path}.parent_id"),
                    name=_string(span.get("name"), f"{path}.name"),
                    start=start,
                    end=end,
                    status=SpanStatus(status_raw),
                    error_code=None if code is None else _string(code, f"{path}.error_code"),
                )
            )
        return Success(tuple(spans))
    except _Invalid as invalid:
        return Failure(BundleSchemaInvalid(TRACE, invalid.path, invalid.reason))


def _object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _Invalid(path, "must be an object")
    return value


def _array(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _Invalid(path, "must be an array")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(path, "must be a non-empty string")
    return value


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(path, "must be a non-negative integer")
    return value


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise _Invalid(path, "must be a non-negative number")
    return float(value)


def _time(value: object, path: str) -> datetime:
    text = _string(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(path, f"{text!r} is not an ISO-8601 date-time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Invalid(path, f"{text!r} has no UTC offset")
    return moment


# ----------------------------------------------------------------------------- names and retention

_BUNDLE_NAME: Final = re.compile(
    r"trace-(?P<ts>\d{8}T\d{6}Z|\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z|\d{10})-(?P<channel>[a-z0-9][a-z0-9_]{0,31})\.zip"
)


@dataclass(frozen=True, slots=True)
class BundleName:
    """``trace-<timestamp>-<channel>.zip``; the timestamp is UTC: ``20240501T120000Z``,
    ``2024-05-01T12-00-00Z`` or Unix seconds (``1714564800``)."""

    file_name: str
    created_at: datetime
    channel: str

    @staticmethod
    def parse(file_name: str) -> BundleName | None:
        match = _BUNDLE_NAME.fullmatch(file_name)
        if match is None:
            return None
        stamp = match.group("ts")
        try:
            if stamp.isdigit():
                created = datetime.fromtimestamp(int(stamp), UTC)
            elif "-" in stamp:
                created = datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
            else:
                created = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        return BundleName(file_name, created, match.group("channel"))

    def expired(self, now: datetime, retention_days: int) -> bool:
        """Older than the retention window: created more than ``retention_days`` days before ``now``."""
        return self.created_at < now - timedelta(days=retention_days)


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class InspectionReport:
    bundle: str
    metadata: BundleMetadata
    snapshot: SnapshotSummary
    span_count: int
    failed_spans: tuple[FailedSpan, ...]
    pii: PiiSummary
    files: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.pii.total == 0
