"""The audit hash chain, with no I/O: determinism, tamper evidence, gap detection."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.audit import (
    GENESIS_HASH,
    AuditDraft,
    AuditEntry,
    BreakReason,
    ChainVerifier,
    UnreadableAuditEntry,
    canonical_json,
    chain_hash,
    seal,
    verify_chain,
)
from domain.shared import CountryCode, InvariantViolation
from domain.shared.ids import ActorId

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def draft(n: int = 0, **overrides: Any) -> AuditDraft:
    fields: dict[str, Any] = {
        "actor_id": ActorId(f"agent-{n}"),
        "actor_role": "L2",
        "country": CountryCode("MX"),
        "action": "dispute.decide",
        "target_type": "dispute",
        "target_id": f"dsp_{n}",
        "request_id": f"req-{n}",
        "occurred_at": T0 + timedelta(seconds=n),
        "before": {"status": "IN_REVIEW"},
        "after": {"status": "DECIDED", "outcome": "FULL_REFUND", "amount_minor": 12_345},
    }
    fields.update(overrides)
    return AuditDraft(**fields)


def chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    previous = GENESIS_HASH
    for sequence in range(1, length + 1):
        entry = seal(draft(sequence), sequence=sequence, previous_hash=previous)
        entries.append(entry)
        previous = entry.entry_hash
    return entries


def test_genesis_is_64_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


def test_canonical_json_sorts_keys_and_is_compact() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"\\u00e9"],"b":1}'


def test_hash_is_deterministic_and_independent_of_key_order() -> None:
    fields = {"a": 1, "b": {"y": 2, "x": 3}}
    reordered = {"b": {"x": 3, "y": 2}, "a": 1}
    assert chain_hash(GENESIS_HASH, fields) == chain_hash(GENESIS_HASH, reordered)
    assert len(chain_hash(GENESIS_HASH, fields)) == 64
    assert chain_hash(GENESIS_HASH, fields) != chain_hash("1" * 64, fields)


def test_sealing_the_same_draft_twice_gives_the_same_hash() -> None:
    first = seal(draft(1), sequence=1, previous_hash=GENESIS_HASH)
    again = seal(draft(1), sequence=1, previous_hash=GENESIS_HASH)
    assert first.entry_hash == again.entry_hash
    assert first.recomputed_hash() == first.entry_hash


def test_occurred_at_is_hashed_in_utc_whatever_the_offset() -> None:
    in_mexico = T0.astimezone(timezone(timedelta(hours=-6)))
    a = seal(draft(1, occurred_at=T0), sequence=1, previous_hash=GENESIS_HASH)
    b = seal(draft(1, occurred_at=in_mexico), sequence=1, previous_hash=GENESIS_HASH)
    assert a.entry_hash == b.entry_hash
    assert b.occurred_at.tzinfo == UTC


def test_an_intact_chain_verifies() -> None:
    entries = chain(5)
    assert verify_chain(entries) is None
    verifier = ChainVerifier()
    for entry in entries:
        assert verifier.feed(entry) is None
    assert verifier.verified == 5
    assert verifier.head_hash == entries[-1].entry_hash


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([]) is None


TAMPERED_VALUES: dict[str, Any] = {
    "actor_id": ActorId("someone-else"),
    "actor_role": "L3",
    "country": CountryCode("AR"),
    "action": "dispute.withdraw",
    "target_type": "order",
    "target_id": "dsp_other",
    "before": None,
    "after": {"status": "DECIDED", "outcome": "FULL_REFUND", "amount_minor": 99_999},
    "request_id": "req-forged",
    "occurred_at": T0 - timedelta(days=1),
}


@pytest.mark.parametrize("field", sorted(TAMPERED_VALUES))
def test_changing_any_field_breaks_the_chain_at_that_entry(field: str) -> None:
    entries = chain(5)
    entries[2] = dataclasses.replace(entries[2], **{field: TAMPERED_VALUES[field]})
    broken = verify_chain(entries)
    assert broken is not None
    assert broken.sequence == 3
    assert broken.reason is BreakReason.HASH_MISMATCH


def test_rehashing_a_tampered_entry_breaks_the_link_to_the_next() -> None:
    entries = chain(5)
    forged = dataclasses.replace(entries[2], after={"status": "FORGED"})
    entries[2] = dataclasses.replace(forged, entry_hash=forged.recomputed_hash())
    broken = verify_chain(entries)
    assert broken is not None
    assert (broken.sequence, broken.reason) == (4, BreakReason.PREVIOUS_HASH_MISMATCH)


def test_a_changed_previous_hash_is_reported() -> None:
    entries = chain(3)
    entries[1] = dataclasses.replace(entries[1], previous_hash="f" * 64)
    broken = verify_chain(entries)
    assert broken is not None
    assert (broken.sequence, broken.reason) == (2, BreakReason.PREVIOUS_HASH_MISMATCH)


def test_a_changed_sequence_number_breaks_the_chain() -> None:
    entries = chain(3)
    entries[2] = dataclasses.replace(entries[2], sequence=4)
    broken = verify_chain(entries)
    assert broken is not None
    assert (broken.sequence, broken.reason) == (3, BreakReason.SEQUENCE_GAP)


def test_a_missing_entry_is_a_gap_at_the_missing_sequence() -> None:
    entries = chain(6)
    del entries[3]
    broken = verify_chain(entries)
    assert broken is not None
    assert broken.sequence == 4
    assert broken.reason is BreakReason.SEQUENCE_GAP
    assert "expected sequence 4, found 5" in broken.message


def test_a_chain_that_does_not_start_at_one_is_a_gap() -> None:
    broken = verify_chain(chain(3)[1:])
    assert broken is not None
    assert (broken.sequence, broken.reason) == (1, BreakReason.SEQUENCE_GAP)


def test_a_repeated_entry_is_reported() -> None:
    entries = chain(3)
    broken = verify_chain([entries[0], entries[1], entries[1], entries[2]])
    assert broken is not None
    assert (broken.sequence, broken.reason) == (3, BreakReason.SEQUENCE_GAP)


def test_an_unreadable_row_is_reported_at_its_sequence() -> None:
    entries = chain(2)
    broken = verify_chain([entries[0], UnreadableAuditEntry(2, "after is not JSON")])
    assert broken is not None
    assert (broken.sequence, broken.reason) == (2, BreakReason.UNREADABLE_ENTRY)


def test_content_that_is_not_json_is_a_hash_mismatch_not_a_crash() -> None:
    entries = chain(2)
    not_json: Any = {"amount": float("nan")}  # as a tampered row could read back
    entries[1] = dataclasses.replace(entries[1], after=not_json)
    broken = verify_chain(entries)
    assert broken is not None
    assert (broken.sequence, broken.reason) == (2, BreakReason.HASH_MISMATCH)


def test_the_verifier_keeps_the_first_break() -> None:
    entries = chain(4)
    entries[1] = dataclasses.replace(entries[1], actor_role="L3")
    verifier = ChainVerifier()
    results = [verifier.feed(entry) for entry in entries]
    assert results[0] is None
    assert results[1] is not None and results[1].sequence == 2
    assert results[3] == results[1]
    assert verifier.verified == 1


def test_broken_chain_is_a_typed_error_value() -> None:
    broken = verify_chain(chain(2)[1:])
    assert broken is not None
    assert broken.code == "AUDIT_CHAIN_BROKEN"
    assert "sequence 1" in broken.message


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"occurred_at": datetime(2024, 5, 1, 12, 0)}, "naive"),
        ({"after": {"amount": 1.5}}, "floats"),
        ({"after": {1: "x"}}, "keys"),
        ({"before": {"when": T0}}, "not JSON"),
        ({"action": "  "}, "action"),
    ],
)
def test_drafts_refuse_what_cannot_be_hashed_stably(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvariantViolation, match=complaint):
        draft(1, **overrides)


def test_drafts_copy_json_into_plain_dicts_and_lists() -> None:
    before = {"items": ("a", "b"), "nested": {"ok": True}}
    sealed = seal(draft(1, before=before), sequence=1, previous_hash=GENESIS_HASH)
    assert sealed.before == {"items": ["a", "b"], "nested": {"ok": True}}


def test_only_the_first_entry_follows_genesis() -> None:
    with pytest.raises(InvariantViolation):
        seal(draft(2), sequence=2, previous_hash=GENESIS_HASH)
    with pytest.raises(InvariantViolation):
        seal(draft(1), sequence=1, previous_hash="a" * 64)
    with pytest.raises(InvariantViolation):
        seal(draft(1), sequence=0, previous_hash=GENESIS_HASH)
