"""Diagnostics ports (SPEC §10): reading hostile bundles, their schemas, the error
catalogue, phone numbers, and the directory bundles are kept in.

A bundle is untrusted input: every method that reads it answers a typed refusal
(``domain.diagnostics.errors.BundleRefusal``) instead of raising, whatever the archive holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from returns.result import Result

from domain.diagnostics.bundle import BundleName
from domain.diagnostics.errors import BundleRefusal, BundleSchemaInvalid
from domain.diagnostics.pii import PhoneNumberFinder
from domain.diagnostics.spans import CatalogueEntry
from domain.shared import CountryCode

__all__ = [
    "BundleReader",
    "BundleStore",
    "ErrorCatalogue",
    "OpenedBundle",
    "PhoneNumberFinder",
    "SchemaValidator",
    "StoredBundle",
]


class OpenedBundle(Protocol):
    """An archive whose directory has been checked (names, types, counts, sizes claimed)."""

    @property
    def file_names(self) -> Sequence[str]:
        """The regular files, by their normalised names, in archive order."""
        ...

    def read_json(self, name: str) -> Result[object, BundleRefusal]:
        """The entry parsed as strict JSON (UTF-8, no duplicate keys, no NaN), within a size cap."""
        ...

    def stream_text(self, name: str, sink: Callable[[str], None]) -> Result[None, BundleRefusal]:
        """Decompress the entry in chunks and hand its UTF-8 text to ``sink`` piece by piece."""
        ...

    def close(self) -> None: ...


class BundleReader(Protocol):
    def open(self, path: Path) -> Result[OpenedBundle, BundleRefusal]: ...


class SchemaValidator(Protocol):
    def validate(self, file: str, document: object) -> Result[None, BundleSchemaInvalid]:
        """Check ``document`` against the JSON Schema of ``file`` (``metadata.json``...)."""
        ...


class ErrorCatalogue(Protocol):
    def entries(self) -> Mapping[str, CatalogueEntry]:
        """Every documented code: product (DomainError) codes and gateway/client codes."""
        ...


@dataclass(frozen=True, slots=True)
class StoredBundle:
    name: BundleName
    size_bytes: int


class BundleStore(Protocol):
    """The directory uploaded bundles are kept in (``SUPPORTOS_BUNDLE_DIR``)."""

    @property
    def location(self) -> str: ...

    def bundles(self) -> list[StoredBundle]:
        """Every regular file named ``trace-<timestamp>-<channel>.zip`` (others are never touched)."""
        ...

    def country_of(self, file_name: str) -> CountryCode | None:
        """The country ``metadata.json`` names, read safely; ``None`` when it cannot be read."""
        ...

    def remove(self, file_name: str) -> bool:
        """Delete the bundle; ``False`` when it was already gone."""
        ...
