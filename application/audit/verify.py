"""Use case: recompute the audit chain and report its first broken link (SPEC §9)."""

from __future__ import annotations

from returns.result import Failure, Result, Success

from application.ports.audit import AuditReader
from domain.audit import BrokenAuditChain, ChainVerifier

DEFAULT_BATCH_SIZE = 1000


async def verify_audit_chain(
    reader: AuditReader, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Result[int, BrokenAuditChain]:
    """``Success(number of entries verified)`` or ``Failure(the first broken link)``.

    Entries are streamed in sequence order ``batch_size`` at a time; memory does not grow
    with the size of the log.
    """
    verifier = ChainVerifier()
    async for entry in reader.entries(batch_size=batch_size):
        broken = verifier.feed(entry)
        if broken is not None:
            return Failure(broken)
    return Success(verifier.verified)
