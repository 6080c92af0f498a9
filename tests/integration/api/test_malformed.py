"""Malformed input gets a clear error and changes nothing; query bombs are refused before
any resolver runs (not one SQL statement); unexpected errors are masked and logged."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from application.ports.read_models import ReadModels
from application.security.principal import Role
from application.security.scope import scoped_to
from interfaces.graphql.context import ApiDependencies
from interfaces.graphql.schema import MAX_ALIASES, MAX_QUERY_DEPTH
from interfaces.http.app import MAX_BODY_BYTES
from tests.integration.api.conftest import Api


async def snapshot(api: Api) -> tuple[int, ...]:
    counts = [await api.audit_count()]
    for table in ("orders", "disputes", "ledger_transactions", "idempotency_keys", "outbox_jobs"):
        counts.append(int(await api.scalar(f"SELECT COUNT(*) FROM {table}")))
    return tuple(counts)


async def graphql_errors(api: Api, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    response = await api.post(query, variables, api.bearer(Role.L3))
    body = response.json()
    assert body.get("data") is None, body
    return [error["message"] for error in body["errors"]]


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ('{ order(countryCode: 52, id: "ord_1") { __typename } }', None, "String cannot represent"),
        ("{ orders { __typename } }", None, "orders(countryCode:)' of type 'String!' is required"),
        (
            'mutation { orderTransition(input: {countryCode: "MX", orderId: "ord_1", target: FLYING}) '
            "{ __typename } }",
            None,
            "FLYING",
        ),
        (
            "mutation($t: OrderStatus!) { orderTransition(input: "
            '{countryCode: "MX", orderId: "ord_1", target: $t}) { __typename } }',
            {"t": "FLYING"},
            "FLYING",
        ),
        (
            "mutation($i: DisputeResolveInput!) { disputeResolve(input: $i) { __typename } }",
            {
                "i": {
                    "countryCode": "MX",
                    "disputeId": "d",
                    "outcome": "REJECTED",
                    "reasonCode": "OTHER",
                    "idempotencyKey": "k",
                    "amountMinor": 100,
                }
            },
            "amountMinor",
        ),
        ('{ orders(countryCode: "MX", first: "ten") { __typename } }', None, "Int cannot represent"),
        ('{ orders(countryCode: "MX", first: 99999999999) { __typename } }', None, "Int cannot represent"),
        (
            'mutation { disputeOpen(input: {orderId: "ord_1", reason: LATE, statement: "s"}) '
            "{ __typename } }",
            None,
            "countryCode",
        ),
        (
            "mutation($i: DeadLetterReplayInput!) { deadLetterReplay(input: $i) { __typename } }",
            {"i": {"countryCode": "MX", "jobId": 2**63}},
            "signed 64-bit",
        ),
        (
            "mutation($i: DeadLetterDiscardInput!) { deadLetterDiscard(input: $i) { __typename } }",
            {"i": {"countryCode": "MX", "jobId": -(2**63) - 1, "reason": "r"}},
            "signed 64-bit",
        ),
        (
            'mutation { deadLetterReplay(input: {countryCode: "MX", jobId: 1000000000000000000000000000000}) '
            "{ __typename } }",
            None,
            "BigInt",
        ),
    ],
    ids=[
        "wrong-type",
        "missing-country",
        "unknown-enum",
        "unknown-enum-variable",
        "no-amount-field",
        "string-for-int",
        "int-overflow",
        "missing-country-in-input",
        "job-id-past-64-bits",
        "job-id-below-64-bits",
        "job-id-literal-past-64-bits",
    ],
)
async def test_invalid_documents_get_clear_errors_and_change_nothing(
    api: Api, query: str, variables: dict[str, Any] | None, expected: str
) -> None:
    await api.order("ord_1")
    before = await snapshot(api)
    messages = await graphql_errors(api, query, variables)
    assert any(expected in message for message in messages), messages
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (
            '{ r: order(countryCode: "Mexico", id: "ord_1") { ... on InvalidInputError { field code } } }',
            "countryCode",
        ),
        (
            '{ r: order(countryCode: "ZZ", id: "ord_1") { ... on InvalidInputError { field code } } }',
            "countryCode",
        ),
        (
            '{ r: order(countryCode: "MX", id: "%s") { ... on InvalidInputError { field code } } }'
            % ("x" * 500),
            "id",
        ),
        ('{ r: order(countryCode: "MX", id: " ") { ... on InvalidInputError { field code } } }', "id"),
        ('{ r: orders(countryCode: "MX", first: 0) { ... on InvalidInputError { field code } } }', "first"),
        (
            '{ r: orders(countryCode: "MX", after: "bm9wZQ") { ... on InvalidInputError { field code } } }',
            "after",
        ),
        (
            '{ r: orders(countryCode: "MX", filter: {createdFrom: "2026-03-01T00:00:00"}) '
            "{ ... on InvalidInputError { field code } } }",
            "createdFrom",
        ),
        (
            '{ r: ledgerAccount(countryCode: "MX", account: "my:wallet", currency: "MXN") '
            "{ ... on InvalidInputError { field code } } }",
            "account",
        ),
        (
            '{ r: ledgerAccount(countryCode: "MX", account: "psp:clearing", currency: "XXX") '
            "{ ... on InvalidInputError { field code } } }",
            "currency",
        ),
        (
            'mutation { r: disputeOpen(input: {countryCode: "MX", orderId: "ord_1", reason: LATE, '
            'statement: "%s"}) '
            "{ ... on InvalidInputError { field code } } }" % ("s" * 6000),
            "statement",
        ),
        (
            'mutation { r: orderForceComplete(input: {countryCode: "MX", orderId: "ord_1", reason: "%s"}) '
            "{ ... on InvalidInputError { field code } } }" % ("r" * 2001),
            "reason",
        ),
        (
            'mutation { r: disputeOpen(input: {countryCode: "MX", orderId: "ord_1", reason: LATE, '
            'statement: "bad\\u0000text"}) { ... on InvalidInputError { field code } } }',
            "statement",
        ),
        (
            'mutation { r: orderForceComplete(input: {countryCode: "MX", orderId: "ord_1", '
            'reason: "bell\\u0007"}) { ... on InvalidInputError { field code } } }',
            "reason",
        ),
    ],
    ids=[
        "country-name",
        "country-unknown",
        "oversized-id",
        "blank-id",
        "first-zero",
        "foreign-cursor",
        "naive-datetime",
        "bad-account",
        "bad-currency",
        "oversized-statement",
        "oversized-reason",
        "nul-in-statement",
        "control-character-in-reason",
    ],
)
async def test_invalid_values_are_typed_invalid_input_and_change_nothing(
    api: Api, query: str, field: str
) -> None:
    await api.order("ord_1")
    before = await snapshot(api)
    body = await api.gql(query, None, api.bearer(Role.L3))
    assert body["r"] == {"field": field, "code": "INVALID_INPUT"}
    assert await snapshot(api) == before


INCIDENT_OPEN = (
    "mutation($i: IncidentOpenInput!) { r: incidentOpen(input: $i) "
    "{ __typename ... on InvalidInputError { field code } } }"
)


@pytest.mark.parametrize(
    "title", ["nul \x00 inside", "half \ud800 a pair", "escape \x1b[31m"], ids=["nul", "surrogate", "escape"]
)
async def test_text_no_column_can_hold_is_invalid_input_on_every_backend(api: Api, title: str) -> None:
    """D110: a NUL (or an unpaired surrogate, sent as a JSON escape) was stored on SQLite and
    crashed PostgreSQL's driver, answered "Unexpected error."; now the same typed refusal."""
    await api.order("ord_1")
    before = await snapshot(api)
    variables = {"countryCode": "MX", "orderId": "ord_1", "type": "LATE", "severity": "SEV2", "title": title}
    # as JSON text with escapes: a client's encoder can send what Python's UTF-8 cannot encode
    content = json.dumps({"query": INCIDENT_OPEN, "variables": {"i": variables}}, ensure_ascii=True)
    with scoped_to(None):
        response = await api.client.post(
            "/graphql",
            content=content,
            headers={**api.bearer(Role.L1), "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["r"] == {
        "__typename": "InvalidInputError",
        "field": "title",
        "code": "INVALID_INPUT",
    }
    assert await snapshot(api) == before


async def test_an_oversized_body_is_refused_before_it_is_read(api: Api) -> None:
    before = await snapshot(api)
    query = "{ version } # " + "x" * (MAX_BODY_BYTES + 1)
    response = await api.post(query, None, api.bearer(Role.L3))
    assert response.status_code == 413
    assert response.headers["x-request-id"]
    assert await snapshot(api) == before


def nested(depth: int) -> str:
    selection = "id"
    for level in range(depth):
        selection = (
            f"order {{ id disputes {{ id {selection} }} }}" if level % 2 else f"disputes {{ {selection} }}"
        )
    return f'{{ order(countryCode: "MX", id: "ord_1") {{ ... on Order {{ {selection} }} }} }}'


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (nested(MAX_QUERY_DEPTH + 4), "exceeds maximum operation depth"),
        (
            "{ "
            + " ".join(
                f'a{n}: order(countryCode: "MX", id: "ord_1") {{ __typename }}'
                for n in range(MAX_ALIASES + 5)
            )
            + " }",
            "aliases",
        ),
        ("{ " + "version " * 2_500 + "}", "token"),
    ],
    ids=["depth", "aliases", "tokens"],
)
async def test_bombs_are_refused_before_any_resolver_runs(api: Api, query: str, expected: str) -> None:
    await api.order("ord_1")
    headers = api.bearer(Role.L3)
    with api.sql.counting() as statements:
        response = await api.post(query, None, headers)
    body = response.json()
    assert body.get("data") is None, body
    assert any(expected in error["message"].lower() for error in body["errors"]), body["errors"]
    assert statements == []


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    real: ApiDependencies = api.container.api()

    class Exploding:
        async def get_many(self, *args: object) -> Any:
            raise RuntimeError("database on fire")

        async def list_orders(self, *args: object) -> Any:
            raise RuntimeError("database on fire")

    broken = ApiDependencies(
        services=real.services,
        reads=ReadModels(Exploding(), real.reads.disputes, real.reads.ledger, real.reads.audit),
        authenticate_api_key=real.authenticate_api_key,
    )
    api.container.api.override(providers.Object(broken))
    api.container.http_app.reset()  # type: ignore[attr-defined]  # a Singleton provider
    transport = httpx.ASGITransport(app=api.container.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
        with caplog.at_level(logging.ERROR, logger="supportos.graphql"):
            response = await client.post(
                "/graphql",
                json={"query": '{ order(countryCode: "MX", id: "ord_1") { __typename } }'},
                headers={**api.bearer(Role.L1), "X-Request-Id": "req-masked-1"},
            )
    body = response.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "fire" not in response.text
    assert body["errors"][0]["extensions"]["requestId"] == "req-masked-1"
    assert response.headers["x-request-id"] == "req-masked-1"
    assert any("req-masked-1" in record.getMessage() for record in caplog.records)
