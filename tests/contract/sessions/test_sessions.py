"""Contract: one session's life on every store (runs, names, state, deletion)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.domain.events import (
    RunCompleted,
    RunStarted,
    SessionDeleted,
    SessionEvent,
    SessionRenamed,
    SessionStarted,
    SessionStateUpdated,
    StepCompleted,
)
from kern.errors import SessionDeletedError, SessionNotFoundError
from kern.run import RunStatus, WorkflowRunOutput
from kern.session import WorkflowSession
from kern.workflow import StepInput, Workflow

MakeWorkflow = Callable[..., Workflow]


def kinds(events: list[SessionEvent]) -> list[type[SessionEvent]]:
    return [type(event) for event in events]


def count_visits(step_input: StepInput) -> str:
    """A step that counts its runs in the session state."""
    step_input.session_state["visits"] = step_input.session_state.get("visits", 0) + 1
    return f"visit {step_input.session_state['visits']}"


# -- runs ---------------------------------------------------------------------------


def test_first_run_records_session_run_and_each_step_in_order(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    make_workflow().run(input="hello", session_id="s1")
    assert kinds(db.get_events("s1")) == [
        SessionStarted,
        RunStarted,
        StepCompleted,
        StepCompleted,
        RunCompleted,
    ]


def test_second_run_appends_without_starting_the_session_again(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    workflow.run(input="one", session_id="s1")
    workflow.run(input="two", session_id="s1")
    events = db.get_events("s1")
    assert kinds(events)[5:] == [RunStarted, StepCompleted, StepCompleted, RunCompleted]
    assert [event.version for event in events] == list(range(1, 10))


def test_events_of_a_run_carry_its_run_id_and_step_positions(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    result = make_workflow().run(input="hello", session_id="s1")
    _, started, first, second, completed = db.get_events("s1")
    assert isinstance(started, RunStarted)
    assert isinstance(first, StepCompleted)
    assert isinstance(second, StepCompleted)
    assert isinstance(completed, RunCompleted)
    assert {started.run_id, first.run_id, second.run_id, completed.run_id} == {result.run_id}
    assert started.input.value == "hello"
    assert (first.step_index, first.step_name, first.content.value) == (0, "echo", "echo: hello")
    assert (second.step_index, second.step_name, second.content.value) == (
        1,
        "shout",
        "ECHO: HELLO",
    )
    assert completed.status == RunStatus.completed
    assert completed.content.value == "ECHO: HELLO"


def test_run_returns_what_was_recorded(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    result = workflow.run(input="hello", session_id="s1")
    assert result.status == RunStatus.completed
    assert result.content == "ECHO: HELLO"
    assert [step.content for step in result.step_results] == ["echo: hello", "ECHO: HELLO"]
    assert result.run_id is not None
    stored = workflow.get_run(result.run_id, session_id="s1")
    assert stored is not None
    assert (stored.run_id, stored.input, stored.content, stored.status) == (
        result.run_id,
        "hello",
        "ECHO: HELLO",
        RunStatus.completed,
    )
    assert [step.content for step in stored.step_results] == ["echo: hello", "ECHO: HELLO"]


def test_runs_are_listed_in_the_order_they_started(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    first = workflow.run(input="one", session_id="s1")
    second = workflow.run(input="two", session_id="s1", run_id="my-run")
    session = workflow.get_session(session_id="s1")
    assert session is not None
    assert session.runs is not None
    assert [run.run_id for run in session.runs] == [first.run_id, "my-run"]
    assert second.run_id == "my-run"
    assert session.get_run("my-run") == workflow.get_run("my-run", session_id="s1")


def test_get_run_of_unknown_run_is_none(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run(input="one", session_id="s1")
    assert workflow.get_run("no-such-run", session_id="s1") is None
    assert workflow.get_run("no-such-run", session_id="no-such-session") is None


def test_each_run_without_session_id_starts_a_new_session_and_pins_nothing(
    make_workflow: MakeWorkflow,
) -> None:
    """As the spec says ("a missing session_id is a new uuid4"); the old pinning on the
    Workflow sent the next caller of a shared Workflow into the first one's session."""
    workflow = make_workflow()
    first = workflow.run(input="one", user_id="ana")
    second = workflow.run(input="two", user_id="bo")
    assert first.session_id != second.session_id
    assert all(len(r.session_id or "") == 36 for r in (first, second))
    assert workflow.session_id is None
    session = workflow.get_session(second.session_id, user_id="bo")
    assert session is not None and session.user_id == "bo"


def test_get_last_run_output_is_the_latest_run(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    assert workflow.get_last_run_output(session_id="s1") is None
    workflow.run(input="one", session_id="s1")
    latest = workflow.run(input="two", session_id="s1")
    last = workflow.get_last_run_output(session_id="s1")
    assert isinstance(last, WorkflowRunOutput)
    assert (last.run_id, last.content) == (latest.run_id, "ECHO: TWO")


# -- reading the session ----------------------------------------------------------------


def test_get_session_has_the_seed_fields(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(metadata={"team": "research"})
    workflow.run(input="hello", session_id="s1", user_id="alice")
    session = workflow.get_session(session_id="s1", user_id="alice")
    assert isinstance(session, WorkflowSession)
    assert session.session_id == "s1"
    assert session.user_id == "alice"
    assert session.workflow_id == workflow.id
    assert session.workflow_name == "Test Pipeline"
    assert session.metadata == {"team": "research"}
    assert session.workflow_data is not None
    assert session.workflow_data["name"] == "Test Pipeline"
    assert session.session_data == {"session_state": {}}


def test_get_session_of_unknown_session_is_none(make_workflow: MakeWorkflow) -> None:
    assert make_workflow().get_session(session_id="nobody-ran-this") is None


def test_created_at_is_the_first_event_and_updated_at_the_last(
    make_workflow: MakeWorkflow,
) -> None:
    workflow = make_workflow()
    with freeze_time("2024-03-01 12:00:00"):
        workflow.run(input="one", session_id="s1")
    with freeze_time("2024-03-01 12:05:30"):
        workflow.set_session_name(session_id="s1", session_name="named later")
    session = workflow.get_session(session_id="s1")
    assert session is not None
    assert session.created_at == int(datetime(2024, 3, 1, 12, 0, tzinfo=UTC).timestamp())
    assert session.updated_at == int(datetime(2024, 3, 1, 12, 5, 30, tzinfo=UTC).timestamp())


def test_get_chat_history_pairs_inputs_with_outputs(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run(input="one", session_id="s1")
    workflow.run(input="two", session_id="s1")
    history = workflow.get_chat_history(session_id="s1")
    assert [(pair.input, pair.output) for pair in history] == [
        ("one", "ECHO: ONE"),
        ("two", "ECHO: TWO"),
    ]
    last = workflow.get_chat_history(session_id="s1", last_n_runs=1)
    assert [(pair.input, pair.output) for pair in last] == [("two", "ECHO: TWO")]


# -- naming ---------------------------------------------------------------------------


def test_session_name_is_empty_until_named(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1")
    assert workflow.get_session_name(session_id="s1") == ""


def test_set_session_name_records_the_name(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1")
    workflow.set_session_name(session_id="s1", session_name="AI Trends Analysis Q4 2024")
    assert workflow.get_session_name(session_id="s1") == "AI Trends Analysis Q4 2024"
    renamed = db.get_events("s1")[-1]
    assert isinstance(renamed, SessionRenamed)
    assert (renamed.session_name, renamed.autogenerated) == ("AI Trends Analysis Q4 2024", False)


def test_autogenerated_name_is_flagged_as_such(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(description="Nightly report")
    workflow.run(input="hello", session_id="s1")
    with freeze_time("2024-11-19 14:30:00", tz_offset=0):
        workflow.set_session_name(session_id="s1", autogenerate=True)
    assert workflow.get_session_name(session_id="s1") == "Nightly report - 2024-11-19 14:30"
    renamed = db.get_events("s1")[-1]
    assert isinstance(renamed, SessionRenamed)
    assert renamed.autogenerated is True


# -- session state ----------------------------------------------------------------------


def test_run_state_changes_are_persisted(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[count_visits])
    workflow.run(input="one", session_id="s1")
    workflow.run(input="two", session_id="s1")
    assert workflow.get_session_state(session_id="s1") == {"visits": 2}


def test_update_session_state_records_only_the_changed_keys(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1", session_state={"a": 1, "b": 2})
    state = workflow.update_session_state({"a": 1, "c": 3}, session_id="s1")
    assert state == {"a": 1, "b": 2, "c": 3}
    assert workflow.get_session_state(session_id="s1") == {"a": 1, "b": 2, "c": 3}
    updated = db.get_events("s1")[-1]
    assert isinstance(updated, SessionStateUpdated)
    assert updated.changes.set == {"c": 3}
    assert updated.changes.removed == []


def test_update_session_state_that_changes_nothing_records_nothing(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1", session_state={"a": 1})
    before = db.get_events("s1")
    assert workflow.update_session_state({"a": 1}, session_id="s1") == {"a": 1}
    assert db.get_events("s1") == before


def test_update_session_state_of_unknown_session_is_refused(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    with pytest.raises(SessionNotFoundError):
        make_workflow().update_session_state({"a": 1}, session_id="ghost")
    assert db.get_events("ghost") == []


# -- deletion ---------------------------------------------------------------------------


def test_delete_session_hides_it_from_reads(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    result = workflow.run(input="hello", session_id="s1")
    assert workflow.delete_session(session_id="s1") is True
    assert workflow.get_session(session_id="s1") is None
    assert result.run_id is not None
    assert workflow.get_run(result.run_id, session_id="s1") is None
    assert workflow.get_last_run_output(session_id="s1") is None
    with pytest.raises(SessionNotFoundError):
        workflow.get_session_name(session_id="s1")


def test_deleted_session_refuses_runs(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1")
    workflow.delete_session(session_id="s1")
    before = db.get_events("s1")
    with pytest.raises(SessionDeletedError) as refused:
        workflow.run(input="again", session_id="s1")
    assert refused.value.session_id == "s1"
    assert db.get_events("s1") == before


def test_deleting_twice_returns_false_the_second_time(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1")
    assert workflow.delete_session(session_id="s1") is True
    assert workflow.delete_session(session_id="s1") is False
    assert workflow.delete_session(session_id="never-existed") is False
    assert db.get_events("never-existed") == []


def test_deleted_session_keeps_its_events_for_audit(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    """get_events returns the whole log, the tombstone included."""
    workflow = make_workflow()
    workflow.run(input="hello", session_id="s1")
    workflow.delete_session(session_id="s1")
    assert kinds(db.get_events("s1")) == [
        SessionStarted,
        RunStarted,
        StepCompleted,
        StepCompleted,
        RunCompleted,
        SessionDeleted,
    ]


# -- persistence --------------------------------------------------------------------------
