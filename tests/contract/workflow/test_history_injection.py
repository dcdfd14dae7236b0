"""Workflow history handed to steps: what each executor receives, byte for byte."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from kern.db import KernDb
from kern.domain.events import StepCompleted
from kern.run import RunStatus
from kern.session import WorkflowSession
from kern.workflow import Step, StepInput, Workflow
from tests.conftest import failing

MakeWorkflow = Callable[..., Workflow]


def context(*runs: tuple[str, str]) -> str:
    """The spec's ``<workflow_history_context>`` block for (input, output) pairs."""
    text = "<workflow_history_context>\n"
    for number, (given, answered) in enumerate(runs, 1):
        text += f"[Workflow Run-{number}]\nUser input: {given}\nWorkflow output: {answered}\n\n"
    return text + "</workflow_history_context>\n"


@dataclass
class Reply:
    """What an agent-like executor returns."""

    content: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class Agent:
    """An agent-like executor: answers "<agent_id> #<n>" and remembers every message."""

    def __init__(self, agent_id: str, fail_on: str | None = None) -> None:
        self.agent_id = agent_id
        self.fail_on = fail_on
        self.received: list[str] = []

    def run(self, message: str) -> Reply:
        self.received.append(message)
        if self.fail_on is not None and message.endswith(self.fail_on):
            raise RuntimeError(f"{self.agent_id} refused")
        answer = f"{self.agent_id} #{len(self.received)}"
        return Reply(
            content=answer,
            messages=[
                {"role": "system", "content": f"You are {self.agent_id}."},
                {"role": "user", "content": message},
                {"role": "assistant", "content": answer},
            ],
        )


def run_all(workflow: Workflow, inputs: Sequence[str], session_id: str = "s1") -> list[Any]:
    return [workflow.run(input=given, session_id=session_id).content for given in inputs]


# -- what agent-like steps receive ----------------------------------------------------------


def test_without_history_agents_receive_the_plain_message(make_workflow: MakeWorkflow) -> None:
    writer, editor = Agent("writer"), Agent("editor")
    run_all(make_workflow(steps=[writer, editor]), ["first", "second"])
    assert writer.received == ["first", "second"]
    assert editor.received == ["writer #1", "writer #2"]


def test_with_history_agents_receive_context_then_message(make_workflow: MakeWorkflow) -> None:
    """The first step gets the run input, later steps the previous step's content."""
    writer, editor = Agent("writer"), Agent("editor")
    workflow = make_workflow(steps=[writer, editor], add_workflow_history_to_steps=True)
    run_all(workflow, ["first", "second", "third"])
    one = ("first", "editor #1")
    two = ("second", "editor #2")
    assert writer.received == ["first", context(one) + "second", context(one, two) + "third"]
    assert editor.received == [
        "writer #1",
        context(one) + "writer #2",
        context(one, two) + "writer #3",
    ]


def test_history_context_is_byte_exact(make_workflow: MakeWorkflow) -> None:
    writer = Agent("writer")
    workflow = make_workflow(steps=[writer], add_workflow_history_to_steps=True)
    run_all(workflow, ["a", "c"])
    assert writer.received[1] == (
        "<workflow_history_context>\n[Workflow Run-1]\nUser input: a\n"
        "Workflow output: writer #1\n\n</workflow_history_context>\nc"
    )


def test_step_flag_true_overrides_workflow_flag_off(make_workflow: MakeWorkflow) -> None:
    with_history, without = Agent("with"), Agent("without")
    workflow = make_workflow(
        steps=[Step(name="a", agent=with_history, add_workflow_history=True), without],
        add_workflow_history_to_steps=False,
    )
    run_all(workflow, ["first", "second"])
    assert with_history.received == ["first", context(("first", "without #1")) + "second"]
    assert without.received == ["with #1", "with #2"]


def test_step_flag_false_overrides_workflow_flag_on(make_workflow: MakeWorkflow) -> None:
    with_history, without = Agent("with"), Agent("without")
    workflow = make_workflow(
        steps=[with_history, Step(name="b", agent=without, add_workflow_history=False)],
        add_workflow_history_to_steps=True,
    )
    run_all(workflow, ["first", "second"])
    assert with_history.received[1] == context(("first", "without #1")) + "second"
    assert without.received == ["with #1", "with #2"]


# -- the window -------------------------------------------------------------------------------


def test_step_window_limits_the_runs_shown(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent")
    workflow = make_workflow(
        steps=[Step(name="s", agent=agent, num_history_runs=2)],
        add_workflow_history_to_steps=True,
        num_history_runs=5,
    )
    run_all(workflow, ["r1", "r2", "r3", "r4"])
    assert agent.received[3] == context(("r2", "agent #2"), ("r3", "agent #3")) + "r4"


def test_workflow_window_applies_to_steps_without_their_own(make_workflow: MakeWorkflow) -> None:
    """Kern fixes: Agno ignores the workflow's num_history_runs for the steps."""
    agent = Agent("agent")
    workflow = make_workflow(
        steps=[Step(name="s", agent=agent)], add_workflow_history_to_steps=True, num_history_runs=1
    )
    run_all(workflow, ["r1", "r2", "r3", "r4"])
    assert agent.received[3] == context(("r3", "agent #3")) + "r4"


def test_default_window_is_three_runs(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent")
    workflow = make_workflow(steps=[agent], add_workflow_history_to_steps=True)
    run_all(workflow, ["r1", "r2", "r3", "r4", "r5"])
    expected = context(("r2", "agent #2"), ("r3", "agent #3"), ("r4", "agent #4"))
    assert agent.received[4] == expected + "r5"


def test_zero_window_shows_no_history(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent")
    workflow = make_workflow(
        steps=[Step(name="s", agent=agent, num_history_runs=0)], add_workflow_history_to_steps=True
    )
    run_all(workflow, ["r1", "r2"])
    assert agent.received == ["r1", "r2"]


def test_only_completed_runs_appear_in_the_history(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent", fail_on="fail")
    workflow = make_workflow(steps=[failing(agent)], add_workflow_history_to_steps=True)
    workflow.run(input="ok", session_id="s1")
    with pytest.raises(RuntimeError, match="agent refused"):
        workflow.run(input="please fail", session_id="s1")
    workflow.run(input="next", session_id="s1")
    session = workflow.get_session(session_id="s1")
    assert session is not None and session.runs is not None
    assert [run.status for run in session.runs] == [
        RunStatus.completed,
        RunStatus.error,
        RunStatus.completed,
    ]
    assert agent.received[2] == context(("ok", "agent #1")) + "next"


def test_history_is_per_session(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent")
    workflow = make_workflow(steps=[agent], add_workflow_history_to_steps=True)
    workflow.run(input="in s1", session_id="s1")
    workflow.run(input="in s2", session_id="s2")
    assert agent.received == ["in s1", "in s2"]


# -- function steps ---------------------------------------------------------------------------


def test_function_steps_get_plain_input_and_read_history_themselves(
    make_workflow: MakeWorkflow,
) -> None:
    seen: list[tuple[Any, list[tuple[str, str]], str | None]] = []

    def reader(step_input: StepInput) -> str:
        seen.append(
            (
                step_input.input,
                step_input.get_workflow_history(num_runs=1),
                step_input.get_workflow_history_context(),
            )
        )
        return f"read {step_input.input}"

    workflow = make_workflow(steps=[reader], add_workflow_history_to_steps=True)
    run_all(workflow, ["one", "two", "three"])
    assert seen[0] == ("one", [], None)
    assert seen[1] == ("two", [("one", "read one")], context(("one", "read one")))
    assert seen[2] == (
        "three",
        [("two", "read two")],
        context(("one", "read one"), ("two", "read two")),
    )


def test_function_steps_read_history_even_with_the_flag_off(make_workflow: MakeWorkflow) -> None:
    seen: list[str | None] = []

    def reader(step_input: StepInput) -> str:
        seen.append(step_input.get_workflow_history_context())
        return "done"

    run_all(make_workflow(steps=[reader]), ["one", "two"])
    assert seen == [None, context(("one", "done"))]


def test_history_renders_dict_inputs_with_python_str(make_workflow: MakeWorkflow) -> None:
    agent = Agent("agent")
    workflow = make_workflow(steps=[agent], add_workflow_history_to_steps=True)
    workflow.run(input={"a": 1}, session_id="s1")
    workflow.run(input="next", session_id="s1")
    assert agent.received[1] == context(("{'a': 1}", "agent #1")) + "next"


class Topic(BaseModel):
    # Fields deliberately not in alphabetical order: stored JSON keeps key order.
    name: str
    depth: int


def test_pydantic_input_reads_the_same_before_and_after_a_reload(
    make_workflow: MakeWorkflow,
) -> None:
    """Kern fixes: Agno renders a model input one way live and another way once reloaded."""
    agent = Agent("agent")
    workflow = make_workflow(steps=[agent], add_workflow_history_to_steps=True)
    live = workflow.run(input=Topic(name="AI", depth=2), session_id="s1")
    workflow.run(input="next", session_id="s1")
    rendered = "{'name': 'AI', 'depth': 2}"
    assert agent.received[1] == context((rendered, "agent #1")) + "next"

    in_memory = WorkflowSession(session_id="s1")
    in_memory.upsert_run(live)
    assert isinstance(live.input, Topic)
    assert in_memory.get_workflow_history() == [(rendered, "agent #1")]
    stored = workflow.get_session(session_id="s1")
    assert stored is not None
    assert stored.get_workflow_history(num_runs=2)[0] == (rendered, "agent #1")
    # The agent got the model itself as its message; its messages keep the model's JSON form.
    assert stored.get_messages(agent_id="agent")[1].content == {"depth": 2, "name": "AI"}


# -- what is recorded ----------------------------------------------------------------------------


def test_recorded_step_input_is_what_the_executor_received(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    writer, editor = Agent("writer"), Agent("editor")
    workflow = make_workflow(steps=[writer, editor], add_workflow_history_to_steps=True)
    run_all(workflow, ["first", "second"])
    steps = [e for e in db.get_events("s1") if isinstance(e, StepCompleted)]
    assert [e.input.value for e in steps] == [
        writer.received[0],
        editor.received[0],
        writer.received[1],
        editor.received[1],
    ]
    session = workflow.get_session(session_id="s1")
    assert session is not None and session.runs is not None
    assert session.runs[1].step_results[0].input == writer.received[1]


def test_agent_steps_are_recorded_with_their_executor(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow(steps=[Agent("writer")])
    workflow.run(input="hi", session_id="s1")
    (step,) = [e for e in db.get_events("s1") if isinstance(e, StepCompleted)]
    assert (step.step_type, step.executor_type, step.executor_id) == ("agent", "agent", "writer")
    assert step.executor_run is not None
    assert step.executor_run.agent_id == "writer"


def test_get_messages_returns_the_agents_recorded_messages(make_workflow: MakeWorkflow) -> None:
    """Only the first system message is kept; the other agent's messages are left out."""
    writer, editor = Agent("writer"), Agent("editor")
    workflow = make_workflow(steps=[writer, editor])
    run_all(workflow, ["first", "second"])
    session = workflow.get_session(session_id="s1")
    assert session is not None
    messages = session.get_messages(agent_id="writer")
    assert [(m.role, m.content) for m in messages] == [
        ("system", "You are writer."),
        ("user", "first"),
        ("assistant", "writer #1"),
        ("user", "second"),
        ("assistant", "writer #2"),
    ]
    last = session.get_messages(agent_id="editor", last_n_runs=1)
    assert [(m.role, m.content) for m in last] == [
        ("system", "You are editor."),
        ("user", "writer #2"),
        ("assistant", "editor #2"),
    ]
