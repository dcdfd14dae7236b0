"""Session state across the steps and runs of a workflow, and run metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.events import RunCompleted, RunStarted, SessionStarted, StepCompleted
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.conftest import failing

MakeWorkflow = Callable[..., Workflow]

# Keys Agno uses for itself and deletes from the user's state.
AGNO_KEYS = {
    "run_id": "my run label",
    "session_id": "my session label",
    "workflow_name": "my workflow label",
    "workflow_id": "my workflow id",
    "current_session_id": "my current session",
}


def count(step_input: StepInput) -> int:
    """Adds one to the "count" key."""
    step_input.session_state["count"] = step_input.session_state.get("count", 0) + 1
    return int(step_input.session_state["count"])


def snapshot(seen: list[dict[str, Any]]) -> Callable[[StepInput], str]:
    """A step that records a copy of the state it is given."""

    def look(step_input: StepInput) -> str:
        seen.append(dict(step_input.session_state))
        return "looked"

    return look


# -- within a run ---------------------------------------------------------------------


def test_state_is_shared_and_mutable_across_the_steps_of_a_run(
    make_workflow: MakeWorkflow,
) -> None:
    states: list[dict[str, Any]] = []

    def draft(step_input: StepInput) -> str:
        states.append(step_input.session_state)
        step_input.session_state["draft"] = "v1"
        return "drafted"

    def revise(step_input: StepInput) -> str:
        states.append(step_input.session_state)
        step_input.session_state["draft"] += " revised"
        return str(step_input.session_state["draft"])

    result = make_workflow(steps=[draft, revise]).run(input="go", session_id="s1")
    assert states[0] is states[1]
    assert result.content == "v1 revised"


def test_each_step_records_what_it_changed(db: KernDb, make_workflow: MakeWorkflow) -> None:
    def add(step_input: StepInput) -> None:
        step_input.session_state["added"] = 1

    def drop(step_input: StepInput) -> None:
        del step_input.session_state["old"]

    make_workflow(steps=[add, drop]).run(input="go", session_id="s1", session_state={"old": 0})
    first, second = [e for e in db.get_events("s1") if isinstance(e, StepCompleted)]
    assert (first.state_changes.set, first.state_changes.removed) == ({"added": 1}, [])
    assert (second.state_changes.set, second.state_changes.removed) == ({}, ["old"])


def test_state_is_persisted_when_the_run_ends(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count, count])
    result = workflow.run(input="go", session_id="s1")
    assert result.session_state == {"count": 2}
    assert workflow.get_session_state(session_id="s1") == {"count": 2}
    completed = db.get_events("s1")[-1]
    assert isinstance(completed, RunCompleted)
    assert completed.state_changes.set == {"count": 2}


def test_state_carries_over_to_the_next_run(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count])
    assert [workflow.run(input="go", session_id="s1").content for _ in range(3)] == [1, 2, 3]
    assert workflow.get_session_state(session_id="s1") == {"count": 3}


# -- seeding and merging -----------------------------------------------------------------


def test_workflow_state_seeds_a_new_session_only(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count], session_state={"count": 10, "mode": "draft"})
    workflow.run(input="go", session_id="s1")
    workflow.run(input="go", session_id="s1")
    assert workflow.get_session_state(session_id="s1") == {"count": 12, "mode": "draft"}
    started = db.get_events("s1")[0]
    assert isinstance(started, SessionStarted)
    assert started.session_state == {"count": 10, "mode": "draft"}

    reseeded = make_workflow(steps=[count], session_state={"count": 0, "mode": "final"})
    reseeded.run(input="go", session_id="s1")
    assert reseeded.get_session_state(session_id="s1") == {"count": 13, "mode": "draft"}
    reseeded.run(input="go", session_id="s2")
    assert reseeded.get_session_state(session_id="s2") == {"count": 1, "mode": "final"}


def test_run_state_argument_is_merged_over_the_stored_state(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    seen: list[dict[str, Any]] = []
    workflow = make_workflow(steps=[snapshot(seen)])
    workflow.run(input="go", session_id="s1", session_state={"a": 1, "b": 2})
    workflow.run(input="go", session_id="s1", session_state={"b": 3, "c": 4})
    assert seen == [{"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}]
    assert workflow.get_session_state(session_id="s1") == {"a": 1, "b": 3, "c": 4}
    started = [e for e in db.get_events("s1") if isinstance(e, RunStarted)]
    assert started[1].session_state == {"a": 1, "b": 3, "c": 4}


def test_state_updated_between_runs_is_seen_by_the_next_run(make_workflow: MakeWorkflow) -> None:
    seen: list[dict[str, Any]] = []
    workflow = make_workflow(steps=[snapshot(seen)])
    workflow.run(input="go", session_id="s1", session_state={"a": 1})
    workflow.update_session_state({"b": 2}, session_id="s1")
    workflow.run(input="go", session_id="s1")
    assert seen[1] == {"a": 1, "b": 2}


# -- keys Agno drops, and the workflow name ---------------------------------------------------


def test_user_keys_named_like_agnos_own_are_kept(make_workflow: MakeWorkflow) -> None:
    """Kern fixes: Agno silently deletes run_id, session_id, workflow_name... from the state."""
    seen: list[dict[str, Any]] = []

    def store_more(step_input: StepInput) -> str:
        step_input.session_state["current_session_id"] = "set by a step"
        return "stored"

    workflow = make_workflow(steps=[snapshot(seen), store_more], session_state={"run_id": "seed"})
    workflow.run(input="go", session_id="s1", session_state=AGNO_KEYS)
    assert seen == [AGNO_KEYS]
    stored = workflow.get_session_state(session_id="s1")
    assert stored == {**AGNO_KEYS, "current_session_id": "set by a step"}

    workflow.update_session_state({"workflow_id": "updated"}, session_id="s1")
    workflow.run(input="again", session_id="s1")
    assert seen[1] == {**AGNO_KEYS, "current_session_id": "set by a step", "workflow_id": "updated"}


def test_workflow_seed_with_agno_keys_is_kept(make_workflow: MakeWorkflow) -> None:
    """Kern fixes: keys named session_id and workflow_name in the seed state survive."""
    workflow = make_workflow(session_state={"session_id": "mine", "workflow_name": "mine too"})
    workflow.run(input="go", session_id="s1")
    assert workflow.get_session_state(session_id="s1") == {
        "session_id": "mine",
        "workflow_name": "mine too",
    }


def test_workflow_name_is_stored_with_the_session(db: KernDb, make_workflow: MakeWorkflow) -> None:
    """Kern fixes: Agno never stores the workflow name."""
    workflow = make_workflow(name="Research Pipeline")
    result = workflow.run(input="go", session_id="s1")
    started = db.get_events("s1")[0]
    assert isinstance(started, SessionStarted)
    assert started.workflow_name == "Research Pipeline"
    session = db.get_session("s1")
    assert session is not None and session.runs is not None
    assert session.workflow_name == "Research Pipeline"
    assert session.runs[0].workflow_name == "Research Pipeline"
    assert result.workflow_name == "Research Pipeline"
    (listed,) = db.get_sessions()
    assert listed.workflow_name == "Research Pipeline"


# -- failed runs -----------------------------------------------------------------------------


def test_state_changes_of_an_error_run_take_effect_at_its_end(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    """The terminal event carries the changes made before the failure."""

    def fail(step_input: StepInput) -> None:
        raise ValueError("boom")

    workflow = make_workflow(steps=[count, failing(fail)])
    with pytest.raises(ValueError, match="boom"):
        workflow.run(input="go", session_id="s1", session_state={"count": 5})
    completed = db.get_events("s1")[-1]
    assert isinstance(completed, RunCompleted)
    assert completed.status == RunStatus.error
    assert completed.state_changes.set == {"count": 6}
    assert workflow.get_session_state(session_id="s1") == {"count": 6}


# -- metrics ----------------------------------------------------------------------------------


def test_each_step_and_the_run_record_a_duration(db: KernDb, make_workflow: MakeWorkflow) -> None:
    result = make_workflow(steps=[count, count, count]).run(input="go", session_id="s1")
    steps = [e for e in db.get_events("s1") if isinstance(e, StepCompleted)]
    completed = db.get_events("s1")[-1]
    assert isinstance(completed, RunCompleted)
    durations = [step.metrics.duration for step in steps]
    assert len(durations) == 3
    assert all(duration >= 0 for duration in durations)
    assert completed.metrics.duration >= sum(durations)
    assert result.metrics is not None and result.metrics.duration is not None
    assert result.metrics.duration >= sum(durations)


def test_stored_run_metrics_match_the_events(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    result = workflow.run(input="go", session_id="s1")
    assert result.run_id is not None
    stored = workflow.get_run(result.run_id, session_id="s1")
    assert stored is not None and stored.metrics is not None
    completed = db.get_events("s1")[-1]
    assert isinstance(completed, RunCompleted)
    assert stored.metrics.duration == completed.metrics.duration
    assert set(stored.metrics.steps) == {"echo", "shout"}
    assert all(step["duration"] >= 0 for step in stored.metrics.steps.values())
    assert [step.metrics["duration"] for step in stored.step_results if step.metrics] == [
        e.metrics.duration for e in db.get_events("s1") if isinstance(e, StepCompleted)
    ]
