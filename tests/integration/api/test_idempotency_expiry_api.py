"""An expired idempotency key through the API (D71): ``disputeResolve`` with the same key a
day later is a new request, and the dispute's own state refuses a second decision with a
typed error - one decision, one refund, however the key's storage ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from application.cases.scheduler import run_tick
from application.saga.executor import Providers, SagaRunner
from application.security.principal import Role
from application.shared.idempotency_expiry import ExpireIdempotencyKeys
from interfaces.cli.scheduler import scheduler_tasks
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import Api

RESOLVE = """
mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) {
    __typename
    ... on DisputeResolveSuccess { receipt { refundToCard { minor currency } } }
    ... on Error { code message }
  }
}"""


def result(data: dict[str, Any]) -> dict[str, Any]:
    payload = data["disputeResolve"]
    assert isinstance(payload, dict)
    return payload


async def test_a_decision_replayed_after_its_key_expired_is_refused_by_the_dispute_not_run_twice(
    api: Api,
) -> None:
    dispute = await api.dispute("ord_1", review=True)
    l2 = api.bearer(Role.L2)
    decide = {
        "countryCode": "MX",
        "disputeId": dispute.id,
        "outcome": "FULL_REFUND",
        "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
        "idempotencyKey": "decide-once",
    }
    first = result(await api.gql(RESOLVE, {"input": decide}, l2))
    assert first["__typename"] == "DisputeResolveSuccess", first
    payments = FakePayments()
    await SagaRunner(api.svc, Providers(payments, FakeNotifications()), worker_id="w1").drain()
    refunded = payments.total_refunded_minor
    assert refunded > 0
    assert result(await api.gql(RESOLVE, {"input": decide}, l2)) == first  # a replay within the day

    tasks = [t for t in scheduler_tasks(api.container) if isinstance(t, ExpireIdempotencyKeys)]
    assert (await run_tick(api.svc, tasks)).done == {"0:ExpireIdempotencyKeys": 0}  # not yet a day old
    api.clock.advance(timedelta(hours=24, minutes=1))
    assert (await run_tick(api.svc, tasks)).done == {"0:ExpireIdempotencyKeys": 1}
    assert await api.scalar("SELECT count(*) FROM idempotency_keys") == 0

    again = result(await api.gql(RESOLVE, {"input": decide}, l2))
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "ILLEGAL_DISPUTE_TRANSITION"), again
    await SagaRunner(api.svc, Providers(payments, FakeNotifications()), worker_id="w1").drain()
    assert payments.total_refunded_minor == refunded  # nothing moved a second time
    assert await api.scalar("SELECT count(*) FROM idempotency_keys") == 0  # the refused request stored none
