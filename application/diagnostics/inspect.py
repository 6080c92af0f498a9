"""Use case: inspect a diagnostics bundle (SPEC §10, runbook "Analysis Steps").

Order of work, each step stopping at the first refusal:

1. open the archive (the reader checks the directory: names, types, counts, sizes);
2. read ``metadata.json`` and check telemetry consent **before anything else is read**:
   support reviews a bundle only with the customer's consent;
3. validate ``metadata.json``, ``snapshot.json`` and ``trace.json`` against their JSON
   Schemas, parse them, summarise the snapshot and list the failed spans with their
   catalogue entries;
4. scan everything for personal data: the three JSON documents by JSON path, every other
   entry as streamed text. Every entry is read to its end, so a hostile entry anywhere
   refuses the whole bundle.

Reading files is blocking I/O with no database: this use case is synchronous.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from returns.result import Failure, Result, Success

from application.ports.diagnostics import (
    BundleReader,
    ErrorCatalogue,
    OpenedBundle,
    PhoneNumberFinder,
    SchemaValidator,
)
from domain.diagnostics import (
    METADATA,
    SNAPSHOT,
    TRACE,
    FindingCollector,
    InspectionRefusal,
    InspectionReport,
    PiiDetector,
    StreamingTextScanner,
    check_consent,
    failed_spans,
    parse_metadata,
    parse_snapshot,
    parse_spans,
    scan_document,
    summarise_snapshot,
)
from domain.diagnostics.errors import BundleMissingFile, BundleRefusal
from domain.shared import CountryCode

MAX_REPORTED_FINDINGS: Final = 1000


@dataclass(frozen=True, slots=True)
class BundleInspector:
    reader: BundleReader
    schemas: SchemaValidator
    catalogue: ErrorCatalogue
    phones: PhoneNumberFinder
    max_findings: int = MAX_REPORTED_FINDINGS

    def inspect(self, path: Path) -> Result[InspectionReport, InspectionRefusal]:
        opened = self.reader.open(path)
        if isinstance(opened, Failure):
            return opened
        bundle = opened.unwrap()
        try:
            return self._inspect(path.name, bundle)
        finally:
            bundle.close()

    def named_country(self, path: Path) -> CountryCode | None:
        """The country ``metadata.json`` names, when it can be read whatever else is wrong
        with the bundle (``None``: no readable metadata, or no valid country in it): a bundle
        refused by the inspection is still refused for a case of another country."""
        opened = self.reader.open(path)
        if isinstance(opened, Failure):
            return None
        bundle = opened.unwrap()
        try:
            if METADATA not in bundle.file_names:
                return None
            document = bundle.read_json(METADATA)
            if isinstance(document, Failure):
                return None
            root = document.unwrap()
            named = root.get("country") if isinstance(root, dict) else None
            if not isinstance(named, str):
                return None
            country = CountryCode.parse(named).value_or(None)
            return country if country is not None and country.value == named else None
        finally:
            bundle.close()

    def _inspect(self, name: str, bundle: OpenedBundle) -> Result[InspectionReport, InspectionRefusal]:
        files = tuple(bundle.file_names)
        if METADATA not in files:
            return Failure(BundleMissingFile(METADATA))
        raw_metadata = bundle.read_json(METADATA)
        if isinstance(raw_metadata, Failure):
            return raw_metadata
        metadata_document = raw_metadata.unwrap()
        consent = check_consent(metadata_document)
        if isinstance(consent, Failure):
            return consent
        for required in (SNAPSHOT, TRACE):
            if required not in files:
                return Failure(BundleMissingFile(required))

        valid = self.schemas.validate(METADATA, metadata_document)
        if isinstance(valid, Failure):
            return valid
        parsed_metadata = parse_metadata(metadata_document)
        if isinstance(parsed_metadata, Failure):
            return parsed_metadata
        metadata = parsed_metadata.unwrap()
        detector = PiiDetector(self.phones, region=metadata.country.value)
        findings = FindingCollector(self.max_findings)
        findings.extend(scan_document(metadata_document, METADATA, detector))
        del metadata_document

        snapshot = self._document(bundle, SNAPSHOT, detector, findings).bind(parse_snapshot)
        if isinstance(snapshot, Failure):
            return snapshot
        spans = self._document(bundle, TRACE, detector, findings).bind(parse_spans)
        if isinstance(spans, Failure):
            return spans

        for other in files:
            if other in {METADATA, SNAPSHOT, TRACE}:
                continue
            scanner = StreamingTextScanner(detector, other, findings.add)
            streamed = bundle.stream_text(other, scanner.feed)
            if isinstance(streamed, Failure):
                return streamed
            scanner.finish()

        span_values = spans.unwrap()
        return Success(
            InspectionReport(
                bundle=name,
                metadata=metadata,
                snapshot=summarise_snapshot(snapshot.unwrap()),
                span_count=len(span_values),
                failed_spans=failed_spans(span_values, self.catalogue.entries()),
                pii=findings.summary(),
                files=files,
            )
        )

    def _document(
        self, bundle: OpenedBundle, name: str, detector: PiiDetector, findings: FindingCollector
    ) -> Result[object, BundleRefusal]:
        """``name`` read, validated against its schema and scanned for personal data."""
        document = bundle.read_json(name)
        if isinstance(document, Failure):
            return document
        valid = self.schemas.validate(name, document.unwrap())
        if isinstance(valid, Failure):
            return valid
        findings.extend(scan_document(document.unwrap(), name, detector))
        return document
