"""The inspector with its real adapters: consent first, schemas, catalogue, phones."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from returns.result import Failure

from adapters.diagnostics.catalogue import MarkdownErrorCatalogue, parse_catalogue
from adapters.diagnostics.phones import PhonenumbersFinder
from adapters.diagnostics.schemas import SCHEMA_FILES, JsonSchemaValidator, load_schema
from adapters.diagnostics.zip_reader import BundleLimits
from domain.diagnostics import (
    InspectionRefusal,
    InspectionReport,
    PiiDetector,
    PiiKind,
    TelemetryConsentMissing,
)
from domain.diagnostics.errors import BundleMissingFile, BundleSchemaInvalid
from interfaces.container import bundle_inspector
from tests.fakes.bundles import clean_files, metadata, snapshot, span, trace, write_bundle

BUNDLE = "trace-20260301T120000Z-ui.zip"


def inspect(path: Path, limits: BundleLimits | None = None) -> InspectionReport:
    return bundle_inspector(limits).inspect(path).unwrap()


def refused(path: Path) -> InspectionRefusal:
    result = bundle_inspector().inspect(path)
    assert isinstance(result, Failure)
    refusal: InspectionRefusal = result.failure()
    return refusal


def test_a_clean_bundle(tmp_path: Path) -> None:
    report = inspect(write_bundle(tmp_path / BUNDLE))
    assert report.clean
    assert report.pii.total == 0
    assert report.bundle == BUNDLE
    assert report.snapshot.queue_depth == 42
    assert report.span_count == 2
    (failed,) = report.failed_spans
    assert (failed.name, failed.error_code, failed.duration_ms) == (
        "gateway.outbound",
        "GATEWAY_TIMEOUT",
        30_000,
    )
    assert failed.catalogue is not None
    assert failed.catalogue.section == "gateway"
    assert "504" in failed.catalogue.meaning


def test_a_product_code_in_a_span_is_found_in_the_product_table(tmp_path: Path) -> None:
    spans = [span("s1", "provider.refund", status="ERROR", error_code="PROVIDER_ERROR"),
             span("s2", "client.x", status="ERROR", error_code="NOT_A_DOCUMENTED_CODE")]  # fmt: skip
    report = inspect(write_bundle(tmp_path / BUNDLE, {**clean_files(), "trace.json": trace(spans)}))
    first, second = report.failed_spans
    assert first.catalogue is not None
    assert first.catalogue.section == "product"
    assert second.catalogue is None


# ----------------------------------------------------------------------------- the consent gate


@pytest.mark.parametrize("consent", [None, {"granted": False, "recorded_at": "2026-03-01T12:00:00Z"}])
def test_no_consent_is_refused_before_any_other_file_is_read(tmp_path: Path, consent: object) -> None:
    document = metadata()
    if consent is None:
        del document["telemetry_consent"]
    else:
        document["telemetry_consent"] = consent
    # the other files are missing or broken: it must not matter, they are never read
    path = write_bundle(
        tmp_path / BUNDLE, {"metadata.json": document, "trace.json": b"\xff{", "x.log": b"\xff"}
    )
    assert isinstance(refused(path), TelemetryConsentMissing)


def test_missing_metadata_is_a_malformed_bundle(tmp_path: Path) -> None:
    files = clean_files()
    del files["metadata.json"]
    assert refused(write_bundle(tmp_path / BUNDLE, files)) == BundleMissingFile("metadata.json")


@pytest.mark.parametrize("name", ["snapshot.json", "trace.json"])
def test_missing_files_with_consent(tmp_path: Path, name: str) -> None:
    files = clean_files()
    del files[name]
    assert refused(write_bundle(tmp_path / BUNDLE, files)) == BundleMissingFile(name)


# ----------------------------------------------------------------------------- schemas


def test_the_schemas_are_valid_draft_2020_12_and_the_examples_pass() -> None:
    validator = JsonSchemaValidator()
    for file in SCHEMA_FILES:
        assert load_schema(file)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator.validate("metadata.json", metadata()).unwrap() is None
    assert validator.validate("snapshot.json", snapshot()).unwrap() is None
    assert validator.validate("trace.json", trace()).unwrap() is None


@pytest.mark.parametrize(
    ("file", "document", "path", "reason"),
    [
        ("metadata.json", metadata(country="Mexico"), "$.country", "does not match"),
        ("metadata.json", metadata(extra="x"), "$", "does not allow"),
        ("metadata.json", {**metadata(), "telemetry_consent": {"granted": True}}, "$.telemetry_consent",
         "missing required recorded_at"),
        ("snapshot.json", snapshot(queue_depth="many"), "$.queue_depth", "must be of type integer"),
        ("snapshot.json", snapshot(latency_ms=[{"at": "yesterday", "ms": 1}]), "$.latency_ms[0].at",
         "does not match"),
        ("trace.json", trace([{**span("s1", "x"), "status": "BROKEN"}]), "$.spans[0].status",
         "must be one of"),
        ("trace.json", trace([{k: v for k, v in span("s1", "x").items() if k != "name"}]), "$.spans[0]",
         "missing required name"),
    ],
)  # fmt: skip
def test_schema_invalid_files_are_refused_with_their_json_path(
    tmp_path: Path, file: str, document: object, path: str, reason: str
) -> None:
    refusal = refused(write_bundle(tmp_path / BUNDLE, {**clean_files(), file: document}))
    assert isinstance(refusal, BundleSchemaInvalid)
    assert (refusal.entry, refusal.json_path) == (file, path)
    assert reason in refusal.reason


def test_schema_messages_never_quote_the_bundles_values(tmp_path: Path) -> None:
    document = trace([{**span("s1", "x"), "span_id": "ana@acme.io"}])
    refusal = refused(write_bundle(tmp_path / BUNDLE, {**clean_files(), "trace.json": document}))
    assert "ana@acme.io" not in refusal.message


# ----------------------------------------------------------------------------- leaks everywhere


def test_leaks_in_every_file_are_located(tmp_path: Path) -> None:
    files = clean_files()
    files["metadata.json"] = metadata(customer_id="ana@acme.io")
    files["trace.json"] = trace(
        [span("s1", "client.sync", attributes={"user.phone": "tel +52 55 1234 5678"})]
    )
    files["logs/app.log"] = "line one\nauth Bearer abcDEF123456ghiJKL\n"
    files["logs/other.txt"] = "nothing here\n"
    report = inspect(write_bundle(tmp_path / BUNDLE, files))
    located = {(f.file, f.json_path, f.offset, f.kind) for f in report.pii.findings}
    assert located == {
        ("metadata.json", "$.customer_id", 0, PiiKind.EMAIL),
        ("trace.json", '$.spans[0].attributes["user.phone"]', 4, PiiKind.PHONE),
        ("logs/app.log", None, 14, PiiKind.BEARER_TOKEN),
    }
    assert not report.clean


def test_secrets_and_national_ids_in_traces_and_logs_are_located(tmp_path: Path) -> None:
    files = clean_files()
    files["metadata.json"] = metadata(country="AR")
    url = "https://api.acme.io/v1/orders?access_token=abc123DEF456ghi&limit=50"
    attributes = {
        "http.request.header.authorization": "Basic dXNlcjpwYXNz...",
        "http.request.header.x-api-key": "3f9a8b7c6d5e4f3a2b1c",
        "http.url": url,
        "customer.dni": 30123456,
        "token_count": 512,
        "tokens_used": "1200",
        "password_changed_at": "2026-02-01T00:00:00Z",
        "http.request.header.cookie": "[REDACTED]",
    }
    files["trace.json"] = trace([span("s1", "gateway.outbound", attributes=attributes)])
    log = (
        "12:00:01 retry api_key=ab12cd34ef56 password=hunter2\n"
        "12:00:02 titular CUIL 20-30123456-3, SSN 536-90-4399, order 30123456789\n"
        "12:00:03 password=[REDACTED] token=*** token_count=4096\n"
    )
    files["logs/app.log"] = log
    report = inspect(write_bundle(tmp_path / BUNDLE, files))
    path = "$.spans[0].attributes"
    located = {(f.file, f.json_path, f.offset, f.kind, f.detail) for f in report.pii.findings}
    assert located == {
        ("trace.json", f'{path}["http.request.header.authorization"]', 0, PiiKind.BASIC_AUTH, "basic"),
        (
            "trace.json",
            f'{path}["http.request.header.x-api-key"]',
            0,
            PiiKind.SECRET,
            "field http.request.header.x-api-key",
        ),
        ("trace.json", f'{path}["http.url"]', url.index("abc1"), PiiKind.SECRET, "query access_token"),
        ("trace.json", f'{path}["customer.dni"]', 0, PiiKind.NATIONAL_ID, "DNI"),
        ("logs/app.log", None, log.index("ab12"), PiiKind.SECRET, "pair api_key"),
        ("logs/app.log", None, log.index("hunter2"), PiiKind.SECRET, "pair password"),
        ("logs/app.log", None, log.index("20-3"), PiiKind.NATIONAL_ID, "CUIL"),
        ("logs/app.log", None, log.index("536-"), PiiKind.NATIONAL_ID, "SSN"),
    }
    assert report.pii.by_kind == {"BASIC_AUTH": 1, "SECRET": 4, "NATIONAL_ID": 3}
    assert not report.clean


def test_dotted_url_encoded_and_numeric_phone_numbers_are_located(tmp_path: Path) -> None:
    files = clean_files()
    url = "https://sms.acme.io/send?to=%2B525512345678&text=hola"
    attributes = {
        "http.url": url,
        "customer.msisdn": 525512345678,
        "amount_minor": 525512345678,
        "order_id": 5512345678,
        "ts": 1714564800123,
    }
    files["trace.json"] = trace([span("s1", "gateway.outbound", attributes=attributes)])
    log = (
        "06.12.2026 10:30:01 app 4.2.0 (build 10.4.21) peer 198.51.100.200\n"
        "06.12.2026 10:30:02 llamar al 55.1234.5678 por la orden 30123456789\n"
    )
    files["logs/app.log"] = log
    report = inspect(write_bundle(tmp_path / BUNDLE, files))
    path = "$.spans[0].attributes"
    located = {(f.file, f.json_path, f.offset, f.length, f.kind) for f in report.pii.findings}
    assert located == {
        ("trace.json", f'{path}["http.url"]', url.index("%2B"), len("%2B525512345678"), PiiKind.PHONE),
        ("trace.json", f'{path}["customer.msisdn"]', 0, 12, PiiKind.PHONE),
        ("logs/app.log", None, log.index("55.1234"), len("55.1234.5678"), PiiKind.PHONE),
    }
    assert not report.clean


def test_many_leaks_are_counted_but_only_the_first_are_listed(tmp_path: Path) -> None:
    files = {**clean_files(), "logs/app.log": "x ana@acme.io\n" * 5000}
    report = inspect(write_bundle(tmp_path / BUNDLE, files, compression=zipfile.ZIP_STORED))
    assert report.pii.total == 5000
    assert len(report.pii.findings) == 1000
    assert report.pii.truncated


# ----------------------------------------------------------------------------- phones and catalogue


@pytest.mark.parametrize(
    ("text", "region", "number"),
    [
        ("llama al 55 1234 5678 hoy", "MX", "55 1234 5678"),
        ("ligue (11) 91234-5678 agora", "BR", "(11) 91234-5678"),
        ("llama al +56 9 6123 4567", None, "+56 9 6123 4567"),
        ("llama al 612 34 56 78", "ES", "612 34 56 78"),
        ("llama al 55.1234.5678 hoy", "MX", "55.1234.5678"),
        ("call 212.555.0123 now", "US", "212.555.0123"),
        ("llama al 612.34.56.78", "ES", "612.34.56.78"),
        ("llama al +34.612.345.678", "MX", "+34.612.345.678"),
        ("llame al 300.123.4567", "CO", "300.123.4567"),
        ("sms?to=%2B34612345678&x=1", "MX", "%2B34612345678"),
    ],
)
def test_phones_through_the_phonenumbers_adapter(text: str, region: str | None, number: str) -> None:
    (match,) = PiiDetector(PhonenumbersFinder(), region=region).matches(text)
    assert match.kind is PiiKind.PHONE
    assert text[match.start : match.end] == number


@pytest.mark.parametrize(
    "text",
    [
        "+52 55 **** 5678",
        "<phone>",
        "took 1234 ms at 2026-03-01 12:00:00",
        "v4.2.0",
        "versions 1.2.3 and 10.4.21",
        "Chrome/124.0.6367.91 Safari/537.36",
        "kernel 5.15.0.1051-aws, windows 10.0.19045.3930",
        "doc peer 198.51.100.200 and 203.0.113.254",
        "on 06.12.2026 at 10.30, since 2026.03.01 12.00.00.123",
        "2026-03-01T12:00:00.123Z epoch 1714564800123 ts=1714564800",
        "order 30123456789, total 1.234.567.890",
        "cpf 119.123.456-78 nit 900.123.456-7",  # failed check digits: not ids, not phones
    ],
)
@pytest.mark.parametrize("region", ["MX", "CO", "BR", "AR", "CL", "PE", "ES", "US", "KW"])
def test_phone_placeholders_and_ordinary_numbers(text: str, region: str) -> None:
    assert PiiDetector(PhonenumbersFinder(), region=region).matches(text) == []


def test_an_address_is_an_ip_address_never_a_phone_number() -> None:
    text = "peer 192.168.1.10 and 172.16.254.100"
    found = PiiDetector(PhonenumbersFinder(), region="BR").matches(text)
    assert [(m.kind, text[m.start : m.end]) for m in found] == [
        (PiiKind.IP_ADDRESS, "192.168.1.10"),
        (PiiKind.IP_ADDRESS, "172.16.254.100"),
    ]


def test_catalogue_parsing() -> None:
    entries = parse_catalogue(
        "| `A_CODE` | meaning a | do a |\n"
        "## Gateway and client error codes\n"
        "| gateway | `B_CODE` | meaning b | do b |\n"
    )
    assert entries["A_CODE"].section == "product"
    assert (entries["B_CODE"].section, entries["B_CODE"].action) == ("gateway", "do b")
    assert MarkdownErrorCatalogue(Path("/nonexistent/errors.md")).entries() == {}
