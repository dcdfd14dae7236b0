"""diff_runs: two recorded runs compared step by step, on every store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kern.db import KernDb
from kern.errors import InvalidInputError, RunNotFoundError, SessionNotFoundError
from kern.workflow import StepInput, Workflow
from tests.conftest import failing

MakeWorkflow = Callable[..., Workflow]


def count(step_input: StepInput) -> str:
    step_input.session_state["seen"] = step_input.session_state.get("seen", 0) + 1
    return f"counted {step_input.input}"


def answer(step_input: StepInput) -> str:
    if step_input.input == "fail":
        raise ValueError("no answer for fail")
    return f"answer to {step_input.previous_step_content}"


def test_two_runs_of_a_session_differ_where_their_inputs_outputs_and_state_do(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow(steps=[count, answer])
    workflow.run(input="one", session_id="s1", user_id="ana", run_id="a")
    workflow.run(input="two", session_id="s1", user_id="ana", run_id="b")
    report = db.diff_runs("s1", "a", "b", "ana")
    assert report.changed
    assert {c.field: (c.a, c.b) for c in report.run}["input"] == ("one", "two")
    first, second = report.steps
    assert (first.name, first.outcome) == ("count", "changed")
    fields = {c.field: (c.a, c.b) for c in first.changes}
    assert fields["output"] == ("counted one", "counted two")
    assert fields["state_changes"][0] != fields["state_changes"][1]  # seen: 1, then 2
    assert {c.field for c in second.changes} == {"input", "output"}
    assert db.diff_runs("s1", "a", "a", "ana").changed is False


def check(step_input: StepInput) -> str:
    return "checked"


def test_a_failed_step_shows_its_error_and_status(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count, failing(answer)])
    workflow.run(input="ok", session_id="s1", run_id="good")
    with pytest.raises(ValueError, match="no answer"):
        workflow.run(input="fail", session_id="s1", run_id="bad")
    report = db.diff_runs("s1", "good", "bad")
    run = {c.field: (c.a, c.b) for c in report.run}
    assert run["status"] == ("COMPLETED", "ERROR")
    step = {c.field: (c.a, c.b) for c in report.steps[1].changes}
    assert step["success"] == (True, False)
    assert step["output"][1] == "no answer for fail"


def test_steps_are_aligned_by_name_when_a_step_was_added(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    make_workflow(steps=[count, answer]).run(input="x", session_id="s1", run_id="before")
    make_workflow(steps=[count, check, answer]).run(input="x", session_id="s1", run_id="after")
    report = db.diff_runs("s1", "before", "after")
    assert [(s.name, s.outcome, s.index_a, s.index_b) for s in report.steps] == [
        ("count", "changed", 0, 0),  # its state change: seen 1, then 2 (the state goes on)
        ("check", "only_b", None, 1),
        ("answer", "changed", 1, 2),  # it now receives what check said
    ]


def test_a_run_of_a_fork_against_its_original(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count, answer])
    workflow.run(input="x", session_id="s1", run_id="r1")
    db.fork_session("s1", at="r1", new_session_id="fork")
    workflow.run(input="y", session_id="fork", run_id="r2")
    report = db.diff_runs("s1", "r1", "r2", session_b="fork")
    assert (report.session_a, report.session_b) == ("s1", "fork")
    assert {c.field for c in report.run} >= {"input", "output"}


def test_another_users_session_is_not_found_and_a_missing_run_named(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    workflow.run(input="x", session_id="s1", user_id="ana", run_id="r1")
    workflow.run(input="x", session_id="s2", user_id="bo", run_id="r2")
    with pytest.raises(SessionNotFoundError):
        db.diff_runs("s1", "r1", "r1", "bo")
    with pytest.raises(SessionNotFoundError):
        db.diff_runs("s1", "r1", "r2", "ana", session_b="s2")
    with pytest.raises(RunNotFoundError, match="'nope'"):
        db.diff_runs("s1", "r1", "nope", "ana")
    with pytest.raises(InvalidInputError):
        db.diff_runs("s1", "r1", 7, "ana")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        db.diff_runs("", "r1", "r1")
