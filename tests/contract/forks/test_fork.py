"""Forking a session: a new session with the original's history up to a point."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from kern.db import KernDb
from kern.domain.encoding import GENESIS_HASH, event_hash
from kern.domain.events import (
    RunCompleted,
    RunEvent,
    RunStarted,
    SessionEvent,
    SessionForked,
    SessionStarted,
    StepCompleted,
)
from kern.domain.records import decode_record
from kern.errors import (
    InvalidAsOfError,
    SessionDeletedError,
    SessionExistsError,
    SessionNotFoundError,
)
from kern.projections.expand import expand_stream
from kern.run import RunStatus
from kern.workflow import StepInput, Workflow
from tests.contract.kinds import STORED_BYTES

MakeWorkflow = Callable[..., Workflow]

SOURCE = "original"
OWNER = "ada"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def count(step_input: StepInput) -> str:
    """Counts runs in the session state."""
    state = step_input.session_state
    state["count"] = state.get("count", 0) + 1
    return f"run {state['count']}: {step_input.input}"


@pytest.fixture
def workflow(make_workflow: MakeWorkflow) -> Workflow:
    """A workflow owned by OWNER, with history on, that has run twice in SOURCE."""
    workflow = make_workflow(steps=[count], user_id=OWNER, add_workflow_history_to_steps=True)
    with freeze_time(T0):
        workflow.run("first", session_id=SOURCE, run_id="r1", correlation_id="c-1")
    with freeze_time(T0 + timedelta(minutes=1)):
        workflow.run("second", session_id=SOURCE, run_id="r2")
    return workflow


def stream(db: KernDb, session_id: str) -> list[SessionEvent]:
    """The session's events decoded straight from the stored records (no cache)."""
    return expand_stream(
        [decode_record(record, db.store.key_lookup) for record in db.store.read_records(session_id)]
    )


def version_of(events: list[SessionEvent], kind: type[SessionEvent], run_id: str) -> int:
    """The version of the ``kind`` event of run ``run_id``."""
    return next(
        e.version
        for e in events
        if isinstance(e, kind) and isinstance(e, RunEvent) and e.run_id == run_id
    )


def unkeyed(event: SessionEvent) -> SessionEvent:
    """The event without what a fork changes: its session_id and hash."""
    return replace(event, session_id="", hash="")


# -- where the fork starts --------------------------------------------------------------------


def test_forks_at_a_version(db: KernDb, workflow: Workflow) -> None:
    """Events 1..v are copied, then SessionForked records where they came from."""
    source = stream(db, SOURCE)
    at = version_of(source, RunCompleted, "r1")
    fork = db.fork_session(SOURCE, at=at, new_session_id="fork")
    events = stream(db, "fork")
    assert [unkeyed(e) for e in events[:at]] == [unkeyed(e) for e in source[:at]]
    forked = events[at]
    assert isinstance(forked, SessionForked)
    assert (forked.version, len(events)) == (at + 1, at + 1)
    assert fork.session_id == "fork"
    assert [run.run_id for run in fork.runs or []] == ["r1"]
    assert fork.session_state == {"count": 1}


def test_forks_at_a_run_id_just_before_that_run(db: KernDb, workflow: Workflow) -> None:
    """Forking at a run stops before its RunStarted, so the run can be tried again."""
    source = stream(db, SOURCE)
    fork = db.fork_session(SOURCE, at="r2", new_session_id="fork")
    started = version_of(source, RunStarted, "r2")
    events = stream(db, "fork")
    assert [unkeyed(e) for e in events[:-1]] == [unkeyed(e) for e in source[: started - 1]]
    assert isinstance(events[-1], SessionForked)
    assert events[-1].source_version == started - 1
    assert [run.run_id for run in fork.runs or []] == ["r1"]
    rerun = workflow.run("second", session_id="fork", run_id="r2")
    original = db.get_session(SOURCE)
    assert original is not None and original.runs is not None
    assert rerun.content == original.runs[1].content


def test_forks_at_a_moment(db: KernDb, workflow: Workflow) -> None:
    """A datetime copies every event recorded at or before it, and none after."""
    moment = T0 + timedelta(seconds=30)
    db.fork_session(SOURCE, at=moment, new_session_id="fork")
    copied = stream(db, "fork")[:-1]
    later = stream(db, SOURCE)[len(copied) :]
    assert copied and all(e.timestamp <= moment for e in copied)
    assert later and all(e.timestamp > moment for e in later)


def test_keeps_timestamps_users_and_provenance_of_copied_events(
    db: KernDb, workflow: Workflow
) -> None:
    db.fork_session(SOURCE, at="r2", new_session_id="fork")
    copied = stream(db, "fork")[:-1]
    original = stream(db, SOURCE)[: len(copied)]
    assert [(e.timestamp, e.user_id, e.provenance) for e in copied] == [
        (e.timestamp, e.user_id, e.provenance) for e in original
    ]
    assert copied[1].provenance.correlation_id == "c-1"


def test_refuses_a_point_the_session_does_not_have(db: KernDb, workflow: Workflow) -> None:
    before = db.store.session_ids()
    for at in (0, 99, "no-such-run", T0 - timedelta(days=1)):
        with pytest.raises(InvalidAsOfError):
            db.fork_session(SOURCE, at=at, new_session_id="fork")
    assert db.store.session_ids() == before


def test_refuses_an_unknown_session(db: KernDb) -> None:
    with pytest.raises(SessionNotFoundError):
        db.fork_session("nobody", at=1, new_session_id="fork")
    assert db.get_events("fork") == []


# -- the new session's id --------------------------------------------------------------------


def test_generates_a_new_session_id_when_none_is_given(db: KernDb, workflow: Workflow) -> None:
    fork = db.fork_session(SOURCE, at="r2")
    assert str(uuid.UUID(fork.session_id)) == fork.session_id
    assert fork.session_id != SOURCE
    assert db.get_session(fork.session_id) == fork


def test_uses_the_given_session_id(db: KernDb, workflow: Workflow) -> None:
    fork = db.fork_session(SOURCE, at="r2", new_session_id="my-fork")
    assert fork.session_id == "my-fork"
    assert db.get_session("my-fork") == fork


def test_refuses_a_session_id_that_exists(db: KernDb, workflow: Workflow) -> None:
    """A fork never overwrites a session, the original included."""
    workflow.run("other", session_id="taken")
    taken = db.store.read_records("taken")
    for target in ("taken", SOURCE):
        with pytest.raises(SessionExistsError) as caught:
            db.fork_session(SOURCE, at="r2", new_session_id=target)
        assert caught.value.session_id == target
    assert db.store.read_records("taken") == taken


# -- who may fork ------------------------------------------------------------------------------


def test_refuses_another_users_fork_and_writes_nothing(db: KernDb, workflow: Workflow) -> None:
    """As for a source that does not exist: the refusal says nothing of the session."""
    before = db.store.session_ids()
    with pytest.raises(SessionNotFoundError):
        db.fork_session(SOURCE, at="r2", new_session_id="fork", user_id="mallory")
    assert db.store.session_ids() == before
    assert db.store.read_records("fork") == []


def test_lets_the_owner_fork_and_records_them_as_the_forker(db: KernDb, workflow: Workflow) -> None:
    fork = db.fork_session(SOURCE, at="r2", new_session_id="fork", user_id=OWNER)
    assert fork.user_id == OWNER
    assert stream(db, "fork")[-1].user_id == OWNER


def test_forks_a_deleted_session_only_before_its_tombstone(db: KernDb, workflow: Workflow) -> None:
    db.delete_session(SOURCE)
    last = len(stream(db, SOURCE))
    with pytest.raises(SessionDeletedError):
        db.fork_session(SOURCE, at=last, new_session_id="fork")
    assert db.store.read_records("fork") == []
    fork = db.fork_session(SOURCE, at=last - 1, new_session_id="fork")
    assert [run.run_id for run in fork.runs or []] == ["r1", "r2"]


# -- the original and the fork go their own ways ------------------------------------------------


def test_leaves_the_original_untouched(db: KernDb, workflow: Workflow) -> None:
    records = db.store.read_records(SOURCE)
    session = db.get_session(SOURCE)
    db.fork_session(SOURCE, at="r2", new_session_id="fork")
    assert db.store.read_records(SOURCE) == records
    assert db.get_session(SOURCE) == session


def test_runs_continue_on_the_fork_while_the_original_stays(db: KernDb, workflow: Workflow) -> None:
    """The fork's next run sees the fork's history and state, not the original's."""
    records = db.store.read_records(SOURCE)
    db.fork_session(SOURCE, at="r2", new_session_id="fork")
    branched = workflow.run("branch", session_id="fork", run_id="r3")
    assert branched.content == "run 2: branch"
    step = stream(db, "fork")[-2]
    assert isinstance(step, StepCompleted)
    assert isinstance(step.input.value, dict)
    context = step.input.value["workflow_history_context"]
    assert isinstance(context, str)
    assert "first" in context and "second" not in context
    fork = db.get_session("fork")
    assert fork is not None
    assert [run.run_id for run in fork.runs or []] == ["r1", "r3"]
    assert fork.session_state == {"count": 2}
    assert db.store.read_records(SOURCE) == records
    original = db.get_session(SOURCE)
    assert original is not None
    assert [run.run_id for run in original.runs or []] == ["r1", "r2"]


def test_a_fork_can_be_forked_again(db: KernDb, workflow: Workflow) -> None:
    db.fork_session(SOURCE, at="r2", new_session_id="fork")
    workflow.run("branch", session_id="fork", run_id="r3")
    again = db.fork_session("fork", at="r3", new_session_id="fork-of-fork")
    forks = [e for e in stream(db, "fork-of-fork") if isinstance(e, SessionForked)]
    assert [f.source_session_id for f in forks] == [SOURCE, "fork"]
    assert [run.run_id for run in again.runs or []] == ["r1"]


# -- the fork's log -----------------------------------------------------------------------------


@STORED_BYTES
def test_seals_the_fork_into_a_valid_hash_chain_of_its_own(db: KernDb, workflow: Workflow) -> None:
    db.fork_session(SOURCE, at="r2", new_session_id="fork")
    workflow.run("branch", session_id="fork")
    events = stream(db, "fork")
    previous = GENESIS_HASH
    for expected_version, event in enumerate(events, 1):
        assert event.session_id == "fork"
        assert event.version == expected_version
        assert event.hash == event_hash(previous, event)
        previous = event.hash
    source = stream(db, SOURCE)
    assert events[0].hash != source[0].hash  # the chain covers the session_id


def test_records_the_source_session_version_and_hash(db: KernDb, workflow: Workflow) -> None:
    source = stream(db, SOURCE)
    at = version_of(source, RunCompleted, "r1")
    db.fork_session(SOURCE, at=at, new_session_id="fork", correlation_id="fork-1")
    forked = stream(db, "fork")[-1]
    assert isinstance(forked, SessionForked)
    assert (forked.source_session_id, forked.source_version, forked.source_hash) == (
        SOURCE,
        at,
        source[at - 1].hash,
    )
    assert forked.provenance.correlation_id == "fork-1"
    assert forked.provenance.kern_version


def test_lists_the_fork_as_a_session_of_its_owner(db: KernDb, workflow: Workflow) -> None:
    fork = db.fork_session(SOURCE, at="r2", new_session_id="fork")
    listed = {s.session_id: s for s in db.get_sessions(user_id=OWNER)}
    assert set(listed) == {SOURCE, "fork"}
    assert listed["fork"] == fork
    assert isinstance(stream(db, "fork")[0], SessionStarted)


# -- runs open at the fork point -----------------------------------------------------------------


def test_cancels_runs_left_open_at_the_fork_point_on_the_fork_only(
    db: KernDb, make_workflow: MakeWorkflow
) -> None:
    """A fork taken while a run is in progress ends that run as CANCELLED on the fork."""

    def fork_now(step_input: StepInput) -> str:
        db.fork_session("busy", at=len(db.get_events("busy")), new_session_id="fork")
        return "done"

    workflow = make_workflow(steps=[count, fork_now], user_id=OWNER)
    finished = workflow.run("go", session_id="busy", run_id="r1")
    assert finished.status == RunStatus.completed
    events = stream(db, "fork")
    assert [type(e) for e in events] == [
        SessionStarted,
        RunStarted,
        StepCompleted,
        SessionForked,
        RunCompleted,
    ]
    cancelled = events[-1]
    assert isinstance(cancelled, RunCompleted)
    assert cancelled.status == RunStatus.cancelled
    assert cancelled.error == "open when the session was forked"
    fork = db.get_session("fork")
    assert fork is not None and fork.runs is not None
    assert fork.runs[0].status == RunStatus.cancelled
    assert fork.session_state == {}  # an unfinished run changes no state
    original = db.get_session("busy")
    assert original is not None and original.runs is not None
    assert original.runs[0].status == RunStatus.completed
    again = make_workflow(steps=[count], user_id=OWNER).run("again", session_id="fork")
    assert again.content == "run 1: again"
