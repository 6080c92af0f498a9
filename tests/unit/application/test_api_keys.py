from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from returns.result import Failure

from application.security.api_keys import (
    ApiKeyRecord,
    InvalidApiKey,
    authenticate,
    hash_key,
    key_id_of,
    new_key,
    record_for,
)
from application.security.principal import PartnerKind, Role
from domain.shared import CountryCode

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class MemoryKeys:
    def __init__(self) -> None:
        self.rows: dict[str, ApiKeyRecord] = {}

    async def add(self, record: ApiKeyRecord) -> None:
        self.rows[record.key_id] = record

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        return self.rows.get(key_id)

    async def revoke(self, key_id: str, at: datetime) -> bool:
        record = self.rows.get(key_id)
        if record is None or record.revoked_at is not None:
            return False
        self.rows[key_id] = replace(record, revoked_at=at)
        return True


async def test_keys_authenticate_as_their_partner_in_their_country_only() -> None:
    keys = MemoryKeys()
    raw = new_key("key_01")
    assert key_id_of(raw) == "key_01"
    await keys.add(
        record_for(raw, key_id="key_01", partner_id="sel_9", country=CountryCode("CO"), label="bo", now=NOW)
    )
    assert keys.rows["key_01"].key_sha256 == hash_key(raw)
    assert raw not in repr(keys.rows)  # only the hash is stored
    principal = (await authenticate(keys, raw)).unwrap()
    assert principal.role is Role.PARTNER
    assert principal.partner_id == "sel_9"
    assert principal.partner_kind is PartnerKind.SELLER_ORG  # the default kind
    assert principal.countries == frozenset({CountryCode("CO")})


async def test_a_key_carries_its_partner_kind_onto_the_principal() -> None:
    keys = MemoryKeys()
    raw = new_key("key_02")
    await keys.add(
        record_for(
            raw,
            key_id="key_02",
            partner_id="psp_9",
            country=CountryCode("CO"),
            label="",
            now=NOW,
            kind=PartnerKind.PAYMENT_PARTNER,
        )
    )
    principal = (await authenticate(keys, raw)).unwrap()
    assert (principal.role, principal.partner_id, principal.partner_kind) == (
        Role.PARTNER,
        "psp_9",
        PartnerKind.PAYMENT_PARTNER,
    )


async def test_wrong_malformed_and_revoked_keys_are_refused() -> None:
    keys = MemoryKeys()
    raw = new_key("key_01")
    await keys.add(
        record_for(raw, key_id="key_01", partner_id="p", country=CountryCode("MX"), label="", now=NOW)
    )
    for bad in [raw[:-1] + ("A" if raw[-1] != "A" else "B"), "sos_key_02_x", "garbage", "", "sos__x"]:
        assert await authenticate(keys, bad) == Failure(InvalidApiKey())
    assert await keys.revoke("key_01", NOW)
    assert await authenticate(keys, raw) == Failure(InvalidApiKey())


class NoLookups(MemoryKeys):
    async def get(self, key_id: str) -> ApiKeyRecord | None:
        raise AssertionError(f"looked up {key_id!r}")


async def test_keys_no_issuer_would_make_are_refused_before_any_lookup_or_hashing_error() -> None:
    """D113: an unpaired surrogate raised UnicodeEncodeError while hashing, and a NUL reached
    PostgreSQL's driver: "Unexpected error." to an unauthenticated caller."""
    for raw in ("sos_mx_key_x_\ud800", "sos_mx_\x00_abc", "sos_mx_kéy_abc", "sos_mx_key\n_abc"):
        assert key_id_of(raw) is None
        assert await authenticate(NoLookups(), raw) == Failure(InvalidApiKey())
