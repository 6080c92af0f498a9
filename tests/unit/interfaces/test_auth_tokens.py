from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from returns.result import Failure

from application.security.principal import Role
from domain.shared import CountryCode
from interfaces.auth import TokenKeys, Unauthenticated, mint_token, verify_token

NOW = datetime.now(UTC)
MX, CO = CountryCode("MX"), CountryCode("CO")
SECRET = "s" * 40


def hs() -> TokenKeys:
    return TokenKeys("HS256", secret=SECRET)


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_hs256_round_trip() -> None:
    token = mint_token(hs(), subject="agent-7", role=Role.L2, countries=frozenset({MX, CO}), now=NOW)
    principal = verify_token(hs(), token).unwrap()
    assert principal.actor_id == "agent-7"
    assert principal.role is Role.L2
    assert principal.countries == frozenset({MX, CO})


def test_rs256_with_a_public_key_and_with_a_jwks() -> None:
    private, public = rsa_pair()
    signer = TokenKeys("RS256", private_key_pem=private)
    token = mint_token(signer, subject="a", role=Role.L3, countries=frozenset({MX}), now=NOW, kid="k1")
    assert verify_token(TokenKeys("RS256", public_key_pem=public), token).unwrap().role is Role.L3
    public_key = serialization.load_pem_public_key(public.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    jwks = {"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    assert verify_token(TokenKeys("RS256", jwks=jwks), token).unwrap().actor_id == "a"
    other = mint_token(signer, subject="a", role=Role.L3, countries=frozenset({MX}), now=NOW, kid="k2")
    assert isinstance(verify_token(TokenKeys("RS256", jwks=jwks), other), Failure)


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "a",
        "role": "L1",
        "countries": ["MX"],
        "iss": "supportos",
        "aud": "supportos-api",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "claims",
    [
        _claims(exp=int((NOW - timedelta(hours=1)).timestamp())),
        _claims(aud="someone-else"),
        _claims(iss="evil"),
        _claims(role="GOD"),
        _claims(role="SYSTEM"),
        _claims(role="PARTNER"),
        _claims(countries=[]),
        _claims(countries=["XX"]),
        _claims(countries="MX"),
        _claims(sub=" "),
        _claims(sub=None),
        _claims(exp=None),
    ],
)
def test_bad_claims_are_refused(claims: dict[str, object]) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    result = verify_token(hs(), token)
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), Unauthenticated)


def test_tampered_wrong_key_and_alg_none_are_refused() -> None:
    token = mint_token(hs(), subject="a", role=Role.L1, countries=frozenset({MX}), now=NOW)
    header, payload, signature = token.split(".")
    assert isinstance(verify_token(hs(), f"{header}.{payload}.{signature[::-1]}"), Failure)
    assert isinstance(verify_token(TokenKeys("HS256", secret="x" * 40), token), Failure)
    unsigned = jwt.encode(_claims(), key="", algorithm="none")
    assert isinstance(verify_token(hs(), unsigned), Failure)
    assert isinstance(verify_token(hs(), "not-a-token"), Failure)


def test_an_hs256_token_signed_with_the_public_key_is_refused_by_rs256() -> None:
    # Algorithm confusion: the verifier pins its algorithm, never the token's header.
    _, public = rsa_pair()
    forged = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert isinstance(verify_token(TokenKeys("RS256", public_key_pem=public), forged), Failure)
