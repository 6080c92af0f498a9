"""Partner API keys: shown once, stored only as a hash, one partner and one country each.

A key acts for a partner of one kind (D88): a seller org (``SELLER_ORG``, the default; the
partner id is a seller id) or a payment partner (``PAYMENT_PARTNER``; the partner id is the
one orders record at capture as ``payment_partner_id``). The kind is chosen when the key is
made, stored with it and carried on the principal; ``visibility`` turns it into a scope.

A key reads ``sos_<key id>_<secret>``; the database keeps the key id and the sha256 of
the whole key. Key ids issued here start with the key's country (``co_key_...``), so the
lookup of a key knows its country before it knows anything else: the row is found by
``(country_code, key_id)`` like every other row, and the database's row-level security
can be told which country the lookup reads. Authenticating looks the row up by key id and
compares hashes in constant time, so neither a database leak nor a timing probe reveals a
usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar, Final

from returns.result import Failure, Result, Success

from application.audit.trail import record as audit_record
from application.context import RequestContext, Services
from application.errors import NotFound
from application.ports.api_keys import ApiKeyLookup, ApiKeyRecord, ApiKeyRepository
from application.security.principal import Forbidden, Operation, PartnerKind, Principal, Role, authorize
from domain.shared import CountryCode, DomainError, InvalidInput

PREFIX = "sos"
MAX_PARTNER_ID_CHARS: Final = 128
MAX_LABEL_CHARS: Final = 200

__all__ = [
    "ApiKeyRecord",
    "ApiKeyRepository",
    "InvalidApiKey",
    "IssueApiKey",
    "IssuedApiKey",
    "PartnerKind",
    "authenticate",
    "country_of_key_id",
    "hash_key",
    "issue_api_key",
    "key_id_of",
    "new_key",
    "new_key_id",
    "principal_for",
    "record_for",
    "revoke_api_key",
]


@dataclass(frozen=True, slots=True)
class InvalidApiKey(DomainError):
    code: ClassVar[str] = "INVALID_API_KEY"

    @property
    def message(self) -> str:
        return "the API key is unknown, malformed or revoked"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key(key_id: str) -> str:
    return f"{PREFIX}_{key_id}_{secrets.token_hex(32)}"  # hex: no "_" inside the secret


def key_id_of(raw: str) -> str | None:
    if not raw.isascii() or not raw.isprintable():  # no key we issue; NUL, surrogates: none (D113)
        return None
    parts = raw.split("_")
    # "sos_<id with underscores>_<secret>": the id may contain "_" (e.g. "key_01H...").
    if len(parts) < 3 or parts[0] != PREFIX or len(raw) > 300:
        return None
    return "_".join(parts[1:-1]) or None


def record_for(
    raw: str,
    *,
    key_id: str,
    partner_id: str,
    country: CountryCode,
    label: str,
    now: datetime,
    kind: PartnerKind = PartnerKind.SELLER_ORG,
) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, partner_id, country, hash_key(raw), label, now, partner_kind=kind)


def principal_for(record: ApiKeyRecord, raw: str) -> Result[Principal, InvalidApiKey]:
    if record.revoked_at is not None or not hmac.compare_digest(record.key_sha256, hash_key(raw)):
        return Failure(InvalidApiKey())
    return Success(
        Principal(
            actor_id=f"partner:{record.partner_id}",
            role=Role.PARTNER,
            countries=frozenset({record.country}),
            partner_id=record.partner_id,
            partner_kind=record.partner_kind,
        )
    )


async def authenticate(keys: ApiKeyLookup, raw: str) -> Result[Principal, InvalidApiKey]:
    key_id = key_id_of(raw)
    record = None if key_id is None else await keys.get(key_id)
    if record is None:
        probe = raw if raw.isascii() else raw.encode("ascii", "replace").decode()  # hashable
        hmac.compare_digest(hash_key(probe), hash_key(probe[::-1]))  # same work on a miss
        return Failure(InvalidApiKey())
    return principal_for(record, raw)


# ----------------------------------------------------------------------------- key ids


def new_key_id(country: CountryCode, unique: str) -> str:
    """``<country, lower case>_<unique>``, e.g. ``co_key_0193...``."""
    return f"{country.value.lower()}_{unique}"


def country_of_key_id(key_id: str) -> CountryCode | None:
    head, separator, _ = key_id.partition("_")
    if not separator or len(head) != 2 or not head.islower():
        return None
    return CountryCode.parse(head).value_or(None)


# ----------------------------------------------------------------------------- use cases


@dataclass(frozen=True, slots=True)
class IssueApiKey:
    partner_id: str
    country: CountryCode
    label: str = ""
    kind: PartnerKind = PartnerKind.SELLER_ORG


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """The stored record, and the key itself: shown once, never stored."""

    record: ApiKeyRecord
    raw_key: str


def _partner_problem(partner_id: str) -> InvalidInput | None:
    if not partner_id or len(partner_id) > MAX_PARTNER_ID_CHARS or not partner_id.isprintable():
        return InvalidInput("partner_id", f"must be 1..{MAX_PARTNER_ID_CHARS} printable characters")
    if partner_id.strip() != partner_id or " " in partner_id:
        return InvalidInput("partner_id", "must not contain spaces")
    return None


async def issue_api_key(
    svc: Services, ctx: RequestContext, cmd: IssueApiKey
) -> Result[IssuedApiKey, Forbidden | InvalidInput]:
    """A new key for one partner in one country (audited as ``api_key.created``)."""
    allowed = authorize(ctx.principal, Operation.API_KEY_MANAGE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    problem = _partner_problem(cmd.partner_id)
    if problem is None and len(cmd.label) > MAX_LABEL_CHARS:
        problem = InvalidInput("label", f"must be at most {MAX_LABEL_CHARS} characters")
    if problem is not None:
        return Failure(problem)
    now = svc.clock.now()
    key_id = new_key_id(cmd.country, svc.ids.new_id("key"))
    raw = new_key(key_id)
    stored = record_for(
        raw,
        key_id=key_id,
        partner_id=cmd.partner_id,
        country=cmd.country,
        label=cmd.label.strip(),
        now=now,
        kind=cmd.kind,
    )
    async with svc.uow() as uow:
        await uow.api_keys.add(stored)
        await audit_record(
            uow,
            ctx,
            country=cmd.country,
            action="api_key.created",
            target_type="api_key",
            target_id=key_id,
            at=now,
            after={
                "partner_id": stored.partner_id,
                "partner_kind": stored.partner_kind.value,
                "label": stored.label,
            },
        )
        await uow.commit()
    return Success(IssuedApiKey(stored, raw))


async def revoke_api_key(
    svc: Services, ctx: RequestContext, key_id: str
) -> Result[ApiKeyRecord, Forbidden | NotFound]:
    """Revoke a key at once (audited as ``api_key.revoked``); revoking it again changes nothing."""
    country = country_of_key_id(key_id)
    if country is None:
        return Failure(NotFound("api_key", key_id[:200]))
    allowed = authorize(ctx.principal, Operation.API_KEY_MANAGE, country)
    if isinstance(allowed, Failure):
        return allowed
    now = svc.clock.now()
    async with svc.uow() as uow:
        stored = await uow.api_keys.get(key_id)
        if stored is None:
            return Failure(NotFound("api_key", key_id))
        if not await uow.api_keys.revoke(key_id, now):
            return Success(stored)  # already revoked
        await audit_record(
            uow,
            ctx,
            country=country,
            action="api_key.revoked",
            target_type="api_key",
            target_id=key_id,
            at=now,
            before={"revoked": False},
            after={"revoked": True, "partner_id": stored.partner_id},
        )
        await uow.commit()
    return Success(replace(stored, revoked_at=now))
