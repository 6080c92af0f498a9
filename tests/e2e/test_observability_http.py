"""Observability of the HTTP service, in-process: JSON logs without personal data, the
request id everywhere, /healthz and /readyz in both states, /metrics."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interfaces.container import build_container, dispose_engines, migrate_database
from interfaces.http.app import create_app
from interfaces.logs import configure_logging, redact_event, redact_text, remove_handler
from interfaces.settings import Settings

EMAIL = "maria.gonzalez@gmail.com"
PHONE = "+52 55 1234 5678"
CARD = "4111 1111 1111 1111"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLXNlY3JldA"
PII = (EMAIL, PHONE, CARD, BEARER)
LEAK = """query Leak($a: Int, $b: Int, $c: Int, $d: Int) {
  a: orders(countryCode: "MX", first: $a) { __typename }
  b: orders(countryCode: "MX", first: $b) { __typename }
  c: orders(countryCode: "MX", first: $c) { __typename }
  d: orders(countryCode: "MX", first: $d) { __typename }
}"""


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)
    try:
        yield stream
    finally:
        remove_handler(handler)


async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://supportos.test"
    ) as c:
        yield c


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))):
        yield c


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def _variants(value: str) -> set[str]:
    digits = re.sub(r"\D", "", value)
    return {value, value.removeprefix("Bearer "), *([digits] if len(digits) >= 9 else [])}


async def test_a_failing_request_full_of_pii_logs_json_with_its_request_id_and_no_pii(
    client: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": LEAK, "variables": dict(zip("abcd", PII, strict=True))},
        headers={"X-Request-ID": "leak-test-1", "Authorization": BEARER + "x"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "leak-test-1"
    body = response.json()
    assert len(body["errors"]) == 4  # each value refused: the request failed
    assert all(error["extensions"]["requestId"] == "leak-test-1" for error in body["errors"])

    lines = _lines(captured_logs)
    ours = [line for line in lines if line.get("request_id") == "leak-test-1"]
    assert len(ours) >= 5  # four refused values, the unauthenticated caller, the access line
    assert any(line["logger"] == "supportos.http" and line["status"] == 200 for line in ours)
    assert sum("rejected GraphQL request" in line["event"] for line in ours) == 4
    assert all(line["logger"] != "supportos.http" or line["route"] == "/graphql" for line in ours)
    text = captured_logs.getvalue()
    for value in PII:
        for variant in _variants(value):
            assert variant not in text, variant
    for kind in ("EMAIL", "BEARER_TOKEN", "CARD_NUMBER", "NUMBER"):
        assert f"[REDACTED:{kind}]" in text


def test_redaction_keeps_what_is_not_personal() -> None:
    assert redact_text("order ord_000123456789 at 2026-03-02 12:00:00, 3 jobs") == (
        "order ord_000123456789 at 2026-03-02 12:00:00, 3 jobs"
    )
    assert redact_text("request req_0193ab45cd, placeholder j***@example.com") == (
        "request req_0193ab45cd, placeholder j***@example.com"
    )
    assert redact_text("call 55 1234 5678 now") == "call [REDACTED:NUMBER] now"
    assert redact_text(f"card {CARD}.") == "card [REDACTED:CARD_NUMBER]."


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("call 9876 5432 now", "call [REDACTED:NUMBER] now"),  # a Kuwaiti mobile (8 digits)
        ("shop line 2255-1234.", "shop line [REDACTED:NUMBER]."),  # a Kuwaiti landline
        ("buyer phone=50123456", "buyer phone=[REDACTED:NUMBER]"),
        ("tel:98765432 or whatsapp:5512345678", "tel:[REDACTED:NUMBER] or whatsapp:[REDACTED:NUMBER]"),
        ("at 12:30:45 via http://host:8080/x", "at 12:30:45 via http://host:8080/x"),
        ("dated 20261207, total 12345678", "dated 20261207, total 12345678"),  # not Kuwaiti lines
        ("order ord_98765432 on 2026-12-07", "order ord_98765432 on 2026-12-07"),
    ],
)
def test_a_kuwaiti_number_of_eight_digits_is_redacted(text: str, logged: str) -> None:
    assert redact_text(text) == logged


def test_a_field_named_like_a_secret_is_redacted_whole() -> None:
    event = redact_event(
        None,
        "info",
        {
            "event": "provider answered",
            "password": "hunter2hunter2",
            "api_key": 12345678,
            "context": {"client_secret": "abc", "attempt": 2, "token_count": 812},
            "token_count": 812,
            "password_changed_at": "2026-03-02",
            "request_id": "req_1",
        },
    )
    assert event == {
        "event": "provider answered",
        "password": "[REDACTED:SECRET]",
        "api_key": "[REDACTED:SECRET]",
        "context": {"client_secret": "[REDACTED:SECRET]", "attempt": 2, "token_count": 812},
        "token_count": 812,
        "password_changed_at": "2026-03-02",
        "request_id": "req_1",
    }


async def test_healthz_is_up_and_readyz_without_a_database_is_503(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "no database configured"}


async def test_readyz_is_503_until_the_database_is_migrated(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")
    container = build_container(settings)
    try:
        async for c in _client(container.http_app()):
            unmigrated = await c.get("/readyz")
            assert unmigrated.status_code == 503
            assert unmigrated.json()["status"] == "unavailable"
            assert "not migrated" in unmigrated.json()["reason"]
            assert (await c.get("/healthz")).status_code == 200  # the process is up all the same

            await migrate_database(settings)
            ready = await c.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    finally:
        await dispose_engines(container)


async def test_readyz_names_an_unreachable_database() -> None:
    settings = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    container = build_container(settings)
    try:
        async for c in _client(container.http_app()):
            response = await c.get("/readyz")
            assert response.status_code == 503
            assert response.json()["reason"].startswith("database unreachable: ")
    finally:
        await dispose_engines(container)


async def test_metrics_are_served_in_the_prometheus_text_format(client: httpx.AsyncClient) -> None:
    await client.post("/graphql", json={"query": "query Version { version }"})
    await client.post("/graphql", json={"query": "{ version }"})
    await client.post("/graphql", json={"query": "{ nope }"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # an anonymous caller's operation name claims no label slot (D113): "other" until a known
    # caller's valid operation of that name has claimed one
    assert re.search(
        r'supportos_graphql_operations_total\{operation="other",outcome="ok",type="query"\} \d', text
    )
    assert re.search(
        r'supportos_graphql_operations_total\{operation="anonymous",outcome="ok",type="query"\}', text
    )
    assert re.search(r'supportos_graphql_operations_total\{operation="anonymous",outcome="rejected"', text)
    assert 'supportos_graphql_errors_total{code="INVALID_REQUEST",type="GraphQLError"}' in text
    assert 'supportos_http_request_duration_seconds_bucket{le="10.0",method="POST",route="/graphql"}' in text
    assert (
        'supportos_graphql_operation_duration_seconds_bucket{le="7.5",operation="other",type="query"}' in text
    )
