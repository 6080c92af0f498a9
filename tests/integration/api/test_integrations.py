"""The dead-letter queue and provider status over GraphQL (L3; AUDITOR reads), on SQLite
and PostgreSQL, through the real app and container."""

from __future__ import annotations

from typing import Any

from application.disputes.use_cases import DecideDispute, decide_dispute
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Role
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import MX, SYSTEM, Api

JOBS = """
query ($after: String) {
  deadLetterJobs(countryCode: "MX", first: 1, after: $after) {
    __typename
    ... on OutboxJobConnection {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id kind provider status attempts maxAttempts disputeId step
                            errors { attempt kind detail } } }
    }
    ... on Error { code }
  }
}
"""
STATUS = """
{ providerStatus(countryCode: "MX") {
    __typename
    ... on ProviderStatusList { providers { provider circuit consecutiveFailures reopensAt
                                            queue { pending running waiting dead } } }
    ... on Error { code }
} }
"""
REPLAY = """
mutation ($input: DeadLetterReplayInput!) {
  deadLetterReplay(input: $input) {
    __typename
    ... on DeadLetterReplaySuccess { job { id status attempts providerIdempotencyKey errors { kind } } }
    ... on Error { code message }
  }
}
"""
DISCARD = """
mutation ($input: DeadLetterDiscardInput!) {
  deadLetterDiscard(input: $input) {
    __typename
    ... on DeadLetterDiscardSuccess { job { id status } }
    ... on InvalidInputError { field }
    ... on Error { code }
  }
}
"""


async def dead_refunds(api: Api, *order_ids: str) -> list[tuple[int, str]]:
    runner = SagaRunner(
        api.svc,
        Providers(FakePayments(fail_always=ProviderFailureKind.PERMANENT), FakeNotifications()),
        worker_id="w-test",
    )
    dead: list[tuple[int, str]] = []
    for n, order_id in enumerate(order_ids):
        dispute = await api.dispute(order_id, review=True)
        (
            await decide_dispute(
                api.svc,
                SYSTEM,
                DecideDispute(MX, dispute.id, OutcomeCode.FULL_REFUND, DecisionReasonCode.GOODWILL, f"k{n}"),
            )
        ).unwrap()
        assert await runner.drain() == [StepOutcome.DEAD_LETTERED]
        async with api.svc.uow() as uow:
            job = await uow.outbox.by_key(f"dispute:{dispute.id}/FULL_REFUND/provider_refund")
        assert job is not None
        dead.append((job.id, dispute.id))
    return dead


def answer(data: dict[str, Any], name: str) -> dict[str, Any]:
    value: dict[str, Any] = data[name]
    return value


async def test_an_l3_lists_replays_and_discards_dead_letters(api: Api) -> None:
    [(first_job, first_dispute), (second_job, _)] = await dead_refunds(api, "ord_1", "ord_2")
    l3, auditor = api.bearer(Role.L3), api.bearer(Role.AUDITOR)

    page = answer(await api.gql(JOBS, None, auditor), "deadLetterJobs")
    assert page["pageInfo"]["hasNextPage"] is True
    [edge] = page["edges"]
    assert edge["node"] == {
        "id": second_job,
        "kind": "dispute.step",
        "provider": "payments",
        "status": "DEAD",
        "attempts": 1,
        "maxAttempts": 8,
        "disputeId": edge["node"]["disputeId"],
        "step": "provider_refund",
        "errors": [
            {"attempt": 1, "kind": "PROVIDER_PERMANENT", "detail": edge["node"]["errors"][0]["detail"]}
        ],
    }
    rest = answer(await api.gql(JOBS, {"after": page["pageInfo"]["endCursor"]}, l3), "deadLetterJobs")
    assert [e["node"]["id"] for e in rest["edges"]] == [first_job]
    assert rest["pageInfo"]["hasNextPage"] is False

    status = answer(await api.gql(STATUS, None, auditor), "providerStatus")
    assert status["providers"] == [
        {
            "provider": "payments",
            "circuit": "CLOSED",
            "consecutiveFailures": 0,
            "reopensAt": None,
            "queue": {"pending": 0, "running": 0, "waiting": 0, "dead": 2},
        }
    ]

    replayed = answer(
        await api.gql(REPLAY, {"input": {"countryCode": "MX", "jobId": first_job}}, l3), "deadLetterReplay"
    )
    assert replayed["job"] == {
        "id": first_job,
        "status": "PENDING",
        "attempts": 0,
        # a declined refund is replayed on a fresh provider key (D83)
        "providerIdempotencyKey": f"dispute:{first_dispute}/FULL_REFUND/provider_refund#r1",
        "errors": [{"kind": "PROVIDER_PERMANENT"}],
    }
    assert await api.scalar("SELECT status FROM disputes WHERE id = :id", id=first_dispute) == "EXECUTING"
    again = answer(
        await api.gql(REPLAY, {"input": {"countryCode": "MX", "jobId": first_job}}, l3), "deadLetterReplay"
    )
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "JOB_NOT_DEAD_LETTERED")
    elsewhere = answer(
        await api.gql(REPLAY, {"input": {"countryCode": "CO", "jobId": second_job}}, api.bearer(Role.L3, MX)),
        "deadLetterReplay",
    )
    assert elsewhere["__typename"] == "ForbiddenError"  # not the caller's country

    blank = answer(
        await api.gql(DISCARD, {"input": {"countryCode": "MX", "jobId": second_job, "reason": " "}}, l3),
        "deadLetterDiscard",
    )
    assert (blank["__typename"], blank["code"]) == ("RuleViolationError", "REASON_REQUIRED")
    discarded = answer(
        await api.gql(
            DISCARD, {"input": {"countryCode": "MX", "jobId": second_job, "reason": "refunded by hand"}}, l3
        ),
        "deadLetterDiscard",
    )
    assert discarded["job"] == {"id": second_job, "status": "DISCARDED"}
    audited = await api.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('dead_letter.replayed', 'dead_letter.discarded')"
        " AND actor_role = 'L3'"
    )
    assert audited == 2
    assert answer(await api.gql(JOBS, None, l3), "deadLetterJobs")["edges"] == []

    # an auditor reads but cannot replay: refused and audited
    before = len(await api.denials())
    refused = answer(
        await api.gql(REPLAY, {"input": {"countryCode": "MX", "jobId": second_job}}, auditor),
        "deadLetterReplay",
    )
    assert refused["__typename"] == "ForbiddenError"
    assert len(await api.denials()) == before + 1
