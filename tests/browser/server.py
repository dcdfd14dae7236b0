"""``kern serve`` as a subprocess on a free loopback port, for tests that need the
real command (the browser tests, the shutdown test)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

STARTUP = 30.0
"""Seconds kern serve may take to answer before the test fails."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def started(db_file: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``kern --db FILE serve OPTIONS`` on a free port, once it answers: its URL and
    process. The process is stopped (SIGTERM) when the block ends, if still running."""
    port = free_port()
    kern = shutil.which("kern", path=str(Path(sys.executable).parent)) or "kern"
    command = [kern, "--db", str(db_file), "serve", *options, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            output, _ = process.communicate(timeout=STARTUP)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave a server behind the test run
            process.communicate()
            raise
        if process.returncode != 0:
            print(output.decode(errors="replace"))


@contextmanager
def serving(db_file: Path, *options: str) -> Iterator[str]:
    """The URL of ``kern serve`` on ``db_file`` until the block ends (see :func:`started`)."""
    with started(db_file, *options) as (url, _):
        yield url


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll GET /openapi.json until it answers, up to STARTUP seconds."""

    def answer() -> None:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"kern serve exited with {process.returncode}: {output}")
        httpx.get(f"{url}/openapi.json", timeout=2).raise_for_status()

    retrying = Retrying(
        stop=stop_after_delay(STARTUP),
        wait=wait_fixed(0.1),
        retry=retry_if_exception_type(httpx.TransportError),
        reraise=True,
    )
    retrying(answer)
