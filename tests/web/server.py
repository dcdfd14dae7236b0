"""An app served by uvicorn on a loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
