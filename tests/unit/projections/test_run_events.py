"""Run events read back from a log are the events the run streamed live."""

from __future__ import annotations

from typing import Any

import pytest

from kern.db.in_memory import InMemoryDb
from kern.projections.run_events import RunEvent, run_events
from kern.workflow import StepInput, Workflow
from tests.conftest import echo, failing, shout


def shape(events: list[RunEvent]) -> list[tuple[Any, ...]]:
    return [(e.event, e.version, e.run_id, getattr(e, "step_name", None)) for e in events]


def test_interleaved_runs_replay_as_each_streamed_live() -> None:
    """Two runs of one session streamed in turn: each replays from the shared log
    exactly as it streamed, the other run's events left out."""
    db = InMemoryDb()
    workflow = Workflow(name="Two", db=db, steps=[echo, shout])
    first = workflow.run(input="a", session_id="s1", run_id="first", stream=True)
    live_first = [next(first), next(first), next(first)]  # started, step started, completed
    live_second = list(workflow.run(input="b", session_id="s1", run_id="second", stream=True))
    live_first += list(first)

    log = db.get_events("s1")
    assert shape(run_events(log, "first")) == shape(live_first)
    assert shape(run_events(log, "second")) == shape(live_second)
    versions = [e.version for e in live_first]
    assert versions == sorted(versions)
    assert {e.version for e in live_first} & {e.version for e in live_second} == set()


def test_after_keeps_the_events_past_a_version_and_the_step_started_at_it() -> None:
    """A StepStarted shares its version with the stored event before it: resuming
    at that version gives it again, so a client never loses one."""
    db = InMemoryDb()
    workflow = Workflow(name="One", db=db, steps=[echo, shout, echo])
    live = list(workflow.run(input="a", session_id="s1", run_id="r", stream=True))
    log = db.get_events("s1")
    for index, seen in enumerate(live):
        resumed = run_events(log, "r", after=seen.version)
        tail = live[index + 1 :]
        again, rest = resumed[: len(resumed) - len(tail)], resumed[len(resumed) - len(tail) :]
        assert shape(rest) == shape(tail)  # everything after the event seen
        assert all(e.event == "StepStarted" and e.version == seen.version for e in again)
    assert run_events(log, "r", after=live[-1].version) == []
    assert run_events(log, "no-such-run") == []


def test_a_failed_run_replays_as_an_error_and_a_cancelled_one_as_cancelled() -> None:
    def broken(step_input: StepInput) -> str:
        raise KeyError("gone")

    db = InMemoryDb()
    bad_workflow = Workflow(name="Bad", db=db, steps=[echo, failing(broken)])
    with pytest.raises(KeyError):
        bad_workflow.run(input="a", session_id="s1", run_id="bad")
    stream = Workflow(name="Left", db=db, steps=[echo, shout]).run(
        input="b", session_id="s1", run_id="left", stream=True
    )
    next(stream)
    stream.close()

    log = db.get_events("s1")
    bad = run_events(log, "bad")
    assert [e.event for e in bad][-2:] == ["StepCompleted", "WorkflowError"]
    assert bad[-1].to_dict()["error_type"] == "KeyError"
    left = run_events(log, "left")
    assert [e.event for e in left] == ["WorkflowStarted", "WorkflowCancelled"]
