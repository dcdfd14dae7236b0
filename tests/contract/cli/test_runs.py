"""``kern runs`` (``--interrupted``, ``--older-than``) and ``kern abandon``: finding
runs left RUNNING by a process that stopped, and giving them up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.contract.cli.conftest import Target
from tests.contract.conftest import Interrupt

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)


def fetch(step_input: StepInput) -> str:
    return f"fetched {step_input.input}"


def store(step_input: StepInput) -> str:
    return f"stored {step_input.previous_step_content}"


@pytest.fixture
def stuck(target: Target, interrupt: Interrupt) -> Target:
    """alice's run "r1" of session "s1" and bob's "r2" of "s2", left RUNNING at T0
    after their first step; a finished run beside them."""
    workflow = Workflow(name="Loader", db=target.db, steps=[fetch, store])
    with freeze_time(T0):
        workflow.run(input="done", session_id="s1", run_id="r0", user_id="alice")
        interrupt(workflow, at=1, input="a", session_id="s1", run_id="r1", user_id="alice")
        interrupt(workflow, at=1, input="b", session_id="s2", run_id="r2", user_id="bob")
    return target


def test_runs_lists_every_run_still_running(stuck: Target) -> None:
    result = stuck.kern("runs")
    assert result.status == 0
    assert "r1" in result.out and "r2" in result.out and "r0" not in result.out
    assert "2024-05-01T09:00:00" in result.out
    assert "2 run(s) still RUNNING" in result.out
    assert "kern abandon RUN_ID --reason TEXT" in result.err


def test_interrupted_runs_are_those_still_for_longer_than_the_age(stuck: Target) -> None:
    """Ten minutes by default; --older-than sets the age."""
    with freeze_time(T0 + timedelta(minutes=5)):
        assert stuck.kern("runs", "--interrupted", "--json").json() == []
        found = stuck.kern("runs", "--interrupted", "--older-than", "4m", "--json").json()
    assert [(r["session_id"], r["run_id"]) for r in found] == [("s1", "r1"), ("s2", "r2")]
    with freeze_time(T0 + timedelta(minutes=11)):
        found = stuck.kern("runs", "--interrupted", "--json").json()
    assert [r["run_id"] for r in found] == ["r1", "r2"]
    assert found[0]["user_id"] == "alice" and found[0]["workflow_id"] == "loader"
    assert found[0]["last_event_at"].startswith("2024-05-01T09:00:00")


def test_runs_are_scoped_to_the_user(stuck: Target) -> None:
    found = stuck.kern("--user", "bob", "runs", "--json").json()
    assert [r["run_id"] for r in found] == ["r2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "--older-than", "10m"], "--older-than goes with --interrupted"),
        (["runs", "--interrupted", "--older-than", "soon"], "is not an age"),
    ],
    ids=["age-alone", "bad-age"],
)
def test_runs_refuses_a_bad_age(stuck: Target, argv: list[str], message: str) -> None:
    result = stuck.kern(*argv)
    assert result.status == 2 and message in result.err


def test_abandon_records_the_run_cancelled_with_the_reason(stuck: Target) -> None:
    result = stuck.kern("abandon", "r1", "--reason", "host lost in the outage")

    assert (result.status, result.out) == (0, "abandoned run r1 of session s1: CANCELLED\n")
    session = stuck.db.get_session("s1")
    assert session is not None
    run = session.get_run("r1")
    assert run is not None
    assert (run.status, run.error) == (RunStatus.cancelled, "host lost in the outage")
    assert [r["run_id"] for r in stuck.kern("runs", "--json").json()] == ["r2"]


def test_abandon_with_the_session_named_as_json(stuck: Target) -> None:
    result = stuck.kern("abandon", "r2", "--session", "s2", "--reason", "gone", "--json")
    assert result.json() == {
        "session_id": "s2",
        "run_id": "r2",
        "status": "CANCELLED",
        "error": "gone",
    }


def test_abandon_of_a_run_that_is_not_open_fails_and_writes_nothing(stuck: Target) -> None:
    """A finished run, a missing one, and another user's read the same."""
    before = len(stuck.db.get_events("s1"))
    for argv in (
        ["abandon", "r0", "--reason", "x"],
        ["abandon", "r9", "--reason", "x"],
        ["--user", "bob", "abandon", "r1", "--reason", "x"],
    ):
        result = stuck.kern(*argv)
        assert result.status == 1
        assert result.err == f"kern: error: no open run {argv[-3]!r} (kern runs lists them)\n"
    assert len(stuck.db.get_events("s1")) == before


def test_abandon_of_another_users_run_in_a_named_session_reads_as_missing(
    stuck: Target,
) -> None:
    other = stuck.kern("--user", "bob", "abandon", "r1", "--session", "s1", "--reason", "x")
    missing = stuck.kern("--user", "bob", "abandon", "r1", "--session", "s9", "--reason", "x")
    assert other.status == missing.status == 1
    assert other.err == missing.err.replace("s9", "s1")


def test_abandon_asks_for_the_session_when_the_run_id_is_open_in_two(
    stuck: Target, interrupt: Interrupt
) -> None:
    workflow = Workflow(name="Loader", db=stuck.db, steps=[fetch, store])
    interrupt(workflow, at=1, input="c", session_id="s3", run_id="r1", user_id="carol")

    result = stuck.kern("abandon", "r1", "--reason", "x")

    assert result.status == 2
    assert "run 'r1' is open in 2 sessions (s1, s3): name one with --session" in result.err
    assert len(stuck.kern("runs", "--json").json()) == 3
