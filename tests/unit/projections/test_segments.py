"""Read-model segments: what is encoded restores to the read model it was cut from."""

from __future__ import annotations

from kern.db.in_memory import InMemoryDb
from kern.projections.fold import project_session
from kern.projections.segments import encode_segment, linked, restore
from kern.projections.session import WorkflowSession
from kern.workflow import StepInput, Workflow


def shout(step_input: StepInput) -> str:
    """Repeats the previous output, or the input, in capitals."""
    return str(step_input.previous_step_content or step_input.input).upper() * 10


def folded_session(runs: int) -> tuple[InMemoryDb, WorkflowSession]:
    """A session of ``runs`` two-step runs and its read model, folded from its events."""
    db = InMemoryDb()
    workflow = Workflow(name="w", db=db, steps=[shout, shout], session_id="s")
    for n in range(runs):
        workflow.run(f"run {n} " * 20)
    session = project_session(db.get_events("s"))
    assert session is not None
    return db, session


def test_a_segment_restores_the_read_model_it_was_cut_from() -> None:
    db, session = folded_session(3)
    last = db.get_events("s")[-1]
    segment = encode_segment(session, hash=last.hash, previous=None)
    fold, used = restore([segment])
    assert used == [segment]
    assert fold.session == session
    assert fold.session is not None and fold.session.version == last.version


def test_segments_restore_in_a_chain_and_stop_where_the_chain_breaks() -> None:
    db, session = folded_session(2)
    events = db.get_events("s")
    middle = project_session(events[:5])  # SessionStarted and the first run (4 events)
    assert middle is not None
    first = encode_segment(middle, hash=events[4].hash, previous=None)
    second = encode_segment(session, hash=events[-1].hash, previous=first)
    assert (first.runs, second.runs, second.runs_before) == (1, 1, 1)
    assert linked([first, second]) == [first, second]
    assert linked([second]) == []  # it does not start at the first
    fold, _ = restore([first, second])
    assert fold.session == session
