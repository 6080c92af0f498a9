"""A page loads the relations its nodes ask for before it is answered (D143).

``disputes`` loads the page's orders and ledger transactions in the loaders' own batches
when, and only when, a node field needs them; each nested field then answers from the loaded
value in place. The answers are those of the same fields loaded one dispute at a time (the
``dispute`` query, which preloads nothing), the statements are one per relation asked for,
and a failed load fails the fields that read it, as before. ``orders`` (disputes, ledger)
and ``cases`` (order, dispute; bundles in test_diagnostics_tickets_api) do the same. On
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.persistence.read_models import SqlAlchemyOrderReads
from application.disputes.use_cases import DecideDispute, decide_dispute
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import Role
from domain.disputes.codes import DecisionReasonCode, OutcomeCode
from interfaces.graphql.cases import types as case_types
from interfaces.graphql.disputes import types as dispute_types
from interfaces.graphql.orders import types as order_types
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import MX, SYSTEM, Api
from tests.integration.api.test_refund_reissue_api import refunded

FIELDS = """
  id status
  order { id status snapshot { totalCharged { minor currency } } }
  amountRefunded { minor currency }
  refundAwaitingReissue { minor currency }
  ledgerTransactions { idempotencyKey kind amount { minor currency } }
"""
PAGE = f'query {{ disputes(countryCode: "MX") {{ ... on DisputeConnection {{ nodes {{ {FIELDS} }} }} }} }}'
ONE = f'query($id: String!) {{ dispute(countryCode: "MX", id: $id) {{ ... on Dispute {{ {FIELDS} }} }} }}'


async def three_disputes(api: Api) -> list[str]:
    """One refunded and then returned by the provider (amountRefunded 0, awaiting re-issue),
    one refunded, one open (no ledger transactions of its own)."""
    returned, runner = await refunded(api)
    key = f"dispute:{returned.id}/FULL_REFUND/provider_refund"
    outcome = await runner.confirm(key, succeeded=False, provider_reference="re_1", detail="card_closed")
    assert outcome is StepOutcome.RETURNED
    partial = await api.dispute("ord_2", review=True)
    decided = DecideDispute(MX, partial.id, OutcomeCode.FULL_REFUND, DecisionReasonCode.GOODWILL, "k2")
    (await decide_dispute(api.svc, SYSTEM, decided)).unwrap()
    await SagaRunner(api.svc, Providers(FakePayments(), FakeNotifications()), worker_id="w-2").drain()
    still_open = await api.dispute("ord_3")
    return [returned.id, partial.id, still_open.id]


def count(statements: list[str], table: str) -> int:
    """Statements reading ``table`` (SQLite's ledger ranges join it to their JSON list, D145)."""
    return sum(f"FROM {table}" in statement or f"JOIN {table}" in statement for statement in statements)


def spy(monkeypatch: pytest.MonkeyPatch, name: str, module: Any = dispute_types) -> list[str]:
    """Records each call of the module's loading variant ``name`` (the resolver's fallback)."""
    calls: list[str] = []
    original: Callable[..., Any] = getattr(module, name)

    def recording(root: Any, info: Any) -> Any:
        calls.append(root.id)
        return original(root, info)

    monkeypatch.setattr(module, name, recording)
    return calls


LOADING = (
    "_load_dispute_order",
    "_load_dispute_refunded",
    "_load_refund_awaiting_reissue",
    "_load_dispute_ledger",
)


async def test_a_page_answers_each_relation_as_the_dispute_query_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await three_disputes(api)
    l3 = api.bearer(Role.L3)
    calls = {name: spy(monkeypatch, name) for name in LOADING}

    with api.sql.counting() as statements:
        nodes = (await api.gql(PAGE, None, l3))["disputes"]["nodes"]
    assert {node["id"] for node in nodes} == set(ids)
    # the page's nested fields answered from what the list loaded: none loaded for itself
    assert all(not made for made in calls.values()), calls
    assert (count(statements, "orders"), count(statements, "ledger_transactions")) == (1, 1), statements

    for node in nodes:
        alone = (await api.gql(ONE, {"id": node["id"]}, l3))["dispute"]
        assert node == alone
    # the dispute query preloads nothing: each relation was loaded by its own field
    assert all(len(made) == 3 for made in calls.values()), calls

    by_id = {node["id"]: node for node in nodes}
    returned, kept, still_open = (by_id[i] for i in ids)
    assert (returned["amountRefunded"]["minor"], returned["refundAwaitingReissue"]["minor"]) == (0, 123_000)
    assert kept["amountRefunded"]["minor"] > 0 and kept["refundAwaitingReissue"] is None
    assert still_open["amountRefunded"] == {"minor": 0, "currency": "MXN"}
    assert still_open["ledgerTransactions"] == []
    assert returned["ledgerTransactions"] and kept["ledgerTransactions"]
    assert all(node["order"]["snapshot"]["totalCharged"]["currency"] == "MXN" for node in nodes)


@pytest.mark.parametrize(
    ("selection", "orders", "ledger"),
    [
        ("id status", 0, 0),
        ("id order { id }", 1, 0),
        ("id ledgerTransactions { kind }", 0, 1),
        ("id amountRefunded { minor }", 1, 1),
        ("id refundAwaitingReissue { minor }", 1, 1),
        ("id order @skip(if: true) { id }", 0, 0),
        ("id order @include(if: false) { id } ledgerTransactions @skip(if: false) { kind }", 0, 1),
    ],
)
async def test_only_the_relations_a_node_field_asks_for_are_loaded(
    api: Api, selection: str, orders: int, ledger: int
) -> None:
    await three_disputes(api)
    query = f'{{ disputes(countryCode: "MX") {{ ... on DisputeConnection {{ nodes {{ {selection} }} }} }} }}'
    with api.sql.counting() as statements:
        nodes = (await api.gql(query, None, api.bearer(Role.L3)))["disputes"]["nodes"]
    assert len(nodes) == 3
    assert (count(statements, "orders"), count(statements, "ledger_transactions")) == (orders, ledger)


async def test_edges_fragments_and_aliases_are_followed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    await three_disputes(api)
    calls = {name: spy(monkeypatch, name) for name in LOADING}
    query = """
    fragment Money on Money { minor }
    fragment Row on Dispute { bought: order { id } refunded: amountRefunded { ...Money } }
    query ($skip: Boolean!) {
      disputes(countryCode: "MX") {
        ... on DisputeConnection { edges { node { id ...Row ledgerTransactions @skip(if: $skip) { kind } } } }
      }
    }"""
    with api.sql.counting() as statements:
        edges = (await api.gql(query, {"skip": False}, api.bearer(Role.L3)))["disputes"]["edges"]
    assert len(edges) == 3 and all(edge["node"]["bought"]["id"] for edge in edges)
    assert all(not made for made in calls.values()), calls
    assert (count(statements, "orders"), count(statements, "ledger_transactions")) == (1, 1)


async def test_a_caller_who_may_not_read_the_ledger_does_not_load_it(api: Api) -> None:
    await three_disputes(api)
    seller = api.bearer(Role.SELLER, subject="sel_1")
    query = (
        '{ disputes(countryCode: "MX") { ... on DisputeConnection { '
        "nodes { id ledgerTransactions { kind } } } } }"
    )
    with api.sql.counting() as statements:
        nodes = (await api.gql(query, None, seller))["disputes"]["nodes"]
    assert len(nodes) == 3 and all(node["ledgerTransactions"] is None for node in nodes)
    assert count(statements, "ledger_transactions") == 0


async def test_a_failed_load_fails_the_fields_that_read_it_and_the_page_still_answers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_disputes(api)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("orders unavailable")

    monkeypatch.setattr(SqlAlchemyOrderReads, "get_many", broken)
    query = '{ disputes(countryCode: "MX") { ... on DisputeConnection { nodes { id order { id } } } } }'
    response = await api.post(query, None, api.bearer(Role.L3))
    body = response.json()
    nodes = body["data"]["disputes"]["nodes"]
    assert len(nodes) == 3 and all(node["order"] is None for node in nodes)
    assert sorted(error["path"] for error in body["errors"]) == [
        ["disputes", "nodes", index, "order"] for index in range(3)
    ]
    assert "orders unavailable" not in response.text  # masked, as every unexpected error


ORDER_FIELDS = "id status disputes { id status } ledgerTransactions { idempotencyKey kind }"


async def test_a_page_of_orders_answers_its_disputes_and_ledger_as_the_order_query_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_disputes(api)
    l3 = api.bearer(Role.L3)
    calls = [spy(monkeypatch, name, order_types) for name in ("_load_order_disputes", "_load_order_ledger")]
    page = f'{{ orders(countryCode: "MX") {{ ... on OrderConnection {{ nodes {{ {ORDER_FIELDS} }} }} }} }}'
    with api.sql.counting() as statements:
        nodes = (await api.gql(page, None, l3))["orders"]["nodes"]
    assert len(nodes) == 3 and all(
        len(node["disputes"]) == 1 and node["ledgerTransactions"] for node in nodes
    )
    assert calls == [[], []]
    assert (count(statements, "disputes"), count(statements, "ledger_transactions")) == (1, 1)

    one = (
        f'query($id: String!) {{ order(countryCode: "MX", id: $id) {{ ... on Order {{ {ORDER_FIELDS} }} }} }}'
    )
    for node in nodes:
        assert node == (await api.gql(one, {"id": node["id"]}, l3))["order"]
    assert [len(made) for made in calls] == [3, 3]

    lean = (
        '{ orders(countryCode: "MX") { ... on OrderConnection { '
        "nodes { id ledgerTransactions { kind } } } } }"
    )
    with api.sql.counting() as statements:
        nodes = (await api.gql(lean, None, api.bearer(Role.SELLER, subject="sel_1")))["orders"]["nodes"]
    assert nodes and all(node["ledgerTransactions"] is None for node in nodes)
    assert (count(statements, "disputes"), count(statements, "ledger_transactions")) == (0, 0)


CASE_FIELDS = "id kind order { id status } dispute { id status }"


async def test_a_page_of_cases_answers_its_order_and_dispute_as_the_case_query_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_disputes(api)
    l2 = api.bearer(Role.L2)
    calls = [spy(monkeypatch, name, case_types) for name in ("_load_case_order", "_load_case_dispute")]
    page = f'{{ cases(countryCode: "MX") {{ ... on CaseConnection {{ nodes {{ {CASE_FIELDS} }} }} }} }}'
    with api.sql.counting() as statements:
        nodes = (await api.gql(page, None, l2))["cases"]["nodes"]
    with_dispute = [node for node in nodes if node["dispute"] is not None]
    assert len(with_dispute) == 3 and all(node["order"]["id"] for node in with_dispute)
    assert calls == [[], []]
    assert (count(statements, "orders"), count(statements, "disputes")) == (1, 1)

    one = f'query($id: String!) {{ case(countryCode: "MX", id: $id) {{ ... on Case {{ {CASE_FIELDS} }} }} }}'
    for node in nodes:
        assert node == (await api.gql(one, {"id": node["id"]}, l2))["case"]
    assert [len(made) for made in calls] == [len(nodes), len(nodes)]

    lean = '{ cases(countryCode: "MX") { ... on CaseConnection { nodes { id } } } }'
    with api.sql.counting() as statements:
        assert (await api.gql(lean, None, l2))["cases"]["nodes"]
    assert (count(statements, "orders"), count(statements, "disputes")) == (0, 0)
