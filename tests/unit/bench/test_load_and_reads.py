"""The arithmetic the read benchmarks print, the load generator against a local server, and
the statement counter (``bench/load.py``, ``bench/harness.py``, ``bench/console_list.py``).

No timing is asserted: only counts, percentiles of known values and table verdicts.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from adapters.persistence.database import create_engine
from bench.console_list import StatementCounter
from bench.harness import Measurements, standard_rows
from bench.load import (
    HttpRequest,
    LoadResult,
    LoadSpec,
    Row,
    generate,
    median,
    percentile,
    ratio,
    render_table,
)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 50) == 30.0
    assert percentile(values, 100) == 50.0
    assert percentile(values, 25) == 20.0
    assert percentile(values, 90) == pytest.approx(46.0)  # rank 3.6: 40 + 0.6 * 10
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the samples does not matter


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_median_and_ratio() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert ratio(50.0, 100.0) == 0.5
    assert ratio(1.0, 0.0) == math.inf
    assert math.isnan(ratio(0.0, 0.0))


def test_result_from_samples_counts_and_rates() -> None:
    result = LoadResult.from_samples(
        mode="open", latencies_s=[0.001, 0.002, 0.003, 0.004], errors=1, elapsed=2.0
    )
    assert (result.ok, result.errors) == (4, 1)
    assert result.throughput == 2.0  # successful requests per second of the window
    assert result.p50_ms == 2.5
    assert result.max_ms == 4.0
    assert result.error_rate == 0.2


def test_rows_judge_the_median_ratio_against_the_target() -> None:
    throughput = Row("throughput", [100.0, 90.0, 110.0], [40.0, 60.0, 50.0], ">= 0.50x")
    assert throughput.ratio == 0.5
    assert throughput.met is True
    latency = Row("p99", [10.0, 10.0, 10.0], [25.0, 21.0, 30.0], "<= 2.00x")
    assert latency.ratio == 2.5
    assert latency.met is False
    assert Row("p50", [1.0], [2.0]).met is None  # shown, not judged
    table = render_table("t", [throughput, latency])
    assert "| throughput | 100 | 50.00 | 0.50x | >= 0.50x | yes |" in table
    assert "| p99 | 10.00 | 25.00 | 2.50x | <= 2.00x | **no** |" in table


def _result(throughput: float, p99: float) -> LoadResult:
    return LoadResult("closed", 1, 0, 1.0, throughput, 1.0, 1.0, p99, p99, 1.0)


def test_standard_rows_take_throughput_from_the_closed_loop_and_latency_from_the_open_loop() -> None:
    m = Measurements(
        closed={"b": [_result(100, 9), _result(200, 9), _result(300, 9)], "c": [_result(100, 9)] * 3},
        open={"b": [_result(1, 2.0)] * 3, "c": [_result(1, 3.0)] * 3},
        open_rate=100.0,
    )
    rows = standard_rows(m, "b", "c", throughput_target=">= 0.50x")
    assert rows[0].metric == "throughput, closed loop"
    assert rows[0].ratio == 0.5 and rows[0].met is True
    assert rows[-1].metric == "p99 at 100 req/s, open loop"
    assert rows[-1].ratio == 1.5 and rows[-1].met is True


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """A tiny HTTP/1.1 keep-alive server: 200 with the request body for POST /ok, 500 otherwise."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length"))
                body = await reader.readexactly(length)
                status = "200 OK" if lines[0].split(" ")[1] == "/ok" else "500 Oops"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def test_closed_loop_sends_each_unique_request_once_and_checks_the_body(echo_server: str) -> None:
    requests = [HttpRequest(body=json.dumps({"n": i, "tag": "good" if i % 4 else "bad"})) for i in range(20)]
    spec = LoadSpec(
        url=f"{echo_server}/ok",
        requests=requests,
        unique=True,
        concurrency=3,
        duration=30,
        warmup=0,
        expect="good",
    )
    result = await generate(spec)
    assert (result.ok, result.errors) == (15, 5)  # every 4th body lacks the expected text
    assert len(result.error_samples) == 3


async def test_open_loop_counts_every_scheduled_request_and_http_errors(echo_server: str) -> None:
    spec = LoadSpec(
        url=f"{echo_server}/fails",
        requests=[HttpRequest(body="{}")],
        mode="open",
        rate=50,
        duration=0.4,
        warmup=0,
    )
    result = await generate(spec)
    assert result.ok == 0
    assert result.errors == 20  # 0.4 s at 50/s: scheduled, sent and answered 500
    assert result.offered_rate == 50


async def test_statement_counter_counts_only_while_counting() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    counter = StatementCounter().attach([engine, engine])  # one listener per engine
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            with counter.counting() as statements:
                await connection.execute(text("SELECT 2"))
                await connection.execute(text("SELECT 3"))
            await connection.execute(text("SELECT 4"))
        assert statements == ["SELECT 2", "SELECT 3"]
    finally:
        await engine.dispose()
