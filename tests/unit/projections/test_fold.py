"""Folding a session's events into the WorkflowSession read model.

Events are built by hand, so each test states exactly which stream the
read model comes from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from kern.domain.values import (
    TERMINAL_STATUSES as TERMINAL,
)
from kern.domain.values import (
    ExecutorMessage,
    ExecutorRun,
    Metrics,
    RunStatus,
    StateChanges,
    StoredValue,
)
from kern.projections.fold import project_session
from kern.projections.history import HistoryView, RunHistory
from kern.projections.runs import RunMetrics, StepMetrics, WorkflowMetrics
from kern.projections.session import WorkflowSession

COMPLETED = RunStatus.completed


T0 = datetime(2024, 11, 19, 14, 30, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


STARTED = SessionStarted(
    session_id="session_123",
    version=1,
    timestamp=at(0),
    user_id="alice",
    workflow_id="wf",
    workflow_name="Pipeline",
    workflow_data={"steps": ["echo"]},
    metadata={"team": "kern"},
    session_state={"count": 0},
)
RUN_STARTED = RunStarted(
    session_id="session_123",
    version=2,
    timestamp=at(1),
    user_id="alice",
    run_id="r1",
    input=StoredValue(type="f.Topic", value={"name": "AI"}),
    session_state={"count": 0},
    workflow_id="wf",
    workflow_name="Pipeline",
)
STEP = StepCompleted(
    session_id="session_123",
    version=3,
    timestamp=at(2.5),
    user_id="alice",
    run_id="r1",
    step_index=0,
    step_name="echo",
    input=StoredValue.of("hi"),
    content=StoredValue.of("echo: hi"),
    metrics=Metrics(duration=0.5),
    state_changes=StateChanges(set={"count": 1}),
    executor_run=ExecutorRun(agent_id="agent-1", messages=[ExecutorMessage(role="user")]),
)
RUN_DONE = RunCompleted(
    session_id="session_123",
    version=4,
    timestamp=at(3),
    user_id="alice",
    run_id="r1",
    status=COMPLETED,
    content=StoredValue.of("ECHO: HI"),
    metrics=Metrics(duration=2.0),
    state_changes=StateChanges(set={"count": 1}),
)


def test_projects_nothing_from_no_events() -> None:
    assert project_session([]) is None


def test_projects_session_fields_from_session_started() -> None:
    projected = project_session([STARTED])
    assert projected == WorkflowSession(
        session_id="session_123",
        user_id="alice",
        workflow_id="wf",
        workflow_name="Pipeline",
        runs=[],
        session_data={"session_state": {"count": 0}},
        workflow_data={"steps": ["echo"]},
        metadata={"team": "kern"},
        created_at=1732026600,
        updated_at=1732026600,
    )
    assert projected is not None
    assert projected.session_name == ""
    assert projected.version == 1


def test_projects_a_finished_run() -> None:
    projected = project_session([STARTED, RUN_STARTED, STEP, RUN_DONE])
    assert projected is not None
    (finished,) = projected.runs or []
    assert (finished.run_id, finished.status, finished.input, finished.content) == (
        "r1",
        COMPLETED,
        {"name": "AI"},
        "ECHO: HI",
    )
    assert (finished.user_id, finished.workflow_id, finished.created_at) == (
        "alice",
        "wf",
        1732026601,
    )
    (result,) = finished.step_results
    assert (result.step_name, result.step_index, result.input, result.content) == (
        "echo",
        0,
        "hi",
        "echo: hi",
    )
    assert finished.step_executor_runs == [STEP.executor_run]
    echo_metrics = StepMetrics("echo", "function", None, RunMetrics(duration=0.5))
    assert finished.metrics == WorkflowMetrics(duration=2.0, steps={"echo": echo_metrics})
    assert projected.session_state == {"count": 1}


def test_run_without_terminal_event_reads_running_with_its_finished_steps() -> None:
    projected = project_session([STARTED, RUN_STARTED, STEP])
    assert projected is not None
    (open_run,) = projected.runs or []
    assert open_run.status == RunStatus.running
    assert [s.content for s in open_run.step_results] == ["echo: hi"]
    assert open_run.content is None
    assert open_run.session_state == {"count": 1}
    assert projected.session_state == {"count": 0}


def test_deleted_session_projects_to_none() -> None:
    tombstone = SessionDeleted(session_id="session_123", version=5, timestamp=at(9))
    assert project_session([STARTED, RUN_STARTED, STEP, RUN_DONE, tombstone]) is None


def test_created_and_updated_at_come_from_first_and_last_event() -> None:
    renamed = SessionRenamed(
        session_id="session_123", version=5, timestamp=at(61.9), session_name="Q4"
    )
    projected = project_session([STARTED, RUN_STARTED, STEP, RUN_DONE, renamed])
    assert projected is not None
    assert (projected.created_at, projected.updated_at) == (1732026600, 1732026661)
    assert projected.version == 5


def test_projects_renames_and_state_updates() -> None:
    renamed = SessionRenamed(
        session_id="session_123", version=2, timestamp=at(1), session_name="Q4", autogenerated=True
    )
    updated = SessionStateUpdated(
        session_id="session_123",
        version=3,
        timestamp=at(2),
        changes=StateChanges(set={"topic": "AI"}, removed=["count"]),
    )
    projected = project_session([STARTED, renamed, updated])
    assert projected is not None
    assert projected.session_name == "Q4"
    assert projected.session_data == {"session_name": "Q4", "session_state": {"topic": "AI"}}


def test_projection_round_trips_through_json() -> None:
    projected = project_session([STARTED, RUN_STARTED, STEP, RUN_DONE])
    assert projected is not None
    assert WorkflowSession.from_dict(json.loads(json.dumps(projected.to_dict()))) == projected


def test_keeps_runs_in_start_order_when_they_end_out_of_order() -> None:
    second_start = RunStarted(
        session_id="session_123",
        version=3,
        timestamp=at(2),
        run_id="r2",
        input=StoredValue.of("again"),
    )
    second_done = RunCompleted(
        session_id="session_123",
        version=4,
        timestamp=at(3),
        run_id="r2",
        status=RunStatus.error,
        error="boom",
    )
    first_done = RunCompleted(
        session_id="session_123",
        version=5,
        timestamp=at(4),
        run_id="r1",
        status=RunStatus.cancelled,
    )
    projected = project_session([STARTED, RUN_STARTED, second_start, second_done, first_done])
    assert projected is not None
    runs = projected.runs or []
    assert [(r.run_id, r.status, r.error) for r in runs] == [
        ("r1", RunStatus.cancelled, None),
        ("r2", RunStatus.error, "boom"),
    ]


def test_refuses_a_run_event_before_its_run_started() -> None:
    with pytest.raises(ValueError, match="'r1'"):
        project_session([STARTED, RUN_DONE])


def test_refuses_events_before_the_session_started() -> None:
    with pytest.raises(ValueError, match="before SessionStarted"):
        project_session([RUN_STARTED])


# -- the light history view -----------------------------------------------------

_values = st.one_of(st.none(), st.text(max_size=5), st.integers(-3, 3), st.just({"a": 1}))
_outcomes = st.one_of(st.none(), st.sampled_from(sorted(TERMINAL, key=str)))


@given(
    runs=st.lists(st.tuples(_values, _values, _outcomes, st.integers(0, 2)), max_size=8),
    window=st.one_of(st.none(), st.integers(-1, 9)),
)
def test_history_view_answers_history_queries_like_the_full_read_model(
    runs: list[tuple[object, object, RunStatus | None, int]], window: int | None
) -> None:
    """The incremental run history a writer keeps skips steps, yet answers the
    history queries exactly as the full read model does."""
    events: list[SessionEvent] = [STARTED]

    def add(cls: type[SessionEvent], **fields: Any) -> None:
        events.append(
            cls(
                session_id="session_123",
                version=len(events) + 1,
                timestamp=at(len(events)),
                **fields,
            )
        )

    for number, (given_input, content, outcome, steps) in enumerate(runs):
        run_id = f"run-{number}"
        add(RunStarted, run_id=run_id, input=StoredValue.of(given_input))
        for index in range(steps):
            add(
                StepCompleted,
                run_id=run_id,
                step_index=index,
                input=StoredValue.of(given_input),
                content=StoredValue.of(content),
            )
        if outcome is not None:
            add(RunCompleted, run_id=run_id, status=outcome, content=StoredValue.of(content))
    full = project_session(events)
    light = HistoryView(RunHistory().apply_all(events), len(events))
    assert full is not None
    assert light.get_workflow_history(window) == full.get_workflow_history(window)
    assert light.get_workflow_history_context(window) == full.get_workflow_history_context(window)
