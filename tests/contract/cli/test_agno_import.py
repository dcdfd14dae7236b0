"""``kern import-agno``: Agno's sessions into the store ``--db`` names, a report of
what was done, and an exit status scripts can trust."""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.cli.conftest import Target, run_kern
from tests.fixtures.agno.agno_sessions import AGNO_DB, assert_reads_as_agno, recorded

SESSIONS = sorted(recorded())


def test_import_agno_imports_every_workflow_session(target: Target) -> None:
    result = target.kern("import-agno", "--from", str(AGNO_DB))
    assert result.status == 0, result.err
    assert "Imported 5 session(s)" in result.out and "0 already imported" in result.out
    for session_id in SESSIONS:
        assert session_id in result.out
    for session_id, agno in recorded().items():
        assert_reads_as_agno(target.db, session_id, agno)


def test_a_second_run_reports_every_session_as_already_imported(target: Target) -> None:
    target.kern("import-agno", "--from", str(AGNO_DB))
    result = target.kern("import-agno", "--from", str(AGNO_DB), "--json")
    assert result.status == 0, result.err
    report = result.json()
    assert (report["imported"], report["events"], sorted(report["skipped"])) == ([], 0, SESSIONS)


def test_a_session_stored_otherwise_fails_the_command(target: Target) -> None:
    """Exit status 1, the session named with why; the others are imported."""
    Workflow(name="Mine", db=target.db, steps=[echo]).run("x", session_id="bob-notes")
    result = target.kern("import-agno", "--from", str(AGNO_DB))
    assert result.status == 1
    assert "left alone: already in Kern with other events" in result.out
    assert "1 not imported" in result.out
    assert target.db.get_session("alice-research") is not None


def test_events_show_where_imported_events_came_from(target: Target) -> None:
    target.kern("import-agno", "--from", str(AGNO_DB))
    result = target.kern("events", "alice-second", "--json")
    assert result.status == 0
    marks = {line["provenance"]["imported_from"] for line in result.json_lines()}
    assert marks == {"agno:agno_sessions"}


def test_a_missing_agno_file_creates_no_kern_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kern_file = tmp_path / "kern.db"
    missing = tmp_path / "agno.db"
    result = run_kern(capsys, "import-agno", "--from", str(missing), "--db", str(kern_file))
    assert result.status == 2
    assert result.err.startswith("kern: error: no Agno database at")
    assert not kern_file.exists()


def test_a_sessions_table_agno_does_not_have_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kern_file = tmp_path / "kern.db"
    argv = ["import-agno", "--from", str(AGNO_DB), "--from-table", "crm_sessions"]
    result = run_kern(capsys, *argv, "--db", str(kern_file))
    assert result.status == 2
    assert "has no table 'crm_sessions'" in result.err
    assert not kern_file.exists()


def test_from_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_kern(capsys, "import-agno", "--db", str(tmp_path / "kern.db"))
    assert exited.value.code == 2
    assert "--from" in capsys.readouterr().err
