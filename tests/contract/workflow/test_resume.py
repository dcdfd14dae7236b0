"""Resuming a run left RUNNING, on every store: from its first unfinished step, once.

A run is interrupted here by reading its event stream up to a step's start and
leaving it there: the finished steps are stored, the run is RUNNING, and its
writer is parked as a process that stopped would be. A process really killed
mid-run is in tests/sqlite/test_processes.py and tests/postgres/.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import kern.workflow as kern_workflow
from kern.application import bridge
from kern.application.runner.resume import ResumedRun
from kern.db import KernDb
from kern.domain.events import RunResumed, SessionEvent, StepCompleted
from kern.errors import (
    InvalidStepError,
    RunAlreadyFinishedError,
    RunAlreadyResumedError,
    RunError,
    RunNotFoundError,
    SessionNotFoundError,
)
from kern.run import RunStatus, WorkflowRunOutput
from kern.workflow import Step, StepInput, Workflow
from tests.contract.conftest import Interrupt
from tests.contract.kinds import THREADED


class Steps:
    """Three function steps that count their calls and touch the state."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def research(self, step_input: StepInput) -> str:
        self.calls.append("research")
        step_input.session_state["found"] = len(str(step_input.input))
        return f"Findings on {step_input.input}, " + "in detail " * 8

    def write(self, step_input: StepInput) -> str:
        self.calls.append("write")
        step_input.session_state["drafts"] = step_input.session_state.get("drafts", 0) + 1
        return f"Draft from: {step_input.previous_step_content}"

    def review(self, step_input: StepInput) -> str:
        self.calls.append("review")
        state = sorted(step_input.session_state.items())
        return f"Reviewed ({state}): {step_input.previous_step_content}"

    def all(self) -> list[Any]:
        return [self.research, self.write, self.review]


def runs_of(db: KernDb, session_id: str) -> list[WorkflowRunOutput]:
    session = db.get_session(session_id)
    assert session is not None and session.runs is not None
    return session.runs


def state_of(db: KernDb, session_id: str) -> Any:
    session = db.get_session(session_id)
    assert session is not None and session.session_data is not None
    return session.session_data["session_state"]


def kinds(db: KernDb, session_id: str) -> list[str]:
    return [type(event).__name__ for event in db.get_events(session_id)]


def received(events: list[SessionEvent], run_id: str) -> list[Any]:
    return [e.input.value for e in events if isinstance(e, StepCompleted) and e.run_id == run_id]


def test_resume_runs_only_the_unfinished_steps(db: KernDb, interrupt: Interrupt) -> None:
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    assert runs_of(db, "s")[0].status == RunStatus.running
    assert steps.calls == ["research"]

    output = workflow.resume("r1", session_id="s")

    assert steps.calls == ["research", "write", "review"]
    assert output.status == RunStatus.completed
    assert output.content.startswith("Reviewed") and "Draft from: Findings on AI" in output.content
    assert [r.step_name for r in output.step_results] == ["research", "write", "review"]
    run = runs_of(db, "s")[0]
    assert (run.status, run.content) == (RunStatus.completed, output.content)
    assert kinds(db, "s") == [
        "SessionStarted",
        "RunStarted",
        "StepCompleted",
        "RunResumed",
        "StepCompleted",
        "StepCompleted",
        "RunCompleted",
    ]
    assert db.verify("s").ok


def test_a_resumed_run_records_what_an_uninterrupted_one_does(
    db: KernDb, interrupt: Interrupt
) -> None:
    """Same step inputs, contents and session state as the run that was not cut off."""
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all(), session_state={"lang": "en"})
    workflow.run(input="AI", session_id="whole", run_id="r1", session_state={"tone": "dry"})
    interrupt(
        workflow, at=2, input="AI", session_id="cut", run_id="r1", session_state={"tone": "dry"}
    )

    workflow.resume("r1", session_id="cut")

    whole, cut = runs_of(db, "whole")[0], runs_of(db, "cut")[0]
    assert [r.content for r in cut.step_results] == [r.content for r in whole.step_results]
    assert cut.content == whole.content
    assert (
        state_of(db, "cut")
        == state_of(db, "whole")
        == {"lang": "en", "tone": "dry", "found": 2, "drafts": 1}
    )
    assert received(db.get_events("cut"), "r1") == received(db.get_events("whole"), "r1")


def test_resumed_steps_see_the_history_the_run_started_with(
    db: KernDb, interrupt: Interrupt
) -> None:
    """A run finished while the interrupted one waited is not in its history."""

    def answer(step_input: StepInput) -> str:
        return f"answer to {step_input.input}"

    def recall(step_input: StepInput) -> str:
        return f"history: {step_input.get_workflow_history_context()}"

    workflow = Workflow(name="Chat", db=db, steps=[answer, recall])
    workflow.run(input="first", session_id="s", run_id="r0")
    interrupt(workflow, at=1, input="second", session_id="s", run_id="r1")
    workflow.run(input="third", session_id="s", run_id="r2")

    output = workflow.resume("r1", session_id="s")

    assert "first" in output.content and "third" not in output.content
    assert [r.run_id for r in runs_of(db, "s")] == ["r0", "r1", "r2"]


def test_resume_records_run_resumed_with_the_resumers_provenance(
    db: KernDb, interrupt: Interrupt
) -> None:
    workflow = Workflow(name="Pipeline", db=db, steps=Steps().all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1", correlation_id="first")

    workflow.resume("r1", session_id="s", correlation_id="recovery-7", metadata={"by": "ops"})

    events = db.get_events("s")
    (resumed,) = [e for e in events if isinstance(e, RunResumed)]
    assert (resumed.run_id, resumed.step_index, resumed.resumption) == ("r1", 1, 1)
    assert resumed.provenance.correlation_id == "recovery-7"
    assert resumed.provenance.metadata == {"by": "ops"}
    after = [e for e in events if e.version > resumed.version]
    assert {e.provenance.correlation_id for e in after} == {"first"}


def test_a_run_interrupted_twice_resumes_twice(db: KernDb, interrupt: Interrupt) -> None:
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    first = ResumeParked(workflow, "r1", "s", at=2)
    assert steps.calls == ["research", "write"]

    output = workflow.resume("r1", session_id="s")

    assert steps.calls == ["research", "write", "review"]
    assert output.status == RunStatus.completed
    resumed = [e for e in db.get_events("s") if isinstance(e, RunResumed)]
    assert [(e.step_index, e.resumption) for e in resumed] == [(1, 1), (2, 2)]
    first.close()


class ResumeParked:
    """A resumption left RUNNING before step ``at``: the run resumed, then cut off
    again (its steps are driven by hand through the resumed run's events)."""

    def __init__(self, workflow: Workflow, run_id: str, session_id: str, *, at: int) -> None:
        recorder = workflow._resumed(run_id, session_id, None, None, None)
        self.events = recorder.events(None)
        for event in self.events:
            if event.event == "StepStarted" and getattr(event, "step_index", None) == at:
                break

    def close(self) -> None:
        with contextlib.suppress(RunError):
            self.events.close()


def test_the_interrupted_writer_cannot_write_after_a_resume(
    db: KernDb, interrupt: Interrupt
) -> None:
    """A process that was only slow, not dead, is refused once another resumed its run."""
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    slow = interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    second = ResumeParked(workflow, "r1", "s", at=2)
    before = kinds(db, "s")

    with pytest.raises(RunAlreadyResumedError):
        next(slow)  # the slow writer runs its step, then tries to record it

    assert kinds(db, "s") == before
    second.close()


@pytest.mark.parametrize("status", ["finished", "cancelled"])
def test_resuming_a_finished_run_is_refused_and_writes_nothing(
    db: KernDb, interrupt: Interrupt, status: str
) -> None:
    workflow = Workflow(name="Pipeline", db=db, steps=Steps().all())
    if status == "finished":
        workflow.run(input="AI", session_id="s", run_id="r1")
    else:
        interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1").close()
    before = kinds(db, "s")

    with pytest.raises(RunAlreadyFinishedError) as raised:
        workflow.resume("r1", session_id="s")

    assert (raised.value.session_id, raised.value.run_id) == ("s", "r1")
    assert kinds(db, "s") == before


def test_another_users_run_reads_as_missing(db: KernDb, interrupt: Interrupt) -> None:
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1", user_id="alice")
    before = kinds(db, "s")

    with pytest.raises(SessionNotFoundError) as other:
        workflow.resume("r1", session_id="s", user_id="bob")
    with pytest.raises(SessionNotFoundError) as missing:
        workflow.resume("r1", session_id="nowhere", user_id="bob")

    assert str(other.value) == str(missing.value).replace("nowhere", "s")
    assert kinds(db, "s") == before and steps.calls == ["research"]
    assert workflow.resume("r1", session_id="s", user_id="alice").status == RunStatus.completed


def test_resuming_a_run_the_session_never_started_is_refused(
    db: KernDb, interrupt: Interrupt
) -> None:
    workflow = Workflow(name="Pipeline", db=db, steps=Steps().all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    before = kinds(db, "s")

    with pytest.raises(RunNotFoundError):
        workflow.resume("r9", session_id="s")

    assert kinds(db, "s") == before


def test_resuming_with_other_steps_is_refused(db: KernDb, interrupt: Interrupt) -> None:
    """The finished steps' outputs only stand in for the same steps."""
    steps = Steps()
    interrupt(
        Workflow(name="Pipeline", db=db, steps=steps.all()),
        at=1,
        input="AI",
        session_id="s",
        run_id="r1",
    )
    before = kinds(db, "s")
    renamed = Workflow(name="Pipeline", db=db, steps=[Step(name="other", executor=steps.write)])

    with pytest.raises(InvalidStepError, match="research"):
        renamed.resume("r1", session_id="s")

    assert kinds(db, "s") == before


def test_aresume_continues_the_run_on_the_loop(db: KernDb, interrupt: Interrupt) -> None:
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")

    async def later(step_input: StepInput) -> str:
        await asyncio.sleep(0)
        return steps.write(step_input)

    again = Workflow(
        name="Pipeline",
        db=db,
        steps=[steps.research, Step(name="write", executor=later), steps.review],
    )
    output = _drive(again.aresume("r1", session_id="s"))

    assert output.status == RunStatus.completed
    assert steps.calls == ["research", "write", "review"]


def _drive(coroutine: Any) -> Any:
    """Await ``coroutine`` from this test, whether or not it already runs on a loop."""
    return bridge.wait(coroutine) if bridge.active() else asyncio.run(coroutine)


@THREADED
def test_of_two_threads_resuming_one_run_exactly_one_wins(
    db: KernDb, interrupt: Interrupt, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the run before either decides: the second RunResumed conflicts."""
    steps = Steps()
    workflow = Workflow(name="Pipeline", db=db, steps=steps.all())
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    both_read = threading.Barrier(2, timeout=10)
    read = ResumedRun._read

    def read_then_wait(self: ResumedRun) -> Any:
        run = read(self)
        both_read.wait()
        return run

    monkeypatch.setattr(ResumedRun, "_read", read_then_wait)

    def resume() -> Any:
        try:
            return workflow.resume("r1", session_id="s")
        except RunAlreadyResumedError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: resume(), range(2)))

    errors = [r for r in results if isinstance(r, RunAlreadyResumedError)]
    assert len(errors) == 1 and errors[0].run_id == "r1"
    assert steps.calls == ["research", "write", "review"]
    assert kinds(db, "s").count("RunResumed") == 1
    assert runs_of(db, "s")[0].status == RunStatus.completed


def test_a_step_primitive_that_finished_is_not_run_again(db: KernDb, interrupt: Interrupt) -> None:
    steps = Steps()
    group = kern_workflow.Steps(name="prepare", steps=[steps.research, steps.write])
    workflow = Workflow(name="Grouped", db=db, steps=[group, steps.review])
    interrupt(workflow, at=1, input="AI", session_id="s", run_id="r1")
    assert steps.calls == ["research", "write"]

    output = workflow.resume("r1", session_id="s")

    assert steps.calls == ["research", "write", "review"]
    assert output.status == RunStatus.completed
    assert "Draft from: Findings on AI" in str(output.content)
    run = runs_of(db, "s")[0]
    assert [r.step_name for r in run.step_results or []] == ["prepare", "review"]
    prepared = (run.step_results or [])[0]
    assert [s.step_name for s in prepared.steps or []] == ["research", "write"]


def test_a_run_stopped_inside_a_step_primitive_is_refused_and_nothing_is_written(
    db: KernDb,
) -> None:
    steps = Steps()
    group = kern_workflow.Steps(name="prepare", steps=[steps.research, steps.write])
    workflow = Workflow(name="Grouped", db=db, steps=[group, steps.review])
    events = workflow.run(stream=True, input="AI", session_id="s", run_id="r1")
    for event in events:
        if event.event == "StepStarted" and getattr(event, "step_name", None) == "write":
            break
    try:
        before = kinds(db, "s")
        assert before.count("StepCompleted") == 1  # research, inside the primitive
        with pytest.raises(InvalidStepError, match="stopped inside step primitive 1"):
            workflow.resume("r1", session_id="s")
        assert kinds(db, "s") == before
    finally:
        with contextlib.suppress(RunError):
            events.close()
