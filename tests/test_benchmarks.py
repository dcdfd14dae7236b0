"""The benchmark suite still runs: one item on SQLite, end to end, in quick mode.

It asserts nothing about speed (the machines are shared and noisy); it keeps
``benchmarks/suite.py`` from rotting as Kern changes under it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "benchmarks" / "suite.py"


@pytest.mark.slow
def test_the_quick_suite_writes_a_table_with_the_recording_rows(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(SUITE), "--quick", "--sqlite-only", "--items", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 2 and all("| sqlite |" in row for row in rows)
    assert "raw, 4 commits" in rows[0] and "failed" not in out.read_text()


@pytest.mark.slow
def test_the_web_measurement_runs_and_prints_every_read() -> None:
    script = SUITE.parent / "measure_web.py"
    done = subprocess.run(
        [sys.executable, str(script), "--rounds", "1", "--calls", "1", "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ")[0] for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| session",
        "| session as of the middle run",
        "| step view",
        "| events page (100)",
        "| sessions list",
    ]


@pytest.mark.slow
def test_the_keyring_measurement_runs_and_prints_every_row() -> None:
    script = SUITE.parent / "measure_keyring.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--rounds",
            "1",
            "--runs",
            "2",
            "--long",
            "2",
            "--longer",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=SUITE.parent,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 6
