"""Faults under Kern: a process killed mid-step, on each store processes share.

The faults of one store live with it: PostgreSQL connections killed and the
server restarted under load in tests/postgres/test_writers_recover.py, an
SQLite file locked for longer than the timeout in tests/sqlite/test_locking.py.

Agno writes a run only when it ends, so a crash loses it whole. Kern records
as it goes: what a run finished before the fault stays, and writers recover
by themselves from faults a retry can absorb.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from kern.domain.events import RunCompleted, RunStarted, StepCompleted
from kern.run import RunStatus
from kern.workflow import Workflow
from tests.contract.reliability._load import (
    JOIN_TIMEOUT,
    Target,
    draft,
    load_workflow,
    review,
    run_until_killed,
)

# -- a process killed in the middle of a step -------------------------------------------------


def wait_for(path: Path, child: BaseProcess) -> None:
    """Poll until the child has created ``path`` (it is then inside the step)."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while not path.exists():
        assert child.is_alive(), f"the child died before its third step (exit {child.exitcode})"
        assert time.monotonic() < deadline, "the child never reached its third step"
        time.sleep(0.01)


@pytest.mark.slow
def test_process_killed_mid_step_keeps_what_it_finished(target: Target, tmp_path: Path) -> None:
    """SIGKILL in step 3 of 3: RunStarted and two StepCompleted stay, the run reads back
    RUNNING and changes no state (the rule in docs/concepts.md), the next run works."""
    with target.open() as db:
        before = load_workflow(db).run(input={"writer": 0, "n": 0}, session_id="s1")
    killed_run = str(uuid.uuid4())
    in_step = tmp_path / "in-step-3"
    child = multiprocessing.get_context("spawn").Process(
        target=run_until_killed, args=(target, "s1", killed_run, str(in_step))
    )
    child.start()
    try:
        wait_for(in_step, child)
    finally:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(JOIN_TIMEOUT)
    assert child.exitcode == -signal.SIGKILL

    with target.open() as db:
        mine = [e for e in db.get_events("s1") if getattr(e, "run_id", None) == killed_run]
        assert [type(e) for e in mine] == [RunStarted, StepCompleted, StepCompleted]
        assert [e.step_name for e in mine[1:]] == ["draft", "review"]  # type: ignore[attr-defined]
        session = db.get_session("s1")
        assert session is not None
        crashed = session.get_run(killed_run)
        assert crashed is not None and crashed.status == RunStatus.running
        assert [s.content for s in crashed.step_results] == [
            "draft on tides",
            "reviewed draft on tides",
        ]
        assert session.session_state == {"w0_0": 0}  # the crashed run's keys never landed

        after = Workflow(name="Killed", db=db, steps=[draft, review]).run(
            input={"topic": "waves"}, session_id="s1"
        )
        assert after.status == RunStatus.completed
        events = db.get_events("s1")
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert [type(e) for e in events[-4:]] == [
            RunStarted,
            StepCompleted,
            StepCompleted,
            RunCompleted,
        ]
        session = db.get_session("s1")
        assert session is not None and session.runs is not None
        assert [(r.run_id, r.status) for r in session.runs] == [
            (before.run_id, RunStatus.completed),
            (killed_run, RunStatus.running),
            (after.run_id, RunStatus.completed),
        ]
        assert session.session_state == {"w0_0": 0, "drafted": "waves"}
