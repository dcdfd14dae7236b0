"""Read models in Agno 3.1.10's shapes: run metrics, team-run messages, a session without runs."""

from __future__ import annotations

from kern.db.in_memory import InMemoryDb
from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus
from kern.projections.session import WorkflowSession
from kern.run import RunMetrics, StepMetrics, WorkflowMetrics, WorkflowRunOutput
from kern.workflow import Workflow
from tests.conftest import echo, shout

# What agno 3.1.10's WorkflowMetrics.to_dict() writes (workflow/types.py).
AGNO_METRICS = {
    "steps": {
        "write": {
            "step_name": "write",
            "executor_type": "agent",
            "executor_name": "Writer",
            "metrics": {"input_tokens": 12, "output_tokens": 30, "duration": 1.25},
        }
    },
    "duration": 2.5,
}


def test_a_runs_step_metrics_are_objects_with_their_duration() -> None:
    run = Workflow(name="W", db=InMemoryDb(), steps=[echo, shout]).run("x", session_id="s")
    assert run.metrics is not None and set(run.metrics.steps) == {"echo", "shout"}
    step = run.metrics.steps["echo"]
    assert isinstance(step, StepMetrics) and isinstance(step.metrics, RunMetrics)
    assert (step.step_name, step.executor_type, step.executor_name) == ("echo", "function", "echo")
    assert step.metrics.duration is not None and step.metrics.duration >= 0
    assert step["duration"] == step.metrics.duration == step.get("duration")
    assert step.get("input_tokens", "none") == "none"


def test_metrics_read_back_from_agnos_dict_and_from_their_own() -> None:
    metrics = WorkflowMetrics.from_dict(AGNO_METRICS)
    assert metrics.duration == 2.5
    write = metrics.steps["write"]
    assert (write.step_name, write.executor_type, write.executor_name) == (
        "write",
        "agent",
        "Writer",
    )
    assert write.metrics == RunMetrics(duration=1.25)
    assert WorkflowMetrics.from_dict(metrics.to_dict()) == metrics


def test_metrics_written_before_as_plain_dicts_still_read() -> None:
    """Kern's earlier to_dict() wrote each step as ``{"duration": ...}``."""
    old = {"duration": 1.0, "steps": {"echo": {"duration": 0.5}}}
    metrics = WorkflowMetrics.from_dict(old)
    assert metrics.steps["echo"] == StepMetrics(step_name="echo", metrics=RunMetrics(0.5))
    run = WorkflowRunOutput.from_dict({"run_id": "r", "status": "COMPLETED", "metrics": old})
    assert run.metrics == metrics


def message(role: str, content: str, *, from_history: bool = False) -> ExecutorMessage:
    return ExecutorMessage(role=role, content=content, from_history=from_history)


def test_team_run_messages_leave_out_member_runs_unless_asked() -> None:
    team = ExecutorRun(
        run_id="t1",
        team_id="team",
        status=RunStatus.completed,
        messages=[message("system", "lead"), message("user", "q"), message("assistant", "a")],
    )
    member = ExecutorRun(
        run_id="m1",
        agent_id="member",
        team_id="other",
        status=RunStatus.completed,
        messages=[message("assistant", "member says")],
    )
    session = WorkflowSession(session_id="s")
    assert [m.content for m in session.get_messages_from_team_runs("team", [team, member])] == [
        "lead",
        "q",
        "a",
    ]
    everything = session.get_messages_from_team_runs(
        "team", [team, member], skip_member_messages=False, skip_roles=["system"]
    )
    assert [m.content for m in everything] == ["q", "a", "member says"]
    assert session.get_messages_from_team_runs("team", [team], last_n_runs=0) == []
    assert [m.content for m in session.get_messages_from_agent_runs([member], limit=1)] == [
        "member says"
    ]


def test_a_session_without_runs_reads_back_from_its_dict() -> None:
    session = WorkflowSession(session_id="s", runs=[])
    again = WorkflowSession.from_dict(session.to_dict())
    assert again == session and again is not None and again.runs == []
    assert WorkflowSession(session_id="s").runs == []
