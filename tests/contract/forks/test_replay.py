"""Replaying a recorded run through the workflow's current steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.events import RunStarted, StepCompleted
from kern.errors import RunNotFoundError, SessionNotFoundError
from kern.run import RunStatus
from kern.workflow import Step, StepInput, Workflow
from tests.conftest import echo, failing, shout

MakeWorkflow = Callable[..., Workflow]

SESSION = "replayed"


def whisper(step_input: StepInput) -> str:
    """An edited second step: lower-cases instead of shouting."""
    return str(step_input.previous_step_content).lower() + "..."


def exclaim(step_input: StepInput) -> str:
    """A step added after the others."""
    return f"{step_input.previous_step_content}!"


def explode(step_input: StepInput) -> str:
    """A step that fails."""
    raise ValueError(f"cannot handle {step_input.input}")


@dataclass
class Reply:
    """What an agent answers."""

    content: str


@dataclass
class Summarizer:
    """An agent-like executor whose answer depends on the whole message it gets."""

    name: str = "Summarizer"
    agent_id: str = "summarizer"
    received: list[str] = field(default_factory=list)

    def run(self, message: str) -> Reply:
        self.received.append(message)
        earlier = message.count("[Workflow Run-")
        return Reply(f"summary of {message.splitlines()[-1]} after {earlier} runs")


def recorded_steps(db: KernDb, run_id: str) -> list[StepCompleted]:
    return [
        e for e in db.get_events(SESSION) if isinstance(e, StepCompleted) and e.run_id == run_id
    ]


@pytest.fixture
def recorded(make_workflow: MakeWorkflow) -> Workflow:
    """[echo, shout] has run twice in SESSION (runs r1 and r2)."""
    workflow = make_workflow(user_id="ada")
    workflow.run("hello", session_id=SESSION, run_id="r1")
    workflow.run("again", session_id=SESSION, run_id="r2")
    return workflow


# -- comparing steps ------------------------------------------------------------------------------


def test_reports_every_step_equal_when_nothing_changed(recorded: Workflow) -> None:
    report = recorded.replay("r2", session_id=SESSION)
    assert [(s.index, s.name, s.outcome) for s in report.steps] == [
        (0, "echo", "equal"),
        (1, "shout", "equal"),
    ]
    assert [(s.recorded, s.replayed) for s in report.steps] == [
        ("echo: again", "echo: again"),
        ("ECHO: AGAIN", "ECHO: AGAIN"),
    ]
    assert report.output.outcome == "equal"
    assert report.recorded_status == report.replayed_status == RunStatus.completed
    assert report.changed is False
    assert (report.run_id, report.session_id) == ("r2", SESSION)


def test_reports_an_edited_step_as_changed_with_both_values(
    recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    report = make_workflow(steps=[echo, whisper]).replay("r2", session_id=SESSION)
    first, second = report.steps
    assert first.outcome == "equal"
    assert (second.index, second.name, second.outcome) == (1, "whisper", "changed")
    assert (second.recorded, second.replayed) == ("ECHO: AGAIN", "echo: again...")
    assert report.output.outcome == "changed"
    assert (report.output.recorded, report.output.replayed) == ("ECHO: AGAIN", "echo: again...")
    assert report.changed is True


def test_compares_an_edited_step_kept_under_its_name(
    recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    report = make_workflow(steps=[echo, Step(name="shout", executor=whisper)]).replay(
        "r1", session_id=SESSION
    )
    assert [(s.name, s.outcome) for s in report.steps] == [("echo", "equal"), ("shout", "changed")]


def test_reports_a_step_added_to_the_workflow(
    recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    report = make_workflow(steps=[echo, shout, exclaim]).replay("r2", session_id=SESSION)
    assert [(s.index, s.name, s.outcome) for s in report.steps] == [
        (0, "echo", "equal"),
        (1, "shout", "equal"),
        (2, "exclaim", "added"),
    ]
    assert (report.steps[2].recorded, report.steps[2].replayed) == (None, "ECHO: AGAIN!")
    assert report.output.replayed == "ECHO: AGAIN!"
    assert report.changed is True


def test_reports_a_step_removed_from_the_workflow(
    recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    report = make_workflow(steps=[echo]).replay("r2", session_id=SESSION)
    assert [(s.index, s.name, s.outcome) for s in report.steps] == [
        (0, "echo", "equal"),
        (1, "shout", "missing"),
    ]
    assert (report.steps[1].recorded, report.steps[1].replayed) == ("ECHO: AGAIN", None)
    assert (report.output.outcome, report.output.replayed) == ("changed", "echo: again")


def test_reports_a_step_that_raises_instead_of_raising(
    recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    report = make_workflow(steps=[echo, failing(explode)]).replay("r2", session_id=SESSION)
    failed = report.steps[1]
    assert (failed.name, failed.outcome) == ("explode", "changed")
    assert (failed.recorded, failed.replayed) == ("ECHO: AGAIN", "cannot handle again")
    assert report.replayed_status == RunStatus.error
    assert report.output.replayed == "cannot handle again"
    assert report.changed is True


def test_reports_a_failure_that_fails_the_same_way_as_equal(make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow(steps=[echo, failing(explode)])
    with pytest.raises(ValueError, match="cannot handle"):
        workflow.run("x", session_id=SESSION, run_id="bad")
    report = workflow.replay("bad", session_id=SESSION)
    assert [s.outcome for s in report.steps] == ["equal", "equal"]
    assert report.recorded_status == report.replayed_status == RunStatus.error
    assert report.changed is False


# -- starting where the run started ----------------------------------------------------------------


def test_replays_with_the_history_the_run_had(db: KernDb, make_workflow: MakeWorkflow) -> None:
    """An agent step with history gets exactly the message it got when the run was recorded."""
    steps = [echo, Step(name="summarize", agent=Summarizer())]
    workflow = make_workflow(steps=steps, add_workflow_history_to_steps=True)
    for n in range(1, 4):
        workflow.run(f"topic {n}", session_id=SESSION, run_id=f"r{n}")
    replaying = Summarizer()
    again = make_workflow(
        steps=[echo, Step(name="summarize", agent=replaying)], add_workflow_history_to_steps=True
    )
    report = again.replay("r2", session_id=SESSION)
    recorded_message = recorded_steps(db, "r2")[1].input.value
    assert replaying.received == [recorded_message]
    assert "topic 1" in str(recorded_message) and "topic 3" not in str(recorded_message)
    assert report.changed is False
    assert report.steps[1].replayed == "summary of echo: topic 2 after 1 runs"


def test_replays_with_the_session_state_the_run_started_with(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    def remember(step_input: StepInput) -> dict[str, Any]:
        seen = dict(step_input.session_state)
        step_input.session_state["count"] = seen.get("count", 0) + 1
        return seen

    workflow = make_workflow(steps=[remember], session_state={"count": 0})
    workflow.run("a", session_id=SESSION, run_id="r1", session_state={"mode": "fast"})
    workflow.run("b", session_id=SESSION, run_id="r2")
    workflow.update_session_state({"count": 100, "mode": "slow"}, session_id=SESSION)
    started = next(
        e for e in db.get_events(SESSION) if isinstance(e, RunStarted) and e.run_id == "r2"
    )
    report = workflow.replay("r2", session_id=SESSION)
    assert report.steps[0].replayed == started.session_state == {"count": 1, "mode": "fast"}
    assert report.changed is False
    assert workflow.replay("r1", session_id=SESSION).steps[0].replayed == {
        "count": 0,
        "mode": "fast",
    }


def test_replays_the_recorded_input_value(db: KernDb, make_workflow: MakeWorkflow) -> None:
    workflow = make_workflow()
    workflow.run({"topic": "AI", "depth": 2}, session_id=SESSION, run_id="r1")
    report = workflow.replay("r1", session_id=SESSION)
    assert report.steps[0].replayed == "echo: {'topic': 'AI', 'depth': 2}"
    assert report.changed is False


# -- the original stays as it was ----------------------------------------------------------------


def test_never_writes_to_the_original_store(
    db: KernDb, recorded: Workflow, make_workflow: MakeWorkflow
) -> None:
    records = db.store.read_records(SESSION)
    sessions = db.store.session_ids()
    recorded.replay("r1", session_id=SESSION)
    make_workflow(steps=[echo, explode]).replay("r2", session_id=SESSION)
    assert db.store.read_records(SESSION) == records
    assert db.store.session_ids() == sessions
    session = db.get_session(SESSION)
    assert session is not None and [r.run_id for r in session.runs or []] == ["r1", "r2"]


def test_can_replay_the_same_run_again(recorded: Workflow) -> None:
    """Each replay starts from a scratch copy, so replays do not see each other."""
    first = recorded.replay("r1", session_id=SESSION)
    assert recorded.replay("r1", session_id=SESSION) == first


# -- what cannot be replayed ---------------------------------------------------------------------


def test_refuses_an_unknown_run(recorded: Workflow) -> None:
    with pytest.raises(RunNotFoundError) as caught:
        recorded.replay("r9", session_id=SESSION)
    assert (caught.value.session_id, caught.value.run_id) == (SESSION, "r9")


def test_refuses_an_unknown_session(recorded: Workflow) -> None:
    with pytest.raises(SessionNotFoundError):
        recorded.replay("r1", session_id="nobody")


def test_hides_another_users_session(recorded: Workflow) -> None:
    with pytest.raises(SessionNotFoundError):
        recorded.replay("r1", session_id=SESSION, user_id="mallory")
    assert recorded.replay("r1", session_id=SESSION, user_id="ada").changed is False


# -- the report ----------------------------------------------------------------------------------


def test_report_to_json_is_plain_json(recorded: Workflow, make_workflow: MakeWorkflow) -> None:
    report = make_workflow(steps=[echo, whisper]).replay("r2", session_id=SESSION)
    data = json.loads(json.dumps(report.to_json()))
    assert data == {
        "run_id": "r2",
        "session_id": SESSION,
        "recorded_status": "COMPLETED",
        "replayed_status": "COMPLETED",
        "changed": True,
        "steps": [
            {
                "index": 0,
                "name": "echo",
                "outcome": "equal",
                "recorded": "echo: again",
                "replayed": "echo: again",
                "path": "1",
            },
            {
                "index": 1,
                "name": "whisper",
                "outcome": "changed",
                "recorded": "ECHO: AGAIN",
                "replayed": "echo: again...",
                "path": "2",
            },
        ],
        "output": {"outcome": "changed", "recorded": "ECHO: AGAIN", "replayed": "echo: again..."},
    }
