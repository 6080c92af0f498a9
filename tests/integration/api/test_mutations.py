"""Every mutation's happy path over HTTP, and the typed errors each can answer."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from application.saga.executor import Providers, SagaRunner
from application.security.principal import Role
from domain.orders import OrderStatus
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import JPEG_BYTES, Api, upload_evidence

OPEN = """
mutation($input: DisputeOpenInput!) {
  disputeOpen(input: $input) {
    __typename
    ... on DisputeOpenSuccess { dispute { id status reason order { status } } }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""
EVIDENCE = """
mutation($input: DisputeEvidenceSubmitInput!) {
  disputeEvidenceSubmit(input: $input) {
    __typename
    ... on DisputeEvidenceSubmitSuccess {
      evidence { evidenceId kind contentSha256 filename statement submittedBy { actorId role } }
      dispute { status evidenceSubmissionCount }
    }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""
REVIEW = """
mutation($input: DisputeReviewStartInput!) {
  disputeReviewStart(input: $input) {
    __typename
    ... on DisputeReviewStartSuccess { dispute { status } }
    ... on Error { code message }
  }
}"""
RESOLVE = """
mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) {
    __typename
    ... on DisputeResolveSuccess {
      receipt { disputeId status outcome requestedOutcome requestedPartialRefundTierBp planFingerprint
                evidencePackHash steps refundToCard { minor currency } storeCredit { minor } }
      dispute { status evidenceFrozen decision { outcome reasonCode partialRefundTierBp } }
    }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""
WITHDRAW = """
mutation($input: DisputeWithdrawInput!) {
  disputeWithdraw(input: $input) {
    __typename
    ... on DisputeWithdrawSuccess {
      dispute { status withdrawal { reason withdrawnBy { actorId } } order { status } }
    }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""
TRANSITION = """
mutation($input: OrderTransitionInput!) {
  orderTransition(input: $input) {
    __typename
    ... on OrderTransitionSuccess { order { id status version } }
    ... on Error { code message }
  }
}"""
FORCE = """
mutation($input: OrderForceCompleteInput!) {
  orderForceComplete(input: $input) {
    __typename
    ... on OrderForceCompleteSuccess {
      order { status forceCompleted forceCompleteReason } planFingerprint ledgerKeys
    }
    ... on Error { code message }
    ... on InvalidInputError { field }
  }
}"""


def result(data: dict[str, Any]) -> dict[str, Any]:
    (value,) = data.values()
    assert isinstance(value, dict)
    return value


async def test_the_dispute_lifecycle_through_the_api(api: Api) -> None:
    await api.order("ord_1", buyer="buy_7")
    buyer = api.bearer(Role.BUYER, subject="buy_7")
    opened = result(
        await api.gql(
            OPEN,
            {"input": {"countryCode": "MX", "orderId": "ord_1", "reason": "DAMAGED", "statement": "Broken"}},
            buyer,
        )
    )
    assert opened["__typename"] == "DisputeOpenSuccess"
    dispute_id = opened["dispute"]["id"]
    assert opened["dispute"]["order"] == {"status": "DISPUTED"}

    uploaded = await upload_evidence(api, dispute_id, JPEG_BYTES, buyer)
    photo = hashlib.sha256(JPEG_BYTES).hexdigest()
    assert uploaded == {
        "__typename": "DisputeEvidenceUploadSuccess",
        "contentSha256": photo,
        "sizeBytes": len(JPEG_BYTES),
        "mediaType": "image/jpeg",
        "created": True,
    }
    file_input = {"contentSha256": photo, "filename": "vase.jpg"}
    submitted = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute_id, "file": file_input}}, buyer
        )
    )
    assert submitted["evidence"]["kind"] == "FILE" and submitted["evidence"]["contentSha256"] == photo
    assert submitted["dispute"] == {"status": "GATHERING_EVIDENCE", "evidenceSubmissionCount": 2}
    l1 = api.bearer(Role.L1)
    statement = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute_id, "statement": "Seen"}}, l1
        )
    )
    assert statement["evidence"]["submittedBy"] == {"actorId": "l1-1", "role": "L1"}

    reviewed = result(await api.gql(REVIEW, {"input": {"countryCode": "MX", "disputeId": dispute_id}}, l1))
    assert reviewed["dispute"]["status"] == "UNDER_REVIEW"

    l2 = api.bearer(Role.L2)
    decide = {
        "countryCode": "MX",
        "disputeId": dispute_id,
        "outcome": "PARTIAL_REFUND",
        "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
        "idempotencyKey": "decide-1",
        "partialRefundTierBp": 2500,
    }
    resolved = result(await api.gql(RESOLVE, {"input": decide}, l2))
    assert resolved["__typename"] == "DisputeResolveSuccess", resolved
    assert resolved["receipt"]["refundToCard"] == {"minor": 25_000, "currency": "MXN"}
    receipt = resolved["receipt"]
    assert (receipt["outcome"], receipt["requestedOutcome"], receipt["requestedPartialRefundTierBp"]) == (
        "PARTIAL_REFUND",
        "PARTIAL_REFUND",
        2500,
    )
    assert resolved["dispute"]["evidenceFrozen"] is True
    assert resolved["dispute"]["decision"] == {
        "outcome": "PARTIAL_REFUND",
        "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
        "partialRefundTierBp": 2500,
    }
    replay = result(await api.gql(RESOLVE, {"input": decide}, l2))
    assert replay["receipt"] == resolved["receipt"]
    reused = result(await api.gql(RESOLVE, {"input": {**decide, "partialRefundTierBp": 5000}}, l2))
    assert (reused["__typename"], reused["code"]) == ("ConflictError", "IDEMPOTENCY_KEY_REUSED")

    frozen = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute_id, "statement": "Late"}}, buyer
        )
    )
    assert (frozen["__typename"], frozen["code"]) == ("RuleViolationError", "EVIDENCE_PACK_FROZEN")
    # the same statement again, after the pack froze: the earlier submission, unchanged, and
    # no second "evidence submitted" in the audit log (D114)
    audited = await api.audit_count()
    again = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute_id, "statement": "Seen"}}, l1
        )
    )
    assert again["evidence"] == statement["evidence"]
    assert await api.audit_count() == audited

    payments = FakePayments()
    await SagaRunner(api.svc, Providers(payments, FakeNotifications()), worker_id="w1").drain()
    state = await api.gql(
        """query($id: String!) { disputeState(countryCode: "MX", id: $id) {
             ... on DisputeState { status outcome decidedAt amountRefunded { minor currency } } } }""",
        {"id": dispute_id},
        await api.partner_key("sel_1"),
    )
    assert state["disputeState"]["status"] == "RESOLVED"
    assert state["disputeState"]["amountRefunded"] == {"minor": 25_000, "currency": "MXN"}
    assert payments.total_refunded_minor == 25_000


async def test_withdraw_completes_the_order_and_releases_escrow(api: Api) -> None:
    dispute = await api.dispute("ord_1", buyer="buy_7")
    buyer = api.bearer(Role.BUYER, subject="buy_7")
    withdrawn = result(
        await api.gql(
            WITHDRAW, {"input": {"countryCode": "MX", "disputeId": dispute.id, "reason": "Found it"}}, buyer
        )
    )
    assert withdrawn["dispute"]["status"] == "WITHDRAWN"
    assert withdrawn["dispute"]["withdrawal"] == {"reason": "Found it", "withdrawnBy": {"actorId": "buy_7"}}
    assert withdrawn["dispute"]["order"] == {"status": "COMPLETED"}
    again = result(
        await api.gql(
            WITHDRAW, {"input": {"countryCode": "MX", "disputeId": dispute.id, "reason": "x"}}, buyer
        )
    )
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "ILLEGAL_DISPUTE_TRANSITION")
    blank = result(
        await api.gql(
            WITHDRAW, {"input": {"countryCode": "MX", "disputeId": dispute.id, "reason": " "}}, buyer
        )
    )
    assert blank["__typename"] in {"InvalidInputError", "RuleViolationError"}


async def test_order_transition_and_its_rule_violations(api: Api) -> None:
    await api.order("ord_1", until=OrderStatus.ACCEPTED)
    l2 = api.bearer(Role.L2)
    moved = result(
        await api.gql(
            TRANSITION, {"input": {"countryCode": "MX", "orderId": "ord_1", "target": "IN_PREPARATION"}}, l2
        )
    )
    assert moved["order"] == {"id": "ord_1", "status": "IN_PREPARATION", "version": 3}
    illegal = result(
        await api.gql(
            TRANSITION, {"input": {"countryCode": "MX", "orderId": "ord_1", "target": "DELIVERED"}}, l2
        )
    )
    assert (illegal["__typename"], illegal["code"]) == ("RuleViolationError", "ILLEGAL_ORDER_TRANSITION")
    before = len(await api.denials())
    completing = result(
        await api.gql(
            TRANSITION, {"input": {"countryCode": "MX", "orderId": "ord_1", "target": "COMPLETED"}}, l2
        )
    )
    assert (completing["__typename"], completing["code"]) == ("ForbiddenError", "FORBIDDEN")
    assert len(await api.denials()) == before + 1
    missing = result(
        await api.gql(
            TRANSITION, {"input": {"countryCode": "MX", "orderId": "ord_9", "target": "IN_TRANSIT"}}, l2
        )
    )
    assert (missing["__typename"], missing["code"]) == ("NotFoundError", "NOT_FOUND")


async def test_force_complete_releases_the_escrow_once(api: Api) -> None:
    await api.order("ord_1", until=OrderStatus.IN_TRANSIT)
    l3 = api.bearer(Role.L3)
    variables = {"input": {"countryCode": "MX", "orderId": "ord_1", "reason": "Courier confirmed by phone"}}
    done = result(await api.gql(FORCE, variables, l3))
    assert done["__typename"] == "OrderForceCompleteSuccess", done
    assert done["order"] == {
        "status": "FORCE_COMPLETED",
        "forceCompleted": True,
        "forceCompleteReason": "Courier confirmed by phone",
    }
    assert done["ledgerKeys"] == ["order:ord_1/FORCE_COMPLETE/ledger_release"]
    twice = result(await api.gql(FORCE, variables, l3))
    assert (twice["__typename"], twice["code"]) == ("RuleViolationError", "ORDER_ALREADY_FORCE_COMPLETED")
    assert await api.scalar("SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'FORCED_RELEASE'") == 1
    escrow = await api.gql(
        """{ ledgerAccount(countryCode: "MX", account: "escrow:order:ord_1", currency: "MXN") {
               ... on LedgerAccount { balance { minor } } } }""",
        None,
        l3,
    )
    assert escrow["ledgerAccount"]["balance"] == {"minor": 0}
    actions = await api.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'order.force_completed' AND target_id = 'ord_1'"
    )
    assert actions == 1
    no_reason = result(await api.gql(FORCE, {"input": {**variables["input"], "reason": "  "}}, l3))
    assert no_reason["code"] in {"REASON_REQUIRED", "ORDER_ALREADY_FORCE_COMPLETED"}
    await api.order("ord_2", until=OrderStatus.PAID)
    early = result(
        await api.gql(FORCE, {"input": {"countryCode": "MX", "orderId": "ord_2", "reason": "x"}}, l3)
    )
    assert (early["__typename"], early["code"]) == ("RuleViolationError", "ILLEGAL_ORDER_TRANSITION")
    await api.order("ord_3", until=OrderStatus.DELIVERED)
    blank = result(
        await api.gql(FORCE, {"input": {"countryCode": "MX", "orderId": "ord_3", "reason": " "}}, l3)
    )
    assert (blank["__typename"], blank["code"]) == ("RuleViolationError", "REASON_REQUIRED")


async def test_typed_errors_of_dispute_mutations(api: Api) -> None:
    await api.order("ord_paid", until=OrderStatus.PAID)
    l2 = api.bearer(Role.L2)
    not_disputable = result(
        await api.gql(
            OPEN,
            {"input": {"countryCode": "MX", "orderId": "ord_paid", "reason": "LATE", "statement": "x"}},
            l2,
        )
    )
    assert (not_disputable["__typename"], not_disputable["code"]) == (
        "RuleViolationError",
        "ORDER_NOT_DISPUTABLE",
    )
    dispute = await api.dispute("ord_1")
    twice = result(
        await api.gql(
            OPEN, {"input": {"countryCode": "MX", "orderId": "ord_1", "reason": "LATE", "statement": "x"}}, l2
        )
    )
    assert twice["__typename"] == "RuleViolationError"
    neither = result(await api.gql(EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute.id}}, l2))
    assert (neither["__typename"], neither["field"]) == ("InvalidInputError", "evidence")
    bad_hash = {"contentSha256": "nope", "filename": "a.jpg", "mediaType": "image/jpeg", "sizeBytes": 1}
    wrong = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute.id, "file": bad_hash}}, l2
        )
    )
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInputError", "contentSha256")
    decide = {
        "countryCode": "MX",
        "disputeId": dispute.id,
        "outcome": "FULL_REFUND",
        "reasonCode": "EVIDENCE_SUPPORTS_BUYER",
        "idempotencyKey": "k1",
    }
    not_in_review = result(await api.gql(RESOLVE, {"input": decide}, l2))
    assert (not_in_review["__typename"], not_in_review["code"]) == (
        "RuleViolationError",
        "ILLEGAL_DISPUTE_TRANSITION",
    )
    await api.gql(REVIEW, {"input": {"countryCode": "MX", "disputeId": dispute.id}}, l2)
    tierless = result(
        await api.gql(RESOLVE, {"input": {**decide, "outcome": "PARTIAL_REFUND", "idempotencyKey": "k2"}}, l2)
    )
    assert (tierless["__typename"], tierless["code"]) == (
        "RuleViolationError",
        "PARTIAL_REFUND_TIER_REQUIRED",
    )
    forced = result(
        await api.gql(RESOLVE, {"input": {**decide, "outcome": "FORCE_COMPLETE", "idempotencyKey": "k3"}}, l2)
    )
    assert (forced["__typename"], forced["code"]) == (
        "RuleViolationError",
        "FORCE_COMPLETE_NOT_A_DISPUTE_OUTCOME",
    )
    long_key = result(await api.gql(RESOLVE, {"input": {**decide, "idempotencyKey": "k" * 256}}, l2))
    assert (long_key["__typename"], long_key["field"]) == ("InvalidInputError", "idempotencyKey")
    bad_key = result(await api.gql(RESOLVE, {"input": {**decide, "idempotencyKey": " k "}}, l2))
    assert (bad_key["__typename"], bad_key["code"]) == ("InvalidInputError", "INVALID_IDEMPOTENCY_KEY")
    missing = result(await api.gql(REVIEW, {"input": {"countryCode": "MX", "disputeId": "dsp_nope"}}, l2))
    assert (missing["__typename"], missing["code"]) == ("NotFoundError", "NOT_FOUND")
    api.clock.advance(timedelta(days=3))
    late = result(
        await api.gql(
            EVIDENCE, {"input": {"countryCode": "MX", "disputeId": dispute.id, "statement": "later"}}, l2
        )
    )
    assert (late["__typename"], late["code"]) == ("RuleViolationError", "EVIDENCE_DEADLINE_PASSED")
