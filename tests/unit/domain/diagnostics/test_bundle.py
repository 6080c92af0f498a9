"""Bundle metadata, the consent gate, parsing the files, failed spans, names and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from returns.result import Failure, Success

from domain.diagnostics import (
    BundleName,
    CatalogueEntry,
    TelemetryConsentMissing,
    check_consent,
    failed_spans,
    parse_metadata,
    parse_snapshot,
    parse_spans,
)
from domain.diagnostics.errors import BundleSchemaInvalid
from domain.shared import CountryCode
from tests.fakes.bundles import metadata, snapshot, span, trace


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {},
        {"telemetry_consent": None},
        {"telemetry_consent": True},
        {"telemetry_consent": {}},
        {"telemetry_consent": {"granted": False}},
        {"telemetry_consent": {"granted": "true"}},
        {"telemetry_consent": {"granted": 1}},
    ],
)
def test_consent_must_be_recorded_as_exactly_true(raw: object) -> None:
    result = check_consent(raw)
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), TelemetryConsentMissing)
    assert result.failure().code == "TELEMETRY_CONSENT_MISSING"


def test_consent_granted() -> None:
    assert check_consent(metadata()) == Success(None)


def test_metadata_parses() -> None:
    parsed = parse_metadata(metadata()).unwrap()
    assert parsed.country == CountryCode("MX")
    assert parsed.consent.granted
    assert parsed.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"country": "XX"}, "$.country"),
        ({"country": "mx"}, "$.country"),
        ({"created_at": "yesterday"}, "$.created_at"),
        ({"created_at": "2026-03-01T12:00:00"}, "$.created_at"),  # no offset
        ({"customer_id": ""}, "$.customer_id"),
    ],
)
def test_metadata_rules(overrides: dict[str, object], path: str) -> None:
    result = parse_metadata(metadata(**overrides))
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, BundleSchemaInvalid)
    assert (error.entry, error.json_path) == ("metadata.json", path)


def test_snapshot_parses_and_checks_counts() -> None:
    assert parse_snapshot(snapshot()).unwrap().queue_depth == 42
    bad = parse_snapshot(snapshot(queue_depth=-1))
    assert isinstance(bad, Failure)
    assert bad.failure().json_path == "$.queue_depth"
    nan = snapshot()
    nan["latency_ms"] = [{"at": "2026-03-01T12:00:00Z", "ms": float("nan")}]
    assert isinstance(parse_snapshot(nan), Failure)


def test_a_span_ending_before_it_starts_is_refused() -> None:
    document = trace([span("s1", "x", duration_ms=-5)])
    result = parse_spans(document)
    assert isinstance(result, Failure)
    assert result.failure().json_path == "$.spans[0].end"


def test_failed_spans_are_listed_by_start_with_catalogue_entries() -> None:
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    spans = parse_spans(
        trace(
            [
                span("late", "gateway.outbound", start=t0 + timedelta(seconds=5), status="ERROR",
                     error_code="GATEWAY_TIMEOUT", duration_ms=30_000),
                span("ok", "client.sync", start=t0),
                span("early", "client.send", start=t0 + timedelta(seconds=1), status="OK",
                     error_code="SOMETHING_NEW", duration_ms=12),
                span("unset", "client.render", start=t0 + timedelta(seconds=2), status="ERROR"),
            ]
        )
    ).unwrap()  # fmt: skip
    entry = CatalogueEntry("GATEWAY_TIMEOUT", "slow", "check", "gateway")
    failed = failed_spans(spans, {"GATEWAY_TIMEOUT": entry})
    assert [(f.span_id, f.error_code) for f in failed] == [
        ("early", "SOMETHING_NEW"),
        ("unset", None),
        ("late", "GATEWAY_TIMEOUT"),
    ]
    assert failed[0].catalogue is None  # a code the catalogue does not know
    assert failed[2].catalogue == entry
    assert failed[2].duration_ms == 30_000


@pytest.mark.parametrize(
    ("name", "created", "channel"),
    [
        ("trace-20260301T120000Z-ui.zip", datetime(2026, 3, 1, 12, tzinfo=UTC), "ui"),
        ("trace-2026-03-01T12-00-00Z-cli.zip", datetime(2026, 3, 1, 12, tzinfo=UTC), "cli"),
        ("trace-1772366400-android.zip", datetime(2026, 3, 1, 12, tzinfo=UTC), "android"),
    ],
)
def test_bundle_names(name: str, created: datetime, channel: str) -> None:
    parsed = BundleName.parse(name)
    assert parsed is not None
    assert (parsed.created_at, parsed.channel) == (created, channel)


@pytest.mark.parametrize(
    "name",
    [
        "trace-20260301T120000Z-ui.zip.bak",
        "trace-20261301T120000Z-ui.zip",  # month 13
        "trace-20260301T120000Z-../x.zip",
        "notes.txt",
        "trace-20260301T120000Z-UI.zip",
    ],
)
def test_other_names_are_not_bundles(name: str) -> None:
    assert BundleName.parse(name) is None


def test_retention_window() -> None:
    name = BundleName.parse("trace-20260301T120000Z-ui.zip")
    assert name is not None
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert not name.expired(now, 30)  # exactly 30 days old: kept
    assert name.expired(now + timedelta(seconds=1), 30)
    assert name.expired(now, 0)
