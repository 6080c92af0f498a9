"""Case bundles port: diagnostics bundles attached to cases, with their inspection (D48).

Attachments are evidence: inserted once, never changed (the table is append-only). A
bundle is keyed on the case by its sha256, so attaching the same bytes twice finds the
first attachment. Every method takes the country and filters by it; nothing commits.
"""

from __future__ import annotations

from typing import Protocol

from domain.diagnostics.attachment import BundleAttachment
from domain.shared import CountryCode


class CaseBundleRepository(Protocol):
    async def add(self, attachment: BundleAttachment) -> bool:
        """Insert it; ``False`` (nothing written) when this bundle is already on the case."""
        ...

    async def get(self, country: CountryCode, case_id: str, sha256: str) -> BundleAttachment | None: ...

    async def for_case(self, country: CountryCode, case_id: str) -> list[BundleAttachment]:
        """Oldest first."""
        ...
