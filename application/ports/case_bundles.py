"""Case bundles port: diagnostics bundles attached to cases, with their inspection (D48).

Attachments are evidence: inserted once, never changed (the table is append-only). A
bundle is keyed on the case by its sha256, so attaching the same bytes twice finds the
first attachment. Every method takes the country and filters by it - except the
retention purge's two reads (:meth:`expired_stored`, :meth:`live_blob_keys`), which run
in the system's scope over every country, like the SLA scheduler's due clocks. Nothing
commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from domain.diagnostics.attachment import BundleAttachment, BundlePurge
from domain.shared import CountryCode


class CaseBundleRepository(Protocol):
    async def add(self, attachment: BundleAttachment) -> bool:
        """Insert it; ``False`` (nothing written) when this bundle is already on the case."""
        ...

    async def get(self, country: CountryCode, case_id: str, sha256: str) -> BundleAttachment | None: ...

    async def for_case(self, country: CountryCode, case_id: str) -> list[BundleAttachment]:
        """Oldest first."""
        ...

    async def for_cases(
        self, country: CountryCode, case_ids: Collection[str]
    ) -> dict[str, list[BundleAttachment]]:
        """The bundles of several cases in one query (the GraphQL ``Case.bundles`` loader),
        oldest first per case; a case without bundles is absent."""
        ...

    async def expired_stored(self, cutoff: datetime) -> list[BundleAttachment]:
        """Every country: attachments whose bytes are still kept (a blob key, no purge)
        attached before ``cutoff``, oldest first."""
        ...

    async def live_blob_keys(self, blob_keys: Collection[str], cutoff: datetime) -> set[str]:
        """Every country: which of ``blob_keys`` a stored attachment made at or after
        ``cutoff`` still holds (content-addressed bytes shared with a newer case stay)."""
        ...

    async def add_purge(self, purge: BundlePurge) -> bool:
        """Record the end of an attachment's retention; ``False`` if already recorded."""
        ...
