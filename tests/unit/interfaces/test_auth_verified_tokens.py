"""Verified tokens remembered until they expire; verification keys parsed once (D157)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from returns.result import Failure, Success

from application.security.principal import Principal, Role
from domain.shared import CountryCode
from interfaces import auth
from interfaces.auth import LEEWAY, TokenKeys, VerifiedTokens, mint_token, verify_token

MX = CountryCode("MX")
SECRET = "s" * 40


def _token(keys: TokenKeys, subject: str = "agent-7", **extra: Any) -> str:
    return mint_token(
        keys, subject=subject, role=Role.L2, countries=frozenset({MX}), now=datetime.now(UTC), **extra
    )


class CountingDecode:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._decode = jwt.decode
        monkeypatch.setattr(jwt, "decode", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._decode(*args, **kwargs)


def test_a_token_is_verified_once_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = TokenKeys("HS256", secret=SECRET)
    token = _token(keys)
    decode = CountingDecode(monkeypatch)

    first = verify_token(keys, token).unwrap()
    assert verify_token(keys, token).unwrap() == first
    assert (first.actor_id, first.role, decode.calls, len(keys.verified)) == ("agent-7", Role.L2, 1, 1)
    # another key set remembers nothing of this one's: the same token is refused there
    assert isinstance(verify_token(TokenKeys("HS256", secret="x" * 40), token), Failure)


def test_failures_are_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = TokenKeys("HS256", secret=SECRET)
    header, payload, signature = _token(keys).split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    decode = CountingDecode(monkeypatch)
    for _ in range(2):
        assert isinstance(verify_token(keys, tampered), Failure)
    assert (decode.calls, len(keys.verified)) == (2, 0)


def test_a_remembered_token_past_its_expiry_is_verified_again_and_refused() -> None:
    keys = TokenKeys("HS256", secret=SECRET)
    now = datetime.now(UTC)
    expires = int((now - timedelta(hours=1)).timestamp())
    claims: dict[str, object] = {
        "sub": "a",
        "role": "L1",
        "countries": ["MX"],
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "iat": int((now - timedelta(hours=2)).timestamp()),
        "exp": expires,
    }
    expired = jwt.encode(claims, SECRET, algorithm="HS256")
    keys.verified.keep(expired, Principal("a", Role.L1, frozenset({MX})), float(expires))

    refused = verify_token(keys, expired)
    assert isinstance(refused, Failure) and "ExpiredSignatureError" in refused.failure().reason
    assert len(keys.verified) == 0


def test_the_memory_answers_until_the_expiry_and_its_leeway() -> None:
    now = [1_000.0]
    tokens = VerifiedTokens(clock=lambda: now[0])
    principal = Principal("a", Role.L1, frozenset({MX}))
    tokens.keep("t", principal, expires=1_060.0)

    now[0] = 1_060.0 + LEEWAY.total_seconds() - 1
    assert tokens.get("t") == principal
    now[0] = 1_060.0 + LEEWAY.total_seconds()
    assert tokens.get("t") is None and len(tokens) == 0


def test_the_memory_is_bounded_least_recently_used_first_out() -> None:
    tokens = VerifiedTokens(size=2, clock=time.time)
    later = time.time() + 3_600
    principals = {name: Principal(name, Role.L1, frozenset({MX})) for name in ("a", "b", "c")}
    tokens.keep("a", principals["a"], later)
    tokens.keep("b", principals["b"], later)
    assert tokens.get("a") == principals["a"]  # a used: b is now the least recently used
    tokens.keep("c", principals["c"], later)

    assert len(tokens) == 2
    assert (tokens.get("a"), tokens.get("b"), tokens.get("c")) == (principals["a"], None, principals["c"])


def test_a_jwks_is_parsed_once_and_an_unknown_kid_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys = TokenKeys("RS256", jwks={"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})
    signer = TokenKeys("RS256", private_key_pem=private)
    parsed: list[object] = []
    from_dict = jwt.PyJWKSet.from_dict

    def counting(data: Any) -> Any:
        parsed.append(data)
        return from_dict(data)

    monkeypatch.setattr(jwt.PyJWKSet, "from_dict", counting)
    for subject in ("a", "b", "c"):
        assert isinstance(verify_token(keys, _token(signer, subject, kid="k1")), Success)
    assert isinstance(verify_token(keys, _token(signer, "d", kid="k2")), Failure)
    assert isinstance(verify_token(keys, _token(signer, "e")), Failure)  # no kid at all
    assert len(parsed) == 1
