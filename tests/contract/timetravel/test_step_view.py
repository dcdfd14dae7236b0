"""What a step saw: its executor's exact input, the state it started with, its output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.events import StepCompleted
from kern.errors import InvalidInputError, RunNotFoundError, SessionNotFoundError
from kern.workflow import Step, StepInput, Workflow
from tests.conftest import failing

SESSION = "steps"


@dataclass
class Reply:
    """What the agent-like executor returns."""

    content: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class Writer:
    """An agent-like executor that remembers every message it received."""

    agent_id = "writer"

    def __init__(self) -> None:
        self.received: list[str] = []

    def run(self, message: str) -> Reply:
        self.received.append(message)
        return Reply(content=f"draft {len(self.received)}")


@dataclass
class Seen:
    """What a function step observed when it was called."""

    input: Any
    previous_step_content: Any
    history_context: str | None
    session_state: dict[str, Any]


@dataclass
class Recorder:
    """Function steps that change the session state and note what they saw."""

    seen: dict[str, list[Seen]] = field(default_factory=dict)

    def note(self, name: str, step_input: StepInput) -> None:
        self.seen.setdefault(name, []).append(
            Seen(
                input=step_input.input,
                previous_step_content=step_input.previous_step_content,
                history_context=step_input.get_workflow_history_context(num_runs=3),
                session_state=json.loads(json.dumps(step_input.session_state)),
            )
        )

    def tally(self, step_input: StepInput) -> dict[str, Any]:
        self.note("tally", step_input)
        state = step_input.session_state
        state["count"] = state.get("count", 0) + 1
        return {"count": state["count"], "topic": step_input.input["topic"]}

    def stamp(self, step_input: StepInput) -> str:
        self.note("stamp", step_input)
        step_input.session_state["last"] = step_input.previous_step_content
        step_input.session_state.pop("scratch", None)
        return f"stamped {step_input.previous_step_content}"


@dataclass
class Recorded:
    """Three runs of tally -> writer -> stamp, with history handed to every step."""

    db: KernDb
    writer: Writer
    steps: Recorder
    run_ids: list[str]


@pytest.fixture
def recorded(db: KernDb) -> Recorded:
    writer, steps = Writer(), Recorder()
    workflow = Workflow(
        name="Steps",
        db=db,
        steps=[
            Step("tally", executor=steps.tally),
            Step("writer", agent=writer),
            Step("stamp", executor=steps.stamp),
        ],
        add_workflow_history_to_steps=True,
        user_id="ada",
    )
    run_ids: list[str] = []
    for topic in ("otters", "tides", "kelp"):
        state = {"scratch": topic} if topic == "kelp" else None
        output = workflow.run({"topic": topic}, session_id=SESSION, session_state=state)
        assert output.run_id is not None
        run_ids.append(output.run_id)
    return Recorded(db, writer, steps, run_ids)


def test_agent_step_view_gives_the_exact_message_with_history(recorded: Recorded) -> None:
    view = recorded.db.get_step_view(SESSION, recorded.run_ids[2], 1)
    message = recorded.writer.received[2]
    assert view.input == message
    assert view.history_context is not None
    assert message == view.history_context + "{'count': 3, 'topic': 'kelp'}"
    assert view.history_context == recorded.steps.seen["tally"][2].history_context
    assert "[Workflow Run-2]" in view.history_context
    assert view.content == "draft 3"
    assert (view.step_index, view.step_name, view.executor_type) == (1, "writer", "agent")
    assert view.step_type == "agent"


def test_function_step_view_gives_its_recorded_input(recorded: Recorded) -> None:
    view = recorded.db.get_step_view(SESSION, recorded.run_ids[2], 2)
    seen = recorded.steps.seen["stamp"][2]
    assert view.input == {
        "input": {"topic": "kelp"},
        "previous_step_content": "draft 3",
        "workflow_history_context": seen.history_context,
    }
    assert view.input["previous_step_content"] == seen.previous_step_content
    assert view.history_context == seen.history_context
    assert view.content == "stamped draft 3"
    assert (view.step_name, view.step_type, view.executor_type) == ("stamp", "function", "function")


def test_step_view_gives_the_state_the_step_started_with(recorded: Recorded) -> None:
    db, run_id, seen = recorded.db, recorded.run_ids[2], recorded.steps.seen
    assert (
        db.get_step_view(SESSION, run_id, "tally").session_state == seen["tally"][2].session_state
    )
    assert (
        db.get_step_view(SESSION, run_id, "stamp").session_state == seen["stamp"][2].session_state
    )
    assert seen["stamp"][2].session_state == {"count": 3, "last": "draft 2", "scratch": "kelp"}
    assert db.get_step_view(SESSION, run_id, "writer").session_state == {
        "count": 3,
        "last": "draft 2",
        "scratch": "kelp",
    }


def test_step_view_finds_a_step_by_index_or_name(recorded: Recorded) -> None:
    db, run_id = recorded.db, recorded.run_ids[0]
    assert db.get_step_view(SESSION, run_id, 0) == db.get_step_view(SESSION, run_id, "tally")
    first = db.get_step_view(SESSION, run_id, "tally")
    assert first.content == {"count": 1, "topic": "otters"}
    assert first.history_context is None
    assert first.session_state == {}


def test_step_view_carries_where_and_when_it_was_recorded(recorded: Recorded) -> None:
    db, run_id = recorded.db, recorded.run_ids[1]
    view = db.get_step_view(SESSION, run_id, "writer")
    event = db.get_events(SESSION)[view.version - 1]
    assert (view.session_id, view.run_id) == (SESSION, run_id)
    assert isinstance(event, StepCompleted)
    assert event.run_id == run_id and type(event).__name__ == "StepCompleted"
    assert view.recorded_at == event.timestamp
    assert view.success is True and view.error is None
    assert view.duration >= 0
    assert json.loads(json.dumps(view.to_json()))["recorded_at"].endswith("Z")


def test_step_view_of_a_failed_step_gives_its_error(db: KernDb) -> None:
    def explode(step_input: StepInput) -> str:
        raise RuntimeError(f"cannot handle {step_input.input}")

    workflow = Workflow(name="Boom", db=db, steps=[failing(explode)])
    with pytest.raises(RuntimeError):
        workflow.run("x", session_id=SESSION, run_id="r1")
    view = db.get_step_view(SESSION, "r1", "explode")
    # As Agno's step result of a step that ended the run: the error is its content too.
    assert (view.success, view.error, view.content) == (False, "cannot handle x", "cannot handle x")


def test_step_view_rejects_an_unknown_run(recorded: Recorded) -> None:
    with pytest.raises(RunNotFoundError, match="no-such-run") as raised:
        recorded.db.get_step_view(SESSION, "no-such-run", 0)
    assert raised.value.run_id == "no-such-run"
    assert raised.value.session_id == SESSION


@pytest.mark.parametrize("step", [3, -1, "nope", "Tally"])
def test_step_view_rejects_a_step_the_run_did_not_record(recorded: Recorded, step: Any) -> None:
    with pytest.raises(InvalidInputError, match=f"no step {step!r}"):
        recorded.db.get_step_view(SESSION, recorded.run_ids[0], step)


@pytest.mark.parametrize("step", [True, 1.0, None])
def test_step_view_rejects_a_step_of_another_type(recorded: Recorded, step: Any) -> None:
    with pytest.raises(InvalidInputError, match="step must be"):
        recorded.db.get_step_view(SESSION, recorded.run_ids[0], step)


def test_step_view_is_scoped_to_the_owner(recorded: Recorded) -> None:
    db, run_id = recorded.db, recorded.run_ids[0]
    with pytest.raises(SessionNotFoundError):
        db.get_step_view(SESSION, run_id, 0, user_id="mallory")
    with pytest.raises(SessionNotFoundError):
        db.get_step_view("nobody", run_id, 0)
    assert db.get_step_view(SESSION, run_id, 0, user_id="ada").content["topic"] == "otters"


def test_step_view_stays_readable_after_the_session_is_deleted(recorded: Recorded) -> None:
    before = recorded.db.get_step_view(SESSION, recorded.run_ids[1], 2)
    recorded.db.delete_session(SESSION)
    assert recorded.db.get_step_view(SESSION, recorded.run_ids[1], 2) == before
