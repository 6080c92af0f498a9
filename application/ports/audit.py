"""Audit log ports (SPEC §9).

``AuditLog`` is what a unit of work exposes as ``uow.audit``: ``stage`` keeps an entry that
the unit of work's ``commit()`` appends in the same transaction (``append`` writes one at
once), so the entry commits or rolls back with the change it records. ``AuditReader``
streams the chain in sequence order for verification; ``AuditLog.for_targets`` reads the
entries about a few entities inside the unit of work (an order's recorded timeline).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from domain.audit import AuditDraft, AuditEntry, UnreadableAuditEntry
from domain.shared import CountryCode


class AuditReader(Protocol):
    def entries(self, *, batch_size: int = 1000) -> AsyncIterator[AuditEntry | UnreadableAuditEntry]:
        """Every entry in ascending sequence order, fetched ``batch_size`` at a time.

        A stored row that cannot be read back as an entry (tampered types) is yielded as
        an ``UnreadableAuditEntry`` so verification can report it instead of crashing.
        """
        ...


class AuditLog(AuditReader, Protocol):
    async def append(self, draft: AuditDraft) -> AuditEntry:
        """Seal ``draft`` as the next link of the chain, inside the current transaction, now.

        On PostgreSQL the chain's tail is locked from the append until the transaction
        ends; use cases ``stage`` instead (``application/audit/trail.py`` ``record``).
        """
        ...

    def stage(self, draft: AuditDraft) -> None:
        """Keep ``draft`` to be appended by the unit of work's ``commit()``, as its last
        write before the COMMIT (so the chain's lock is held only for the append and the
        commit, D50). A rollback discards it; reading ``entries`` appends it first."""
        ...

    async def for_targets(self, country: CountryCode, targets: Sequence[tuple[str, str]]) -> list[AuditEntry]:
        """The country's entries about any of ``targets`` (``(target_type, target_id)``
        pairs), in ascending sequence order, as this transaction reads them.

        Only what is already written: drafts staged in this unit of work are not appended
        for it (that would take the chain's lock early, D50). Entries that no longer read
        back (tampered types) are left out, for ``audit-verify`` to report.
        """
        ...
