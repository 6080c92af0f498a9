"""Evidence storage port: content-addressed blobs (SPEC §5 party submissions, §7).

A blob's key *is* the lowercase hex sha256 of its bytes, so the key proves the content:
``get`` checks it before answering, and ``put`` of the same bytes twice stores them once
and answers the same key (idempotent by construction). ``put`` still takes an idempotency
key, like every call that changes something, for the audit trail and for providers that
want one; a key reused with *different* bytes is refused (permanent error).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from returns.result import Result

from application.ports.providers import ProviderError


def content_key(content: bytes) -> str:
    """The key of ``content``: its sha256, lowercase hex."""
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str  # sha256 hex of the bytes
    size: int
    content_type: str
    created: bool  # False when the same bytes were already stored


class BlobStorage(Protocol):
    name: str

    async def put(
        self, *, idempotency_key: str, content: bytes, content_type: str
    ) -> Result[StoredBlob, ProviderError]:
        """Store ``content`` under ``content_key(content)``."""
        ...

    async def get(self, *, key: str) -> Result[bytes | None, ProviderError]:
        """The bytes stored under ``key`` (``None``: no such blob). Bytes that no longer
        hash to their key are refused (a permanent error), never returned."""
        ...

    async def delete(self, *, key: str) -> Result[bool, ProviderError]:
        """Delete the bytes stored under ``key`` (the retention purge, D57). Idempotent:
        ``True`` when they were removed, ``False`` when there was nothing to remove. A key
        that is not a sha256 is refused (a permanent error)."""
        ...


class EvidenceStorage(Protocol):
    """Where dispute evidence files live (SPEC §5 party submissions, §7 "storage (evidence
    files)"; D84): one content-addressed :class:`BlobStorage` per (country, dispute), so a
    file's key is its sha256 *within* the dispute's own space. The same bytes uploaded to
    two disputes are two blobs; finding a blob there proves it was uploaded for that
    dispute. Apart from the bundles of cases, which the retention purge deletes (D57)."""

    name: str

    def for_dispute(self, country: str, dispute_id: str) -> BlobStorage:
        """The storage of one dispute's evidence files (``country``: ISO code, ``MX``)."""
        ...
