"""The append-only audit log: entries, their hash chain and its verification (SPEC §9)."""

from domain.audit.chain import (
    BreakReason,
    BrokenAuditChain,
    ChainVerifier,
    UnreadableAuditEntry,
    verify_chain,
)
from domain.audit.entry import (
    GENESIS_HASH,
    AuditDraft,
    AuditEntry,
    JsonObject,
    JsonValue,
    canonical_json,
    chain_hash,
    hashed_fields,
    iso_utc,
    seal,
)

__all__ = [
    "GENESIS_HASH",
    "AuditDraft",
    "AuditEntry",
    "BreakReason",
    "BrokenAuditChain",
    "ChainVerifier",
    "JsonObject",
    "JsonValue",
    "UnreadableAuditEntry",
    "canonical_json",
    "chain_hash",
    "hashed_fields",
    "iso_utc",
    "seal",
    "verify_chain",
]
