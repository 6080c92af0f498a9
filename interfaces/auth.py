"""Who is calling: bearer JWTs for console users and parties (PyJWT).

HS256 with a shared secret in the embedded default; RS256 with a PEM public key or a
JWKS file in production. Claims: ``sub`` (actor id), ``role``, ``countries`` (ISO codes),
``iss``, ``aud``, ``iat``, ``exp``. Every failure is the same typed ``UNAUTHENTICATED``
answer (the reason is logged, not returned). API keys for partners are checked against
their hashes in the database (see ``application/security/api_keys.py``).

A token this process verified is remembered, with the principal it names, until it expires
(D157): a console sends the same token with every request, and its signature, claims and
key never change. The memory is keyed by the whole token, bounded (least recently used
first out), holds no failure, and answers nothing for a token past its ``exp`` (with the
same leeway), which is verified again - and refused. The verification keys are parsed once:
a JWKS's keys by ``kid``, a PEM public key.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

import jwt
from returns.result import Failure, Result, Success

from application.security.principal import Principal, Role
from domain.shared import CountryCode, DomainError
from interfaces.settings import Settings

ISSUER: Final = "supportos"
AUDIENCE: Final = "supportos-api"
TOKEN_ROLES: Final = frozenset(
    {Role.L1, Role.L2, Role.L3, Role.AUDITOR, Role.BUYER, Role.SELLER, Role.COURIER}
)
LEEWAY: Final = timedelta(seconds=30)
MAX_SUBJECT_CHARS: Final = 128  # the audit log keeps actor ids of up to 200 characters

Algorithm = Literal["HS256", "RS256"]
VERIFIED_TOKENS_KEPT: Final = 4096


class VerifiedTokens:
    """Tokens verified by this process and the principal each names, until they expire
    (D157); at most ``size``, the least recently used forgotten first."""

    def __init__(self, size: int = VERIFIED_TOKENS_KEPT, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._held: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, token: str) -> Principal | None:
        held = self._held.get(token)
        if held is None:
            return None
        principal, expires = held
        if self._clock() >= expires + LEEWAY.total_seconds():  # expired: verified again, refused
            del self._held[token]
            return None
        self._held.move_to_end(token)
        return principal

    def keep(self, token: str, principal: Principal, expires: float) -> None:
        self._held[token] = (principal, expires)
        self._held.move_to_end(token)
        while len(self._held) > self._size:
            self._held.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Unauthenticated(DomainError):
    code: ClassVar[str] = "UNAUTHENTICATED"
    reason: str = "missing or invalid credentials"

    @property
    def message(self) -> str:
        return "authentication required: send a valid bearer token or API key"


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """What verifies (and, for HS256, signs) tokens."""

    algorithm: Algorithm
    secret: str | None = None  # HS256
    public_key_pem: str | None = None  # RS256, single key
    jwks: dict[str, Any] | None = None  # RS256, key set selected by ``kid``
    private_key_pem: str | None = None  # RS256 minting (tests and tools only)
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)
    _parsed: dict[str | None, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def from_files(
        algorithm: Algorithm, *, secret: str | None, public_key_file: Path | None, jwks_file: Path | None
    ) -> TokenKeys:
        return TokenKeys(
            algorithm=algorithm,
            secret=secret,
            public_key_pem=public_key_file.read_text() if public_key_file else None,
            jwks=json.loads(jwks_file.read_text()) if jwks_file else None,
        )

    def verification_key(self, token: str) -> Any:
        if self.algorithm == "HS256":
            return self.secret
        parsed = self._parsed
        if not parsed:  # once: a key object instead of a text PyJWT would parse every time
            if self.jwks is not None:
                for candidate in jwt.PyJWKSet.from_dict(self.jwks).keys:
                    parsed.setdefault(candidate.key_id, candidate.key)  # a kid's first key, as before
            elif self.public_key_pem is not None:
                parsed[None] = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).prepare_key(
                    self.public_key_pem
                )
        if self.jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            if kid not in parsed:
                raise jwt.InvalidKeyError(f"no key {kid!r} in the JWKS")
            return parsed[kid]
        return parsed.get(None, self.public_key_pem)

    def signing_key(self) -> Any:
        return self.secret if self.algorithm == "HS256" else self.private_key_pem

    @staticmethod
    def from_settings(settings: Settings, *, private_key_file: Path | None = None) -> TokenKeys:
        """The service's verification keys (``SUPPORTOS_JWT_*``); minting with RS256 also
        needs the private key, which the service itself never holds."""
        keys = TokenKeys.from_files(
            settings.jwt_algorithm,
            secret=settings.jwt_secret.get_secret_value() if settings.jwt_algorithm == "HS256" else None,
            public_key_file=settings.jwt_public_key_file,
            jwks_file=settings.jwt_jwks_file,
        )
        if private_key_file is None:
            return keys
        return TokenKeys(
            keys.algorithm, keys.secret, keys.public_key_pem, keys.jwks, private_key_file.read_text()
        )


def mint_token(
    keys: TokenKeys,
    *,
    subject: str,
    role: Role,
    countries: frozenset[CountryCode],
    now: datetime,
    ttl: timedelta = timedelta(hours=12),
    kid: str | None = None,
) -> str:
    claims = {
        "sub": subject,
        "role": role.value,
        "countries": sorted(c.value for c in countries),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, keys.signing_key(), algorithm=keys.algorithm, headers=headers)


def verify_token(keys: TokenKeys, token: str) -> Result[Principal, Unauthenticated]:
    """The principal ``token`` names, if it is valid now (remembered once verified, D157)."""
    remembered = keys.verified.get(token)
    if remembered is not None:
        return Success(remembered)
    try:
        claims = jwt.decode(
            token,
            keys.verification_key(token),
            algorithms=[keys.algorithm],  # never trust the token's own "alg"
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["sub", "role", "countries", "exp", "iat"]},
        )
    except (jwt.PyJWTError, ValueError) as error:
        return Failure(Unauthenticated(f"{type(error).__name__}: {error}"))
    principal = _principal(claims)
    expires = claims["exp"]
    if isinstance(principal, Success) and isinstance(expires, int | float) and not isinstance(expires, bool):
        keys.verified.keep(token, principal.unwrap(), float(expires))
    return principal


def _principal(claims: dict[str, Any]) -> Result[Principal, Unauthenticated]:
    subject, role_name, countries = claims.get("sub"), claims.get("role"), claims.get("countries")
    if not isinstance(subject, str) or not subject.strip():
        return Failure(Unauthenticated("blank subject"))
    if len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        return Failure(Unauthenticated("subject too long or not printable"))
    if not isinstance(role_name, str) or role_name not in Role.__members__:
        return Failure(Unauthenticated(f"unknown role {role_name!r}"))
    role = Role(role_name)
    if role not in TOKEN_ROLES:
        return Failure(Unauthenticated(f"role {role.value} cannot authenticate with a token"))
    if not isinstance(countries, list) or not countries:
        return Failure(Unauthenticated("countries must be a non-empty list"))
    scope: set[CountryCode] = set()
    for raw in countries:
        parsed = CountryCode.parse(raw) if isinstance(raw, str) else None
        if parsed is None or isinstance(parsed, Failure):
            return Failure(Unauthenticated(f"bad country {raw!r}"))
        scope.add(parsed.unwrap())
    return Success(Principal(subject, role, frozenset(scope)))
