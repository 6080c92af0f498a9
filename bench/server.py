"""What a benchmark starts: a fresh PostgreSQL database, the service under uvicorn, a baseline.

Everything runs as a child process of the benchmark, so the service, the baseline and the
load generator (``bench/load.py``) each have their own interpreter:

- :func:`fresh_database` creates ``supportos_bench_<name>`` on the local server
  (``SUPPORTOS_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``), and drops it
  at the end, also after a failure.
- :func:`supportos` runs a ``supportos`` command (``migrate``, ``seed-demo``, ``apikey``) with
  the database's environment; :func:`clone_rows` multiplies seeded rows with batched
  ``INSERT ... SELECT ... generate_series`` statements (the product's own code makes the
  template rows, so every JSON document is one the mappers accept).
- :func:`start_service` runs ``supportos serve`` (uvicorn, as in production, connected as
  the service's own role under row-level security) and :func:`start_app` any ASGI app
  (``module:factory``) under the same uvicorn settings; both wait for the port and are
  stopped with SIGTERM (then SIGKILL) when the ``with`` block ends.

Both servers log at WARNING (no access log), so neither pays for a log line the other skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import asyncpg

ROOT: Final = Path(__file__).resolve().parents[1]
BIN: Final = Path(sys.executable).parent
PG_ADMIN: Final = os.environ.get("SUPPORTOS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
APP_ROLE: Final = "supportos_app"
START_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    name: str
    owner_dsn: str  # asyncpg DSN as the schema owner (seeding, cloning, counting)
    app_dsn: str  # asyncpg DSN as the service's role (what the baselines use too)

    @property
    def app_url(self) -> str:
        return self.app_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    @property
    def owner_url(self) -> str:
        return self.owner_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``supportos`` process on this database."""
        return {
            **os.environ,
            "SUPPORTOS_DATABASE_URL": self.app_url,
            "SUPPORTOS_MIGRATION_DATABASE_URL": self.owner_url,
            "SUPPORTOS_LOG_LEVEL": "WARNING",
            **extra,
        }


def _dsn(user: str, database: str) -> str:
    scheme, _, rest = PG_ADMIN.partition("://")
    host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    return f"{scheme}://{user}@{host}/{database}"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_dsn("postgres", "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(name: str, *, keep: bool = False) -> Iterator[BenchDatabase]:
    """``supportos_bench_<name>``, empty, dropped afterwards (unless ``keep``)."""
    db = f"supportos_bench_{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    try:
        yield BenchDatabase(db, _dsn("postgres", db), _dsn(APP_ROLE, db))
    finally:
        if not keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def supportos(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run ``supportos ARGS``; its stdout (raises with the stderr tail on failure)."""
    done = subprocess.run(
        [str(BIN / "supportos"), *args], env=dict(env), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"supportos {' '.join(args)} failed: {done.stderr[-3000:]}")
    return done.stdout


def api_key(db: BenchDatabase, *, partner: str, country: str) -> str:
    """A partner API key made by ``supportos apikey create`` (the bare key is the last line)."""
    out = supportos(["apikey", "create", "--partner", partner, "--country", country], db.env())
    return out.strip().splitlines()[-1]


async def clone_rows(
    conn: asyncpg.Connection,
    table: str,
    *,
    where: str,
    copies: int,
    suffixed: Sequence[str] = ("id",),
    batch: int = 200,
) -> int:
    """Insert ``copies`` copies of the rows matching ``where``, ``suffixed`` columns given
    ``-b<n>``; batches of ``batch`` copies per statement. Returns the number of rows inserted."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = $1 ORDER BY ordinal_position",
            table,
        )
    ]
    select = ", ".join(f"{c} || '-b' || g" if c in suffixed else c for c in columns)
    template = f"bench_template_{table}"
    await conn.execute(f"CREATE TEMPORARY TABLE {template} AS SELECT * FROM {table} WHERE {where}")
    inserted = 0
    for first in range(1, copies + 1, batch):
        last = min(first + batch - 1, copies)
        status = await conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {select} FROM {template}, generate_series({first}, {last}) AS g"
        )
        inserted += int(status.rsplit(" ", 1)[-1])
    await conn.execute(f"DROP TABLE {template}")
    await conn.execute(f"ANALYZE {table}")
    return inserted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited ({process.returncode}): {log.read()[-3000:].decode()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {START_TIMEOUT_S:.0f} s")


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    port: int
    pid: int

    def url(self, path: str = "/graphql") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def _process(name: str, command: Sequence[str], env: Mapping[str, str], port: int) -> Iterator[Server]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, process, log)
            yield Server(name, port, process.pid)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_service(
    db: BenchDatabase, *, port: int | None = None, processes: int = 1, **extra_env: str
) -> contextlib.AbstractContextManager[Server]:
    """``supportos serve`` on ``db`` (uvicorn; the service's role; WARNING logs), with
    ``processes`` server processes (``--processes``)."""
    port = port or free_port()
    command = [str(BIN / "supportos"), "serve", "--port", str(port), "--processes", str(processes)]
    return _process("service", command, db.env(**extra_env), port)


def start_app(
    app: str, env: Mapping[str, str], *, port: int | None = None, name: str = "baseline", processes: int = 1
) -> contextlib.AbstractContextManager[Server]:
    """``uvicorn --factory APP`` (``module:factory``), with uvicorn's defaults as ``serve`` has
    them, and as many worker processes as the service gets (``--workers``)."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(processes),
    ]
    return _process(name, command, env, port)
