"""The GraphQL schema's shape: the committed SDL is current, no amount can be typed in,
every operation names its country, and production refuses introspection."""

from __future__ import annotations

import re

import httpx
from graphql import (
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
)
from pydantic import SecretStr
from typer.testing import CliRunner

from interfaces.cli.main import app as cli
from interfaces.graphql.schema import SDL_PATH, build_schema, schema, sdl
from interfaces.http.app import create_app
from interfaces.settings import Settings

MONEY_WORDS = re.compile(r"amount|minor|money", re.IGNORECASE)
INTROSPECTION = "{ __schema { queryType { name } } }"


def test_the_committed_sdl_is_up_to_date() -> None:
    assert SDL_PATH.read_text() == sdl(), "docs/schema.graphql is stale: run `supportos schema`"


def test_supportos_schema_check_and_print(tmp_path: object) -> None:
    runner = CliRunner()
    checked = runner.invoke(cli, ["schema", "--check"])
    assert checked.exit_code == 0, checked.output
    printed = runner.invoke(cli, ["schema", "--output", "-"])
    assert printed.exit_code == 0 and printed.output == sdl()


def _types() -> dict[str, GraphQLNamedType]:
    return dict(schema._schema.type_map)


def test_no_input_anywhere_can_carry_an_amount() -> None:
    """SPEC §1: an agent picks an outcome, never an amount. Inputs and arguments alike."""
    offending: list[str] = []
    for name, graphql_type in _types().items():
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLInputObjectType):
            offending += [f"{name}.{field}" for field in graphql_type.fields if MONEY_WORDS.search(field)]
        if isinstance(graphql_type, GraphQLObjectType):
            for field_name, field in graphql_type.fields.items():
                offending += [f"{name}.{field_name}({arg})" for arg in field.args if MONEY_WORDS.search(arg)]
    assert offending == []


def test_every_root_operation_takes_a_country_code() -> None:
    graphql = schema._schema
    assert graphql.mutation_type is not None
    for root in (graphql.query_type, graphql.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            if name == "version":
                continue
            if "countryCode" in field.args:
                assert isinstance(field.args["countryCode"].type, GraphQLNonNull), name
                continue
            assert list(field.args) == ["input"], name
            input_type = get_named_type(field.args["input"].type)
            assert isinstance(input_type, GraphQLInputObjectType)
            assert isinstance(input_type.fields["countryCode"].type, GraphQLNonNull), name


def test_every_mutation_answers_a_union_with_every_error_type() -> None:
    mutation = schema._schema.mutation_type
    assert mutation is not None
    errors = {"UnauthenticatedError", "ForbiddenError", "NotFoundError", "InvalidInputError", "ConflictError"}
    for name, field in mutation.fields.items():
        union = get_named_type(field.type)
        members = {member.name for member in getattr(union, "types", ())}
        assert errors | {"RuleViolationError"} <= members, name
        assert any(member.endswith("Success") for member in members), name


async def _post(settings: Settings, query: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
        return await client.post("/graphql", json={"query": query})


async def test_introspection_is_on_in_development_and_off_in_production() -> None:
    development = await _post(Settings(database_url="sqlite+aiosqlite:///:memory:"), INTROSPECTION)
    assert development.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    production = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        environment="production",
        jwt_secret=SecretStr("a-production-secret-that-is-long-enough-0123456789"),
    )
    refused = (await _post(production, INTROSPECTION)).json()
    assert refused.get("data") is None
    assert "introspection" in refused["errors"][0]["message"].lower()
    typo = (await _post(production, "{ versio }")).json()
    assert "Did you mean" not in typo["errors"][0]["message"]
    assert (await _post(production, "{ version }")).json()["data"]["version"]


def test_production_schema_is_the_same_schema() -> None:
    assert build_schema(production=True).as_str() == schema.as_str()
