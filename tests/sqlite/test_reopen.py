"""A session written through one SqliteDb reads back the same through another."""

from __future__ import annotations

from pathlib import Path

from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow


def count_visits(step_input: StepInput) -> str:
    """A step that counts its runs in the session state."""
    step_input.session_state["visits"] = step_input.session_state.get("visits", 0) + 1
    return f"visit {step_input.session_state['visits']}"


def test_session_reads_back_the_same_from_a_new_sqlite_db(tmp_path: Path) -> None:
    """A second SqliteDb on the same file sees exactly the session the first wrote."""
    db_file = tmp_path / "workflows.db"
    with SqliteDb(db_file=db_file) as first:
        workflow = Workflow(name="Research Pipeline", db=first, steps=[count_visits, ...])
        workflow.run(input={"topic": "AI"}, session_id="s1", user_id="alice")
        workflow.run(input="two", session_id="s1", user_id="alice")
        workflow.set_session_name(session_id="s1", session_name="Kept", user_id="alice")
        written = first.get_session("s1")
        written_events = first.get_events("s1")
    with SqliteDb(db_file=db_file) as second:
        reread = second.get_session("s1")
        assert reread == written
        assert reread is not None and written is not None
        assert reread.to_dict() == written.to_dict()
        assert second.get_events("s1") == written_events
