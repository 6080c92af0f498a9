"""``supportos inspect`` and ``supportos bundles-purge`` as an operator runs them."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.diagnostics.zip_reader import MIB
from interfaces.cli.main import app
from interfaces.settings import get_settings
from tests.fakes.bundles import add_entry, clean_files, metadata, trace, write_bundle

BUNDLE = "trace-20260301T120000Z-ui.zip"
runner = CliRunner()


def leaky_files() -> dict[str, object]:
    files = clean_files()
    files["logs/app.log"] = "ok\ncontact ana@acme.io card 4111 1111 1111 1111\n"
    return files


# ----------------------------------------------------------------------------- inspect


def test_a_clean_bundle_exits_0_with_a_human_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(write_bundle(tmp_path / BUNDLE))])
    assert result.exit_code == 0, result.output
    expected = ["snapshot.json", "queue depth", "p95 (nearest-rank)", "gateway.outbound", "GATEWAY_TIMEOUT"]
    for text in [*expected, "The gateway did not answer", "clean"]:
        assert text in result.output


def test_leaks_exit_2_and_are_listed_without_their_values(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(write_bundle(tmp_path / BUNDLE, leaky_files()))])
    assert result.exit_code == 2, result.output
    assert "EMAIL" in result.output
    assert "CARD_NUMBER" in result.output
    assert "2 leak(s) found" in result.output
    assert "ana@acme.io" not in result.output
    assert "4111 1111 1111 1111" not in result.output


def test_json_output_shape(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", "--json", str(write_bundle(tmp_path / BUNDLE, leaky_files()))])
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"format", "bundle", "status", "exit_code", "metadata", "files", "snapshot"} | {
        "spans",
        "failed_spans",
        "pii",
    }
    assert (report["format"], report["status"], report["exit_code"]) == (
        "supportos.bundle-inspection/v1",
        "leaks",
        2,
    )
    assert report["metadata"]["country"] == "MX"
    assert report["metadata"]["telemetry_consent"]["granted"] is True
    latency = report["snapshot"]["latency_ms"]
    assert latency["method"] == "nearest-rank"
    assert set(latency) == {"samples", "method", "p50", "p95", "p99"}
    assert report["snapshot"]["trend"]["direction"] in {"rising", "flat", "falling"}
    assert report["spans"] == {"total": 2, "failed": 1}
    (span,) = report["failed_spans"]
    assert set(span) == {"span_id", "name", "start", "duration_ms", "error_code", "catalogue"}
    assert span["catalogue"]["section"] == "gateway"
    pii = report["pii"]
    assert (pii["total"], pii["by_kind"], pii["truncated"]) == (2, {"EMAIL": 1, "CARD_NUMBER": 1}, False)
    first = pii["findings"][0]
    assert first == {
        "file": "logs/app.log",
        "json_path": None,
        "offset": 11,
        "length": 11,
        "kind": "EMAIL",
        "detail": "email",
        "in_key": False,
        "preview": "an***@***.io",
    }


def test_json_output_of_a_clean_bundle(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", "--json", str(write_bundle(tmp_path / BUNDLE))])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["status"], report["pii"]["total"], report["pii"]["findings"]) == ("clean", 0, [])


def test_no_consent_exits_3_with_a_clear_message(tmp_path: Path) -> None:
    refused = {"granted": False, "recorded_at": "2026-03-01T12:00:00Z"}
    files = {**clean_files(), "metadata.json": metadata(telemetry_consent=refused)}
    path = write_bundle(tmp_path / BUNDLE, files)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 3
    assert "telemetry consent is not recorded" in result.output
    assert "support reviews a bundle only with the customer's consent" in result.output
    as_json = runner.invoke(app, ["inspect", "--json", str(path)])
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["status"] == "no_consent"
    assert json.loads(as_json.stdout)["error"]["code"] == "TELEMETRY_CONSENT_MISSING"


def _zip_bomb(path: Path) -> Path:
    write_bundle(path)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("logs/z.log", "w") as f,
    ):
        for _ in range(16):
            f.write(bytes(MIB))
    return path


def _not_a_zip(path: Path) -> Path:
    path.write_bytes(b"MZ\x90\x00 not a zip")
    return path


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "malformed-json": lambda p: write_bundle(p, {**clean_files(), "trace.json": b'{"spans": ['}),
    "schema-invalid": lambda p: write_bundle(p, {**clean_files(), "trace.json": trace([{"name": "x"}])}),
    "bad-utf8": lambda p: write_bundle(p, {**clean_files(), "logs/app.log": b"\xff\xfe"}),
    "traversal": lambda p: add_entry(write_bundle(p), zipfile.ZipInfo("../../etc/cron.d/x"), b"x"),
    "zip-bomb": _zip_bomb,
    "not-a-zip": _not_a_zip,
}
CODES = {
    "malformed-json": "BUNDLE_MALFORMED_JSON",
    "schema-invalid": "BUNDLE_SCHEMA_INVALID",
    "bad-utf8": "BUNDLE_NOT_UTF8",
    "traversal": "BUNDLE_UNSAFE_PATH",
    "zip-bomb": "BUNDLE_COMPRESSION_RATIO",
    "not-a-zip": "BUNDLE_NOT_A_ZIP",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_malformed_or_hostile_bundles_exit_1(tmp_path: Path, kind: str) -> None:
    path = HOSTILE[kind](tmp_path / BUNDLE)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1, result.output
    assert CODES[kind] in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # refused, not crashed
    as_json = runner.invoke(app, ["inspect", "--json", str(path)])
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert (document["status"], document["exit_code"], document["error"]["code"]) == (
        "refused",
        1,
        CODES[kind],
    )


# ----------------------------------------------------------------------------- bundles-purge


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "ops.sqlite3"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("SUPPORTOS_BUNDLE_DIR", str(tmp_path / "bundles"))
    monkeypatch.delenv("SUPPORTOS_TELEMETRY_RETENTION_DAYS", raising=False)
    get_settings.cache_clear()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    yield path
    get_settings.cache_clear()


def _name(age: timedelta, channel: str) -> str:
    return f"trace-{(datetime.now(UTC) - age).strftime('%Y%m%dT%H%M%SZ')}-{channel}.zip"


def _audit_rows(database: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT country_code, action, actor_role, after_state FROM audit_log ORDER BY sequence"
        ).fetchall()
    return [(country, action, role, json.loads(after)) for country, action, role, after in rows]


def _bundles(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    old_mx = write_bundle(directory / _name(timedelta(days=45), "ui"))
    brazil = {**clean_files(), "metadata.json": metadata(country="BR")}
    old_br = write_bundle(directory / _name(timedelta(days=31), "cli"), brazil)
    fresh = write_bundle(directory / _name(timedelta(days=5), "ui"))
    garbage = directory / _name(timedelta(days=60), "android")
    garbage.write_bytes(b"not a zip")
    notes = directory / "notes.txt"
    notes.write_text("kept")
    return {"old_mx": old_mx, "old_br": old_br, "fresh": fresh, "garbage": garbage, "notes": notes}


def test_purge_dry_run_changes_nothing(database: Path, tmp_path: Path) -> None:
    bundles = _bundles(tmp_path / "bundles")
    result = runner.invoke(app, ["bundles-purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would remove {bundles['old_mx'].name} (MX" in result.output
    assert f"would remove {bundles['old_br'].name} (BR" in result.output
    assert f"kept {bundles['garbage'].name}" in result.output
    assert "would remove 2 bundle(s)" in result.output
    assert all(path.exists() for path in bundles.values())
    assert _audit_rows(database) == []


def test_purge_removes_expired_bundles_and_audits_them_per_country(database: Path, tmp_path: Path) -> None:
    bundles = _bundles(tmp_path / "bundles")
    size_mx = bundles["old_mx"].stat().st_size
    result = runner.invoke(app, ["bundles-purge"])
    assert result.exit_code == 0, result.output
    assert f"removed {bundles['old_mx'].name}" in result.output
    assert "removed 2 bundle(s)" in result.output
    assert "recorded in the audit log" in result.output
    assert not bundles["old_mx"].exists()
    assert not bundles["old_br"].exists()
    assert bundles["fresh"].exists()
    assert bundles["garbage"].exists()  # no country to audit it under: kept, and said so
    assert bundles["notes"].exists()
    rows = _audit_rows(database)
    assert [(country, action, role) for country, action, role, _ in rows] == [
        ("BR", "diagnostics.bundles_purged", "SYSTEM"),
        ("MX", "diagnostics.bundles_purged", "SYSTEM"),
    ]
    after_mx = rows[1][3]
    assert after_mx["retention_days"] == 30
    assert after_mx["removed_count"] == 1
    (removed,) = after_mx["removed"]
    assert removed == {"file": bundles["old_mx"].name, "created_at": removed["created_at"], "bytes": size_mx}
    assert after_mx["removed_bytes"] == size_mx
    assert datetime.fromisoformat(removed["created_at"]) < datetime.now(UTC) - timedelta(days=44)
    again = runner.invoke(app, ["bundles-purge"])
    assert "removed 0 bundle(s)" in again.output
    assert len(_audit_rows(database)) == 2  # nothing removed, nothing recorded
    assert runner.invoke(app, ["audit-verify"]).exit_code == 0


def test_purge_with_a_country_for_unattributed_bundles_and_another_directory(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles = _bundles(tmp_path / "elsewhere")
    monkeypatch.setenv("SUPPORTOS_TELEMETRY_RETENTION_DAYS", "40")
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["bundles-purge", "--dir", str(tmp_path / "elsewhere"), "--unattributed-country", "co"]
    )
    assert result.exit_code == 0, result.output
    assert not bundles["old_mx"].exists()  # 45 days > 40
    assert bundles["old_br"].exists()  # 31 days < 40
    assert not bundles["garbage"].exists()
    assert [row[0] for row in _audit_rows(database)] == ["CO", "MX"]


def test_purge_refuses_a_bad_country(database: Path) -> None:
    result = runner.invoke(app, ["bundles-purge", "--unattributed-country", "XX"])
    assert result.exit_code == 2
