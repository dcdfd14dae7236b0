"""Reading Agno's SQLite files for an import: what is refused up front (and leaves
nothing written), the layouts Agno writes besides its default, and sessions Kern
cannot store."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from kern.db.in_memory import InMemoryDb
from kern.errors import ImportSourceError, InvalidIdentifierError, InvalidInputError
from kern.importing import import_agno
from tests.fixtures.agno.agno_sessions import AGNO_DB, assert_reads_as_agno, recorded


@pytest.fixture
def db() -> Iterator[InMemoryDb]:
    with InMemoryDb() as store:
        yield store


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the fixture's Agno file, to change."""
    target = tmp_path / "agno.db"
    shutil.copyfile(AGNO_DB, target)
    return target


def edit(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        for statement in statements:
            connection.execute(statement)


def nothing_written(db: InMemoryDb) -> bool:
    return db.store.session_ids() == []


# -- refused up front -------------------------------------------------------------------------


def test_a_missing_file_is_refused(db: InMemoryDb, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(ImportSourceError, match=r"no Agno database at .*nope\.db.*no such file"):
        import_agno(str(missing), db)
    assert nothing_written(db)
    assert not missing.exists()


def test_a_file_that_is_not_sqlite_is_refused(db: InMemoryDb, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just some notes, long enough to be more than a SQLite header " * 4)
    with pytest.raises(ImportSourceError, match="is not an Agno database") as raised:
        import_agno(str(text), db)
    assert raised.value.source == str(text)
    assert nothing_written(db)


def test_a_database_without_the_sessions_table_is_refused(db: InMemoryDb, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    edit(other, "CREATE TABLE notes (id INTEGER)")
    with pytest.raises(ImportSourceError, match="has no table 'agno_sessions'") as raised:
        import_agno(str(other), db)
    assert raised.value.table == "agno_sessions"
    assert nothing_written(db)


def test_a_table_name_the_file_does_not_have_is_refused(db: InMemoryDb) -> None:
    with pytest.raises(ImportSourceError, match="has no table 'crm_sessions'"):
        import_agno(str(AGNO_DB), db, table="crm_sessions")
    assert nothing_written(db)


def test_a_table_without_agnos_columns_is_refused(db: InMemoryDb, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    edit(other, "CREATE TABLE agno_sessions (session_id TEXT, created_at INTEGER)")
    with pytest.raises(
        ImportSourceError, match="not an Agno sessions table: it has no session_type"
    ):
        import_agno(str(other), db)
    assert nothing_written(db)


def test_a_runs_table_without_agnos_columns_is_refused(db: InMemoryDb, copy: Path) -> None:
    edit(copy, "DROP TABLE agno_runs", "CREATE TABLE agno_runs (run_id TEXT)")
    with pytest.raises(ImportSourceError, match=r"'agno_runs' .* not an Agno runs table"):
        import_agno(str(copy), db)
    assert nothing_written(db)


@pytest.mark.parametrize("table", ["agno_sessions; DROP TABLE x", "", "1st"])
def test_a_table_name_that_is_not_an_identifier_is_refused(db: InMemoryDb, table: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        import_agno(str(AGNO_DB), db, table=table)
    assert nothing_written(db)


def test_a_schema_is_for_postgresql_sources_only(db: InMemoryDb) -> None:
    with pytest.raises(InvalidInputError, match="PostgreSQL source only"):
        import_agno(str(AGNO_DB), db, schema="ai")


def test_the_target_must_be_a_kern_store() -> None:
    with pytest.raises(InvalidInputError, match="db must be a Kern store"):
        import_agno(str(AGNO_DB), "kern.db")  # type: ignore[arg-type]


def test_the_agno_file_is_only_read(db: InMemoryDb, copy: Path) -> None:
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    import_agno(str(copy), db)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before


# -- Agno's other layouts -------------------------------------------------------------------------


def test_tables_with_other_names_are_read_as_agno_pairs_them(db: InMemoryDb, copy: Path) -> None:
    """Agno's runs table for a session_table "crm_sessions" is "crm_sessions_runs"."""
    edit(
        copy,
        "ALTER TABLE agno_sessions RENAME TO crm_sessions",
        "ALTER TABLE agno_runs RENAME TO crm_sessions_runs",
    )
    report = import_agno(str(copy), db, table="crm_sessions")
    assert sorted(report.imported) == sorted(recorded())
    for session_id, agno in recorded().items():
        assert_reads_as_agno(db, session_id, agno)
    assert db.get_events("bob-notes")[0].provenance.imported_from == "agno:crm_sessions"


def test_a_runs_table_can_be_named(db: InMemoryDb, copy: Path) -> None:
    edit(copy, "ALTER TABLE agno_runs RENAME TO workflow_runs")
    import_agno(str(copy), db, runs_table="workflow_runs")
    assert_reads_as_agno(db, "alice-research", recorded()["alice-research"])


def test_runs_still_in_the_pre_3_runs_column_are_merged_in_order(
    db: InMemoryDb, copy: Path
) -> None:
    """A database Agno 3 has only partly migrated: each session's first run is
    still in the sessions table's ``runs`` column, the others in the runs table."""
    edit(copy, "ALTER TABLE agno_sessions ADD COLUMN runs JSON")
    with closing(sqlite3.connect(copy)) as connection, connection:
        firsts = connection.execute(
            "SELECT session_id, run_id, run_data FROM agno_runs WHERE run_index = 0"
        ).fetchall()
        for session_id, run_id, run_data in firsts:
            blob = json.dumps([json.loads(run_data)])
            connection.execute(
                "UPDATE agno_sessions SET runs = ? WHERE session_id = ?", (blob, session_id)
            )
            connection.execute("DELETE FROM agno_runs WHERE run_id = ?", (run_id,))
    import_agno(str(copy), db)
    for session_id, agno in recorded().items():
        assert_reads_as_agno(db, session_id, agno)


def test_runs_of_agents_sharing_the_session_are_left_out(db: InMemoryDb, copy: Path) -> None:
    """As Agno's WorkflowSession leaves them out."""
    agent_run = json.dumps({"run_id": "agent-run", "agent_id": "agent-1", "content": "hi"})
    edit(
        copy,
        "INSERT INTO agno_runs (run_id, session_id, run_type, agent_id, status, run_index, "
        f"run_data, created_at) VALUES ('agent-run', 'bob-notes', 'agent', 'agent-1', "
        f"'COMPLETED', 3, '{agent_run}', 1796196904)",
    )
    import_agno(str(copy), db)
    assert_reads_as_agno(db, "bob-notes", recorded()["bob-notes"])


# -- sessions Kern cannot store -------------------------------------------------------------------


def test_a_run_of_another_user_is_refused_with_its_session(db: InMemoryDb, copy: Path) -> None:
    """Agno writes an intruder's run into the owner's session; Kern keeps a session
    its owner's, so that session is reported and not imported."""
    edit(
        copy,
        "UPDATE agno_runs SET run_data = json_set(run_data, '$.user_id', 'mallory') "
        "WHERE session_id = 'bob-notes' AND run_index = 1",
    )
    report = import_agno(str(copy), db)
    assert [p.session_id for p in report.refused] == ["bob-notes"]
    assert "mallory" in report.refused[0].problem
    assert not report.ok
    assert db.get_events("bob-notes") == []
    assert sorted(report.imported) == [
        "alice-research",
        "alice-second",
        "carol-writers",
        "shapes-anonymous",
    ]


def test_a_session_id_kern_refuses_is_reported(db: InMemoryDb, copy: Path) -> None:
    long_id = "s" * 300
    edit(
        copy,
        "PRAGMA foreign_keys = OFF",
        f"UPDATE agno_sessions SET session_id = '{long_id}' WHERE session_id = 'alice-second'",
        f"UPDATE agno_runs SET session_id = '{long_id}' WHERE session_id = 'alice-second'",
    )
    report = import_agno(str(copy), db)
    assert [p.session_id for p in report.refused] == [long_id]
    assert "at most 255" in report.refused[0].problem
    assert len(report.imported) == 4


def test_progress_counts_the_workflow_sessions(db: InMemoryDb) -> None:
    seen: list[tuple[int, int]] = []
    import_agno(str(AGNO_DB), db, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_a_session_whose_data_agno_could_not_parse_is_reported(db: InMemoryDb, copy: Path) -> None:
    """Agno keeps a JSON column it cannot parse as text; Kern will not guess."""
    edit(copy, "UPDATE agno_sessions SET session_data = 'oops' WHERE session_id = 'alice-second'")
    report = import_agno(str(copy), db)
    assert report.refused[0].session_id == "alice-second"
    assert "session_data is not a JSON object: 'oops'" in report.refused[0].problem
    assert db.get_events("alice-second") == []


# -- statuses and time travel ---------------------------------------------------------------


def set_status(path: Path, session_id: str, run_index: int, status: str) -> None:
    edit(
        path,
        f"UPDATE agno_runs SET status = '{status}', "
        f"run_data = json_set(run_data, '$.status', '{status}') "
        f"WHERE session_id = '{session_id}' AND run_index = {run_index}",
    )


def test_an_errored_run_keeps_its_status_and_leaves_the_history(db: InMemoryDb, copy: Path) -> None:
    set_status(copy, "alice-research", 1, "ERROR")
    import_agno(str(copy), db)
    session = db.get_session("alice-research")
    assert session is not None and session.runs is not None
    assert [str(run.status) for run in session.runs] == ["COMPLETED", "ERROR", "COMPLETED"]
    assert [pair[0] for pair in session.get_workflow_history()] == ["AI trends", "fusion energy"]


@pytest.mark.parametrize("status", ["RUNNING", "PENDING", "PAUSED"])
def test_a_run_agno_left_unfinished_reads_as_running(
    db: InMemoryDb, copy: Path, status: str
) -> None:
    """No terminal event is made up for it: it reads as any run whose process died."""
    set_status(copy, "bob-notes", 2, status)
    import_agno(str(copy), db)
    session = db.get_session("bob-notes")
    assert session is not None and session.runs is not None
    assert str(session.runs[-1].status) == "RUNNING"
    assert [type(e).__name__ for e in db.get_events("bob-notes")][-3:] == [
        "RunStarted",
        "StepCompleted",
        "SessionRenamed",
    ]


def test_the_runs_tables_copy_of_a_run_wins_over_the_pre_3_columns(
    db: InMemoryDb, copy: Path
) -> None:
    """As in Agno: a run in both places is read from the runs table."""
    edit(copy, "ALTER TABLE agno_sessions ADD COLUMN runs JSON")
    with closing(sqlite3.connect(copy)) as connection, connection:
        rows = connection.execute(
            "SELECT run_data FROM agno_runs WHERE session_id = 'bob-notes' ORDER BY run_index"
        ).fetchall()
        stale = [dict(json.loads(data), status="RUNNING") for (data,) in rows]
        connection.execute(
            "UPDATE agno_sessions SET runs = ? WHERE session_id = 'bob-notes'",
            (json.dumps(stale),),
        )
    import_agno(str(copy), db)
    assert_reads_as_agno(db, "bob-notes", recorded()["bob-notes"])


def test_an_imported_session_travels_back_to_its_runs(db: InMemoryDb) -> None:
    """As of a run (the moment it started, at Agno's time): the runs before it, and
    the state before the import's one update of it (Agno keeps only the last)."""
    import_agno(str(AGNO_DB), db)
    runs = recorded()["alice-research"]["runs"]
    then = db.get_session("alice-research", as_of=runs[2]["run_id"])
    assert then is not None and then.runs is not None
    assert [(run.run_id, str(run.status)) for run in then.runs] == [
        (runs[0]["run_id"], "COMPLETED"),
        (runs[1]["run_id"], "COMPLETED"),
        (runs[2]["run_id"], "RUNNING"),
    ]
    assert (then.session_name, then.session_state) == ("", {})
