"""``preload`` (D153): a page's relations loaded by one call of each loader's batch function,
at once, and left in the loaders as their own batches leave them (D143)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from strawberry.dataloader import DataLoader
from strawberry.exceptions import WrongNumberOfResultsReturned

from interfaces.graphql.common import PENDING, preload, settled


class Source:
    """A batch function that records every batch it is asked for and the tasks running then."""

    def __init__(self, *, fail: Exception | None = None, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.tasks: list[int] = []
        self.fail = fail
        self.gate = gate
        self.short = False

    async def __call__(self, keys: list[str]) -> list[str | BaseException]:
        self.batches.append(list(keys))
        self.tasks.append(len(asyncio.all_tasks()))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        answers: list[str | BaseException] = [
            ValueError(f"no {key}") if key.startswith("bad") else key.upper() for key in keys
        ]
        return answers[1:] if self.short else answers


async def test_each_loader_is_asked_once_at_once_for_the_keys_it_lacks() -> None:
    orders, ledger = Source(), Source()
    order_loader, ledger_loader = DataLoader(load_fn=orders), DataLoader(load_fn=ledger)
    order_loader.prime("held", "primed")

    await preload([(order_loader, ["a", "held", "b", "a"]), (ledger_loader, ["x"])])

    assert orders.batches == [["a", "b"]]  # the held key left out, a repeated key asked once
    assert ledger.batches == [["x"]]
    assert orders.tasks == [1] and ledger.tasks == [1]  # in the caller's task: no batch task
    assert (settled(order_loader, "a"), settled(order_loader, "b")) == ("A", "B")
    assert settled(order_loader, "held") == "primed"
    assert settled(ledger_loader, "x") == "X"
    assert await order_loader.load("b") == "B"
    assert orders.batches == [["a", "b"]]  # the fields read what was loaded


async def test_a_key_in_flight_in_a_batch_is_left_to_it() -> None:
    source = Source()
    loader = DataLoader(load_fn=source)
    pending = loader.load("a")  # in a batch not dispatched yet

    await preload([(loader, ["a", "b"])])

    assert await pending == "A"
    assert source.batches == [["b"], ["a"]]


async def test_a_failed_load_is_left_in_the_loader_and_not_raised() -> None:
    source = Source(fail=RuntimeError("database down"))
    loader = DataLoader(load_fn=source)
    lost: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: lost.append(context))

    await preload([(loader, ["a", "b", "never read"])])

    assert settled(loader, "a") is PENDING
    with pytest.raises(RuntimeError, match="database down"):
        await loader.load("a")
    with pytest.raises(RuntimeError, match="database down"):
        await loader.load("b")
    assert source.batches == [["a", "b", "never read"]]  # failed loads stay failed, as a batch's
    del loader, source  # the error (the source's) holds the frames that hold the futures
    gc.collect()
    assert lost == []  # an error no field read is not logged as lost


async def test_an_error_answered_for_one_key_stays_with_that_key() -> None:
    source = Source()
    loader = DataLoader(load_fn=source)

    await preload([(loader, ["a", "bad"])])

    assert settled(loader, "a") == "A"
    assert settled(loader, "bad") is PENDING
    with pytest.raises(ValueError, match="no bad"):
        await loader.load("bad")


async def test_a_batch_answering_too_few_values_fails_every_key() -> None:
    source = Source()
    source.short = True
    loader = DataLoader(load_fn=source)

    await preload([(loader, ["a", "b"])])

    for key in ("a", "b"):
        with pytest.raises(WrongNumberOfResultsReturned):
            await loader.load(key)


async def test_a_cancelled_preload_leaves_nothing_behind() -> None:
    gate = asyncio.Event()
    source = Source(gate=gate)
    loader = DataLoader(load_fn=source)
    started = asyncio.ensure_future(preload([(loader, ["a"])]))
    await asyncio.sleep(0)
    started.cancel()
    with pytest.raises(asyncio.CancelledError):
        await started

    gate.set()
    assert await asyncio.wait_for(loader.load("a"), timeout=5) == "A"
    assert source.batches == [["a"], ["a"]]  # asked again


async def test_a_loader_without_a_cache_is_not_preloaded() -> None:
    source = Source()
    loader = DataLoader(load_fn=source, cache=False)

    await preload([(loader, ["a"])])

    assert source.batches == []
    assert await loader.load("a") == "A"


async def test_a_waiter_cancelled_while_the_page_loads_leaves_the_other_keys_loaded() -> None:
    gate = asyncio.Event()
    source = Source(gate=gate)
    loader = DataLoader(load_fn=source)
    started = asyncio.ensure_future(preload([(loader, ["a", "b"])]))
    await asyncio.sleep(0)

    async def nested_field() -> str:
        return await loader.load("a")

    waiter = asyncio.ensure_future(nested_field())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(started, timeout=5)

    assert settled(loader, "b") == "B"  # not left pending: its field would wait for ever
    assert settled(loader, "a") is PENDING
    assert await asyncio.wait_for(loader.load("a"), timeout=5) == "A"
    assert source.batches == [["a", "b"], ["a"]]
