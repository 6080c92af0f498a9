"""Dispute evidence files in storage: the allowed types, the limits, the typed refusals, and
the look-up ``submit_evidence`` makes before a file enters a pack (SPEC §5, §7; D84).

A file's content type is never the client's word: it is read from the bytes' signature
(:func:`sniff_media_type`), once when the file is uploaded and again from the stored bytes
when it is submitted. Only photos and PDFs are evidence files (``ALLOWED_MEDIA_TYPES``);
statements are text submissions of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from returns.result import Failure, Result, Success

from application.context import RequestContext, Services
from application.integrations.provider_calls import audited_call
from application.ports.providers import ProviderError
from application.ports.storage import BlobStorage, EvidenceStorage
from domain.shared import CountryCode, DomainError

DEFAULT_MAX_EVIDENCE_FILE_BYTES: Final = 10 * 1024 * 1024
"""Photos and scans, not videos: 10 MiB (``SUPPORTOS_EVIDENCE_UPLOAD_MAX_BYTES``)."""

JPEG, PNG, WEBP, HEIC, PDF = "image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"
ALLOWED_MEDIA_TYPES: Final = (JPEG, PNG, WEBP, HEIC, PDF)
_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis"})


def sniff_media_type(content: bytes) -> str | None:
    """The allowed media type the bytes' signature names (``None``: not an allowed type)."""
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return WEBP
    if content[4:8] == b"ftyp" and content[8:12] in _HEIC_BRANDS:
        return HEIC
    if content.startswith(b"%PDF-"):
        return PDF
    return None


def evidence_idempotency_key(country: CountryCode, dispute_id: str, sha256: str) -> str:
    return f"dispute-evidence:{country.value}:{dispute_id}:{sha256}"


@dataclass(frozen=True, slots=True)
class EvidenceFileTooLarge(DomainError):
    """The upload is past the evidence file limit (``SUPPORTOS_EVIDENCE_UPLOAD_MAX_BYTES``)."""

    code: ClassVar[str] = "EVIDENCE_FILE_TOO_LARGE"
    limit_bytes: int

    @property
    def message(self) -> str:
        return f"the file is larger than the evidence upload limit of {self.limit_bytes} bytes"


@dataclass(frozen=True, slots=True)
class EvidenceFileTypeNotAllowed(DomainError):
    """The bytes are not one of ``ALLOWED_MEDIA_TYPES`` (whatever the client declared)."""

    code: ClassVar[str] = "EVIDENCE_FILE_TYPE_NOT_ALLOWED"

    @property
    def message(self) -> str:
        return "evidence files must be " + ", ".join(ALLOWED_MEDIA_TYPES) + " (read from the bytes)"


@dataclass(frozen=True, slots=True)
class EvidenceFileNotUploaded(DomainError):
    """A file submission names a sha256 that was not uploaded for this dispute."""

    code: ClassVar[str] = "EVIDENCE_FILE_NOT_UPLOADED"
    content_sha256: str

    @property
    def message(self) -> str:
        return (
            f"no file with sha256 {self.content_sha256} was uploaded for this dispute: "
            "upload it with disputeEvidenceUpload first"
        )


@dataclass(frozen=True, slots=True)
class EvidenceFileServices:
    """What uploading evidence files needs besides transactions: the storage and the limit."""

    base: Services
    storage: EvidenceStorage
    max_bytes: int = DEFAULT_MAX_EVIDENCE_FILE_BYTES


@dataclass(frozen=True, slots=True)
class StoredEvidenceFile:
    """A file as stored for a dispute: what a submission records, never the client's claim."""

    sha256: str
    size_bytes: int
    media_type: str


async def uploaded_file(
    svc: Services,
    ctx: RequestContext,
    *,
    storage: EvidenceStorage | None,
    country: CountryCode,
    dispute_id: str,
    sha256: str,
) -> Result[StoredEvidenceFile, EvidenceFileNotUploaded | ProviderError]:
    """The file uploaded for this dispute under ``sha256``, read back from the dispute's
    storage (an audited ``get``: the storage checks the bytes still hash to the key).
    Without storage (an app built without it) nothing was uploaded."""
    if storage is None:
        return Failure(EvidenceFileNotUploaded(sha256))
    blobs: BlobStorage = storage.for_dispute(country.value, dispute_id)
    fetched = await audited_call(
        svc,
        ctx,
        country=country,
        provider=storage.name,
        operation="get",
        idempotency_key=None,
        target_type="dispute",
        target_id=dispute_id,
        call=lambda: blobs.get(key=sha256),
        details={"content_sha256": sha256},
    )
    if isinstance(fetched, Failure):
        return fetched
    content = fetched.unwrap()
    if content is None:
        return Failure(EvidenceFileNotUploaded(sha256))
    media_type = sniff_media_type(content)
    if media_type is None:  # only allowed types are ever stored; stored otherwise, it is not ours
        return Failure(EvidenceFileNotUploaded(sha256))
    return Success(StoredEvidenceFile(sha256, len(content), media_type))
