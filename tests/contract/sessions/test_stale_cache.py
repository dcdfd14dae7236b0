"""Two processes' views of one session: what one of them cached goes stale, and
Kern decides again on the newer events instead of acting on the stale ones.

Each test opens two stores on one database (a SQLite file, a PostgreSQL table),
as two processes would; each keeps its own cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kern.db import KernDb
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.errors import SessionDeletedError
from kern.workflow import StepInput, Workflow
from tests.conftest import POSTGRES_URL, postgres_table


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[KernDb, KernDb]]:
    """Two stores on the same database."""
    if request.param == "sqlite":
        dbs: tuple[KernDb, KernDb] = (
            SqliteDb(db_file=tmp_path / "kern.db"),
            SqliteDb(db_file=tmp_path / "kern.db"),
        )
    else:
        schema, table = request.getfixturevalue("postgres_schema"), postgres_table()
        dbs = (
            PostgresDb(POSTGRES_URL, session_table=table, db_schema=schema),
            PostgresDb(POSTGRES_URL, session_table=table, db_schema=schema),
        )
    yield dbs
    for db in dbs:
        db.close()


def counting(step_input: StepInput) -> str:
    """Add one to the session's count and say the history it was given."""
    step_input.session_state["count"] = step_input.session_state.get("count", 0) + 1
    return f"{step_input.input} after {step_input.get_workflow_history(num_runs=5)}"


def test_a_writer_with_a_stale_cache_lands_its_run_after_the_newer_ones(
    two_dbs: tuple[KernDb, KernDb],
) -> None:
    first, second = two_dbs
    mine = Workflow(name="w", db=first, steps=[counting], session_id="s")
    theirs = Workflow(name="w", db=second, steps=[counting], session_id="s")
    mine.run("one")  # first caches the session at its version now
    theirs.run("two")
    theirs.run("three")  # first's cache is two runs behind
    run = mine.run("four")
    assert run.content.startswith("four after [('one'")  # decided on the newer runs
    assert "three" in str(run.content)
    session = second.get_session("s")
    assert session is not None
    assert [r.input for r in session.runs or []] == ["one", "two", "three", "four"]
    assert session.session_state == {"count": 4}
    versions = [event.version for event in second.get_events("s")]
    assert versions == list(range(1, len(versions) + 1))


def test_a_write_that_records_nothing_is_checked_against_the_store_first(
    two_dbs: tuple[KernDb, KernDb],
) -> None:
    """A no-op state update on a session another process deleted is refused, though
    the stale cache alone would have let it pass without an append to conflict."""
    first, second = two_dbs
    workflow = Workflow(name="w", db=first, steps=[counting], session_id="s")
    workflow.run("one")
    first.update_session_state("s", {"count": 1})  # cached: count is 1, nothing to record
    second.delete_session("s")
    with pytest.raises(SessionDeletedError):
        first.update_session_state("s", {"count": 1})
