"""A refund the provider returned, over GraphQL (D136): ``refundAwaitingReissue`` on the
dispute and the L3's ``disputeRefundReissue``, on SQLite and PostgreSQL, through the real
app and container. The provider answers at once (``FakePayments``); its failure after the
success comes by ``SagaRunner.confirm``, as a verified webhook's would."""

from __future__ import annotations

from typing import Any

from application.disputes.refund_returns import (
    CARD_NOTICE_TEMPLATE,
    REISSUE_JOB_KIND,
    REISSUE_NOTICE_JOB_KIND,
    RefundReissueJob,
    RefundReissueNoticeJob,
)
from application.disputes.use_cases import DecideDispute, decide_dispute
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Role
from domain.disputes import Dispute
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import MX, SYSTEM, Api

T = 123_000
DISPUTE = """
query ($id: String!) {
  dispute(countryCode: "MX", id: $id) {
    __typename
    ... on Dispute { status amountRefunded { minor currency } refundAwaitingReissue { minor currency } }
    ... on Error { code }
  }
}
"""
REISSUE = """
mutation ($input: DisputeRefundReissueInput!) {
  disputeRefundReissue(input: $input) {
    __typename
    ... on DisputeRefundReissueSuccess {
      method idempotencyKey jobId amount { minor currency formatted }
      dispute { id refundAwaitingReissue { minor } }
    }
    ... on InvalidInputError { field }
    ... on Error { code }
  }
}
"""


def reissue_input(dispute_id: str, method: str = "CARD", reason: str = "card closed") -> dict[str, Any]:
    return {"input": {"countryCode": "MX", "disputeId": dispute_id, "method": method, "reason": reason}}


async def refunded(api: Api) -> tuple[Dispute, SagaRunner]:
    """A dispute decided FULL_REFUND and executed to RESOLVED (the provider answers at once);
    the runner that ran it, which also runs refund re-issues."""
    runner = SagaRunner(
        api.svc,
        Providers(FakePayments(), FakeNotifications()),
        worker_id="w-test",
        job_kinds={REISSUE_JOB_KIND: RefundReissueJob(), REISSUE_NOTICE_JOB_KIND: RefundReissueNoticeJob()},
    )
    dispute = await api.dispute("ord_1", review=True)
    decided = DecideDispute(MX, dispute.id, OutcomeCode.FULL_REFUND, DecisionReasonCode.GOODWILL, "k1")
    (await decide_dispute(api.svc, SYSTEM, decided)).unwrap()
    await runner.drain()
    return dispute, runner


async def test_an_l3_reissues_a_returned_refund_to_the_card(api: Api) -> None:
    dispute, runner = await refunded(api)
    l3, l2 = api.bearer(Role.L3), api.bearer(Role.L2)

    seen = (await api.gql(DISPUTE, {"id": dispute.id}, l2))["dispute"]
    assert (seen["status"], seen["amountRefunded"], seen["refundAwaitingReissue"]) == (
        "RESOLVED",
        {"minor": T, "currency": "MXN"},
        None,
    )
    nothing = (await api.gql(REISSUE, reissue_input(dispute.id), l3))["disputeRefundReissue"]
    assert (nothing["__typename"], nothing["code"]) == ("RuleViolationError", "NO_REFUND_TO_REISSUE")

    # the provider takes the refund back days later
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    returned = await runner.confirm(key, succeeded=False, provider_reference="re_1", detail="card_closed")
    assert returned is StepOutcome.RETURNED
    seen = (await api.gql(DISPUTE, {"id": dispute.id}, l2))["dispute"]
    assert (seen["amountRefunded"], seen["refundAwaitingReissue"]) == (
        {"minor": 0, "currency": "MXN"},
        {"minor": T, "currency": "MXN"},
    )
    # the seller reads what the dispute's money did, as amountRefunded shows it
    seller = api.bearer(Role.SELLER, subject="sel_1")
    as_seller = (await api.gql(DISPUTE, {"id": dispute.id}, seller))["dispute"]
    assert (as_seller["amountRefunded"], as_seller["refundAwaitingReissue"]) == (
        {"minor": 0, "currency": "MXN"},
        {"minor": T, "currency": "MXN"},
    )

    # an L2 may not re-issue it (audited); a blank reason changes nothing
    refused = (await api.gql(REISSUE, reissue_input(dispute.id), l2))["disputeRefundReissue"]
    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "FORBIDDEN")
    assert (
        await api.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied' AND target_id = :id", id=dispute.id
        )
        == 1
    )
    blank = (await api.gql(REISSUE, reissue_input(dispute.id, reason=" "), l3))["disputeRefundReissue"]
    assert (blank["__typename"], blank["code"]) == ("RuleViolationError", "REASON_REQUIRED")
    unknown = (await api.gql(REISSUE, reissue_input("dsp_nope"), l3))["disputeRefundReissue"]
    assert (unknown["__typename"], unknown["code"]) == ("NotFoundError", "NOT_FOUND")
    assert await api.scalar("SELECT COUNT(*) FROM outbox_jobs WHERE kind = 'dispute.refund_reissue'") == 0

    accepted = (await api.gql(REISSUE, reissue_input(dispute.id), l3))["disputeRefundReissue"]
    assert accepted["__typename"] == "DisputeRefundReissueSuccess"
    assert {k: v for k, v in accepted.items() if k not in ("__typename", "jobId")} == {
        "method": "CARD",
        "idempotencyKey": f"dispute:{dispute.id}/refund_reissue/1",
        "amount": {"minor": T, "currency": "MXN", "formatted": "1230.00 MXN"},
        # held for the buyer until the provider confirms the new refund
        "dispute": {"id": dispute.id, "refundAwaitingReissue": {"minor": T}},
    }
    again = (await api.gql(REISSUE, reissue_input(dispute.id, "STORE_CREDIT"), l3))["disputeRefundReissue"]
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "REFUND_REISSUE_IN_FLIGHT")

    # the re-issue (the provider answers at once), then the buyer's notice it enqueued (D155)
    assert await runner.drain() == [StepOutcome.COMPLETED, StepOutcome.COMPLETED]
    notifications = runner.providers.notifications
    assert isinstance(notifications, FakeNotifications)
    assert notifications.sent[f"dispute:{dispute.id}/refund_reissue/1/notice"] == (
        "BUYER",
        "buy_1",
        CARD_NOTICE_TEMPLATE,
    )
    seen = (await api.gql(DISPUTE, {"id": dispute.id}, l2))["dispute"]
    assert (seen["amountRefunded"], seen["refundAwaitingReissue"]) == ({"minor": T, "currency": "MXN"}, None)
    assert (
        await api.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'refund.reissued' AND actor_role = 'L3'"
        )
        == 1
    )


DEAD_LETTERS = """
{ deadLetterJobs(countryCode: "MX") {
    __typename
    ... on OutboxJobConnection { edges { node { kind provider status disputeId step } } }
} }
"""


async def test_a_dead_card_reissue_is_listed_with_its_dispute(api: Api) -> None:
    dispute, runner = await refunded(api)
    key = f"dispute:{dispute.id}/FULL_REFUND/provider_refund"
    assert await runner.confirm(key, succeeded=False, provider_reference="re_1") is StepOutcome.RETURNED
    l3 = api.bearer(Role.L3)
    accepted = (await api.gql(REISSUE, reissue_input(dispute.id), l3))["disputeRefundReissue"]
    assert accepted["__typename"] == "DisputeRefundReissueSuccess"
    refusing = SagaRunner(
        api.svc,
        Providers(FakePayments(fail_always=ProviderFailureKind.PERMANENT), FakeNotifications()),
        worker_id="w-test",
        job_kinds={REISSUE_JOB_KIND: RefundReissueJob()},
    )
    assert await refusing.drain() == [StepOutcome.DEAD_LETTERED]
    listed = (await api.gql(DEAD_LETTERS, None, l3))["deadLetterJobs"]
    assert [edge["node"] for edge in listed["edges"]] == [
        {
            "kind": "dispute.refund_reissue",
            "provider": "payments",
            "status": "DEAD",
            "disputeId": dispute.id,
            "step": None,
        }
    ]
    # the dispute keeps its status: only the re-issue is dead (an L3 replays or discards it)
    seen = (await api.gql(DISPUTE, {"id": dispute.id}, l3))["dispute"]
    assert (seen["status"], seen["refundAwaitingReissue"]) == ("RESOLVED", {"minor": T, "currency": "MXN"})
