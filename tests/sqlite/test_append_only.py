"""The SQLite event log refuses UPDATE and DELETE, even on a raw connection.

PostgreSQL's log refuses them too, and TRUNCATE: tests/postgres/test_append_only.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kern.db.sqlite import SqliteDb
from kern.workflow import Workflow
from tests.contract.reliability._inputs import contents


@pytest.mark.parametrize(
    "statement",
    ["UPDATE kern_sessions_events SET topic = 'x'", "DELETE FROM kern_sessions_events"],
    ids=["update", "delete"],
)
def test_sqlite_refuses_to_change_the_event_log(tmp_path: Path, statement: str) -> None:
    """PostgreSQL refuses UPDATE, DELETE and TRUNCATE: tests/postgres/test_append_only.py."""
    with SqliteDb(db_file=tmp_path / "kern.db") as db:
        Workflow(name="Audited", db=db, steps=[str]).run(input="hi", session_id="s1")
        before = contents(db)
        raw = sqlite3.connect(tmp_path / "kern.db")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(statement)
        raw.close()
        assert contents(db) == before
