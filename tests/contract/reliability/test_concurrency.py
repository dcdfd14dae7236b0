"""Many writers at once: threads and processes on one session, and processes on many.

Agno loses one run's state and duplicates run positions when two runs of a
session overlap. Here every run that returned must be in the log once and
whole, versions must have no gaps, and every run's own state key must survive.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kern.db import KernDb
from tests.contract.kinds import THREADED
from tests.contract.reliability._load import (
    JOIN_TIMEOUT,
    MEET_EVERY,
    Tally,
    Target,
    check_runs_landed,
    overlapping_runs,
    read_report,
    write,
    write_in_process,
)


def run_processes(
    target: Target, tmp_path: Path, workers: int, session_ids: list[str], runs: int
) -> Tally:
    """``workers`` spawned writers whose every 4th run waits for the others'; what they saw."""
    with target.open() as db:
        db.get_sessions()  # create the tables before the race, as a deployment would
    context = multiprocessing.get_context("spawn")
    meet = context.Barrier(workers, timeout=JOIN_TIMEOUT)
    reports = [tmp_path / f"writer-{w}.json" for w in range(workers)]
    children = [
        context.Process(
            target=write_in_process,
            args=(target, w, session_ids, runs, meet, str(reports[w])),
        )
        for w in range(workers)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(JOIN_TIMEOUT)
    hung = [child.pid for child in children if child.exitcode is None]
    for child in children:
        child.kill()
    assert not hung, f"writers still running after {JOIN_TIMEOUT} s (deadlock?): {hung}"
    assert [child.exitcode for child in children] == [0] * workers
    total = Tally()
    for report in reports:
        total.add(read_report(report))
    return total


@THREADED
def test_eight_threads_running_one_session_all_land(db: KernDb) -> None:
    """8 threads sharing one store, 24 runs each, one session: 192 runs, each once."""
    threads, runs = 8, 24
    meet = threading.Barrier(threads, timeout=JOIN_TIMEOUT)

    def writer(number: int) -> Tally:
        return write(db, number, ["shared"], runs, meet)

    total = Tally()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for tally in pool.map(writer, range(threads)):
            total.add(tally)

    assert total.errors == []
    assert len(total.succeeded) == threads * runs
    check_runs_landed(db, "shared", total.run_ids("shared"))
    # Each meeting round, every thread's run started before any of them ended.
    assert overlapping_runs(db, "shared") >= (threads - 1) * len(range(0, runs, MEET_EVERY))


@pytest.mark.slow
def test_four_processes_running_one_session_all_land(target: Target, tmp_path: Path) -> None:
    """4 processes, each with its own connection, 24 runs each, one session: 96 runs."""
    workers, runs = 4, 24
    total = run_processes(target, tmp_path, workers, ["shared"], runs)

    assert total.errors == []
    assert len(total.succeeded) == workers * runs
    with target.open() as db:
        check_runs_landed(db, "shared", total.run_ids("shared"))
        assert overlapping_runs(db, "shared") >= (workers - 1) * len(range(0, runs, MEET_EVERY))


@pytest.mark.slow
def test_sixteen_processes_running_one_session_all_land(target: Target, tmp_path: Path) -> None:
    """16 processes, 8 runs each, one session, all 16 meeting inside runs 0 and 4:
    contention costs waiting, never a ConcurrencyError or a run left RUNNING."""
    workers, runs = 16, 8
    total = run_processes(target, tmp_path, workers, ["shared"], runs)

    assert total.errors == []
    assert len(total.succeeded) == workers * runs
    with target.open() as db:
        check_runs_landed(db, "shared", total.run_ids("shared"))
        assert db.verify("shared").ok


@pytest.mark.slow
def test_processes_writing_many_sessions_at_once_lose_nothing(
    target: Target, tmp_path: Path
) -> None:
    """4 processes each run 3 rounds over the same 16 sessions, each starting at a
    different one: 192 runs, none lost, no deadlock, no error reaching a caller."""
    workers, runs = 4, 3
    session_ids = [f"session-{i:02}" for i in range(16)]
    total = run_processes(target, tmp_path, workers, session_ids, runs)

    assert total.errors == []
    assert len(total.succeeded) == workers * runs * len(session_ids)
    with target.open() as db:
        for session_id in session_ids:
            check_runs_landed(db, session_id, total.run_ids(session_id))
        listed = db.get_sessions(sort_by="session_id", sort_order="asc")
        assert [s.session_id for s in listed] == session_ids
