"""Several runs of one session at the same time, in threads, on every store.

A process dying mid-run, and processes sharing one SQLite file, are in
tests/sqlite/test_processes.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from kern.db import KernDb
from kern.domain.events import RunStarted, SessionStarted
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.contract.kinds import THREADED

MakeWorkflow = Callable[..., Workflow]


def versions(db: KernDb, session_id: str) -> list[int]:
    return [event.version for event in db.get_events(session_id)]


@THREADED
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
    ran = sorted((run.run_id for run in concurrent), key=str)
    assert ran == sorted((r.run_id for r in results), key=str)
    for run in concurrent:
        assert run.status == RunStatus.completed
        assert [step.content for step in run.step_results] == [f"ran {run.input}"]
    expected = {"thread-a": "a", "thread-b": "b"}
    assert session.session_state == ({"base": 0, **expected} if existing else expected)


@THREADED
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
