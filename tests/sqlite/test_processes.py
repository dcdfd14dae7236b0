"""Processes on one SQLite file: one dying mid-run, several running one session at once.

Threads sharing a store, on every store, are in
tests/contract/workflow/test_concurrent_runs.py.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import SpawnContext
from pathlib import Path

import pytest

from kern.db import KernDb
from kern.db.sqlite import SqliteDb
from kern.domain.events import RunCompleted, RunStarted, StepCompleted
from kern.run import RunStatus
from kern.workflow import Workflow
from tests.sqlite.process_workers import crash_mid_run, run_many

JOIN_TIMEOUT = 60  # seconds; only reached when something hangs


def spawn() -> SpawnContext:
    return multiprocessing.get_context("spawn")


def versions(db: KernDb, session_id: str) -> list[int]:
    return [event.version for event in db.get_events(session_id)]


@pytest.mark.slow
def test_run_of_a_dead_process_reads_back_as_running(tmp_path: Path) -> None:
    """Nothing recorded before the crash is lost; the unfinished run changes no state."""
    db_file = str(tmp_path / "workflows.db")
    with SqliteDb(db_file=db_file) as db:
        Workflow(name="Crashing", db=db, steps=[...]).run(
            input="fine", session_id="s1", session_state={"kept": 1}
        )

    child = spawn().Process(target=crash_mid_run, args=(db_file, "s1"))
    child.start()
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 1

    with SqliteDb(db_file=db_file) as db:
        assert [type(e) for e in db.get_events("s1")][-3:] == [
            RunCompleted,
            RunStarted,
            StepCompleted,
        ]
        session = db.get_session("s1")
        assert session is not None and session.runs is not None
        finished, crashed = session.runs
        assert finished.status == RunStatus.completed
        assert crashed.status == RunStatus.running
        assert crashed.input == "doomed"
        assert [(s.step_name, s.content) for s in crashed.step_results] == [
            ("write_draft", "draft of doomed")
        ]
        assert session.session_state == {"kept": 1}
        assert session.get_workflow_history() == [("fine", "fine")]

        after = Workflow(name="Crashing", db=db, steps=[...]).run(input="later", session_id="s1")
        assert after.status == RunStatus.completed
        reread = db.get_session("s1")
        assert reread is not None and reread.runs is not None
        assert [run.status for run in reread.runs] == [
            RunStatus.completed,
            RunStatus.running,
            RunStatus.completed,
        ]


@pytest.mark.slow
def test_processes_running_one_session_on_one_sqlite_file_all_land(tmp_path: Path) -> None:
    """Kern fixes: Agno loses one run's state and duplicates run positions (processes)."""
    db_file = str(tmp_path / "workflows.db")
    workers, runs_each = 4, 8
    context = spawn()
    in_step = context.Barrier(workers, timeout=JOIN_TIMEOUT)
    children = [
        context.Process(target=run_many, args=(db_file, "s1", worker, runs_each, in_step))
        for worker in range(workers)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(JOIN_TIMEOUT)
    assert [child.exitcode for child in children] == [0] * workers

    with SqliteDb(db_file=db_file) as db:
        events = db.get_events("s1")
        # One SessionStarted, then RunStarted, StepCompleted, RunCompleted per run.
        assert len(events) == 1 + workers * runs_each * 3
        assert versions(db, "s1") == list(range(1, len(events) + 1))
        session = db.get_session("s1")
        assert session is not None and session.runs is not None
        assert len(session.runs) == workers * runs_each
        assert len({run.run_id for run in session.runs}) == workers * runs_each
        assert {run.status for run in session.runs} == {RunStatus.completed}
        for worker in range(workers):
            mine = [run.input["i"] for run in session.runs if run.input["worker"] == worker]
            assert mine == list(range(runs_each))
        # The workers ran in lockstep: every round's runs started before the next round.
        rounds = [run.input["i"] for run in session.runs]
        assert rounds == sorted(rounds)
        assert session.session_state == {f"worker-{w}": runs_each for w in range(workers)}
