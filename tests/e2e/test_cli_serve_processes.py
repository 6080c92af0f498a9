"""``supportos serve --processes 2`` (D65): a real subprocess, two uvicorn workers on one
port, each answering GraphQL from its own app; SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interfaces.version import supportos_version

pytestmark = pytest.mark.slow

SUPPORTOS = Path(sys.executable).parent / "supportos"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, body: bytes | None = None) -> object:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_serve_with_two_processes_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTOS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'supportos.db'}",
        "SUPPORTOS_LOG_LEVEL": "WARNING",
    }
    subprocess.run([str(SUPPORTOS), "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [str(SUPPORTOS), "serve", "--port", str(port), "--processes", "2", "--without-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get_json(f"http://127.0.0.1:{port}/healthz") == {"status": "ok"}
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) >= 2, children  # uvicorn's supervisor and its two server processes
        for _ in range(20):  # spread over both processes; every answer is a whole one
            answer = get_json(f"http://127.0.0.1:{port}/graphql", b'{"query": "{ version }"}')
            assert answer == {"data": {"version": supportos_version()}}
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0
