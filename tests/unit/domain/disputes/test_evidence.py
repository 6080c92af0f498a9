"""The evidence pack: validation of each prong and a deterministic content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure

from domain.disputes import (
    ActorRef,
    ConversationTranscript,
    DeliveryProof,
    EvidenceKind,
    EvidencePack,
    EvidenceSubmission,
    GpsPoint,
    PlatformFacts,
    TimelineEntry,
)
from domain.disputes.evidence import MAX_FILE_BYTES, MAX_STATEMENT_CHARS, utc_iso
from domain.shared import InvalidInput, InvariantViolation
from domain.shared.ids import ActorId, EvidenceId
from tests.unit.domain.disputes.builders import (
    BUYER,
    DELIVERED_AT,
    LATER,
    OPENED_AT,
    facts,
    file,
    sha,
    statement,
    transcript,
)


def pack() -> EvidencePack:
    return EvidencePack(
        platform_facts=facts(),
        transcript=transcript(3),
        submissions=(
            statement("ev-1"),
            file("ev-2"),
            statement("ev-3", actor=BUYER, role="BUYER", text="no"),
        ),
    )


# --------------------------------------------------------------------------- canonical form


def test_empty_pack_canonical_json_is_pinned() -> None:
    expected = (
        '{"format":"supportos.evidence-pack/v1","platform_facts":null,"submissions":[],"transcript":null}'
    )
    assert EvidencePack.empty().canonical_json() == expected
    assert EvidencePack.empty().content_hash() == hashlib.sha256(expected.encode()).hexdigest()


def test_canonical_json_is_compact_sorted_and_ascii() -> None:
    text = pack().with_submission(statement("ev-9", text="Llegó roto, qué pena")).canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert text.isascii()


def test_content_hash_is_sha256_of_canonical_json() -> None:
    p = pack()
    assert p.content_hash() == hashlib.sha256(p.canonical_json().encode()).hexdigest()
    assert len(p.content_hash()) == 64


def test_the_hash_is_kept_per_pack_and_a_changed_pack_computes_its_own() -> None:
    """content_hash is memoised on the (immutable) pack; a pack made from it by a change
    does not inherit the memo, and the memo is not part of equality."""
    p = pack()
    first = p.content_hash()
    assert p.content_hash() == first == hashlib.sha256(p.canonical_json().encode()).hexdigest()
    changed = p.with_transcript(transcript(1))
    assert changed.content_hash() == hashlib.sha256(changed.canonical_json().encode()).hexdigest()
    assert changed.content_hash() != first
    assert p == pack() and pack() == p  # one hashed, one not: still equal


def test_same_contents_same_hash() -> None:
    assert pack().content_hash() == pack().content_hash()
    assert pack() == pack()


def test_datetimes_are_written_in_utc_whatever_the_zone() -> None:
    mexico = timezone(timedelta(hours=-6))
    local = DELIVERED_AT.astimezone(mexico)
    assert utc_iso(local) == "2026-03-01T12:00:00.000000+00:00"
    in_utc = PlatformFacts(timeline=(TimelineEntry(DELIVERED_AT, "DELIVERED"),))
    in_mexico = PlatformFacts(timeline=(TimelineEntry(local, "DELIVERED"),))
    assert (
        EvidencePack(platform_facts=in_utc).content_hash()
        == EvidencePack(platform_facts=in_mexico).content_hash()
    )


def test_submissions_are_ordered_by_time_then_id() -> None:
    late = statement("ev-a", at=LATER + timedelta(minutes=1), text="later")
    early_b = statement("ev-b", at=LATER, text="b")
    early_a = statement("ev-c", at=LATER, text="c", actor=BUYER)
    ordered = EvidencePack(submissions=(late, early_a, early_b)).submissions
    assert [s.evidence_id for s in ordered] == ["ev-b", "ev-c", "ev-a"]


@given(st.permutations(range(4)), st.permutations(range(3)), st.permutations(range(2)))
def test_insertion_order_does_not_matter_where_order_is_not_meaningful(
    submission_order: list[int], timeline_order: list[int], photo_order: list[int]
) -> None:
    submissions = (
        statement("ev-1"),
        file("ev-2"),
        statement("ev-3", actor=BUYER, role="BUYER", text="no"),
        file("ev-4", at=LATER + timedelta(seconds=5), content="other"),
    )
    timeline = (
        TimelineEntry(DELIVERED_AT, "DELIVERED"),
        TimelineEntry(DELIVERED_AT, "PHOTO_TAKEN", "front door"),
        TimelineEntry(DELIVERED_AT - timedelta(hours=1), "IN_TRANSIT"),
    )
    gps = (
        GpsPoint(DELIVERED_AT, 1, 2),
        GpsPoint(DELIVERED_AT - timedelta(minutes=1), 3, 4),
    )
    photos = (sha("a"), sha("b"))

    def build(s_order: list[int], t_order: list[int], p_order: list[int]) -> EvidencePack:
        built = EvidencePack(
            platform_facts=PlatformFacts(
                timeline=tuple(timeline[i] for i in t_order),
                delivery_proof=DeliveryProof(
                    delivered_at=DELIVERED_AT,
                    gps_points=tuple(gps[i] for i in p_order),
                    photo_sha256=tuple(photos[i] for i in p_order),
                ),
            ),
            transcript=transcript(),
        )
        for i in s_order:
            built = built.with_submission(submissions[i])
        return built

    reference = build([0, 1, 2, 3], [0, 1, 2], [0, 1])
    shuffled = build(submission_order, timeline_order, photo_order)
    assert shuffled.content_hash() == reference.content_hash()
    assert shuffled.canonical_json() == reference.canonical_json()


def test_transcript_order_is_content() -> None:
    entries = transcript(3).entries
    forward = EvidencePack(transcript=ConversationTranscript("conv-1", entries))
    backward = EvidencePack(transcript=ConversationTranscript("conv-1", tuple(reversed(entries))))
    assert forward.content_hash() != backward.content_hash()


def _timeline(p: EvidencePack, change: Callable[[TimelineEntry], TimelineEntry]) -> EvidencePack:
    assert p.platform_facts is not None
    first, *rest = p.platform_facts.timeline
    return p.with_platform_facts(replace(p.platform_facts, timeline=(change(first), *rest)))


def _proof(p: EvidencePack, **changes: object) -> EvidencePack:
    assert p.platform_facts is not None and p.platform_facts.delivery_proof is not None
    proof = replace(p.platform_facts.delivery_proof, **changes)  # type: ignore[arg-type]
    return p.with_platform_facts(replace(p.platform_facts, delivery_proof=proof))


def _gps(p: EvidencePack, **changes: object) -> EvidencePack:
    assert p.platform_facts is not None and p.platform_facts.delivery_proof is not None
    first, *rest = p.platform_facts.delivery_proof.gps_points
    return _proof(p, gps_points=(replace(first, **changes), *rest))  # type: ignore[arg-type]


def _message(p: EvidencePack, **changes: object) -> EvidencePack:
    assert p.transcript is not None
    first, *rest = p.transcript.entries
    moved = replace(first, **changes)  # type: ignore[arg-type]
    return p.with_transcript(replace(p.transcript, entries=(moved, *rest)))


def _submission(p: EvidencePack, target_id: str, **changes: object) -> EvidencePack:
    others = tuple(s for s in p.submissions if s.evidence_id != target_id)
    target = p.submission(target_id)
    assert target is not None
    return replace(p, submissions=(*others, replace(target, **changes)))  # type: ignore[arg-type]


def _restate(p: EvidencePack, text: str) -> EvidencePack:
    return _submission(p, "ev-1", statement=text, content_sha256=sha(text))


MUTATIONS: dict[str, Callable[[EvidencePack], EvidencePack]] = {
    "timeline.at": lambda p: _timeline(p, lambda e: replace(e, at=e.at + timedelta(microseconds=1))),
    "timeline.kind": lambda p: _timeline(p, lambda e: replace(e, kind="REFUNDED")),
    "timeline.detail": lambda p: _timeline(p, lambda e: replace(e, detail=e.detail + ".")),
    "timeline.extra": lambda p: p.with_platform_facts(
        PlatformFacts(
            timeline=(*facts().timeline, TimelineEntry(DELIVERED_AT, "NOTE")),
            delivery_proof=facts().delivery_proof,
        )
    ),
    "delivery.delivered_at": lambda p: _proof(p, delivered_at=DELIVERED_AT + timedelta(seconds=1)),
    "delivery.none": lambda p: _proof(p, delivered_at=None),
    "delivery.photo": lambda p: _proof(p, photo_sha256=(sha("another photo"),)),
    "delivery.no_photo": lambda p: _proof(p, photo_sha256=()),
    "gps.at": lambda p: _gps(p, at=DELIVERED_AT - timedelta(minutes=9)),
    "gps.lat": lambda p: _gps(p, lat_microdeg=19_432_609),
    "gps.lon": lambda p: _gps(p, lon_microdeg=-99_133_208),
    "facts.no_proof": lambda p: p.with_platform_facts(replace(facts(), delivery_proof=None)),
    "facts.detached": lambda p: replace(p, platform_facts=None),
    "facts.empty": lambda p: p.with_platform_facts(PlatformFacts()),
    "transcript.conversation_id": lambda p: p.with_transcript(replace(transcript(3), conversation_id="c2")),
    "transcript.message_id": lambda p: _message(p, message_id="msg-x"),
    "transcript.sender_role": lambda p: _message(p, sender_role="COURIER"),
    "transcript.sent_at": lambda p: _message(p, sent_at=OPENED_AT - timedelta(seconds=1)),
    "transcript.body_sha256": lambda p: _message(p, body_sha256=sha("edited")),
    "transcript.blocked": lambda p: _message(p, blocked=True),
    "transcript.chain_hash": lambda p: _message(p, chain_hash=sha("forged")),
    "transcript.dropped_message": lambda p: p.with_transcript(transcript(2)),
    "transcript.detached": lambda p: replace(p, transcript=None),
    "transcript.empty": lambda p: p.with_transcript(ConversationTranscript()),
    "submission.evidence_id": lambda p: _submission(p, "ev-1", evidence_id=EvidenceId("ev-1b")),
    "submission.actor": lambda p: _submission(
        p, "ev-1", submitted_by=ActorRef(ActorId("seller-2"), "SELLER")
    ),
    "submission.role": lambda p: _submission(p, "ev-1", submitted_by=ActorRef(ActorId("seller-1"), "L1")),
    "submission.submitted_at": lambda p: _submission(
        p, "ev-1", submitted_at=LATER + timedelta(microseconds=1)
    ),
    "submission.statement": lambda p: _restate(p, "It left the shop intact!"),
    "submission.file_hash": lambda p: _submission(p, "ev-2", content_sha256=sha("other bytes")),
    "submission.filename": lambda p: _submission(p, "ev-2", filename="broken2.jpg"),
    "submission.media_type": lambda p: _submission(p, "ev-2", media_type="image/png"),
    "submission.size": lambda p: _submission(p, "ev-2", size_bytes=2049),
    "submission.removed": lambda p: replace(p, submissions=p.submissions[1:]),
    "submission.added": lambda p: p.with_submission(statement("ev-9", text="one more thing")),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_any_change_to_any_prong_changes_the_hash(name: str) -> None:
    original = pack()
    changed = MUTATIONS[name](original)
    assert changed != original
    assert changed.content_hash() != original.content_hash()


def test_missing_prongs() -> None:
    assert EvidencePack().missing_prongs == ("platform_facts", "transcript")
    assert EvidencePack(platform_facts=PlatformFacts()).missing_prongs == ("transcript",)
    assert EvidencePack(PlatformFacts(), ConversationTranscript()).missing_prongs == ()


def test_queries_find_submissions() -> None:
    p = pack()
    assert p.submission("ev-2") == file("ev-2")
    assert p.submission("nope") is None
    assert p.submission_by_content(BUYER, sha("photo-bytes")) == file("ev-2")
    assert p.submission_by_content("someone-else", sha("photo-bytes")) is None


def test_evidence_ids_are_unique_in_a_pack() -> None:
    with pytest.raises(InvariantViolation):
        EvidencePack(submissions=(statement("ev-1"), statement("ev-1", text="other")))


# --------------------------------------------------------------------------- submissions


def test_statement_is_trimmed_and_hashed() -> None:
    s = statement(text="  It broke.  \n")
    assert s.kind is EvidenceKind.STATEMENT
    assert s.statement == "It broke."
    assert s.content_sha256 == sha("It broke.")
    assert s.filename is None and s.media_type is None and s.size_bytes is None


def test_statement_length_limit_is_inclusive() -> None:
    assert statement(text="x" * MAX_STATEMENT_CHARS).statement == "x" * MAX_STATEMENT_CHARS
    result = EvidenceSubmission.of_statement(
        evidence_id="ev", submitted_by_actor=BUYER, submitted_by_role="BUYER", submitted_at=LATER,
        text="x" * (MAX_STATEMENT_CHARS + 1),
    )  # fmt: skip
    assert result == Failure(InvalidInput("statement", f"must be at most {MAX_STATEMENT_CHARS} characters"))


def test_file_media_type_is_lower_cased() -> None:
    assert file(media_type=" Image/JPEG ").media_type == "image/jpeg"


def _file_failure(**changes: object) -> InvalidInput:
    kwargs: dict[str, object] = {
        "evidence_id": "ev-f",
        "submitted_by_actor": BUYER,
        "submitted_by_role": "BUYER",
        "submitted_at": LATER,
        "content_sha256": sha("x"),
        "filename": "a.jpg",
        "media_type": "image/jpeg",
        "size_bytes": 10,
    }
    kwargs.update(changes)
    result = EvidenceSubmission.of_file(**kwargs)  # type: ignore[arg-type]
    assert isinstance(result, Failure), result
    error = result.failure()
    assert isinstance(error, InvalidInput)
    return error


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content_sha256": sha("x").upper()}, "content_sha256"),
        ({"content_sha256": sha("x")[:63]}, "content_sha256"),
        ({"content_sha256": "g" * 64}, "content_sha256"),
        ({"evidence_id": "  "}, "evidence_id"),
        ({"submitted_by_actor": ""}, "submitted_by_id"),
        ({"submitted_by_role": "buyer"}, "submitted_by_role"),
        ({"submitted_at": datetime(2026, 3, 1, 12)}, "submitted_at"),
        ({"filename": ""}, "filename"),
        ({"filename": "../etc/passwd"}, "filename"),
        ({"filename": "a\\b.jpg"}, "filename"),
        ({"filename": "a\nb.jpg"}, "filename"),
        ({"filename": "x" * 256}, "filename"),
        ({"media_type": "jpeg"}, "media_type"),
        ({"size_bytes": 0}, "size_bytes"),
        ({"size_bytes": MAX_FILE_BYTES + 1}, "size_bytes"),
    ],
)
def test_file_validation(changes: dict[str, object], field: str) -> None:
    assert _file_failure(**changes).field == field


def test_file_size_limit_is_inclusive() -> None:
    assert file(size=MAX_FILE_BYTES).size_bytes == MAX_FILE_BYTES


def test_blank_statement_is_refused() -> None:
    result = EvidenceSubmission.of_statement(
        evidence_id="ev", submitted_by_actor=BUYER, submitted_by_role="BUYER", submitted_at=LATER, text=" \n "
    )
    assert result == Failure(InvalidInput("statement", "must not be blank"))


def test_direct_construction_checks_the_statement_hash() -> None:
    with pytest.raises(InvariantViolation):
        replace(statement(), content_sha256=sha("something else"))
    with pytest.raises(InvariantViolation):
        replace(statement(), filename="x.txt")
    with pytest.raises(InvariantViolation):
        replace(file(), statement="hello")


# --------------------------------------------------------------------------- platform facts and transcript


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(90_000_001, 0), (-90_000_001, 0), (0, 180_000_001), (0, -180_000_001)],
)
def test_gps_is_range_checked(lat: int, lon: int) -> None:
    with pytest.raises(InvariantViolation):
        GpsPoint(DELIVERED_AT, lat, lon)


def test_gps_extremes_are_allowed_and_floats_are_not() -> None:
    GpsPoint(DELIVERED_AT, 90_000_000, -180_000_000)
    with pytest.raises(InvariantViolation):
        GpsPoint(DELIVERED_AT, 19.4, 0)  # type: ignore[arg-type]
    with pytest.raises(InvariantViolation):
        GpsPoint(DELIVERED_AT, True, 0)


def test_naive_datetimes_are_refused_everywhere() -> None:
    naive = datetime(2026, 3, 1, 12)
    with pytest.raises(InvariantViolation):
        TimelineEntry(naive, "PAID")
    with pytest.raises(InvariantViolation):
        GpsPoint(naive, 0, 0)
    with pytest.raises(InvariantViolation):
        DeliveryProof(delivered_at=naive)
    with pytest.raises(InvariantViolation):
        replace(transcript(1).entries[0], sent_at=naive)


def test_transcript_validation() -> None:
    entry = transcript(1).entries[0]
    with pytest.raises(InvariantViolation):
        ConversationTranscript("c", (entry, entry))
    with pytest.raises(InvariantViolation):
        replace(entry, chain_hash="not-a-hash")
    with pytest.raises(InvariantViolation):
        replace(entry, body_sha256=sha("x").upper())
    with pytest.raises(InvariantViolation):
        replace(entry, sender_role="buyer")


def test_photo_hashes_are_validated() -> None:
    with pytest.raises(InvariantViolation):
        DeliveryProof(delivered_at=DELIVERED_AT, photo_sha256=("abc",))


def test_actor_ref_validation() -> None:
    assert ActorRef.create("u-1", "L2").unwrap() == ActorRef(ActorId("u-1"), "L2")
    assert isinstance(ActorRef.create("u-1", "l2"), Failure)
    assert isinstance(ActorRef.create(" ", "L2"), Failure)
    with pytest.raises(InvariantViolation):
        ActorRef(ActorId("u-1"), "Support Agent")


def test_timeline_entries_accept_any_aware_zone() -> None:
    entry = TimelineEntry(datetime(2026, 3, 1, 6, tzinfo=timezone(timedelta(hours=-6))), "PAID")
    assert entry.at == datetime(2026, 3, 1, 12, tzinfo=UTC)
