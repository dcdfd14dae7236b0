"""Functions the crash and concurrency tests run in spawned processes.

They live in their own module, away from the tests, so a spawned child only
imports Kern and this file. Each opens its own ``SqliteDb`` on the shared file.
"""

from __future__ import annotations

import os
from typing import Any

from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow


def write_draft(step_input: StepInput) -> str:
    """First step of the crashing workflow: finishes normally."""
    step_input.session_state["draft"] = "written"
    return f"draft of {step_input.input}"


def die(step_input: StepInput) -> str:
    """Second step: the process dies on the spot, without cleanup."""
    os._exit(1)


def crash_mid_run(db_file: str, session_id: str) -> None:
    """Run a workflow whose second step kills the process."""
    workflow = Workflow(name="Crashing", db=SqliteDb(db_file=db_file), steps=[write_draft, die])
    workflow.run(input="doomed", session_id=session_id)


# The barrier every worker's step waits at (set in each child by run_many).
_all_in_step: Any = None


def tally(step_input: StepInput) -> str:
    """Record in the state how many runs this worker has done, then wait for the others.

    Waiting at the shared barrier means the i-th run of every worker has
    started before any of them can finish: the runs truly overlap.
    """
    given: dict[str, Any] = step_input.input
    step_input.session_state[f"worker-{given['worker']}"] = given["i"] + 1
    _all_in_step.wait()
    return f"{given['worker']}:{given['i']}"


def run_many(db_file: str, session_id: str, worker: int, runs: int, barrier: Any) -> None:
    """Run ``runs`` times in the session, in step with the other workers."""
    global _all_in_step
    _all_in_step = barrier
    with SqliteDb(db_file=db_file) as db:
        workflow = Workflow(name="Workers", db=db, steps=[tally])
        for i in range(runs):
            workflow.run(input={"worker": worker, "i": i}, session_id=session_id)
