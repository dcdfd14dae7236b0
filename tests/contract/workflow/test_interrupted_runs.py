"""Finding runs left RUNNING (``get_interrupted_runs``) and giving them up
(``abandon_run``), on every store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from kern.application import bridge
from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.domain.events import RunCompleted, StepCompleted
from kern.errors import (
    InvalidInputError,
    InvalidQueryError,
    RunAbandonedError,
    RunAlreadyFinishedError,
    RunNotFoundError,
    SessionNotFoundError,
)
from kern.run import InterruptedRun, RunStatus
from kern.workflow import StepInput, Workflow
from tests.contract.conftest import Interrupt

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)
EVER = timedelta(0)


def count(step_input: StepInput) -> str:
    step_input.session_state["count"] = step_input.session_state.get("count", 0) + 1
    return f"counted {step_input.input}"


def finish(step_input: StepInput) -> str:
    return f"finished: {step_input.previous_step_content}"


@pytest.fixture
def workflow(db: KernDb) -> Workflow:
    return Workflow(name="Counter", db=db, steps=[count, finish])


def found(db: KernDb, older_than: timedelta = EVER, **kw: Any) -> list[tuple[str, str]]:
    return [(r.session_id, r.run_id) for r in db.get_interrupted_runs(older_than, **kw)]


def kinds(db: KernDb, session_id: str) -> list[str]:
    return [type(event).__name__ for event in db.get_events(session_id)]


# -- get_interrupted_runs ------------------------------------------------------------------


def test_finds_a_run_left_running_and_not_a_finished_one(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    workflow.run(input="a", session_id="done", run_id="r0")
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1", user_id="alice")

    (run,) = db.get_interrupted_runs(older_than=EVER)

    events = db.get_events("s")
    step = next(e for e in events if isinstance(e, StepCompleted))
    assert isinstance(run, InterruptedRun)
    assert (run.session_id, run.run_id, run.user_id, run.workflow_id) == (
        "s",
        "r1",
        "alice",
        "counter",
    )
    assert run.last_version == step.version == events[-1].version
    assert abs(run.last_event_at - step.timestamp) < timedelta(milliseconds=1)


def test_older_than_is_measured_from_the_runs_last_event(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    """Started 90 minutes ago, last heard of 30 minutes ago: not yet 45 minutes still."""
    with freeze_time(T0) as clock:
        events = workflow.run(stream=True, input="b", session_id="s", run_id="r1")
        next(events), next(events)  # WorkflowStarted, StepStarted: RunStarted at T0
        clock.move_to(T0 + timedelta(hours=1))
        while next(events).event != "StepStarted":  # the first step stored at T0 + 1h
            pass
        clock.move_to(T0 + timedelta(minutes=90))

        assert found(db, timedelta(minutes=45)) == []
        assert found(db, timedelta(minutes=20)) == [("s", "r1")]
    events.close()


def test_lists_only_the_users_runs_when_asked(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="a", run_id="r1", user_id="alice")
    interrupt(workflow, at=1, input="b", session_id="b", run_id="r2", user_id="bob")

    assert found(db, user_id="alice") == [("a", "r1")]
    assert found(db, user_id="carol") == []
    assert sorted(found(db)) == [("a", "r1"), ("b", "r2")]


def test_a_run_leaves_the_list_once_it_ends(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="s", run_id="resumed")
    interrupt(workflow, at=1, input="b", session_id="s", run_id="abandoned")
    interrupt(workflow, at=0, input="c", session_id="s", run_id="stopped").close()
    assert sorted(found(db)) == [("s", "abandoned"), ("s", "resumed")]

    workflow.resume("resumed", session_id="s")
    db.abandon_run("abandoned", "s", reason="host lost")

    assert found(db) == []


def test_a_deleted_or_purged_sessions_runs_are_not_listed(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="deleted", run_id="r1")
    interrupt(workflow, at=1, input="b", session_id="purged", run_id="r2")
    interrupt(workflow, at=1, input="c", session_id="kept", run_id="r3")

    db.delete_session("deleted")
    db.purge_session("purged", reason="ticket 7", requested_by="ops")

    assert found(db) == [("kept", "r3")]


def test_a_fork_ends_the_runs_it_copies_open_and_the_source_keeps_them(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="s", run_id="r1")

    db.fork_session("s", at=db.head_version("s") or 0, new_session_id="copy")

    assert found(db) == [("s", "r1")]


def test_an_imported_session_brings_its_open_run(
    db: KernDb, other_db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="s", run_id="r1")

    other_db.import_lines(list(db.export("s", keys=True)))

    assert found(other_db) == [("s", "r1")]


@pytest.mark.parametrize("older_than", [timedelta(seconds=-1), 600, None, "10m"])
def test_refuses_an_older_than_that_is_not_a_timedelta_of_zero_or_more(
    db: KernDb, older_than: Any
) -> None:
    with pytest.raises(InvalidQueryError, match="older_than"):
        db.get_interrupted_runs(older_than)


def test_a_very_long_older_than_finds_nothing(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="a", session_id="s", run_id="r1")
    assert found(db, timedelta.max) == []
    assert found(db, timedelta(days=1)) == []


# -- abandon_run --------------------------------------------------------------------------


def test_abandoning_records_the_run_cancelled_with_the_reason(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    """Nothing the abandoned run's steps did to the state takes effect."""
    workflow.run(input="a", session_id="s", run_id="r0")
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1")

    run = db.abandon_run("r1", "s", reason="host lost in the outage", correlation_id="inc-4")

    assert (run.status, run.error, run.content) == (
        RunStatus.cancelled,
        "host lost in the outage",
        None,
    )
    assert run.error_type == "kern.domain.errors.RunAbandonedError"
    ended = db.get_events("s")[-1]
    assert isinstance(ended, RunCompleted) and ended.provenance.correlation_id == "inc-4"
    session = db.get_session("s")
    assert session is not None and session.session_data is not None
    assert session.session_data["session_state"] == {"count": 1}
    assert db.verify("s").ok


def test_an_abandoned_run_cannot_be_resumed(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1")
    db.abandon_run("r1", "s", reason="host lost")
    before = kinds(db, "s")

    with pytest.raises(RunAbandonedError, match="host lost") as refused:
        workflow.resume("r1", session_id="s")

    assert isinstance(refused.value, RunAlreadyFinishedError)
    assert kinds(db, "s") == before


Refusal = Callable[[KernDb], Any]


@pytest.mark.parametrize(
    ("attempt", "error"),
    [
        (lambda db: db.abandon_run("r1", "s", reason="x", user_id="bob"), SessionNotFoundError),
        (lambda db: db.abandon_run("r1", "nowhere", reason="x"), SessionNotFoundError),
        (lambda db: db.abandon_run("r9", "s", reason="x"), RunNotFoundError),
        (lambda db: db.abandon_run("r0", "s", reason="x"), RunAlreadyFinishedError),
        (lambda db: db.abandon_run("r1", "s", reason=" "), InvalidInputError),
        (lambda db: db.abandon_run("r1", "s", reason=None), InvalidInputError),
        (lambda db: db.abandon_run("", "s", reason="x"), InvalidInputError),
    ],
    ids=["another-user", "no-session", "no-run", "finished", "blank-reason", "no-reason", "no-id"],
)
def test_an_abandon_that_cannot_be_done_is_refused_and_writes_nothing(
    db: KernDb, workflow: Workflow, interrupt: Interrupt, attempt: Refusal, error: type[Exception]
) -> None:
    workflow.run(input="a", session_id="s", run_id="r0", user_id="alice")
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1", user_id="alice")
    before = kinds(db, "s")

    with pytest.raises(error):
        attempt(db)

    assert kinds(db, "s") == before
    assert found(db) == [("s", "r1")]


def test_another_users_session_reads_as_a_missing_one(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1", user_id="alice")

    with pytest.raises(SessionNotFoundError) as other:
        db.abandon_run("r1", "s", reason="x", user_id="bob")
    with pytest.raises(SessionNotFoundError) as missing:
        db.abandon_run("r1", "t", reason="x", user_id="bob")

    assert str(other.value) == str(missing.value).replace("'t'", "'s'")


def test_the_async_db_finds_and_abandons_awaited(
    db: KernDb, workflow: Workflow, interrupt: Interrupt
) -> None:
    interrupt(workflow, at=1, input="b", session_id="s", run_id="r1")
    adb = AsyncKernDb(db)

    async def both() -> tuple[list[InterruptedRun], Any]:
        runs = await adb.get_interrupted_runs(EVER)
        return runs, await adb.abandon_run("r1", "s", reason="gone")

    runs, run = bridge.wait(both()) if bridge.active() else asyncio.run(both())
    assert [r.run_id for r in runs] == ["r1"] and run.status == RunStatus.cancelled
