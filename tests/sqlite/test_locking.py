"""An SQLite file locked by another connection past the timeout fails clearly.

Kern used to treat "database is locked" as an append conflict and retry it for
about 50 minutes; it is StoreLockedError at once now, naming the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kern.db.sqlite import SqliteDb
from kern.domain.events import SessionStarted
from kern.errors import StoreLockedError
from kern.run import RunStatus
from kern.workflow import Workflow


def test_sqlite_file_locked_past_the_timeout_fails_clearly_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Another connection holds the write lock longer than SqliteDb's timeout:
    StoreLockedError names the file, no step runs, nothing of the run is written."""
    db_file = tmp_path / "kern.db"
    steps_run: list[str] = []

    def counted(step_input: Any) -> str:
        steps_run.append(step_input.input)
        return "done"

    with SqliteDb(db_file=db_file, timeout=0.2) as db:
        workflow = Workflow(name="Locked", db=db, steps=[counted])
        workflow.run(input="first", session_id="s1")
        before = db.get_events("s1")
        holder = sqlite3.connect(db_file, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # as another process's long write would
        try:
            with pytest.raises(StoreLockedError, match=r"kern\.db' is locked.*0\.2 s timeout"):
                workflow.run(input="second", session_id="s1")
            with pytest.raises(StoreLockedError, match="is locked"):
                workflow.run(input="new", session_id="s2")
            with pytest.raises(StoreLockedError, match="is locked"):
                db.update_session_state("s1", {"k": 1})
        finally:
            holder.rollback()
            holder.close()

        assert steps_run == ["first"]
        assert db.get_events("s1") == before
        assert db.get_session("s2") is None
        assert [s.session_id for s in db.get_sessions()] == ["s1"]
        after = workflow.run(input="third", session_id="s1")
        assert after.status == RunStatus.completed
        session = db.get_session("s1")
        assert session is not None and session.runs is not None
        assert [run.input for run in session.runs] == ["first", "third"]
        assert isinstance(db.get_events("s1")[0], SessionStarted)


def test_sqlite_timeout_must_be_a_positive_number(tmp_path: Path) -> None:
    for bad in (0, -1, "5", None, True):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            SqliteDb(db_file=tmp_path / "kern.db", timeout=bad)  # type: ignore[arg-type]
