"""Faults under Kern: a process killed mid-step, on each store processes share.

The faults of one store live with it: PostgreSQL connections killed and the
server restarted under load in tests/postgres/test_writers_recover.py, an
SQLite file locked for longer than the timeout in tests/sqlite/test_locking.py.

Agno writes a run only when it ends, so a crash loses it whole. Kern records
as it goes: what a run finished before the fault stays, and writers recover
by themselves from faults a retry can absorb.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import uuid
from datetime import timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from kern.domain.events import RunCompleted, RunResumed, RunStarted, StepCompleted
from kern.run import RunStatus
from kern.workflow import Step, StepInput, Workflow
from tests.contract.reliability._load import (
    JOIN_TIMEOUT,
    Target,
    draft,
    finish,
    load_workflow,
    resume_killed,
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


# -- resuming the run a killed process left ----------------------------------------------------


def kill_in_step_3(target: Target, tmp_path: Path) -> tuple[str, Path]:
    """Run draft, review, hang in "s1" in a child process, killed inside hang: the
    run's id, and the file hang's signal names."""
    with target.open() as db:
        load_workflow(db).run(input={"writer": 0, "n": 0}, session_id="s1")
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
    return killed_run, in_step


@pytest.mark.slow
def test_the_run_of_a_killed_process_is_found_and_resumed_from_its_third_step(
    target: Target, tmp_path: Path
) -> None:
    """The finished steps are not run again; the resumed step sees their output and
    state; the run completes and its state lands (hang's, never recorded, does not)."""
    killed_run, in_step = kill_in_step_3(target, tmp_path)
    with target.open() as db:
        (found,) = db.get_interrupted_runs(timedelta(0))
        assert (found.session_id, found.run_id) == ("s1", killed_run)
        last = db.get_events("s1")[-1]
        assert isinstance(last, StepCompleted) and found.last_version == last.version
        calls: list[str] = []

        def counted(step_input: StepInput) -> str:
            calls.append(step_input.previous_step_content)
            return draft(step_input)

        again = Workflow(
            name="Killed", db=db, steps=[Step(name="draft", executor=counted), review, finish]
        )
        output = again.resume(killed_run, session_id="s1")

        assert calls == []
        assert (output.status, output.content) == (
            RunStatus.completed,
            "finished reviewed draft on tides",
        )
        assert Path(f"{in_step}.finished").read_text() == "finish\n"
        mine = [e for e in db.get_events("s1") if getattr(e, "run_id", None) == killed_run]
        assert [type(e) for e in mine] == [
            RunStarted,
            StepCompleted,
            StepCompleted,
            RunResumed,
            StepCompleted,
            RunCompleted,
        ]
        session = db.get_session("s1")
        assert session is not None
        assert session.session_state == {"w0_0": 0, "drafted": "tides"}
        assert db.get_interrupted_runs(timedelta(0)) == []
        assert db.verify("s1").ok


@pytest.mark.slow
def test_of_two_processes_resuming_the_killed_run_exactly_one_does(
    target: Target, tmp_path: Path
) -> None:
    """Both read the run before either decides: one RunResumed, the other process
    gets RunAlreadyResumedError, the third step runs once."""
    killed_run, in_step = kill_in_step_3(target, tmp_path)
    context = multiprocessing.get_context("spawn")
    both_read = context.Barrier(2, timeout=JOIN_TIMEOUT)
    reports = [tmp_path / f"resumer-{i}.json" for i in range(2)]
    resumers = [
        context.Process(
            target=resume_killed, args=(target, "s1", killed_run, both_read, str(report))
        )
        for report in reports
    ]
    for resumer in resumers:
        resumer.start()
    for resumer in resumers:
        resumer.join(JOIN_TIMEOUT)
    assert [r.exitcode for r in resumers] == [0, 0]

    outcomes = sorted(report.read_text() for report in reports)
    assert [json.loads(o) for o in outcomes] == [
        {"refused": "RunAlreadyResumedError"},
        {"resumed": "COMPLETED"},
    ]
    assert Path(f"{in_step}.finished").read_text() == "finish\n"
    with target.open() as db:
        kinds = [type(e) for e in db.get_events("s1") if getattr(e, "run_id", None) == killed_run]
        assert kinds.count(RunResumed) == 1 and kinds[-1] is RunCompleted
        assert db.verify("s1").ok
