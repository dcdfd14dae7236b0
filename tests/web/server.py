"""An app served by uvicorn on a loopback port, in a thread of the test process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

DEADLINE = 30.0


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The base URL of ``app`` served on 127.0.0.1 (a free port) until the block ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kern-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE)


@contextmanager
def open_stream(
    base: str, url: str, headers: dict[str, str] | None = None
) -> Iterator[httpx.Response]:
    """The streamed response of GET ``url`` on the server at ``base``."""
    with (
        httpx.Client(base_url=base, timeout=DEADLINE) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        yield response


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def kern_serving(argv: list[str], cwd: Path | None = None) -> Iterator[str]:
    """``kern *argv --port P`` (a ``serve`` command line) in a process of its own, run
    in ``cwd``; its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kern", *argv, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    out = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"kern serve did not answer: {out}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(DEADLINE)
        if process.stdout:
            process.stdout.close()
