"""Dispute evidence files on the sandbox storage (SPEC §7 "storage (evidence files)"; D84).

One :class:`SandboxStorage` per (country, dispute) under ``<root>/<country>/<dispute>/``:
keys stay content hashes (the port's contract), scoped to the dispute by the directory -
as a real object store would scope them by a key prefix. The composition root puts the
root under ``SUPPORTOS_BLOB_DIR/evidence``, apart from the bundles of cases (whose blobs
the retention purge deletes, D57): a purge never reaches an evidence file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from adapters.providers.sandbox import SandboxStorage

_PLAIN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _directory(name: str) -> str:
    """``name`` itself when it is a plain name; otherwise a hash of it (never a path)."""
    if _PLAIN.fullmatch(name):
        return name
    return "h-" + hashlib.sha256(name.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class SandboxEvidenceStorage:
    root: Path = field(default_factory=lambda: Path("var") / "blobs" / "evidence")
    name: str = "sandbox-storage"

    def for_dispute(self, country: str, dispute_id: str) -> SandboxStorage:
        return SandboxStorage(root=self.root / _directory(country) / _directory(dispute_id), name=self.name)
