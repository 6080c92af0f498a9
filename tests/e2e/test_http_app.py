"""The HTTP service end to end, in-process: FastAPI app factory, /healthz and /graphql."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from interfaces.http.app import create_app
from interfaces.settings import Settings
from interfaces.version import supportos_version

PRODUCTION_SECRET = SecretStr("a-production-secret-that-is-long-enough-0123456789")


def _settings(**overrides: Any) -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///:memory:", **overrides)


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
        yield client


@pytest.fixture
async def dev_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(_settings(environment="development")):
        yield client


@pytest.fixture
async def prod_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(_settings(environment="production", jwt_secret=PRODUCTION_SECRET)):
        yield client


async def test_healthz_is_ok(dev_client: httpx.AsyncClient) -> None:
    response = await dev_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_graphql_answers_the_version(dev_client: httpx.AsyncClient) -> None:
    response = await dev_client.post("/graphql", json={"query": "{ version }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"version": supportos_version()}}


async def test_graphql_answers_in_production_too(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.post("/graphql", json={"query": "{ version }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"version": supportos_version()}


async def test_an_unknown_field_is_a_graphql_error(dev_client: httpx.AsyncClient) -> None:
    response = await dev_client.post("/graphql", json={"query": "{ nope }"})
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]


async def test_graphiql_is_served_in_development(dev_client: httpx.AsyncClient) -> None:
    response = await dev_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_openapi_docs_are_off_in_production(prod_client: httpx.AsyncClient) -> None:
    assert (await prod_client.get("/docs")).status_code == 404
    assert (await prod_client.get("/openapi.json")).status_code == 404
