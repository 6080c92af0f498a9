"""The PostgreSQL change feed without a database: channel names and DSNs (plain, bounded
identifiers), and what it does while the database cannot be reached (D55)."""

from __future__ import annotations

import asyncio
import re

from adapters.events.postgres import MAX_CHANNEL, PostgresChangeFeed, asyncpg_dsn, channel_for, namespace_for
from application.ports.events import Change

PLAIN = re.compile(r"[a-z0-9_]+")


def test_one_channel_per_kind_and_country_never_per_entity() -> None:
    assert channel_for("supportos", "case:MX:queue") == "supportos_case_mx"
    assert channel_for("supportos", "conversation:MX:cnv_1") == "supportos_conversation_mx"
    assert channel_for("supportos", "conversation:MX:cnv_2") == "supportos_conversation_mx"
    assert channel_for("supportos", "conversation:CO:cnv_1") == "supportos_conversation_co"


def test_odd_topics_and_long_namespaces_get_a_bounded_digest() -> None:
    odd = ['case:M"X;DROP:queue', "ÿ" * 300, "", "case", "a" * 80 + ":MX:x"]
    names = {channel_for("supportos", topic) for topic in odd}
    assert len(names) == len(odd)  # still distinct
    long_namespace = channel_for("supportos_" + "s" * 60, "case:MX:queue")
    for name in (*names, long_namespace):
        assert PLAIN.fullmatch(name) and len(name) <= MAX_CHANNEL, name
        assert name.startswith("supportos_")


def test_the_namespace_follows_the_urls_schema() -> None:
    assert namespace_for(None) == "supportos"
    assert namespace_for("t_0123abcd") == "supportos_t_0123abcd"
    weird = namespace_for('"My Schema",public')
    assert PLAIN.fullmatch(weird) and weird != "supportos"
    dsn, namespace = asyncpg_dsn("postgresql+asyncpg://app:secret@db:5432/support?search_path=t_1")
    assert (dsn, namespace) == ("postgresql://app:secret@db:5432/support", "supportos_t_1")
    assert asyncpg_dsn("postgres://app@db/support") == ("postgresql://app@db/support", "supportos")


async def test_publishing_never_raises_and_local_subscribers_are_served_while_the_database_is_down() -> None:
    feed = PostgresChangeFeed(
        "postgresql://nobody@127.0.0.1:9/none",  # nothing listens there: connections are refused
        connect_timeout=0.5,
        listen_timeout=0.05,
        reconnect_delays=(0.05,),
    )
    change = Change("case:MX:queue", "case.OPENED", {"case_id": "case_1", "version": 1})
    try:
        async with feed.subscribe("case:MX:queue") as changes:
            assert feed.listener_pid is None
            await feed.publish(change)
            assert await asyncio.wait_for(anext(changes), 1) == change
    finally:
        await feed.aclose()
    assert feed.connections == 0
