"""``load_one`` (D151): a root field's one key loaded at once through the loader's batch
function, kept in the loader exactly as ``DataLoader.load`` keeps a load."""

from __future__ import annotations

import asyncio

import pytest
from strawberry.dataloader import DataLoader

from interfaces.graphql.common import load_one


class Source:
    """A batch function that records every batch it is asked for."""

    def __init__(self, *, fail: Exception | None = None, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.gate = gate

    async def __call__(self, keys: list[str]) -> list[str | BaseException]:
        self.batches.append(list(keys))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [ValueError(f"no {key}") if key.startswith("bad") else key.upper() for key in keys]


async def test_a_key_is_loaded_alone_at_once_and_kept_for_later_loads() -> None:
    source = Source()
    loader = DataLoader(load_fn=source)
    assert await load_one(loader, "a") == "A"
    assert source.batches == [["a"]]
    assert await loader.load("a") == "A"  # a nested field reads the kept load
    assert await load_one(loader, "a") == "A"
    assert source.batches == [["a"]]


async def test_a_key_the_loader_holds_is_not_loaded_again() -> None:
    source = Source()
    loader = DataLoader(load_fn=source)
    loader.prime("p", "primed")
    assert await load_one(loader, "p") == "primed"
    assert list(await asyncio.gather(loader.load("x"), loader.load("y"))) == ["X", "Y"]
    assert await load_one(loader, "y") == "Y"
    assert source.batches == [["x", "y"]]


async def test_a_concurrent_load_of_the_key_waits_for_this_one() -> None:
    gate = asyncio.Event()
    source = Source(gate=gate)
    loader = DataLoader(load_fn=source)
    first = asyncio.ensure_future(load_one(loader, "a"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(loader.load("a"))
    third = asyncio.ensure_future(load_one(loader, "a"))
    await asyncio.sleep(0)
    gate.set()
    assert list(await asyncio.gather(first, second, third)) == ["A", "A", "A"]
    assert source.batches == [["a"]]


async def test_a_failed_load_raises_and_stays_failed_as_a_batchs_does() -> None:
    source = Source(fail=RuntimeError("database down"))
    loader = DataLoader(load_fn=source)
    with pytest.raises(RuntimeError, match="database down"):
        await load_one(loader, "a")
    with pytest.raises(RuntimeError, match="database down"):
        await loader.load("a")
    assert source.batches == [["a"]]


async def test_an_error_answered_for_the_key_is_raised() -> None:
    source = Source()
    loader = DataLoader(load_fn=source)
    with pytest.raises(ValueError, match="no bad"):
        await load_one(loader, "bad")
    with pytest.raises(ValueError, match="no bad"):
        await loader.load("bad")
    assert source.batches == [["bad"]]


async def test_a_cancelled_load_leaves_nothing_behind() -> None:
    gate = asyncio.Event()
    source = Source(gate=gate)
    loader = DataLoader(load_fn=source)
    task = asyncio.ensure_future(load_one(loader, "a"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    async with asyncio.timeout(5):  # a load left pending would wait for ever
        assert await load_one(loader, "a") == "A"  # asked again
    assert source.batches == [["a"], ["a"]]


async def test_a_loader_without_a_cache_loads_through_its_batch() -> None:
    source = Source()
    loader = DataLoader(load_fn=source, cache=False)
    assert list(await asyncio.gather(load_one(loader, "a"), load_one(loader, "b"))) == ["A", "B"]
    assert source.batches == [["a", "b"]]


async def test_a_waiter_cancelled_while_the_key_loads_leaves_the_load_whole() -> None:
    """asyncio cancels the future a cancelled task awaits: the load's own caller still gets
    its value, and the cancelled key is asked again by the next load."""
    gate = asyncio.Event()
    source = Source(gate=gate)
    loader = DataLoader(load_fn=source)
    first = asyncio.ensure_future(load_one(loader, "a"))
    await asyncio.sleep(0)

    async def nested_field() -> str:
        return await loader.load("a")

    waiter = asyncio.ensure_future(nested_field())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.wait_for(first, timeout=5) == "A"
    assert waiter.cancelled()
    assert await asyncio.wait_for(loader.load("a"), timeout=5) == "A"
    assert source.batches == [["a"], ["a"]]
