"""A process dying mid-run, and several runs of one session at the same time."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kern.db import KernDb
from kern.db.sqlite import SqliteDb
from kern.domain.events import RunCompleted, RunStarted, SessionStarted, StepCompleted
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.contract.workflow.process_workers import crash_mid_run, run_many

MakeWorkflow = Callable[..., Workflow]

JOIN_TIMEOUT = 60  # seconds; only reached when something hangs


def spawn() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


def versions(db: KernDb, session_id: str) -> list[int]:
    return [event.version for event in db.get_events(session_id)]


# -- a process that dies ---------------------------------------------------------------------


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


# -- two threads -------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new-session", "existing-session"])
def test_two_overlapping_runs_of_one_session_both_land(
    db: KernDb, make_workflow: MakeWorkflow, existing: bool
) -> None:
    """Kern fixes: Agno loses one run's state and duplicates run positions."""
    if existing:
        make_workflow(steps=[...]).run(input="first", session_id="s1", session_state={"base": 0})
    both_inside = threading.Barrier(2, timeout=10)

    def meet(step_input: StepInput) -> str:
        step_input.session_state[f"thread-{step_input.input}"] = step_input.input
        both_inside.wait()  # neither run can finish before the other has started
        return f"ran {step_input.input}"

    workflow = make_workflow(steps=[meet])
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(workflow.run, input=name, session_id="s1") for name in "ab"]
        results = [future.result() for future in futures]

    assert [r.status for r in results] == [RunStatus.completed] * 2
    events = db.get_events("s1")
    assert versions(db, "s1") == list(range(1, len(events) + 1))
    assert sum(isinstance(e, SessionStarted) for e in events) == 1
    started = [e for e in events if isinstance(e, RunStarted)]
    assert len({e.version for e in started}) == len(started)

    session = db.get_session("s1")
    assert session is not None and session.runs is not None
    concurrent = [run for run in session.runs if run.input in ("a", "b")]
    assert sorted(run.run_id for run in concurrent) == sorted(r.run_id for r in results)
    for run in concurrent:
        assert run.status == RunStatus.completed
        assert [step.content for step in run.step_results] == [f"ran {run.input}"]
    expected = {"thread-a": "a", "thread-b": "b"}
    assert session.session_state == ({"base": 0, **expected} if existing else expected)


def test_state_update_during_a_run_is_merged_key_by_key(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    """The run's terminal event carries only its own changes, so the update survives."""
    checkpoint = threading.Barrier(2, timeout=10)

    def slow_step(step_input: StepInput) -> str:
        step_input.session_state["from_run"] = 1
        checkpoint.wait()  # the run is under way
        checkpoint.wait()  # the update has been recorded
        return "done"

    make_workflow(steps=[...]).run(input="setup", session_id="s1", session_state={"shared": "old"})
    workflow = make_workflow(steps=[slow_step])
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(workflow.run, input="long", session_id="s1")
        checkpoint.wait()
        workflow.update_session_state({"from_update": 2, "shared": "new"}, session_id="s1")
        checkpoint.wait()
        assert future.result().status == RunStatus.completed
    assert workflow.get_session_state(session_id="s1") == {
        "shared": "new",
        "from_run": 1,
        "from_update": 2,
    }


# -- several processes -----------------------------------------------------------------------


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
