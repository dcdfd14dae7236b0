"""WorkflowSession.get_messages: messages of agent and team runs recorded inside steps.

Sessions are built directly from WorkflowRunOutput objects whose
``step_executor_runs`` hold the agent/team runs, in the order the spec's
filters apply: skip_statuses, last_n_runs, per-message filters, then limit.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kern.domain.values import ExecutorMessage, ExecutorRun, RunStatus
from kern.projections.runs import Message, WorkflowRunOutput
from kern.projections.session import WorkflowSession

AGENT = "agent-1"


def msg(role: str, content: Any = None, from_history: bool = False) -> ExecutorMessage:
    return ExecutorMessage(role=role, content=content, from_history=from_history)


def agent_run(
    *messages: ExecutorMessage,
    status: RunStatus = RunStatus.completed,
    agent_id: str | None = AGENT,
    team_id: str | None = None,
) -> ExecutorRun:
    return ExecutorRun(agent_id=agent_id, team_id=team_id, status=status, messages=list(messages))


def session_of(*workflow_runs: list[ExecutorRun]) -> WorkflowSession:
    """One workflow run per argument, each holding the given executor runs."""
    return WorkflowSession(
        session_id="session_123",
        runs=[
            WorkflowRunOutput(run_id=f"run-{i}", step_executor_runs=executor_runs)
            for i, executor_runs in enumerate(workflow_runs)
        ],
    )


def contents(messages: list[Message]) -> list[Any]:
    return [m.content for m in messages]


CHAT = session_of(
    [agent_run(msg("system", "sys"), msg("user", "u1"), msg("assistant", "a1"))],
    [agent_run(msg("system", "sys"), msg("user", "u2"), msg("assistant", "a2"))],
)


# -- which executor runs ------------------------------------------------------------


def test_refuses_both_ids() -> None:
    with pytest.raises(ValueError, match="cannot be used together"):
        CHAT.get_messages(agent_id=AGENT, team_id="team-1")


def test_refuses_both_ids_even_without_runs() -> None:
    with pytest.raises(ValueError):
        session_of().get_messages(agent_id=AGENT, team_id="team-1")


def test_session_without_runs_has_no_messages_even_without_ids() -> None:
    assert session_of().get_messages() == []
    assert WorkflowSession(session_id="s").get_messages(agent_id=AGENT) == []


def test_refuses_neither_id_when_there_are_runs() -> None:
    with pytest.raises(ValueError, match="agent_id or team_id must be provided"):
        CHAT.get_messages()


def test_selects_the_runs_of_one_agent_across_workflow_runs() -> None:
    mixed = session_of(
        [agent_run(msg("user", "mine-1")), agent_run(msg("user", "other"), agent_id="agent-2")],
        [],
        [agent_run(msg("user", "mine-2"))],
    )
    assert contents(mixed.get_messages(agent_id=AGENT)) == ["mine-1", "mine-2"]
    assert contents(mixed.get_messages(agent_id="agent-2")) == ["other"]
    assert mixed.get_messages(agent_id="nobody") == []


def test_selects_the_runs_of_one_team() -> None:
    teams = session_of(
        [
            agent_run(msg("user", "team"), agent_id=None, team_id="team-1"),
            agent_run(msg("user", "other team"), agent_id=None, team_id="team-2"),
            agent_run(msg("user", "agent")),
        ]
    )
    assert contents(teams.get_messages(team_id="team-1")) == ["team"]


# -- filters, in order -------------------------------------------------------------------


@pytest.mark.parametrize("skip", [[RunStatus.error], ["ERROR"]])
def test_skips_runs_by_status(skip: list[Any]) -> None:
    runs = session_of(
        [agent_run(msg("user", "ok")), agent_run(msg("user", "bad"), status=RunStatus.error)]
    )
    assert contents(runs.get_messages(agent_id=AGENT, skip_statuses=skip)) == ["ok"]


def test_skips_statuses_before_taking_the_last_runs() -> None:
    runs = session_of(
        [agent_run(msg("user", "ok")), agent_run(msg("user", "bad"), status=RunStatus.error)]
    )
    picked = runs.get_messages(agent_id=AGENT, skip_statuses=[RunStatus.error], last_n_runs=1)
    assert contents(picked) == ["ok"]


@pytest.mark.parametrize(
    ("last_n_runs", "expected"), [(None, ["u1", "u2"]), (1, ["u2"]), (5, ["u1", "u2"])]
)
def test_takes_the_last_runs(last_n_runs: int | None, expected: list[str]) -> None:
    picked = CHAT.get_messages(
        agent_id=AGENT, last_n_runs=last_n_runs, skip_roles=["system", "assistant"]
    )
    assert contents(picked) == expected


@pytest.mark.parametrize("last_n_runs", [0, -1])
def test_no_runs_for_a_window_of_zero_or_less(last_n_runs: int) -> None:
    assert CHAT.get_messages(agent_id=AGENT, last_n_runs=last_n_runs) == []
    assert CHAT.get_messages(agent_id=AGENT, last_n_runs=last_n_runs, limit=5) == []


def test_takes_the_last_runs_before_the_limit() -> None:
    picked = CHAT.get_messages(agent_id=AGENT, last_n_runs=1, limit=10)
    assert contents(picked) == ["sys", "u2", "a2"]


def test_skips_history_messages_by_default() -> None:
    runs = session_of([agent_run(msg("user", "old", from_history=True), msg("user", "new"))])
    assert contents(runs.get_messages(agent_id=AGENT)) == ["new"]
    kept = runs.get_messages(agent_id=AGENT, skip_history_messages=False)
    assert contents(kept) == ["old", "new"]


def test_skips_roles() -> None:
    picked = CHAT.get_messages(agent_id=AGENT, skip_roles=["assistant", "system"])
    assert contents(picked) == ["u1", "u2"]


def test_keeps_only_the_first_system_message_in_place() -> None:
    assert contents(CHAT.get_messages(agent_id=AGENT)) == ["sys", "u1", "a1", "u2", "a2"]


def test_a_skipped_history_system_message_leaves_the_next_one_first() -> None:
    runs = session_of(
        [agent_run(msg("system", "old", from_history=True), msg("user", "u"), msg("system", "new"))]
    )
    assert contents(runs.get_messages(agent_id=AGENT)) == ["u", "new"]


def test_without_limit_keeps_leading_tool_messages() -> None:
    runs = session_of([agent_run(msg("tool", "t"), msg("assistant", "a"))])
    assert contents(runs.get_messages(agent_id=AGENT)) == ["t", "a"]


# -- limit ------------------------------------------------------------------------------


def test_limit_keeps_the_system_message_then_the_last_others() -> None:
    assert contents(CHAT.get_messages(agent_id=AGENT, limit=3)) == ["sys", "u2", "a2"]


def test_limit_puts_a_later_system_message_first() -> None:
    runs = session_of([agent_run(msg("user", "u1"), msg("system", "sys"), msg("assistant", "a1"))])
    assert contents(runs.get_messages(agent_id=AGENT, limit=2)) == ["sys", "a1"]


@pytest.mark.parametrize("limit", [1, 0, -3])
def test_limit_of_one_or_less_gives_the_system_message_alone(limit: int) -> None:
    assert contents(CHAT.get_messages(agent_id=AGENT, limit=limit)) == ["sys"]


@pytest.mark.parametrize(
    ("limit", "expected"), [(2, ["u2", "a2"]), (10, ["u1", "a1", "u2", "a2"]), (0, []), (-1, [])]
)
def test_limit_without_a_system_message_gives_the_last_ones(
    limit: int, expected: list[str]
) -> None:
    picked = CHAT.get_messages(agent_id=AGENT, limit=limit, skip_roles=["system"])
    assert contents(picked) == expected


def test_limit_drops_tool_results_cut_off_from_their_call() -> None:
    runs = session_of(
        [
            agent_run(
                msg("user", "u"),
                msg("assistant", "call"),
                msg("tool", "t1"),
                msg("tool", "t2"),
                msg("assistant", "a"),
            )
        ]
    )
    assert contents(runs.get_messages(agent_id=AGENT, limit=3)) == ["a"]


def test_limit_drops_cut_off_tool_results_after_the_system_message() -> None:
    runs = session_of(
        [
            agent_run(
                msg("system", "sys"),
                msg("assistant", "call"),
                msg("tool", "t"),
                msg("assistant", "a"),
            )
        ]
    )
    assert contents(runs.get_messages(agent_id=AGENT, limit=3)) == ["sys", "a"]


ROLES = st.sampled_from(["system", "user", "assistant", "tool"])
MESSAGES = st.lists(st.tuples(ROLES, st.booleans()), max_size=8)


@given(runs=st.lists(MESSAGES, max_size=4), limit=st.integers(-2, 12))
def test_limit_window_is_a_clean_suffix(runs: list[list[tuple[str, bool]]], limit: int) -> None:
    """With a limit: at most one system message, first; then a suffix of the other
    messages, at most limit (minus the system message) long, never starting with a tool."""
    counter = iter(range(1000))
    executor_runs = [
        agent_run(*(msg(role, next(counter), history) for role, history in messages))
        for messages in runs
    ]
    session = session_of(executor_runs)
    everything = session.get_messages(agent_id=AGENT)
    others = [m for m in everything if m.role != "system"]
    systems = [m for m in everything if m.role == "system"]
    picked = session.get_messages(agent_id=AGENT, limit=limit)
    assert len(systems) <= 1
    assert not any(m.from_history for m in everything)
    if systems:
        assert picked[0] == systems[0]
        window = picked[1:]
        assert len(picked) <= max(limit, 1)
    else:
        window = picked
        assert len(picked) <= max(limit, 0)
    assert all(m.role != "system" for m in window)
    assert window == others[len(others) - len(window) :]
    assert not window or window[0].role != "tool"
    size = limit - 1 if systems else limit
    expected = others[max(len(others) - size, 0) :] if size > 0 else []
    while expected and expected[0].role == "tool":
        expected.pop(0)
    assert window == expected
