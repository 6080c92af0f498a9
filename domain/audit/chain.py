"""Verifying the audit chain: recompute every link, report the first broken one.

Entries are fed one at a time (:class:`ChainVerifier`), so a log of millions of entries
is verified while it is streamed, in sequence order, without holding it in memory.

Checks, per entry, in this order:

1. ``SEQUENCE_GAP``: the sequence is not the one expected (1, 2, 3, ...); the break is
   reported at the first missing (or repeated) sequence number.
2. ``PREVIOUS_HASH_MISMATCH``: the entry does not point at the hash of the entry before
   it (or at the genesis hash, for the first one).
3. ``HASH_MISMATCH``: the stored hash is not the hash of the entry's content.
4. ``UNREADABLE_ENTRY``: the stored row could not even be read back as an entry.

What a hash chain cannot show: entries removed from the *end* of the log. The database
refuses DELETE, TRUNCATE and (on SQLite) REPLACE; keep the reported head (``supportos
audit-verify`` prints it as ``SEQ:HASH``: the last sequence and its entry hash) somewhere
else as an anchor, and pass it back (``--expect-head SEQ:HASH``) to detect a truncated
tail as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from domain.audit.entry import GENESIS_HASH, AuditEntry
from domain.shared.errors import DomainError


class BreakReason(StrEnum):
    SEQUENCE_GAP = "sequence_gap"
    PREVIOUS_HASH_MISMATCH = "previous_hash_mismatch"
    HASH_MISMATCH = "hash_mismatch"
    UNREADABLE_ENTRY = "unreadable_entry"


@dataclass(frozen=True, slots=True)
class UnreadableAuditEntry:
    """A stored row that could not be turned into an :class:`AuditEntry` (a tampered type)."""

    sequence: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class BrokenAuditChain(DomainError):
    """The first broken link of the audit chain."""

    code: ClassVar[str] = "AUDIT_CHAIN_BROKEN"
    sequence: int
    reason: BreakReason
    detail: str

    @property
    def message(self) -> str:
        return f"audit chain broken at sequence {self.sequence}: {self.reason.value} ({self.detail})"


class ChainVerifier:
    """Feed entries in sequence order; the first broken link is returned (and kept)."""

    __slots__ = ("_broken", "_count", "_expected_sequence", "_head_hash")

    def __init__(self) -> None:
        self._expected_sequence = 1
        self._head_hash = GENESIS_HASH
        self._count = 0
        self._broken: BrokenAuditChain | None = None

    @property
    def verified(self) -> int:
        """How many entries have been verified intact so far."""
        return self._count

    @property
    def head_hash(self) -> str:
        """The hash of the last intact entry (the genesis hash before any)."""
        return self._head_hash

    @property
    def broken(self) -> BrokenAuditChain | None:
        return self._broken

    def feed(self, entry: AuditEntry | UnreadableAuditEntry) -> BrokenAuditChain | None:
        if self._broken is None:
            self._broken = self._check(entry)
            if self._broken is None:
                assert isinstance(entry, AuditEntry)
                self._expected_sequence += 1
                self._head_hash = entry.entry_hash
                self._count += 1
        return self._broken

    def _check(self, entry: AuditEntry | UnreadableAuditEntry) -> BrokenAuditChain | None:
        expected = self._expected_sequence
        if isinstance(entry, UnreadableAuditEntry):
            at = entry.sequence if entry.sequence is not None else expected
            return BrokenAuditChain(at, BreakReason.UNREADABLE_ENTRY, entry.reason)
        if entry.sequence != expected:
            return BrokenAuditChain(
                expected, BreakReason.SEQUENCE_GAP, f"expected sequence {expected}, found {entry.sequence}"
            )
        if entry.previous_hash != self._head_hash:
            return BrokenAuditChain(
                entry.sequence,
                BreakReason.PREVIOUS_HASH_MISMATCH,
                f"previous hash {entry.previous_hash!r} should be {self._head_hash!r}",
            )
        try:
            recomputed = entry.recomputed_hash()
        except (ValueError, TypeError) as error:  # content that is not canonical JSON at all
            return BrokenAuditChain(
                entry.sequence, BreakReason.HASH_MISMATCH, f"content not hashable: {error}"
            )
        if recomputed != entry.entry_hash:
            return BrokenAuditChain(
                entry.sequence,
                BreakReason.HASH_MISMATCH,
                f"stored hash {entry.entry_hash!r}, content hashes to {recomputed!r}",
            )
        return None


def verify_chain(entries: Iterable[AuditEntry | UnreadableAuditEntry]) -> BrokenAuditChain | None:
    """The first broken link of ``entries`` (in sequence order), or ``None`` if intact."""
    verifier = ChainVerifier()
    for entry in entries:
        broken = verifier.feed(entry)
        if broken is not None:
            return broken
    return None
