"""Explicit mappers between stored rows and domain objects (orders, snapshots, policies, disputes).

Rows go in as plain mappings (``Row._mapping``) and come out as ``dict`` values for
``insert``/``update``; nothing from SQLAlchemy crosses into the domain or out of
``adapters/persistence``. Reading is strict: a stored value of the wrong shape raises
``ValueError`` (or the domain's ``InvariantViolation``), because a row this code did not
write is corrupt data or a bug, never an expected outcome.

Formats
    Money is an integer of minor units in a ``BigInteger`` column next to a currency code.
    Policy spans (dispute window, evidence deadline, lateness threshold) are whole
    seconds; a policy with a fractional second is refused on the way in rather than
    silently rounded. Datetimes are aware and come back in UTC.

    An order's snapshot copies the parameters of its refund policy into ``policy_terms``
    (JSON), so the snapshot rebuilds exactly as captured whatever later happens to the
    ``refund_policies`` table.

    A dispute's evidence pack is stored as its canonical data (``EvidencePack.to_canonical``)
    with its ``content_hash`` beside it; reading rebuilds the pack and checks the hash, so a
    pack that does not read back exactly is an error, not a silently different pack.

Documents as text (D67)
    The JSON documents (an evidence pack, a decision, a withdrawal, a snapshot's policy
    terms) may come in either decoded (a mapping, as SQLAlchemy's JSON type gives them) or
    as the stored JSON text (the read models select them ``CAST(... AS TEXT)``). Text is
    parsed through a bounded memo keyed by the exact text: the same text always parses to
    the same immutable value, so a dispute polled again or a page listed again skips the
    decoding and the rebuilding (the evidence pack's hash is computed once per text too).
    The stored hash is still compared with the pack's on every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, TypeVar

from returns.result import Failure

from domain.disputes import (
    ActorRef,
    ConversationTranscript,
    Decision,
    DeliveryProof,
    Dispute,
    DisputeOrigin,
    DisputeStatus,
    EvidenceKind,
    EvidencePack,
    EvidenceSubmission,
    GpsPoint,
    PlatformFacts,
    TimelineEntry,
    TranscriptEntry,
    Withdrawal,
)
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.evidence import PACK_FORMAT, utc_iso
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency, InvariantViolation, Money
from domain.shared.ids import (
    ActorId,
    BuyerId,
    CourierId,
    DisputeId,
    EvidenceId,
    OrderId,
    PolicyVersion,
    SellerId,
)
from domain.snapshots import OrderSnapshot, RefundPolicy

Values = Mapping[Any, Any]
"""A row (``Row._mapping``) or a JSON object: string keys, values of any type (checked on read)."""

_MICROSECOND: Final = timedelta(microseconds=1)

SNAPSHOT_COLUMNS: Final = (
    "currency",
    "items_subtotal_minor",
    "delivery_fee_minor",
    "service_fee_minor",
    "tax_minor",
    "discount_minor",
    "total_charged_minor",
    "commission_bp",
    "snapshot_courier_id",
    "policy_version",
    "policy_terms",
    "captured_at",
    "payment_partner_id",
)
"""The order columns that hold the snapshot: all NULL before capture, all set after
(``snapshot_courier_id`` and ``payment_partner_id`` may be NULL: a snapshot may have no
courier, and the payment partner may not have been reported)."""

_NULLABLE_SNAPSHOT_COLUMNS: Final = frozenset({"snapshot_courier_id", "payment_partner_id"})
_SNAPSHOT_VALUES: Final = itemgetter(*SNAPSHOT_COLUMNS)


# ----------------------------------------------------------------------------- strict readers


def _get(values: Values, key: str) -> object:
    # One lookup (a row's ``in`` costs as much as the read itself; D53): a missing column
    # raises KeyError (``NoSuchColumnError`` on a row mapping is one).
    try:
        value: object = values[key]
    except KeyError:
        raise ValueError(f"missing field {key!r}") from None
    return value


def _str(values: Values, key: str) -> str:
    value = _get(values, key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text, got {type(value).__name__}")
    return value


def _opt_str(values: Values, key: str) -> str | None:
    return None if _get(values, key) is None else _str(values, key)


def _int(values: Values, key: str) -> int:
    value = _get(values, key)
    if type(value) is not int:
        raise ValueError(f"{key} must be an integer, got {type(value).__name__}")
    return value


def _opt_int(values: Values, key: str) -> int | None:
    return None if _get(values, key) is None else _int(values, key)


def _bool(values: Values, key: str) -> bool:
    value = _get(values, key)
    if isinstance(value, bool):
        return value
    if type(value) is int and value in {0, 1}:  # SQLite stores booleans as 0/1
        return bool(value)
    raise ValueError(f"{key} must be a boolean, got {value!r}")


def _moment(values: Values, key: str) -> datetime:
    value = _get(values, key)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{key} must be an aware timestamp, got {value!r}")
    return value


def _opt_moment(values: Values, key: str) -> datetime | None:
    return None if _get(values, key) is None else _moment(values, key)


def _object(values: Values, key: str) -> Values:
    value = _get(values, key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a JSON object, got {type(value).__name__}")
    return value


def _opt_object(values: Values, key: str) -> Values | None:
    return None if _get(values, key) is None else _object(values, key)


DOCUMENT_MEMO_SIZE: Final = 1024
"""Distinct JSON texts remembered per kind of document (D67)."""
DOCUMENT_MEMO_MAX_CHARS: Final = 16 * 1024
"""Longer texts (a pack with a long transcript) are parsed every time: the memo's memory
stays bounded (~16 MiB of text per kind at most, per process)."""

_Parsed = TypeVar("_Parsed")


def _memo_by_text(parse: Callable[[Values], _Parsed]) -> Callable[[str], _Parsed]:
    """``parse`` of a JSON text's object, remembered by the exact text (the values parsed
    are immutable, so one instance can serve every row that stored the same text)."""

    def parsed(text: str) -> _Parsed:
        document = json.loads(text)
        if not isinstance(document, Mapping):
            raise ValueError(f"a stored JSON document must be an object, got {type(document).__name__}")
        return parse(document)

    remembered = lru_cache(maxsize=DOCUMENT_MEMO_SIZE)(parsed)

    def from_text(text: str) -> _Parsed:
        return remembered(text) if len(text) <= DOCUMENT_MEMO_MAX_CHARS else parsed(text)

    return from_text


def _document(
    values: Values, key: str, parse: Callable[[Values], _Parsed], from_text: Callable[[str], _Parsed]
) -> _Parsed:
    """The document ``key`` of a row, given decoded (a mapping) or as its stored JSON text."""
    value = _get(values, key)
    if isinstance(value, str):
        return from_text(value)
    return parse(_object(values, key))


def _opt_document(
    values: Values, key: str, parse: Callable[[Values], _Parsed], from_text: Callable[[str], _Parsed]
) -> _Parsed | None:
    return None if _get(values, key) is None else _document(values, key, parse, from_text)


def _list(values: Values, key: str) -> list[object]:
    value = _get(values, key)
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a JSON array, got {type(value).__name__}")
    return value


def _objects(values: Values, key: str) -> list[Values]:
    items = _list(values, key)
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"{key} must hold JSON objects, got {type(item).__name__}")
    return [item for item in items if isinstance(item, Mapping)]


def _ints(values: Values, key: str) -> tuple[int, ...]:
    items = _list(values, key)
    ints = tuple(item for item in items if type(item) is int)
    if len(ints) != len(items):
        raise ValueError(f"{key} must be an array of integers")
    return ints


def _strs(values: Values, key: str) -> tuple[str, ...]:
    items = _list(values, key)
    strs = tuple(item for item in items if isinstance(item, str))
    if len(strs) != len(items):
        raise ValueError(f"{key} must be an array of strings")
    return strs


@lru_cache(maxsize=64)  # a handful of codes, read on every order row; a bad one raises (not cached)
def _currency(code: str) -> Currency:
    parsed = Currency.parse(code)
    if isinstance(parsed, Failure) or parsed.unwrap().code != code:
        raise ValueError(f"{code!r} is not a supported ISO-4217 code in canonical form")
    return parsed.unwrap()


# ----------------------------------------------------------------------------- spans


def whole_seconds(span: timedelta, field: str) -> int:
    """``span`` in whole seconds; a fractional second cannot be stored and is refused."""
    if span.microseconds:
        raise ValueError(f"{field} must be a whole number of seconds to be stored, got {span!r}")
    return span.days * 86_400 + span.seconds


# ----------------------------------------------------------------------------- refund policies


def policy_to_row(policy: RefundPolicy, effective_from: datetime) -> dict[str, Any]:
    return {
        "country_code": policy.country.value,
        **policy_terms(policy),
        "effective_from": effective_from,
    }


def policy_from_row(values: Values) -> RefundPolicy:
    return _policy(CountryCode(_str(values, "country_code")), values)


def policy_terms(policy: RefundPolicy) -> dict[str, Any]:
    """The policy without its country: the ``refund_policies`` columns, and what an order
    snapshot copies into ``policy_terms`` (the country there is the order's)."""
    if policy.goodwill_credit.currency != policy.currency:
        raise InvariantViolation(f"policy {policy.version}: goodwill credit in another currency")
    return {
        "version": policy.version,
        "currency": policy.currency.code,
        "goodwill_credit_minor": policy.goodwill_credit.minor,
        "tiers_bp": list(policy.partial_refund_tiers_bp),
        "dispute_window_seconds": whole_seconds(policy.dispute_window, "dispute_window"),
        "evidence_deadline_seconds": whole_seconds(policy.evidence_deadline, "evidence_deadline"),
        "lateness_threshold_seconds": whole_seconds(policy.lateness_threshold, "lateness_threshold"),
    }


def policy_from_terms(country: CountryCode, terms: Values | str) -> RefundPolicy:
    """The policy of a snapshot's ``policy_terms`` (decoded, or its stored JSON text)."""
    if isinstance(terms, str):  # a few hundred characters: always remembered
        return _policy_from_text(country, terms)
    return _policy(country, terms)


@lru_cache(maxsize=DOCUMENT_MEMO_SIZE)
def _policy_from_text(country: CountryCode, text: str) -> RefundPolicy:
    document = json.loads(text)
    if not isinstance(document, Mapping):
        raise ValueError(f"policy_terms must be a JSON object, got {type(document).__name__}")
    return _policy(country, document)


def _policy(country: CountryCode, values: Values) -> RefundPolicy:
    currency = _currency(_str(values, "currency"))
    return RefundPolicy(
        country=country,
        version=PolicyVersion(_str(values, "version")),
        currency=currency,
        goodwill_credit=Money(_int(values, "goodwill_credit_minor"), currency),
        partial_refund_tiers_bp=_ints(values, "tiers_bp"),
        dispute_window=timedelta(seconds=_int(values, "dispute_window_seconds")),
        evidence_deadline=timedelta(seconds=_int(values, "evidence_deadline_seconds")),
        lateness_threshold=timedelta(seconds=_int(values, "lateness_threshold_seconds")),
    )


# ----------------------------------------------------------------------------- orders and snapshots


def order_to_row(order: Order) -> dict[str, Any]:
    """Every column of ``orders`` except ``updated_at`` (the repository's bookkeeping)."""
    row: dict[str, Any] = {
        "country_code": order.country.value,
        "id": order.id,
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "courier_id": order.courier_id,
        "status": order.status.value,
        "frozen_from": None if order.frozen_from is None else order.frozen_from.value,
        "frozen_by_incident": order.frozen_by_incident,
        "delivered_at": order.delivered_at,
        "force_completed": order.force_completed,
        "force_complete_reason": order.force_complete_reason,
        "version": order.version,
        "created_at": order.created_at,
        "replaces_order_id": order.replaces,
        "frozen_at": order.frozen_at,
        "dispute_window_paused_us": order.window_paused // _MICROSECOND,
        "courier_assigned_at": order.courier_assigned_at,
    }
    row.update(snapshot_to_row(order.snapshot))
    return row


def snapshot_to_row(snapshot: OrderSnapshot | None) -> dict[str, Any]:
    if snapshot is None:
        return dict.fromkeys(SNAPSHOT_COLUMNS)
    amounts = {
        "items_subtotal_minor": snapshot.items_subtotal,
        "delivery_fee_minor": snapshot.delivery_fee,
        "service_fee_minor": snapshot.service_fee,
        "tax_minor": snapshot.tax,
        "discount_minor": snapshot.discount,
        "total_charged_minor": snapshot.total_charged,
    }
    for name, money in amounts.items():
        if money.currency != snapshot.currency:
            raise InvariantViolation(f"snapshot of {snapshot.order_id}: {name} is not in {snapshot.currency}")
    return {
        "currency": snapshot.currency.code,
        **{name: money.minor for name, money in amounts.items()},
        "commission_bp": snapshot.commission_bp,
        "snapshot_courier_id": snapshot.courier_id,
        "policy_version": snapshot.policy.version,
        "policy_terms": policy_terms(snapshot.policy),
        "captured_at": snapshot.captured_at,
        "payment_partner_id": snapshot.payment_partner_id,
    }


def order_from_row(values: Values) -> Order:
    country = CountryCode(_str(values, "country_code"))
    order_id = OrderId(_str(values, "id"))
    buyer_id = BuyerId(_str(values, "buyer_id"))
    seller_id = SellerId(_str(values, "seller_id"))
    frozen_from = _opt_str(values, "frozen_from")
    status = OrderStatus(_str(values, "status"))
    courier = _opt_str(values, "courier_id")
    replaces = _opt_str(values, "replaces_order_id")
    return Order.rehydrate(
        id=order_id,
        country=country,
        buyer_id=buyer_id,
        seller_id=seller_id,
        courier_id=None if courier is None else CourierId(courier),
        status=status,
        frozen_from=None if frozen_from is None else OrderStatus(frozen_from),
        frozen_by_incident=_opt_str(values, "frozen_by_incident"),
        snapshot=_snapshot(values, order_id, country, buyer_id, seller_id),
        delivered_at=_opt_moment(values, "delivered_at"),
        force_completed=_bool(values, "force_completed"),
        force_complete_reason=_opt_str(values, "force_complete_reason"),
        version=_int(values, "version"),
        created_at=_moment(values, "created_at"),
        replaces=None if replaces is None else OrderId(replaces),
        frozen_at=_frozen_at(values, status),
        window_paused=_int(values, "dispute_window_paused_us") * _MICROSECOND,
        courier_assigned_at=_opt_moment(values, "courier_assigned_at"),
    )


def _frozen_at(values: Values, status: OrderStatus) -> datetime | None:
    """When the order's hold began. A process older than migration 0025 (a rolling deploy)
    neither records it when it freezes nor clears it when it lifts a hold: a FROZEN order
    without it was frozen at its last change at the latest (``updated_at``, as the migration's
    backfill reads it), and one not FROZEN has no hold (D127)."""
    if status is not OrderStatus.FROZEN:
        return None
    return _opt_moment(values, "frozen_at") or _moment(values, "updated_at")


def _snapshot(
    values: Values, order_id: OrderId, country: CountryCode, buyer_id: BuyerId, seller_id: SellerId
) -> OrderSnapshot | None:
    try:
        found: tuple[object, ...] = _SNAPSHOT_VALUES(values)  # one C call for the thirteen
    except KeyError:  # a column left out: the strict reader names it
        found = tuple(_get(values, name) for name in SNAPSHOT_COLUMNS)
    nulls = found.count(None)
    if nulls == len(found):
        return None
    if nulls:
        missing = {name for name, value in zip(SNAPSHOT_COLUMNS, found, strict=True) if value is None}
        missing -= _NULLABLE_SNAPSHOT_COLUMNS
        if missing:
            raise ValueError(f"order {order_id}: partial snapshot, missing {sorted(missing)}")
    currency = _currency(_str(values, "currency"))
    terms = _get(values, "policy_terms")
    policy = policy_from_terms(country, terms if isinstance(terms, str) else _object(values, "policy_terms"))
    if policy.version != _str(values, "policy_version"):
        raise ValueError(f"order {order_id}: policy_version disagrees with policy_terms")
    courier = _opt_str(values, "snapshot_courier_id")
    return OrderSnapshot(
        order_id=order_id,
        country=country,
        currency=currency,
        items_subtotal=Money(_int(values, "items_subtotal_minor"), currency),
        delivery_fee=Money(_int(values, "delivery_fee_minor"), currency),
        service_fee=Money(_int(values, "service_fee_minor"), currency),
        tax=Money(_int(values, "tax_minor"), currency),
        discount=Money(_int(values, "discount_minor"), currency),
        total_charged=Money(_int(values, "total_charged_minor"), currency),
        commission_bp=_int(values, "commission_bp"),
        policy=policy,
        buyer_id=buyer_id,
        seller_id=seller_id,
        courier_id=None if courier is None else CourierId(courier),
        captured_at=_moment(values, "captured_at"),
        payment_partner_id=_opt_str(values, "payment_partner_id"),
    )


# ----------------------------------------------------------------------------- evidence pack


def evidence_to_document(pack: EvidencePack) -> dict[str, object]:
    """The pack's canonical data: what its ``content_hash`` is computed over."""
    return pack.to_canonical()


def evidence_from_document(document: Values) -> EvidencePack:
    if document.get("format") != PACK_FORMAT:
        raise ValueError(f"evidence pack format {document.get('format')!r}, expected {PACK_FORMAT!r}")
    facts = _opt_object(document, "platform_facts")
    transcript = _opt_object(document, "transcript")
    return EvidencePack(
        platform_facts=None if facts is None else _platform_facts(facts),
        transcript=None if transcript is None else _transcript(transcript),
        submissions=tuple(_submission(item) for item in _objects(document, "submissions")),
    )


def _platform_facts(values: Values) -> PlatformFacts:
    proof = _opt_object(values, "delivery_proof")
    return PlatformFacts(
        timeline=tuple(
            TimelineEntry(at=_moment(item, "at"), kind=_str(item, "kind"), detail=_str(item, "detail"))
            for item in _objects(values, "timeline")
        ),
        delivery_proof=None if proof is None else _delivery_proof(proof),
    )


def _delivery_proof(values: Values) -> DeliveryProof:
    return DeliveryProof(
        delivered_at=_opt_moment(values, "delivered_at"),
        gps_points=tuple(
            GpsPoint(
                at=_moment(item, "at"),
                lat_microdeg=_int(item, "lat_microdeg"),
                lon_microdeg=_int(item, "lon_microdeg"),
            )
            for item in _objects(values, "gps_points")
        ),
        photo_sha256=_strs(values, "photo_sha256"),
    )


def _transcript(values: Values) -> ConversationTranscript:
    entries = tuple(
        TranscriptEntry(
            message_id=_str(item, "message_id"),
            sender_role=_str(item, "sender_role"),
            sent_at=_moment(item, "sent_at"),
            body_sha256=_str(item, "body_sha256"),
            blocked=_strict_bool(item, "blocked"),
            chain_hash=_str(item, "chain_hash"),
        )
        for item in _objects(values, "entries")
    )
    return ConversationTranscript(conversation_id=_opt_str(values, "conversation_id"), entries=entries)


def _strict_bool(values: Values, key: str) -> bool:
    value = _get(values, key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be a JSON boolean, got {value!r}")
    return value


def _actor(values: Values) -> ActorRef:
    return ActorRef(ActorId(_str(values, "actor_id")), _str(values, "role"))


def _submission(values: Values) -> EvidenceSubmission:
    return EvidenceSubmission(
        evidence_id=EvidenceId(_str(values, "evidence_id")),
        submitted_by=_actor(_object(values, "submitted_by")),
        submitted_at=_moment(values, "submitted_at"),
        kind=EvidenceKind(_str(values, "kind")),
        content_sha256=_str(values, "content_sha256"),
        filename=_opt_str(values, "filename"),
        media_type=_opt_str(values, "media_type"),
        size_bytes=_opt_int(values, "size_bytes"),
        statement=_opt_str(values, "statement"),
    )


# ----------------------------------------------------------------------------- decisions and withdrawals


def decision_to_document(decision: Decision | None) -> dict[str, object] | None:
    if decision is None:
        return None
    return {
        "outcome": decision.outcome.value,
        "reason_code": decision.reason_code.value,
        "partial_refund_tier_bp": decision.partial_refund_tier_bp,
        "decided_by": decision.decided_by.to_canonical(),
        "decided_at": utc_iso(decision.decided_at),
        "note": decision.note,
        "evidence_pack_hash": decision.evidence_pack_hash,
    }


def decision_from_document(values: Values) -> Decision:
    return Decision(
        outcome=OutcomeCode(_str(values, "outcome")),
        reason_code=DecisionReasonCode(_str(values, "reason_code")),
        partial_refund_tier_bp=_opt_int(values, "partial_refund_tier_bp"),
        decided_by=_actor(_object(values, "decided_by")),
        decided_at=_moment(values, "decided_at"),
        note=_str(values, "note"),
        evidence_pack_hash=_str(values, "evidence_pack_hash"),
    )


def withdrawal_to_document(withdrawal: Withdrawal | None) -> dict[str, object] | None:
    if withdrawal is None:
        return None
    return {
        "withdrawn_by": withdrawal.withdrawn_by.to_canonical(),
        "withdrawn_at": utc_iso(withdrawal.withdrawn_at),
        "reason": withdrawal.reason,
        "evidence_pack_hash": withdrawal.evidence_pack_hash,
    }


def withdrawal_from_document(values: Values) -> Withdrawal:
    return Withdrawal(
        withdrawn_by=_actor(_object(values, "withdrawn_by")),
        withdrawn_at=_moment(values, "withdrawn_at"),
        reason=_str(values, "reason"),
        evidence_pack_hash=_str(values, "evidence_pack_hash"),
    )


def _hashed_pack(document: Values) -> EvidencePack:
    pack = evidence_from_document(document)
    pack.content_hash()  # computed once for the text, kept on the (shared, immutable) pack
    return pack


_evidence_from_text: Final = _memo_by_text(_hashed_pack)
_decision_from_text: Final = _memo_by_text(decision_from_document)
_withdrawal_from_text: Final = _memo_by_text(withdrawal_from_document)


# ----------------------------------------------------------------------------- disputes


def dispute_to_row(dispute: Dispute) -> dict[str, Any]:
    return {
        "country_code": dispute.country.value,
        "id": dispute.id,
        "order_id": dispute.order_id,
        "reason": dispute.reason.value,
        "origin": dispute.origin.value,
        "status": dispute.status.value,
        "opened_by_actor_id": dispute.opened_by.actor_id,
        "opened_by_role": dispute.opened_by.role,
        "opened_at": dispute.opened_at,
        "evidence_deadline": dispute.evidence_deadline,
        "evidence": evidence_to_document(dispute.evidence),
        "evidence_sha256": dispute.evidence.content_hash(),
        "decision": decision_to_document(dispute.decision),
        "withdrawal": withdrawal_to_document(dispute.withdrawal),
        "last_execution_error": dispute.last_execution_error,
        "version": dispute.version,
        "updated_at": dispute.updated_at,
    }


def dispute_from_row(values: Values) -> Dispute:
    dispute_id = DisputeId(_str(values, "id"))
    pack = _document(values, "evidence", evidence_from_document, _evidence_from_text)
    stored_hash = _str(values, "evidence_sha256")
    if pack.content_hash() != stored_hash:
        raise InvariantViolation(f"dispute {dispute_id}: the evidence pack does not read back to its hash")
    return Dispute.rehydrate(
        dispute_id=dispute_id,
        order_id=OrderId(_str(values, "order_id")),
        country=CountryCode(_str(values, "country_code")),
        reason=DisputeReason(_str(values, "reason")),
        origin=DisputeOrigin(_str(values, "origin")),
        opened_by=ActorRef(ActorId(_str(values, "opened_by_actor_id")), _str(values, "opened_by_role")),
        opened_at=_moment(values, "opened_at"),
        status=DisputeStatus(_str(values, "status")),
        evidence_deadline=_moment(values, "evidence_deadline"),
        evidence=pack,
        decision=_opt_document(values, "decision", decision_from_document, _decision_from_text),
        withdrawal=_opt_document(values, "withdrawal", withdrawal_from_document, _withdrawal_from_text),
        last_execution_error=_opt_str(values, "last_execution_error"),
        updated_at=_moment(values, "updated_at"),
        version=_int(values, "version"),
    )
