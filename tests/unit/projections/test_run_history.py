"""RunHistory, the incremental history fold, answers as the full read model does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kern.domain.aggregate import SessionAggregate
from kern.domain.events import SessionEvent
from kern.domain.values import RunStatus, StoredValue
from kern.projections.fold import project_session
from kern.projections.history import HistoryView, RunHistory

# A run: (input, how it ends or None while open, how many steps)
RUNS = st.lists(
    st.tuples(
        st.text(max_size=5),
        st.sampled_from([RunStatus.completed, RunStatus.error, RunStatus.cancelled, None]),
        st.integers(0, 2),
    ),
    max_size=12,
)


def record(runs: list[tuple[str, RunStatus | None, int]]) -> list[SessionEvent]:
    """A session's events for ``runs``, each run started, stepped and ended in turn."""
    session = SessionAggregate.replay("s", [])
    session.start(user_id=None)
    for n, (text, status, steps) in enumerate(runs):
        run_id = f"run-{n}"
        session.start_run(run_id=run_id, user_id=None, input=StoredValue.of(text), session_state={})
        for _ in range(steps):
            session.complete_step(
                run_id=run_id, user_id=None, input=StoredValue.of(text), content=StoredValue.of(1)
            )
        if status is not None:
            content = StoredValue.of(f"out {text}")
            session.complete_run(run_id=run_id, user_id=None, status=status, content=content)
    return session.take_pending()


@settings(max_examples=60, deadline=None)
@given(runs=RUNS, window=st.one_of(st.none(), st.integers(-1, 6)), cut=st.integers(0, 60))
def test_history_at_any_version_equals_the_read_model_folded_up_to_it(
    runs: list[tuple[str, RunStatus | None, int]], window: int | None, cut: int
) -> None:
    events = record(runs)
    upto = min(cut, len(events)) or 1
    incremental = HistoryView(RunHistory().apply_all(events), upto)
    folded = project_session(events[:upto])
    assert folded is not None
    assert incremental.get_workflow_history(window) == folded.get_workflow_history(window)
    assert incremental.get_workflow_history_context(window) == folded.get_workflow_history_context(
        window
    )


def test_applying_an_event_twice_changes_nothing() -> None:
    events = record([("a", RunStatus.completed, 1)])
    history = RunHistory().apply_all(events).apply_all(events)
    assert [run.run_id for run in history.runs] == ["run-0"]
