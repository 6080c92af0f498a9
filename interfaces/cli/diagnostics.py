"""``supportos inspect <bundle> [--json]`` and ``supportos bundles-purge [--dry-run] [--dir D]``.

Exit codes of ``inspect``: 0 clean, 2 personal data found, 1 malformed or hostile bundle,
3 no telemetry consent recorded (nothing but ``metadata.json`` was read).
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Final

import typer
from returns.result import Failure
from rich.console import Console
from rich.table import Table

from application.context import RequestContext
from application.diagnostics.purge import (
    CaseBundlePurgeReport,
    PurgeBundles,
    PurgeReport,
    purge_expired_bundles,
    purge_expired_case_bundles,
)
from application.security.principal import Principal, Role
from application.security.scope import ALL, scoped_to
from domain.diagnostics import InspectionRefusal, InspectionReport, TelemetryConsentMissing
from domain.shared import CountryCode
from interfaces.container import build_container, bundle_inspector, bundle_store, dispose_engines
from interfaces.settings import get_settings

EXIT_CLEAN: Final = 0
EXIT_MALFORMED: Final = 1
EXIT_LEAKS: Final = 2
EXIT_NO_CONSENT: Final = 3
REPORT_FORMAT: Final = "supportos.bundle-inspection/v1"


# ----------------------------------------------------------------------------- inspect


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report_json(report: InspectionReport) -> dict[str, object]:
    """The ``--json`` document of an inspected bundle."""
    snapshot, metadata = report.snapshot, report.metadata
    return {
        "format": REPORT_FORMAT,
        "bundle": report.bundle,
        "status": "clean" if report.clean else "leaks",
        "exit_code": EXIT_CLEAN if report.clean else EXIT_LEAKS,
        "metadata": {
            "customer_id": metadata.customer_id,
            "country": metadata.country.value,
            "channel": metadata.channel,
            "created_at": metadata.created_at.isoformat(),
            "app_version": metadata.app_version,
            "telemetry_consent": {
                "granted": metadata.consent.granted,
                "recorded_at": metadata.consent.recorded_at.isoformat(),
            },
        },
        "files": list(report.files),
        "snapshot": {
            "captured_at": snapshot.captured_at.isoformat(),
            "queue_depth": snapshot.queue_depth,
            "queues": dict(snapshot.queues),
            "error_counts": dict(snapshot.error_counts),
            "total_errors": snapshot.total_errors,
            "latency_ms": {
                "samples": snapshot.samples,
                "method": "nearest-rank",
                "p50": _ms(snapshot.p50_ms),
                "p95": _ms(snapshot.p95_ms),
                "p99": _ms(snapshot.p99_ms),
            },
            "trend": {
                "direction": snapshot.trend.direction.value,
                "slope_ms_per_minute": round(snapshot.trend.slope_ms_per_minute, 6),
                "relative_change": round(snapshot.trend.relative_change, 6),
            },
        },
        "spans": {"total": report.span_count, "failed": len(report.failed_spans)},
        "failed_spans": [
            {
                "span_id": span.span_id,
                "name": span.name,
                "start": span.start.isoformat(),
                "duration_ms": _ms(span.duration_ms),
                "error_code": span.error_code,
                "catalogue": None
                if span.catalogue is None
                else {
                    "section": span.catalogue.section,
                    "meaning": span.catalogue.meaning,
                    "action": span.catalogue.action,
                },
            }
            for span in report.failed_spans
        ],
        "pii": {
            "total": report.pii.total,
            "by_kind": dict(report.pii.by_kind),
            "truncated": report.pii.truncated,
            "findings": [
                {
                    "file": finding.file,
                    "json_path": finding.json_path,
                    "offset": finding.offset,
                    "length": finding.length,
                    "kind": finding.kind.value,
                    "detail": finding.detail,
                    "in_key": finding.in_key,
                    "preview": finding.preview,
                }
                for finding in report.pii.findings
            ],
        },
    }


def refusal_json(bundle: str, refusal: InspectionRefusal, exit_code: int) -> dict[str, object]:
    return {
        "format": REPORT_FORMAT,
        "bundle": bundle,
        "status": "no_consent" if exit_code == EXIT_NO_CONSENT else "refused",
        "exit_code": exit_code,
        "error": {"code": refusal.code, "message": refusal.message},
    }


def _print_report(report: InspectionReport, console: Console) -> None:
    metadata, snapshot = report.metadata, report.snapshot
    console.print(f"[bold]Bundle[/bold] {report.bundle}")
    console.print(
        f"customer {metadata.customer_id} · {metadata.country.value} · channel {metadata.channel} · "
        f"created {metadata.created_at.isoformat()} · "
        f"consent recorded {metadata.consent.recorded_at.isoformat()}"
    )

    table = Table(title="snapshot.json", show_header=False)
    table.add_column("metric")
    table.add_column("value")
    table.add_row("captured at", snapshot.captured_at.isoformat())
    table.add_row("queue depth", str(snapshot.queue_depth))
    for queue, depth in snapshot.queues.items():
        table.add_row(f"  queue {queue}", str(depth))
    table.add_row("errors", str(snapshot.total_errors))
    for code, count in list(snapshot.error_counts.items())[:10]:
        table.add_row(f"  {code}", str(count))
    table.add_row("latency samples", str(snapshot.samples))
    for label, value in (("p50", snapshot.p50_ms), ("p95", snapshot.p95_ms), ("p99", snapshot.p99_ms)):
        table.add_row(f"latency {label} (nearest-rank)", "-" if value is None else f"{value:.1f} ms")
    trend = snapshot.trend
    table.add_row(
        "latency trend",
        f"{trend.direction.value} ({trend.slope_ms_per_minute:+.3f} ms/min, "
        f"{trend.relative_change:+.1%} of the mean over the series)",
    )
    console.print(table)

    spans = Table(title=f"trace.json: {len(report.failed_spans)} failed of {report.span_count} spans")
    spans.add_column("start", no_wrap=True)
    spans.add_column("span", overflow="fold")
    spans.add_column("duration", no_wrap=True, justify="right")
    spans.add_column("error code", no_wrap=True)
    guidance: dict[str, str | None] = {}
    for span in report.failed_spans:
        spans.add_row(span.start.isoformat(), span.name, f"{span.duration_ms:.1f} ms", span.error_code or "-")
        if span.error_code is not None:
            guidance[span.error_code] = (
                None if span.catalogue is None else f"{span.catalogue.meaning} → {span.catalogue.action}"
            )
    console.print(spans)
    if guidance:
        codes = Table(title="error codes (docs/errors.md)")
        codes.add_column("code", no_wrap=True)
        codes.add_column("meaning → what to do", overflow="fold")
        for code, text in sorted(guidance.items()):
            codes.add_row(code, text or "[yellow]not in the catalogue[/yellow]")
        console.print(codes)

    pii = report.pii
    if pii.total == 0:
        console.print("[green]PII redaction: clean, no personal data found[/green]")
        return
    leaks = Table(
        title=f"PII leaks: {pii.total}" + (f" (first {len(pii.findings)} listed)" if pii.truncated else "")
    )
    leaks.add_column("kind", no_wrap=True)
    leaks.add_column("file", overflow="fold")
    leaks.add_column("JSON path", overflow="fold")
    leaks.add_column("offset", no_wrap=True, justify="right")
    leaks.add_column("detail", no_wrap=True)
    leaks.add_column("preview", overflow="fold")
    for finding in pii.findings:
        path = "-" if finding.json_path is None else finding.json_path + (" (key)" if finding.in_key else "")
        leaks.add_row(
            finding.kind.value, finding.file, path, str(finding.offset), finding.detail, finding.preview
        )
    console.print(leaks)
    counts = ", ".join(f"{kind} {count}" for kind, count in pii.by_kind.items())
    console.print(f"[red]PII redaction: {pii.total} leak(s) found[/red] ({counts})")


def inspect(
    bundle: Annotated[Path, typer.Argument(help="The bundle, trace-<timestamp>-<channel>.zip.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a diagnostics bundle for PII leaks, summarise its metrics and list its failed spans.

    Exit codes: 0 clean, 2 leaks found, 1 malformed or hostile bundle, 3 no telemetry consent.
    """
    result = bundle_inspector().inspect(bundle)
    if isinstance(result, Failure):
        refusal = result.failure()
        code = EXIT_NO_CONSENT if isinstance(refusal, TelemetryConsentMissing) else EXIT_MALFORMED
        if json_output:
            typer.echo(json.dumps(refusal_json(bundle.name, refusal, code), indent=2))
        elif code == EXIT_NO_CONSENT:
            typer.echo(f"refusing to inspect {bundle.name}: {refusal.message}", err=True)
        else:
            typer.echo(f"refusing {bundle.name}: {refusal.code}: {refusal.message}", err=True)
        raise typer.Exit(code)
    report = result.unwrap()
    if json_output:
        typer.echo(json.dumps(report_json(report), indent=2))
    else:
        _print_report(report, Console(highlight=False, soft_wrap=False))
    raise typer.Exit(EXIT_CLEAN if report.clean else EXIT_LEAKS)


# ----------------------------------------------------------------------------- bundles-purge


def _print_purge(report: PurgeReport) -> None:
    verb = "would remove" if report.dry_run else "removed"
    for bundle in report.removed:
        typer.echo(
            f"{verb} {bundle.file_name} ({bundle.country.value}, created {bundle.created_at.isoformat()}, "
            f"{bundle.size_bytes} bytes)"
        )
    for name in report.kept_unattributed:
        typer.echo(
            f"kept {name}: expired, but its metadata.json names no country (see --unattributed-country)"
        )
    for name in report.vanished:
        typer.echo(f"skipped {name}: already gone")
    typer.echo(
        f"{verb} {len(report.removed)} bundle(s), {report.removed_bytes} bytes, created before "
        f"{report.cutoff.isoformat()} (retention {report.retention_days} days) from {report.directory}"
        + ("" if report.dry_run or not report.removed else "; recorded in the audit log")
    )


def _print_case_purge(report: CaseBundlePurgeReport) -> None:
    verb = "would purge" if report.dry_run else "purged"
    for bundle in report.purged:
        what = "bytes deleted" if bundle.bytes_deleted else "bytes kept: still attached to a newer case"
        typer.echo(
            f"{verb} {bundle.filename} on case {bundle.case_id} ({bundle.country.value}, attached "
            f"{bundle.attached_at.isoformat()}, {bundle.size_bytes} bytes, "
            f"sha256 {bundle.sha256[:12]}): {what}"
        )
    for failed in report.failed:
        typer.echo(f"kept the bundle {failed.sha256[:12]} on case {failed.case_id}: {failed.reason}")
    typer.echo(
        f"{verb} {len(report.purged)} bundle(s) attached to cases before {report.cutoff.isoformat()}, "
        f"{report.deleted_bytes} bytes deleted from storage"
        + ("" if report.dry_run or not report.purged else "; recorded in the audit log")
    )


def bundles_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")
    ] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="The bundle directory (default: SUPPORTOS_BUNDLE_DIR).")
    ] = None,
    unattributed_country: Annotated[
        str | None,
        typer.Option(help="Also remove expired bundles whose metadata names no country, auditing them here."),
    ] = None,
) -> None:
    """Remove bundles older than the retention window (SUPPORTOS_TELEMETRY_RETENTION_DAYS): the
    bundle directory's files, and the bytes of bundles attached to cases (their inspection
    record stays)."""
    settings = get_settings()
    fallback = None
    if unattributed_country is not None:
        parsed = CountryCode.parse(unattributed_country)
        if isinstance(parsed, Failure):
            raise typer.BadParameter(parsed.failure().reason, param_hint="--unattributed-country")
        fallback = parsed.unwrap()
    command = PurgeBundles(settings.telemetry_retention_days, dry_run=dry_run, unattributed_country=fallback)
    store = bundle_store(directory or settings.bundle_dir)
    ctx = RequestContext(Principal(f"cli:{getpass.getuser()}", Role.SYSTEM, frozenset()), "cli:bundles-purge")

    async def go() -> tuple[PurgeReport, CaseBundlePurgeReport]:
        container = build_container(settings)
        try:
            with scoped_to(ALL):  # the purge acts as the system, in every country
                services = container.services()
                files = await purge_expired_bundles(services, ctx, store, command)
                attached = await purge_expired_case_bundles(
                    services, ctx, container.bundles().storage, command
                )
                return files, attached
        finally:
            await dispose_engines(container)

    files, attached = asyncio.run(go())
    _print_purge(files)
    _print_case_purge(attached)
    if attached.failed:
        raise typer.Exit(1)
