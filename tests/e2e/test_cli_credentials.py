"""``supportos token`` and ``supportos apikey create|revoke`` as an operator runs them; the
credentials they print work against the API (SQLite file, real container)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from typer.testing import CliRunner

from application.security.principal import PartnerKind
from interfaces.auth import TokenKeys, verify_token
from interfaces.cli.main import app
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings, get_settings

QUERY = '{ orders(countryCode: "MX") { __typename ... on Error { code } } }'


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "ops.sqlite3"
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    for name in ("ENVIRONMENT", "JWT_ALGORITHM", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_FILE", "JWT_SECRET"):
        monkeypatch.delenv(f"SUPPORTOS_{name}", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def _ask(headers: dict[str, str], query: str = QUERY) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        container = build_container(get_settings())
        transport = httpx.ASGITransport(app=container.http_app())
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                body: dict[str, Any] = response.json()
                return body
        finally:
            await dispose_engines(container)

    return asyncio.run(go())


def test_token_prints_the_bare_token_last_and_it_works(database: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    minted = runner.invoke(
        app, ["token", "--role", "l3", "--countries", "MX,co", "--subject", "ana", "--ttl-hours", "2"]
    )
    assert minted.exit_code == 0, minted.output
    token = minted.output.strip().splitlines()[-1]
    principal = verify_token(TokenKeys.from_settings(get_settings()), token).unwrap()
    assert (principal.actor_id, principal.role.value) == ("ana", "L3")
    assert sorted(c.value for c in principal.countries) == ["CO", "MX"]
    assert _ask({"Authorization": f"Bearer {token}"})["data"]["orders"]["__typename"] == "OrderConnection"


def test_token_refuses_bad_roles_countries_and_production(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["token", "--role", "PARTNER", "--countries", "MX"]).exit_code == 2
    assert runner.invoke(app, ["token", "--role", "L1", "--countries", "MX,Mexico"]).exit_code == 2
    monkeypatch.setenv("SUPPORTOS_ENVIRONMENT", "production")
    monkeypatch.setenv("SUPPORTOS_JWT_SECRET", "x" * 48)
    get_settings.cache_clear()
    refused = runner.invoke(app, ["token", "--role", "L1", "--countries", "MX"])
    assert refused.exit_code == 2


def test_rs256_tokens_are_signed_with_the_private_key_and_checked_with_the_public_one(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "private.pem"
    public = tmp_path / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.setenv("SUPPORTOS_JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("SUPPORTOS_JWT_PUBLIC_KEY_FILE", str(public))
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["token", "--role", "L1", "--countries", "MX"]).exit_code == 2  # no private key
    minted = runner.invoke(
        app, ["token", "--role", "L1", "--countries", "MX", "--private-key-file", str(private)]
    )
    assert minted.exit_code == 0, minted.output
    token = minted.output.strip().splitlines()[-1]
    assert _ask({"Authorization": f"Bearer {token}"})["data"]["orders"]["__typename"] == "OrderConnection"
    assert _ask({"Authorization": "Bearer " + token[:-4] + "AAAA"})["data"]["orders"]["__typename"] == (
        "UnauthenticatedError"
    )


def test_settings_refuse_rs256_without_exactly_one_public_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="RS256"):
        Settings(jwt_algorithm="RS256")
    with pytest.raises(ValidationError, match="RS256"):
        Settings(jwt_algorithm="RS256", jwt_public_key_file=tmp_path / "a", jwt_jwks_file=tmp_path / "b")


def test_apikey_create_prints_the_key_once_and_revoke_stops_it(database: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    created = runner.invoke(
        app, ["apikey", "create", "--partner", "sel_9", "--country", "mx", "--label", "BO"]
    )
    assert created.exit_code == 0, created.output
    raw = created.output.strip().splitlines()[-1]
    assert raw.startswith("sos_mx_key_")
    key_id = raw.removeprefix("sos_").rsplit("_", 1)[0]
    assert key_id in created.output.splitlines()[0]
    assert _ask({"X-Api-Key": raw})["data"]["orders"]["__typename"] == "OrderConnection"
    assert _ask({"X-Api-Key": raw}, QUERY.replace('"MX"', '"CO"'))["data"]["orders"]["code"] == "FORBIDDEN"

    revoked = runner.invoke(app, ["apikey", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert _ask({"X-Api-Key": raw})["data"]["orders"]["__typename"] == "UnauthenticatedError"
    assert runner.invoke(app, ["apikey", "revoke", "mx_key_unknown"]).exit_code == 1
    assert runner.invoke(app, ["apikey", "revoke", "garbage"]).exit_code == 1
    assert runner.invoke(app, ["apikey", "create", "--partner", "p", "--country", "MX,CO"]).exit_code == 2


def _principal(raw_key: str) -> Any:
    async def go() -> Any:
        container = build_container(get_settings())
        try:
            return (await container.api().authenticate_api_key(raw_key)).unwrap()
        finally:
            await dispose_engines(container)

    return asyncio.run(go())


def test_apikey_create_makes_seller_org_keys_by_default_and_payment_partner_keys_on_request(
    database: Path,
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    seller = runner.invoke(app, ["apikey", "create", "--partner", "sel_9", "--country", "MX"])
    assert seller.exit_code == 0, seller.output
    assert "SELLER_ORG partner sel_9" in seller.output.splitlines()[0]
    seller_principal = _principal(seller.output.strip().splitlines()[-1])
    assert (seller_principal.partner_id, seller_principal.partner_kind) == ("sel_9", PartnerKind.SELLER_ORG)

    for spelling in ("PAYMENT_PARTNER", "payment-partner"):
        made = runner.invoke(
            app, ["apikey", "create", "--partner", "psp_9", "--country", "MX", "--kind", spelling]
        )
        assert made.exit_code == 0, made.output
        assert "PAYMENT_PARTNER partner psp_9" in made.output.splitlines()[0]
        raw = made.output.strip().splitlines()[-1]
        principal = _principal(raw)
        assert (principal.partner_id, principal.partner_kind) == ("psp_9", PartnerKind.PAYMENT_PARTNER)
        assert _ask({"X-Api-Key": raw})["data"]["orders"]["__typename"] == "OrderConnection"

    refused = runner.invoke(app, ["apikey", "create", "--partner", "p", "--country", "MX", "--kind", "BANK"])
    assert refused.exit_code == 2
    assert "SELLER_ORG, PAYMENT_PARTNER" in refused.output
