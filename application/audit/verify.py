"""Use case: recompute the audit chain and report its first broken link (SPEC §9).

A hash chain cannot show entries removed from its *end* (domain/audit/chain.py). So the
verification also reports the chain's head (last sequence and its entry hash), for the
operator to keep elsewhere, and accepts such a head back as an anchor
(:class:`ChainHead`, written ``SEQ:HASH``): the chain must still hold entry ``SEQ`` with
that hash (it may have grown since), else :class:`HeadMismatch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from application.ports.audit import AuditReader
from domain.audit import BrokenAuditChain, ChainVerifier

DEFAULT_BATCH_SIZE = 1000

_HEAD: Final = re.compile(r"(?P<sequence>[1-9][0-9]*):(?P<hash>[0-9a-fA-F]{64})")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """One link of the chain: its sequence and entry hash, written ``SEQ:HASH``."""

    sequence: int
    entry_hash: str

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """``"42:<64 hex digits>"``; ``ValueError`` for anything else."""
        matched = _HEAD.fullmatch(text.strip())
        if matched is None:
            raise ValueError(f"expected SEQ:HASH (a sequence >= 1 and a 64-hex-digit hash), got {text!r}")
        return cls(int(matched["sequence"]), matched["hash"].lower())

    def __str__(self) -> str:
        return f"{self.sequence}:{self.entry_hash}"


@dataclass(frozen=True, slots=True)
class VerifiedAuditChain:
    """An intact chain: how many entries, and its head (``None`` when the log is empty)."""

    entries: int
    head: ChainHead | None


@dataclass(frozen=True, slots=True)
class HeadMismatch:
    """The chain is intact but does not hold the expected head: entry ``expected.sequence``
    is missing (``found`` is ``None``: the tail was removed) or has another hash."""

    expected: ChainHead
    found: ChainHead | None
    verified: VerifiedAuditChain

    @property
    def message(self) -> str:
        if self.found is None:
            ends = self.verified.head.sequence if self.verified.head is not None else 0
            return (
                f"no entry at sequence {self.expected.sequence} (the chain ends at {ends}):"
                " entries were removed from the tail, or this is another log"
            )
        return (
            f"entry {self.expected.sequence} has hash {self.found.entry_hash},"
            f" expected {self.expected.entry_hash}: the chain was rewritten, or this is another log"
        )


async def verify_audit_chain(
    reader: AuditReader, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Result[int, BrokenAuditChain]:
    """``Success(number of entries verified)`` or ``Failure(the first broken link)``.

    Entries are streamed in sequence order ``batch_size`` at a time; memory does not grow
    with the size of the log.
    """
    result = await verify_audit_chain_head(reader, batch_size=batch_size)
    if isinstance(result, Success):
        return Success(result.unwrap().entries)
    failure = result.failure()
    assert isinstance(failure, BrokenAuditChain)  # no expected head, so no HeadMismatch
    return Failure(failure)


async def verify_audit_chain_head(
    reader: AuditReader, *, batch_size: int = DEFAULT_BATCH_SIZE, expect: ChainHead | None = None
) -> Result[VerifiedAuditChain, BrokenAuditChain | HeadMismatch]:
    """Verify the whole chain as :func:`verify_audit_chain` does; ``Success`` carries the
    head. With ``expect``, an intact chain without that entry (or with another hash for
    it) is ``Failure(HeadMismatch)``; a broken chain is reported as broken first."""
    verifier = ChainVerifier()
    found: ChainHead | None = None
    async for entry in reader.entries(batch_size=batch_size):
        broken = verifier.feed(entry)
        if broken is not None:
            return Failure(broken)
        if expect is not None and verifier.verified == expect.sequence:
            found = ChainHead(verifier.verified, verifier.head_hash)
    head = ChainHead(verifier.verified, verifier.head_hash) if verifier.verified else None
    verified = VerifiedAuditChain(verifier.verified, head)
    if expect is not None and found != expect:
        return Failure(HeadMismatch(expect, found, verified))
    return Success(verified)
