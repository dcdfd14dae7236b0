"""The WorkflowSession read model: history, chat history, runs and serialisation.

History strings are compared byte for byte with the spec; sessions are built
directly from WorkflowRunOutput objects (folding events is in test_fold.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus
from kern.projections.runs import StepOutput, WorkflowMetrics, WorkflowRunOutput
from kern.projections.session import WorkflowSession

COMPLETED = RunStatus.completed
NOT_COMPLETED = [s for s in RunStatus if s != COMPLETED]


class Topic(BaseModel):
    name: str
    depth: int = 1


def run(
    input: Any, content: Any, status: RunStatus = COMPLETED, run_id: str = ""
) -> WorkflowRunOutput:
    return WorkflowRunOutput(
        run_id=run_id or f"run-{input}-{content}", input=input, content=content, status=status
    )


def session(*runs: WorkflowRunOutput) -> WorkflowSession:
    return WorkflowSession(session_id="session_123", runs=list(runs))


# -- get_workflow_history / get_workflow_history_context ---------------------------


def test_renders_the_spec_two_run_example() -> None:
    two = session(run("a", "b"), run("c", "d"))
    assert two.get_workflow_history() == [("a", "b"), ("c", "d")]
    assert two.get_workflow_history_context() == (
        "<workflow_history_context>\n[Workflow Run-1]\nUser input: a\nWorkflow output: b\n\n"
        "[Workflow Run-2]\nUser input: c\nWorkflow output: d\n\n</workflow_history_context>\n"
    )


@pytest.mark.parametrize("status", NOT_COMPLETED)
def test_counts_only_completed_runs(status: RunStatus) -> None:
    mixed = session(run("a", "b"), run("x", "y", status), run("c", "d"))
    assert mixed.get_workflow_history() == [("a", "b"), ("c", "d")]
    assert mixed.get_workflow_history(1) == [("c", "d")]


def test_restarts_numbering_inside_the_window() -> None:
    three = session(run("a", "b"), run("c", "d"), run("e", "f", RunStatus.error), run("g", "h"))
    assert three.get_workflow_history_context(2) == (
        "<workflow_history_context>\n[Workflow Run-1]\nUser input: c\nWorkflow output: d\n\n"
        "[Workflow Run-2]\nUser input: g\nWorkflow output: h\n\n</workflow_history_context>\n"
    )


@pytest.mark.parametrize(
    ("num_runs", "expected"),
    [(None, 3), (3, 3), (2, 2), (1, 1), (10, 3), (0, 0), (-1, 0), (-5, 0)],
)
def test_windows_the_history(num_runs: int | None, expected: int) -> None:
    runs = session(run("a", "1"), run("b", "2"), run("c", "3"))
    pairs = [("a", "1"), ("b", "2"), ("c", "3")]
    assert runs.get_workflow_history(num_runs) == pairs[len(pairs) - expected :]


@pytest.mark.parametrize("num_runs", [0, -1])
def test_empty_window_gives_no_context(num_runs: int) -> None:
    assert session(run("a", "b")).get_workflow_history_context(num_runs) is None


def test_no_runs_gives_no_history() -> None:
    for empty in (
        session(),
        WorkflowSession(session_id="s"),
        session(run("a", "b", RunStatus.error)),
    ):
        assert empty.get_workflow_history() == []
        assert empty.get_workflow_history_context() is None


@pytest.mark.parametrize("falsy", [None, "", 0, {}, [], False])
def test_leaves_out_the_input_line_when_input_is_falsy(falsy: Any) -> None:
    history = session(run(falsy, "out", run_id="r"))
    assert history.get_workflow_history() == [("", "out")]
    assert history.get_workflow_history_context() == (
        "<workflow_history_context>\n[Workflow Run-1]\nWorkflow output: out\n\n"
        "</workflow_history_context>\n"
    )


@pytest.mark.parametrize("falsy", [None, "", 0, {}, [], False])
def test_leaves_out_the_output_line_when_output_is_falsy(falsy: Any) -> None:
    history = session(run("in", falsy, run_id="r"))
    assert history.get_workflow_history() == [("in", "")]
    assert history.get_workflow_history_context() == (
        "<workflow_history_context>\n[Workflow Run-1]\nUser input: in\n\n"
        "</workflow_history_context>\n"
    )


def test_keeps_a_run_block_when_both_texts_are_empty() -> None:
    history = session(run(None, "", run_id="r"))
    assert history.get_workflow_history_context() == (
        "<workflow_history_context>\n[Workflow Run-1]\n\n</workflow_history_context>\n"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": 1}, "{'a': 1}"),
        ([1, "two"], "[1, 'two']"),
        (42, "42"),
        (1.5, "1.5"),
        (True, "True"),
        ("multi\nline", "multi\nline"),
        ({"nested": {"b": [None, True]}}, "{'nested': {'b': [None, True]}}"),
    ],
)
def test_renders_values_with_str_of_their_json_form(value: Any, text: str) -> None:
    assert session(run(value, value, run_id="r")).get_workflow_history() == [(text, text)]


def test_renders_a_model_input_the_same_before_and_after_a_reload() -> None:
    """Kern fixes: Agno renders a pydantic model input as "name='AI' depth=2" live and as
    "{'name': 'AI', 'depth': 2}" once the session went through to_dict/from_dict."""
    live = session(run(Topic(name="AI", depth=2), Topic(name="out"), run_id="r"))
    before = live.get_workflow_history_context()
    reloaded = WorkflowSession.from_dict(json.loads(json.dumps(live.to_dict())))
    assert reloaded is not None
    assert live.get_workflow_history() == [
        ("{'name': 'AI', 'depth': 2}", "{'name': 'out', 'depth': 1}")
    ]
    assert reloaded.get_workflow_history_context() == before


@given(
    statuses=st.lists(st.sampled_from(list(RunStatus)), max_size=8),
    num_runs=st.none() | st.integers(-3, 10),
)
def test_history_is_the_last_n_completed_runs(
    statuses: list[RunStatus], num_runs: int | None
) -> None:
    runs = [run(f"in{i}", f"out{i}", s) for i, s in enumerate(statuses)]
    completed = [(r.input, r.content) for r in runs if r.status == COMPLETED]
    expected = completed if num_runs is None else completed[max(len(completed) - num_runs, 0) :]
    if num_runs is not None and num_runs <= 0:
        expected = []
    history = session(*runs)
    assert history.get_workflow_history(num_runs) == expected
    context = history.get_workflow_history_context(num_runs)
    assert (context is None) == (not expected)
    if context is not None:
        assert context.count("[Workflow Run-") == len(expected)
        assert f"[Workflow Run-{len(expected)}]" in context
        assert context.endswith("</workflow_history_context>\n")


# -- get_chat_history ----------------------------------------------------------------


def test_chat_history_slices_first_then_keeps_runs_with_input_and_output() -> None:
    chat = session(run("a", "b"), run("c", None), run("e", "f"))
    interactions = chat.get_chat_history(last_n_runs=2)
    assert [(i.input, i.output) for i in interactions] == [("e", "f")]


def test_chat_history_has_no_status_filter() -> None:
    chat = session(run("a", "b", RunStatus.error), run("c", "d", RunStatus.running))
    assert [(i.input, i.output) for i in chat.get_chat_history()] == [("a", "b"), ("c", "d")]


def test_chat_history_returns_raw_values() -> None:
    topic = Topic(name="AI")
    (interaction,) = session(run(topic, {"answer": 42})).get_chat_history()
    assert interaction.input is topic
    assert interaction.output == {"answer": 42}


@pytest.mark.parametrize("last_n_runs", [0, -1])
def test_chat_history_of_no_runs_is_empty(last_n_runs: int) -> None:
    assert session(run("a", "b")).get_chat_history(last_n_runs) == []
    assert WorkflowSession(session_id="s").get_chat_history() == []


@pytest.mark.parametrize(("last_n_runs", "count"), [(None, 3), (1, 1), (2, 2), (99, 3)])
def test_chat_history_windows(last_n_runs: int | None, count: int) -> None:
    chat = session(run("a", "1"), run("b", "2"), run("c", "3"))
    assert [i.input for i in chat.get_chat_history(last_n_runs)] == ["a", "b", "c"][3 - count :]


# -- get_run / upsert_run ---------------------------------------------------------------


def test_get_run_finds_a_run_by_id() -> None:
    first, second = run("a", "b", run_id="r1"), run("c", "d", run_id="r2")
    runs = session(first, second)
    assert runs.get_run("r2") is second
    assert runs.get_run("nope") is None
    assert WorkflowSession(session_id="s").get_run("r1") is None


def test_upsert_replaces_a_run_in_place() -> None:
    runs = session(
        run("a", "b", run_id="r1"), run("c", "d", run_id="r2"), run("e", "f", run_id="r3")
    )
    replacement = run("C", "D", RunStatus.error, run_id="r2")
    runs.upsert_run(replacement)
    assert [r.run_id for r in runs.runs or []] == ["r1", "r2", "r3"]
    assert runs.get_run("r2") is replacement


def test_upsert_appends_a_new_run() -> None:
    runs = WorkflowSession(session_id="s")
    runs.upsert_run(run("a", "b", run_id="r1"))
    runs.upsert_run(run("c", "d", run_id="r2"))
    assert [r.run_id for r in runs.runs or []] == ["r1", "r2"]


# -- to_dict / from_dict -------------------------------------------------------------------


def rich_session() -> WorkflowSession:
    executor_run = ExecutorRun(
        run_id="ar-1", agent_id="agent-1", messages=[ExecutorMessage(role="user", content="hi")]
    )
    full = WorkflowRunOutput(
        run_id="r1",
        session_id="session_123",
        workflow_id="wf",
        workflow_name="Pipeline",
        user_id="alice",
        input={"q": "AI"},
        content="answer",
        status=COMPLETED,
        step_results=[
            StepOutput(
                content="answer",
                step_name="echo",
                step_index=0,
                input="hi",
                metrics={"duration": 0.5},
                executor_run=executor_run,
            )
        ],
        step_executor_runs=[executor_run],
        metrics=WorkflowMetrics.from_dict({"duration": 1.0, "steps": {"echo": {"duration": 0.5}}}),
        session_state={"count": 1},
        created_at=1732026600,
    )
    return WorkflowSession(
        session_id="session_123",
        user_id="alice",
        workflow_id="wf",
        workflow_name="Pipeline",
        runs=[full, run("x", None, RunStatus.running, run_id="r2")],
        session_data={"session_name": "Q4", "session_state": {"count": 1}},
        workflow_data={"steps": ["echo"]},
        metadata={"team": "kern"},
        created_at=1732026600,
        updated_at=1732026660,
    )


def test_to_dict_and_from_dict_round_trip() -> None:
    original = rich_session()
    assert WorkflowSession.from_dict(original.to_dict()) == original


def test_to_dict_is_json_ready() -> None:
    original = rich_session()
    data = json.loads(json.dumps(original.to_dict()))
    assert data["runs"][0]["status"] == "COMPLETED"
    assert WorkflowSession.from_dict(data) == original


def test_run_to_dict_gives_models_as_their_json_form() -> None:
    topic = Topic(name="AI", depth=2)
    output = WorkflowRunOutput(
        run_id="r1",
        input=topic,
        content=topic,
        step_results=[StepOutput(content=topic, input=topic)],
    )
    data = json.loads(json.dumps(output.to_dict()))
    step = data["step_results"][0]
    assert (
        data["input"]
        == data["content"]
        == step["input"]
        == step["content"]
        == {"name": "AI", "depth": 2}
    )


def test_to_dict_gives_no_runs_as_none() -> None:
    assert WorkflowSession(session_id="s", runs=[]).to_dict()["runs"] is None


@pytest.mark.parametrize("data", [{}, {"session_id": None}, {"user_id": "alice", "runs": []}])
def test_from_dict_without_session_id_is_none(data: dict[str, Any]) -> None:
    assert WorkflowSession.from_dict(data) is None


def test_from_dict_accepts_run_objects() -> None:
    existing = run("a", "b", run_id="r1")
    loaded = WorkflowSession.from_dict({"session_id": "s", "runs": [existing]})
    assert loaded is not None
    assert loaded.runs == [existing]
