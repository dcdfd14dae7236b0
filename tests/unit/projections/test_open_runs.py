"""The open-runs index: what a batch of appended events does to a session's rows,
and a resumed run's write model through a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kern.domain.aggregate import RunState, SessionAggregate
from kern.domain.errors import RunAlreadyResumedError
from kern.domain.events import SessionEvent
from kern.domain.values import Metrics, RunStatus, StoredValue
from kern.projections.history import RunHistory
from kern.projections.open_runs import InterruptedRun, OpenRunRow, open_run_changes
from kern.projections.snapshots import restore, take

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)


def session() -> SessionAggregate:
    aggregate = SessionAggregate(session_id="s")
    aggregate.start(user_id="alice")
    return aggregate


def start(aggregate: SessionAggregate, run_id: str) -> None:
    aggregate.start_run(run_id=run_id, user_id="alice", input=StoredValue.of("x"), session_state={})


def step(aggregate: SessionAggregate, run_id: str, resumption: int | None = None) -> None:
    aggregate.complete_step(
        run_id=run_id,
        user_id="alice",
        resumption=resumption,
        input=StoredValue.of("x"),
        content=StoredValue.of("y"),
        metrics=Metrics(),
    )


def end(aggregate: SessionAggregate, run_id: str) -> None:
    aggregate.complete_run(
        run_id=run_id, user_id="alice", status=RunStatus.completed, content=StoredValue.of("y")
    )


def rows(events: list[SessionEvent]) -> list[tuple[str, int]]:
    changes = open_run_changes(events)
    return [(row.run_id, row.last_version) for row in changes.written]


def test_a_run_event_writes_its_runs_row_at_its_last_event() -> None:
    aggregate = session()
    start(aggregate, "a")
    step(aggregate, "a")
    start(aggregate, "b")
    assert rows(aggregate.take_pending()) == [("a", 3), ("b", 4)]


def test_a_run_that_ends_in_the_batch_leaves_no_row_and_is_removed() -> None:
    aggregate = session()
    start(aggregate, "a")
    aggregate.take_pending()
    step(aggregate, "a")
    end(aggregate, "a")
    changes = open_run_changes(aggregate.take_pending())
    assert (changes.written, changes.ended, changes.session_deleted) == ((), ("a",), False)


def test_a_deleted_session_removes_every_row_of_it() -> None:
    aggregate = session()
    start(aggregate, "a")
    aggregate.delete(user_id="alice")
    changes = open_run_changes(aggregate.take_pending())
    assert (changes.written, changes.ended, changes.session_deleted) == ((), (), True)


def test_events_of_no_run_change_nothing() -> None:
    aggregate = session()
    assert not open_run_changes(aggregate.take_pending())


def test_an_interrupted_run_tells_when_it_last_moved() -> None:
    row = OpenRunRow("s", "a", 7, (T0 + timedelta(seconds=1.5)).timestamp())
    run = InterruptedRun.of(row, "alice", "w")
    assert run.last_event_at == T0 + timedelta(seconds=1.5)
    assert (run.session_id, run.run_id, run.user_id, run.last_version) == ("s", "a", "alice", 7)


def test_a_resumed_run_refuses_its_earlier_writer_even_through_a_snapshot() -> None:
    """The resumption count is part of the write model a snapshot restores."""
    aggregate = session()
    start(aggregate, "a")
    step(aggregate, "a", resumption=0)
    aggregate.resume_run(run_id="a", user_id="alice", seen=RunState(1, 0))
    events = aggregate.take_pending()
    row = take(SessionAggregate.replay("s", events), RunHistory().apply_all(events))
    restored, _ = restore(row, "s")

    assert restored.runs["a"] == RunState(next_step=1, resumptions=1)
    with pytest.raises(RunAlreadyResumedError):
        step(restored, "a", resumption=0)
    with pytest.raises(RunAlreadyResumedError):
        restored.resume_run(run_id="a", user_id="alice", seen=RunState(1, 0))
    step(restored, "a", resumption=1)
    assert restored.runs["a"].next_step == 2
