"""Metrics and the request id after real requests, on both databases: ledger postings
counted once committed, idempotent replays, typed errors by type, the outbox gauges, and
the caller's X-Request-Id in the response, the error extensions and the audit log."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from application.saga.executor import Providers, SagaRunner
from application.security.principal import Role
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import MX, Api

RESOLVE = """
mutation Resolve($input: DisputeResolveInput!) {
  disputeResolve(input: $input) { __typename ... on Error { code } }
}"""


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_ledger_postings_and_replays_are_counted_once_committed(api: Api) -> None:
    transactions = sample("supportos_ledger_transactions_total", country="MX", currency="MXN")
    postings = sample("supportos_ledger_postings_total", country="MX", currency="MXN")
    replays = sample("supportos_idempotent_replays_total", country="MX", operation="dispute.decide")

    dispute = await api.dispute("ord_obs_1", review=True)  # capture: one transaction
    captured = await api.scalar("SELECT COUNT(*) FROM ledger_postings")
    assert sample("supportos_ledger_transactions_total", country="MX", currency="MXN") == transactions + 1
    assert sample("supportos_ledger_postings_total", country="MX", currency="MXN") == postings + captured

    decide: dict[str, Any] = {
        "countryCode": "MX",
        "disputeId": dispute.id,
        "outcome": "FULL_REFUND",
        "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
        "idempotencyKey": "obs-decide-1",
    }
    l2 = api.bearer(Role.L2)
    first = await api.gql(RESOLVE, {"input": decide}, l2)
    again = await api.gql(RESOLVE, {"input": decide}, l2)
    assert first == again == {"disputeResolve": {"__typename": "DisputeResolveSuccess"}}
    assert (
        sample("supportos_idempotent_replays_total", country="MX", operation="dispute.decide") == replays + 1
    )

    # the saga posts the refund's transactions in the worker: counted there, once each
    await SagaRunner(api.svc, Providers(FakePayments(), FakeNotifications()), worker_id="w1").drain()
    in_db = await api.scalar("SELECT COUNT(*) FROM ledger_transactions WHERE country_code = 'MX'")
    all_postings = await api.scalar("SELECT COUNT(*) FROM ledger_postings WHERE country_code = 'MX'")
    assert sample("supportos_ledger_transactions_total", country="MX", currency="MXN") == transactions + in_db
    assert sample("supportos_ledger_postings_total", country="MX", currency="MXN") == postings + all_postings
    # replaying the whole saga posts nothing new and counts nothing
    await SagaRunner(api.svc, Providers(FakePayments(), FakeNotifications()), worker_id="w2").drain()
    assert sample("supportos_ledger_transactions_total", country="MX", currency="MXN") == transactions + in_db


async def test_metrics_after_real_requests(api: Api) -> None:
    forbidden = sample("supportos_graphql_errors_total", type="ForbiddenError", code="FORBIDDEN")
    dispute = await api.dispute("ord_obs_2", review=True)
    auditor = api.bearer(Role.AUDITOR)
    denied = await api.gql(RESOLVE, {"input": _decide(dispute.id, "k")}, auditor)
    assert denied["disputeResolve"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    decided = await api.gql(RESOLVE, {"input": _decide(dispute.id, "k")}, api.bearer(Role.L2))
    assert decided["disputeResolve"] == {"__typename": "DisputeResolveSuccess"}  # its first step waits
    await api.gql('query Orders { orders(countryCode: "MX") { __typename } }', headers=api.bearer(Role.L1))

    response = await api.client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert sample("supportos_graphql_errors_total", type="ForbiddenError", code="FORBIDDEN") == forbidden + 1
    assert 'supportos_graphql_operations_total{operation="Resolve",outcome="ok",type="mutation"}' in text
    assert 'supportos_graphql_operations_total{operation="Orders",outcome="ok",type="query"}' in text
    # the gauges were read from the database for this scrape: the decision's first step waits
    pending = await api.scalar("SELECT COUNT(*) FROM outbox_jobs WHERE status = 'PENDING'")
    provider = await api.scalar("SELECT MIN(provider) FROM outbox_jobs WHERE status = 'PENDING'")
    assert pending >= 1
    depth = sample("supportos_outbox_depth", country="MX", provider=provider, status="PENDING")
    assert depth == pending
    assert f'supportos_outbox_oldest_age_seconds{{country="MX",provider="{provider}"}}' in text


async def test_the_request_id_reaches_the_response_the_errors_and_the_audit_log(api: Api) -> None:
    dispute = await api.dispute("ord_obs_3", review=True)
    headers = {**api.bearer(Role.L1), "X-Request-ID": "obs-req-42"}  # L1 may not resolve: audited
    response = await api.post(RESOLVE, {"input": _decide(dispute.id, "obs-k")}, headers)
    assert response.headers["x-request-id"] == "obs-req-42"
    assert response.json()["data"]["disputeResolve"]["__typename"] == "ForbiddenError"
    denial = [d for d in await api.denials() if d["request_id"] == "obs-req-42"]
    assert len(denial) == 1 and denial[0]["target_type"] is not None

    broken = await api.post("{ nope }", headers={"X-Request-ID": "obs-req-43"})
    assert broken.json()["errors"][0]["extensions"] == {"requestId": "obs-req-43"}
    insane = await api.post("{ version }", headers={"X-Request-ID": "bad id with spaces"})
    assert insane.headers["x-request-id"].startswith("req_")


def _decide(dispute_id: str, key: str) -> dict[str, Any]:
    return {
        "countryCode": MX.value,
        "disputeId": dispute_id,
        "outcome": "REJECTED",
        "reasonCode": "INSUFFICIENT_EVIDENCE",
        "idempotencyKey": key,
    }


async def test_anonymous_or_rejected_operations_claim_no_operation_label(api: Api) -> None:
    """D113: 200 anonymous requests with junk operation names used to take every label slot,
    so the console's real operations were all counted as ``other`` until a restart."""
    await api.post("{", None)  # does not parse: rejected
    response = await api.client.post("/graphql", json={"query": "{", "operationName": "JunkUnparsed"})
    assert response.status_code in (200, 400)
    await api.post("query JunkAnonymous { version }", None)  # valid, but no caller
    await api.post("query JunkInvalid { nope }", None, api.bearer(Role.L1))  # a caller, but invalid
    await api.gql(
        'query KnownCallerOrders { orders(countryCode: "MX") { __typename } }', headers=api.bearer(Role.L1)
    )

    text = (await api.client.get("/metrics")).text
    for junk in ("JunkUnparsed", "JunkAnonymous", "JunkInvalid"):
        assert f'operation="{junk}"' not in text
    assert (
        'supportos_graphql_operations_total{operation="KnownCallerOrders",outcome="ok",type="query"}' in text
    )
