"""Diagnostics bundles built in a temporary directory, clean or hostile, for tests."""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

CREATED: Final = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def metadata(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "bundle_id": "b_0001",
        "customer_id": "cus_8f14e45f",
        "country": "MX",
        "channel": "ui",
        "app_version": "4.2.0",
        "created_at": iso(CREATED),
        "telemetry_consent": {"granted": True, "recorded_at": iso(CREATED - timedelta(days=3))},
    }
    document.update(overrides)
    return document


def snapshot(latencies: list[float] | None = None, **overrides: object) -> dict[str, object]:
    series = latencies if latencies is not None else [120.0, 118.5, 130.0, 125.0, 119.0, 121.0]
    document: dict[str, object] = {
        "captured_at": iso(CREATED),
        "queue_depth": 42,
        "queues": {"outbound": 40, "retry": 2},
        "error_counts": {"GATEWAY_TIMEOUT": 3, "CLIENT_OFFLINE": 1},
        "latency_ms": [
            {"at": iso(CREATED - timedelta(minutes=len(series) - i)), "ms": ms} for i, ms in enumerate(series)
        ],
    }
    document.update(overrides)
    return document


def span(
    span_id: str,
    name: str,
    *,
    start: datetime = CREATED,
    duration_ms: int = 250,
    status: str = "OK",
    error_code: str | None = None,
    attributes: Mapping[str, object] | None = None,
) -> dict[str, object]:
    return {
        "span_id": span_id,
        "parent_id": None,
        "name": name,
        "start": iso(start),
        "end": iso(start + timedelta(milliseconds=duration_ms)),
        "status": status,
        "error_code": error_code,
        "attributes": dict(attributes or {"http.method": "POST", "http.status_code": 200}),
    }


def trace(spans: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "trace_id": "tr_0001",
        "spans": spans
        if spans is not None
        else [
            span("s1", "client.sync"),
            span(
                "s2",
                "gateway.outbound",
                start=CREATED + timedelta(seconds=1),
                duration_ms=30_000,
                status="ERROR",
                error_code="GATEWAY_TIMEOUT",
                attributes={"http.url": "https://gateway.invalid/v1/messages", "retry": 2},
            ),
        ],
    }


def clean_files() -> dict[str, object]:
    return {
        "metadata.json": metadata(),
        "snapshot.json": snapshot(),
        "trace.json": trace(),
        "logs/app.log": "2026-03-01T11:59:00Z INFO sync started id=550e8400-e29b-41d4-a716-446655440000\n"
        "2026-03-01T11:59:30Z WARN gateway slow took 1234 ms user=[REDACTED] card=xxxx-xxxx-xxxx-1234\n",
    }


def encode(content: object) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    return json.dumps(content).encode("utf-8")


def write_bundle(
    path: Path,
    files: Mapping[str, object] | None = None,
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A zip with ``files`` (name -> JSON value, text or bytes); the clean bundle by default."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in (files if files is not None else clean_files()).items():
            archive.writestr(name, encode(content))
    return path


def add_entry(path: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    """Append one raw entry (a symlink, a traversal name...) to an existing bundle."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, data)
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info
