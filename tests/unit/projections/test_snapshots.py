"""Snapshots: a write model and run index restored from one, followed by the events
after it, decide and answer exactly as the whole log folded from the first event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kern.domain.aggregate import SessionAggregate
from kern.domain.errors import RunAlreadyFinishedError, RunAlreadyStartedError
from kern.domain.events import RunCompleted, RunStarted, SessionEvent
from kern.domain.values import RunStatus, StoredValue
from kern.projections import snapshots
from kern.projections.history import HistoryRun, HistoryView, RunHistory
from kern.projections.snapshots import UnusableSnapshot, restore, take
from tests.unit.projections.test_run_history import RUNS, record

STATE_FIELDS = (
    "version",
    "owner",
    "deleted",
    "state",
    "session_name",
    "last_timestamp",
    "last_hash",
    "runs",
    "finished",
)


def restored_at(events: list[SessionEvent], at: int) -> tuple[SessionAggregate, RunHistory]:
    """The write model and history restored from a snapshot at version ``at``, then
    followed through the rest of ``events``."""
    row = take(SessionAggregate.replay("s", events[:at]), RunHistory().apply_all(events[:at]))
    aggregate, history = restore(row, "s")
    aggregate.catch_up(events[at:])
    return aggregate, history.apply_all(events[at:])


def loader(events: Sequence[SessionEvent]) -> Callable[[Sequence[HistoryRun]], None]:
    def load(runs: Sequence[HistoryRun]) -> None:
        for run in runs:
            started, ended = events[run.started - 1], events[(run.ended or 0) - 1]
            assert isinstance(started, RunStarted) and isinstance(ended, RunCompleted)
            run.input, run.content, run.loaded = started.input.value, ended.content.value, True

    return load


@settings(max_examples=80, deadline=None)
@given(
    runs=RUNS,
    at=st.integers(1, 60),
    window=st.one_of(st.none(), st.integers(0, 6)),
    kept=st.integers(0, 4),
)
def test_a_restored_session_decides_and_answers_as_the_whole_log(
    runs: list[tuple[str, RunStatus | None, int]], at: int, window: int | None, kept: int
) -> None:
    events = record(runs)
    at = min(at, len(events))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshots, "HISTORY_RUNS", kept)
        aggregate, history = restored_at(events, at)
    whole = SessionAggregate.replay("s", events)
    for name in STATE_FIELDS:
        assert getattr(aggregate, name) == getattr(whole, name), name
    for upto in {at, len(events)}:
        view = HistoryView(
            history,
            upto,
            load=loader(events),
            rebuild=partial(lambda cut: RunHistory().apply_all(events[:cut]), upto),
        )
        full = HistoryView(RunHistory().apply_all(events), upto)
        assert view.get_workflow_history(window) == full.get_workflow_history(window)


def test_a_restored_write_model_refuses_a_finished_run_id_and_steps_of_finished_runs() -> None:
    events = record([("a", RunStatus.completed, 1), ("b", None, 0)])
    aggregate, _ = restored_at(events, len(events))
    with pytest.raises(RunAlreadyStartedError):
        aggregate.start_run(run_id="run-0", user_id=None, input=StoredValue.of(1), session_state={})
    with pytest.raises(RunAlreadyFinishedError):
        aggregate.complete_step(
            run_id="run-0", user_id=None, input=StoredValue.of(1), content=StoredValue.of(1)
        )
    aggregate.complete_step(
        run_id="run-1", user_id=None, input=StoredValue.of(1), content=StoredValue.of(1)
    )


def test_a_rolled_back_completion_forgets_the_run_was_finished() -> None:
    aggregate = SessionAggregate.replay("s", record([("a", None, 0)]))
    mark = aggregate.checkpoint()
    aggregate.complete_run(
        run_id="run-0", user_id=None, status=RunStatus.completed, content=StoredValue.of(1)
    )
    aggregate.rollback(mark)
    assert not aggregate.finished and "run-0" in aggregate.runs


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda row: replace(row, body=row.body + b" "), id="checksum"),
        pytest.param(lambda row: replace(row, format=row.format + 1), id="format"),
        pytest.param(lambda row: replace(row, format=row.format - 1), id="older-format"),
        pytest.param(lambda row: replace(row, version=row.version + 1), id="version"),
        pytest.param(lambda row: replace(row, head_hash="0" * 64), id="hash"),
    ],
)
def test_a_snapshot_that_does_not_match_its_row_is_unusable(spoil: Any) -> None:
    events = record([("a", RunStatus.completed, 1)])
    row = take(SessionAggregate.replay("s", events), RunHistory().apply_all(events))
    with pytest.raises(UnusableSnapshot):
        restore(spoil(row), "s")
    with pytest.raises(UnusableSnapshot):
        restore(row, "another")


def test_a_partial_history_says_when_it_cannot_answer() -> None:
    history = RunHistory.partial(
        20, 10, [HistoryRun("r", 10, None, 14, RunStatus.completed, None, loaded=False)], None
    )
    assert history.completed(20, 1) == [history.runs[0]]
    assert history.completed(20, 2) is None
    assert history.completed(20, None) is None
    assert history.completed(12, 1) is None
