"""Why a diagnostics bundle is refused: a closed set of typed values (SPEC §10).

A bundle comes from outside (a customer's device, a field tool) and is never trusted.
Every way it can be refused is one of these values, each with its own stable ``code``
(catalogued in ``docs/errors.md``). The inspector maps all of them onto exit code 1,
except :class:`TelemetryConsentMissing` (exit code 3): support reviews a bundle only when
its ``metadata.json`` records the customer's telemetry consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from domain.shared.errors import DomainError


@dataclass(frozen=True, slots=True)
class BundleNotAZip(DomainError):
    """Not a readable zip archive (no end-of-central-directory record, corrupt headers...)."""

    code: ClassVar[str] = "BUNDLE_NOT_A_ZIP"
    detail: str

    @property
    def message(self) -> str:
        return f"not a readable zip archive: {self.detail}"


@dataclass(frozen=True, slots=True)
class BundleTooLarge(DomainError):
    """The archive, an entry or the whole bundle is past a size limit (measured, not declared)."""

    code: ClassVar[str] = "BUNDLE_TOO_LARGE"
    what: str
    limit_bytes: int

    @property
    def message(self) -> str:
        return f"{self.what} is larger than the limit of {self.limit_bytes} bytes"


@dataclass(frozen=True, slots=True)
class BundleCompressionRatio(DomainError):
    """An entry expands more than the allowed ratio: the shape of a zip bomb."""

    code: ClassVar[str] = "BUNDLE_COMPRESSION_RATIO"
    entry: str
    limit: int

    @property
    def message(self) -> str:
        return f"{self.entry} expands more than {self.limit}:1 (a zip bomb?)"


@dataclass(frozen=True, slots=True)
class BundleTooManyEntries(DomainError):
    code: ClassVar[str] = "BUNDLE_TOO_MANY_ENTRIES"
    limit: int

    @property
    def message(self) -> str:
        return f"the bundle has more than {self.limit} entries"


@dataclass(frozen=True, slots=True)
class BundleUnsafePath(DomainError):
    """An entry name that escapes the bundle (``..``, absolute, drive letter, NUL...)."""

    code: ClassVar[str] = "BUNDLE_UNSAFE_PATH"
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"unsafe entry name {self.entry!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class BundleSymlink(DomainError):
    """An entry that is a symbolic link (or another special file): never followed."""

    code: ClassVar[str] = "BUNDLE_SYMLINK"
    entry: str

    @property
    def message(self) -> str:
        return f"{self.entry!r} is a symbolic link or special file"


@dataclass(frozen=True, slots=True)
class BundleDuplicateEntry(DomainError):
    """Two entries with one name: which one a tool reads would be up to the tool."""

    code: ClassVar[str] = "BUNDLE_DUPLICATE_ENTRY"
    entry: str

    @property
    def message(self) -> str:
        return f"{self.entry!r} appears more than once"


@dataclass(frozen=True, slots=True)
class BundleUnsupportedEntry(DomainError):
    """Encrypted entries, compression methods other than stored/deflate, lying headers."""

    code: ClassVar[str] = "BUNDLE_UNSUPPORTED_ENTRY"
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.entry!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class BundleCorruptEntry(DomainError):
    """The entry's data does not decompress, ends early, or fails its CRC-32."""

    code: ClassVar[str] = "BUNDLE_CORRUPT_ENTRY"
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.entry!r} is corrupt: {self.reason}"


@dataclass(frozen=True, slots=True)
class BundleMissingFile(DomainError):
    code: ClassVar[str] = "BUNDLE_MISSING_FILE"
    entry: str

    @property
    def message(self) -> str:
        return f"the bundle has no {self.entry}"


@dataclass(frozen=True, slots=True)
class BundleNotUtf8(DomainError):
    code: ClassVar[str] = "BUNDLE_NOT_UTF8"
    entry: str
    byte_offset: int

    @property
    def message(self) -> str:
        return f"{self.entry} is not UTF-8 text (first bad byte at offset {self.byte_offset})"


@dataclass(frozen=True, slots=True)
class BundleMalformedJson(DomainError):
    code: ClassVar[str] = "BUNDLE_MALFORMED_JSON"
    entry: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.entry} is not valid JSON: {self.reason}"


@dataclass(frozen=True, slots=True)
class BundleSchemaInvalid(DomainError):
    """Valid JSON that breaks the file's JSON Schema (``docs/diagnostics/``) or its rules."""

    code: ClassVar[str] = "BUNDLE_SCHEMA_INVALID"
    entry: str
    json_path: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.entry} at {self.json_path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TelemetryConsentMissing(DomainError):
    """``metadata.json`` does not record the customer's telemetry consent."""

    code: ClassVar[str] = "TELEMETRY_CONSENT_MISSING"
    reason: str

    @property
    def message(self) -> str:
        return (
            f"telemetry consent is not recorded in metadata.json ({self.reason}): "
            "support reviews a bundle only with the customer's consent"
        )


BundleRefusal: TypeAlias = (
    BundleNotAZip
    | BundleTooLarge
    | BundleCompressionRatio
    | BundleTooManyEntries
    | BundleUnsafePath
    | BundleSymlink
    | BundleDuplicateEntry
    | BundleUnsupportedEntry
    | BundleCorruptEntry
    | BundleMissingFile
    | BundleNotUtf8
    | BundleMalformedJson
    | BundleSchemaInvalid
)
"""A bundle that is hostile or malformed (exit code 1)."""

InspectionRefusal: TypeAlias = BundleRefusal | TelemetryConsentMissing
"""Every reason the inspector stops before reporting."""
