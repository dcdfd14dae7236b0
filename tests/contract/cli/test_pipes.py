"""A reader that stops early (``kern sessions | head -1``) ends the command quietly:
status 0, nothing on stderr, no traceback. Run as real processes on real pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.cli.conftest import Target

pytestmark = pytest.mark.slow

KERN = [sys.executable, "-m", "kern"]


def kern_into_a_closed_pipe(target: Target, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``kern`` with its stdout a pipe whose reader is already gone: every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*KERN, *target.options, *argv], stdout=write_end, stderr=subprocess.PIPE, check=False
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions"],
        ["sessions", "--json"],
        ["events", "research"],
        ["export"],
        ["show", "research"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_a_reader_gone_before_the_first_line_ends_the_command_quietly(
    seeded: Target, argv: list[str]
) -> None:
    done = kern_into_a_closed_pipe(seeded, *argv)
    assert (done.returncode, done.stderr.decode()) == (0, "")


def test_sessions_piped_into_head_gives_one_line_and_no_error(
    target: Target, tmp_path: Path
) -> None:
    """Enough rows that kern is still writing when head has its line and exits."""
    workflow = Workflow(name="Many", db=target.db, steps=[echo])
    for n in range(400):
        workflow.run(input=n, session_id=f"session-{n:04d}-" + "x" * 60)
    command = " ".join(
        [*(f"'{part}'" for part in [*KERN, *target.options]), "sessions --limit 1000 --json"]
    )
    done = subprocess.run(
        ["bash", "-c", f'{command} 2>err | head -1; echo "${{PIPESTATUS[0]}}" >status'],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert done.stdout == b"[\n"
    assert (tmp_path / "status").read_text() == "0\n"
    assert (tmp_path / "err").read_text() == ""
