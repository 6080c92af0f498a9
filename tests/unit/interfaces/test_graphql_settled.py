"""What a nested resolver may answer without awaiting (D143): a loader's completed load
(``settled``) and the request's checked caller (``GraphQLContext.settled_caller``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from strawberry.dataloader import DataLoader

from application.security.principal import Principal, Role
from domain.shared import CountryCode
from interfaces.auth import TokenKeys, mint_token
from interfaces.graphql.common import PENDING, settled
from interfaces.graphql.context import Credentials, GraphQLContext

MX = CountryCode("MX")
KEYS = TokenKeys("HS256", secret="s" * 32)


async def test_settled_gives_only_a_completed_load() -> None:
    release = asyncio.Event()

    async def load(keys: list[str]) -> list[str | BaseException]:
        await release.wait()
        return [ValueError(key) if key == "bad" else key.upper() for key in keys]

    loader: DataLoader[str, str] = DataLoader(load)
    assert settled(loader, "a") is PENDING  # never asked
    pending = [loader.load("a"), loader.load("bad")]
    await asyncio.sleep(0)
    assert settled(loader, "a") is PENDING  # in flight
    release.set()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert results[0] == "A" and isinstance(results[1], ValueError)
    assert settled(loader, "a") == "A"
    assert settled(loader, "bad") is PENDING  # failed: the caller awaits it and gets the error
    with pytest.raises(ValueError, match="bad"):
        await loader.load("bad")
    loader.prime("p", "primed")
    assert settled(loader, "p") == "primed"
    assert settled(DataLoader(load, cache=False), "a") is PENDING


def context(authorization: str | None, *, one_transaction: bool) -> GraphQLContext:
    return GraphQLContext(
        dependencies=None,
        token_keys=KEYS,
        credentials=Credentials.from_headers(authorization, None),
        request_id="r-1",
        one_transaction=one_transaction,
    )


async def test_the_caller_is_settled_once_an_http_request_checked_it() -> None:
    token = mint_token(
        KEYS, subject="agent-1", role=Role.L2, countries=frozenset({MX}), now=datetime.now(UTC)
    )
    http = context(f"Bearer {token}", one_transaction=True)
    assert http.settled_caller is PENDING  # not checked yet
    await http.authenticate()
    caller = http.settled_caller
    assert isinstance(caller, Principal) and caller.actor_id == "agent-1"

    refused = context("Bearer not-a-token", one_transaction=True)
    await refused.authenticate()
    assert refused.settled_caller is None

    # a websocket's caller is checked again at every call (D100): never settled
    socket = context(f"Bearer {token}", one_transaction=False)
    await socket.authenticate()
    assert socket.settled_caller is PENDING
