"""The read models take the JSON documents as their stored text (D67): the same domain
objects the repositories build from decoded documents, one parse per distinct text, and a
tampered evidence pack is still refused on every read, remembered text or not.

Runs on SQLite and PostgreSQL (JSON text on one, ``CAST(jsonb AS TEXT)`` on the other).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import mappers
from adapters.persistence.read_models import read_models
from adapters.persistence.tables import disputes
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from application.ports.read_models import DisputeFilter, OrderFilter, PageRequest
from domain.shared import CountryCode, InvariantViolation
from domain.shared.ids import DisputeId, OrderId
from tests.integration.aggregate_builders import (
    decided,
    delivered,
    dispute_state,
    open_dispute,
    order_state,
    store,
    with_all_prongs,
    withdrawn,
)

MX = CountryCode("MX")
UowFactory = Callable[[], SqlAlchemyUnitOfWork]


async def three_disputes(uow_factory: UowFactory) -> None:
    """A decided dispute (a decision), a withdrawn one (a withdrawal), an open one; each on a
    captured order (policy terms)."""
    orders = [delivered(f"ord_{i}") for i in range(3)]
    await store(
        uow_factory,
        *orders,
        decided(with_all_prongs(open_dispute(orders[0], "dsp_decided"))),
        withdrawn(open_dispute(orders[1], "dsp_withdrawn")),
        open_dispute(orders[2], "dsp_open"),
    )


async def test_text_documents_give_the_repositories_objects(
    uow_factory: UowFactory, app_engine: AsyncEngine
) -> None:
    await three_disputes(uow_factory)
    ids = ["dsp_decided", "dsp_withdrawn", "dsp_open"]
    async with uow_factory() as uow:
        from_repository = {i: await uow.disputes.get(MX, DisputeId(i)) for i in ids}
        orders_from_repository = {f"ord_{i}": await uow.orders.get(MX, OrderId(f"ord_{i}")) for i in range(3)}
    expected = {i: dispute_state(d) for i, d in from_repository.items() if d is not None}
    expected_orders = {i: order_state(o) for i, o in orders_from_repository.items() if o is not None}
    assert len(expected) == 3 and len(expected_orders) == 3
    decided_one = from_repository["dsp_decided"]
    assert decided_one is not None and decided_one.decision is not None
    assert (
        from_repository["dsp_withdrawn"] is not None
        and from_repository["dsp_withdrawn"].withdrawal is not None
    )

    reads = read_models(app_engine)
    by_id = await reads.disputes.get_many(MX, ids)
    listed = (await reads.disputes.list_disputes(MX, DisputeFilter(), PageRequest(first=10))).unwrap().items
    by_order = await reads.disputes.by_order_ids(MX, list(expected_orders))
    orders_by_id = await reads.orders.get_many(MX, list(expected_orders))
    orders_listed = (await reads.orders.list_orders(MX, OrderFilter(), PageRequest(first=10))).unwrap().items

    assert {i: dispute_state(d) for i, d in by_id.items()} == expected
    assert {d.id: dispute_state(d) for d in listed} == expected
    assert {d.id: dispute_state(d) for found in by_order.values() for d in found} == expected
    assert {i: order_state(o) for i, o in orders_by_id.items()} == expected_orders
    assert {o.id: order_state(o) for o in orders_listed} == expected_orders


async def test_a_text_read_again_is_parsed_once(uow_factory: UowFactory, app_engine: AsyncEngine) -> None:
    await three_disputes(uow_factory)
    reads = read_models(app_engine)
    first = (await reads.disputes.get_many(MX, ["dsp_decided"]))["dsp_decided"]
    again = (await reads.disputes.get_many(MX, ["dsp_decided"]))["dsp_decided"]
    assert first is not again  # a new dispute each read (it carries its own version) ...
    assert again.evidence is first.evidence  # ... over the one pack its stored text parsed to
    assert again.decision is first.decision
    orders_first = await reads.orders.get_many(MX, ["ord_0"])
    orders_again = await reads.orders.get_many(MX, ["ord_0"])
    snapshot, snapshot_again = orders_first["ord_0"].snapshot, orders_again["ord_0"].snapshot
    assert snapshot is not None and snapshot_again is not None
    assert snapshot_again.policy is snapshot.policy


async def test_a_long_text_is_parsed_every_time_not_remembered(
    uow_factory: UowFactory, app_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_disputes(uow_factory)
    monkeypatch.setattr(mappers, "DOCUMENT_MEMO_MAX_CHARS", 10)  # every pack is "long" now
    reads = read_models(app_engine)
    first = (await reads.disputes.get_many(MX, ["dsp_decided"]))["dsp_decided"]
    again = (await reads.disputes.get_many(MX, ["dsp_decided"]))["dsp_decided"]
    assert again.evidence is not first.evidence
    assert again.evidence == first.evidence
    assert again.evidence.content_hash() == first.evidence.content_hash()


def _tamper_statement(evidence: dict[str, Any]) -> None:
    evidence["submissions"] = [
        {**item, "statement": "I never said that"} if item["kind"] == "STATEMENT" else item
        for item in evidence["submissions"]
    ]


async def test_a_tampered_pack_is_refused_even_after_its_genuine_text_was_read(
    uow_factory: UowFactory, app_engine: AsyncEngine
) -> None:
    await three_disputes(uow_factory)
    reads = read_models(app_engine)
    genuine = await reads.disputes.get_many(MX, ["dsp_decided"])  # the genuine text, remembered
    assert genuine["dsp_decided"].evidence.content_hash()
    async with uow_factory() as uow:
        row = (
            await uow.session.execute(select(disputes.c.evidence).where(disputes.c.id == "dsp_decided"))
        ).one()
        evidence = copy.deepcopy(dict(row.evidence))
        _tamper_statement(evidence)
        await uow.session.execute(
            update(disputes).where(disputes.c.id == "dsp_decided").values(evidence=evidence)
        )
        await uow.commit()

    with pytest.raises(InvariantViolation):
        await reads.disputes.get_many(MX, ["dsp_decided"])
    with pytest.raises(InvariantViolation):
        await reads.disputes.list_disputes(MX, DisputeFilter(), PageRequest(first=10))
    with pytest.raises(InvariantViolation):
        await reads.disputes.by_order_ids(MX, ["ord_0"])
    # the other disputes still read (their texts are untouched)
    assert set(await reads.disputes.get_many(MX, ["dsp_open", "dsp_withdrawn"])) == {
        "dsp_open",
        "dsp_withdrawn",
    }


async def test_a_stored_document_that_is_not_an_object_is_an_error(
    uow_factory: UowFactory, app_engine: AsyncEngine
) -> None:
    await three_disputes(uow_factory)
    async with uow_factory() as uow:
        await uow.session.execute(
            update(disputes).where(disputes.c.id == "dsp_decided").values(decision=["FULL_REFUND"])
        )
        await uow.commit()
    reads = read_models(app_engine)
    with pytest.raises(ValueError, match="must be an object"):
        await reads.disputes.get_many(MX, ["dsp_decided"])
    with pytest.raises(ValueError, match="must be a JSON object"):
        async with uow_factory() as uow:  # the repository's decoded documents: the same refusal
            await uow.disputes.get(MX, DisputeId("dsp_decided"))
