"""``kern verify``, ``export`` and ``import``: hash chains checked from the stored
bytes, logs moved between stores byte for byte, progress kept off stdout."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from kern.adapters.cli.output import PROGRESS_FROM
from kern.db.sqlite import SqliteDb
from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.cli.conftest import Target, run_kern

# -- verify -------------------------------------------------------------------------


def test_verify_checks_every_session(seeded: Target) -> None:
    result = seeded.kern("verify")
    assert result.status == 0
    assert "research" in result.out and "notes" in result.out
    assert "2 session(s) verified: every hash chain is intact" in result.out


def test_verify_one_session_as_json(seeded: Target) -> None:
    result = seeded.kern("verify", "notes", "--json")
    assert result.status == 0
    assert result.json() == {
        "ok": True,
        "sessions": [
            {
                "session_id": "notes",
                "ok": True,
                "events": 6,
                "first_bad_version": None,
                "problem": None,
            }
        ],
    }


def test_verify_includes_deleted_sessions(seeded: Target) -> None:
    seeded.db.delete_session("notes")
    sessions = seeded.kern("verify", "--json").json()["sessions"]
    assert {s["session_id"]: s["events"] for s in sessions} == {"research": 12, "notes": 7}


def many_sessions(target: Target) -> int:
    """Enough sessions for a job long enough to draw a bar; how many."""
    count = PROGRESS_FROM + 1
    workflow = Workflow(name="Many", db=target.db, steps=[echo])
    for n in range(count):
        workflow.run(input=n, session_id=f"s{n:02d}")
    return count


def test_verify_draws_progress_on_a_terminal_and_keeps_json_on_stdout(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = many_sessions(target)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = target.kern("verify", "--json")
    assert result.json()["ok"] is True
    assert "Verifying sessions" in result.err
    assert f"{count}/{count}" in result.err


def test_no_progress_bar_when_stderr_is_not_a_terminal(target: Target) -> None:
    """A log file or a pipe gets no bar, however long the job."""
    many_sessions(target)
    assert not sys.stderr.isatty()
    result = target.kern("verify", "--json")
    assert result.json()["ok"] is True
    assert result.err == ""


def test_a_short_job_draws_no_bar_even_on_a_terminal(
    seeded: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert seeded.kern("verify").err == ""


def test_no_progress_keeps_stderr_empty(seeded: Target) -> None:
    assert seeded.kern("verify", "--no-progress").err == ""


def test_verify_of_one_session_draws_no_bar(seeded: Target) -> None:
    assert seeded.kern("verify", "research").err == ""


def test_import_refuses_the_user_option(seeded: Target, tmp_path: Path) -> None:
    """Import is an admin operation: it writes whatever owners the file names."""
    exported = tmp_path / "notes.jsonl"
    seeded.kern("export", "notes", "-o", str(exported))
    result = seeded.kern("--user", "alice", "import", str(exported))
    assert result.status == 2
    assert result.err.startswith("kern: error: --user does not apply to import: it is an admin")


# -- tampering with a SQLite file ------------------------------------------------------------


def tamper(db_file: Path, statement: str, *params: object) -> None:
    """Change the events table behind Kern's back (dropping its append-only guard)."""
    with sqlite3.connect(db_file) as connection:
        connection.execute("DROP TRIGGER kern_sessions_events_no_update")
        connection.execute("DROP TRIGGER kern_sessions_events_no_delete")
        connection.execute(statement, params)
    connection.close()


@pytest.fixture
def sqlite_file(seeded_sqlite: Target) -> Path:
    """The seeded SQLite file, closed in Python so only the command reads it."""
    seeded_sqlite.db.close()
    return Path(seeded_sqlite.options[1])


def test_verify_exits_1_and_names_the_version_of_an_edited_byte(
    sqlite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(
        sqlite_file,
        "UPDATE kern_sessions_events SET state = replace(state, 'AI trends', 'AI trendz') "
        "WHERE originator_id = 'research' AND originator_version = 2",
    )
    result = run_kern(capsys, "--db", str(sqlite_file), "verify", "--json")
    assert result.status == 1
    checked = {s["session_id"]: s for s in result.json()["sessions"]}
    assert checked["notes"]["ok"] is True
    assert checked["research"]["ok"] is False
    assert checked["research"]["first_bad_version"] == 2
    assert checked["research"]["problem"].startswith("content changed")


def test_verify_table_reports_a_deleted_event(
    sqlite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(
        sqlite_file,
        "DELETE FROM kern_sessions_events WHERE originator_id = 'notes' AND originator_version = 3",
    )
    result = run_kern(capsys, "--db", str(sqlite_file), "verify")
    assert result.status == 1
    assert "FAILED at version 3: missing event" in result.out
    assert "1 of 2 session(s) FAILED verification" in result.out


def test_export_of_a_tampered_session_refuses_to_import(
    sqlite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export carries stored bytes as they are; the import checks them."""
    tamper(
        sqlite_file,
        "UPDATE kern_sessions_events SET state = replace(state, 'Vector', 'Victor') "
        "WHERE originator_id = 'research' AND originator_version = 7",
    )
    exported = tmp_path / "research.jsonl"
    export = run_kern(capsys, "--db", str(sqlite_file), "export", "research", "-o", str(exported))
    assert export.status == 0
    fresh = tmp_path / "fresh.db"
    result = run_kern(capsys, "--db", str(fresh), "import", str(exported))
    assert result.status == 1
    assert result.err == (
        "kern: error: session 'research' does not verify at version 7 (line 7): content "
        "changed: the stored topic or payload does not match its hash\n"
    )
    with SqliteDb(db_file=fresh) as db:
        assert db.get_log("research") == []


# -- export ---------------------------------------------------------------------------


def test_export_writes_json_lines_of_the_stored_records(seeded: Target) -> None:
    result = seeded.kern("export", "notes")
    assert result.status == 0
    lines = result.json_lines()
    assert [(line["session_id"], line["version"]) for line in lines] == [
        ("notes", v) for v in range(1, 7)
    ]
    assert lines[0]["topic"] == "kern.domain.events:SessionStarted"
    assert [line["payload"]["hash"] for line in lines] == [
        entry.hash for entry in seeded.db.get_log("notes")
    ]


def test_export_of_every_session_keeps_stdout_clean_of_the_bar(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdout piped, stderr a terminal: the bar goes to the terminal, the lines stay whole."""
    count = many_sessions(target)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = target.kern("export")
    assert len({line["session_id"] for line in result.json_lines()}) == count
    assert "Exporting sessions" in result.err


def test_export_to_a_file_reports_what_it_wrote(seeded: Target, tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    table = seeded.kern("export", "-o", str(path))
    assert table.out == f"Exported 18 event(s) of 2 session(s) to {path}\n"
    again = tmp_path / "again.jsonl"
    summary = seeded.kern("export", "-o", str(again), "--json").json()
    assert summary == {"file": str(again), "sessions": 2, "events": 18}
    assert path.read_bytes() == again.read_bytes()


def test_export_to_a_missing_folder_fails_in_one_line(seeded: Target, tmp_path: Path) -> None:
    result = seeded.kern("export", "-o", str(tmp_path / "missing" / "all.jsonl"))
    assert result.status == 1
    assert result.err.startswith("kern: error: No such file or directory")
    assert result.err.count("\n") == 1


# -- import ---------------------------------------------------------------------------


def test_import_into_a_new_sqlite_file_round_trips_byte_for_byte(
    seeded: Target, tmp_path: Path
) -> None:
    """Export from either store, import into a new SQLite file, export again: same bytes."""
    exported = tmp_path / "all.jsonl"
    seeded.kern("export", "-o", str(exported))
    copy = tmp_path / "copy.db"
    result = run_kern(seeded.capsys, "--db", str(copy), "import", str(exported))
    assert result.status == 0
    assert "research" in result.out and "notes" in result.out
    assert "Imported 18 event(s) of 2 session(s); every hash chain verified" in result.out
    again = run_kern(seeded.capsys, "--db", str(copy), "export", "--no-progress")
    assert again.out.encode() == exported.read_bytes()
    assert run_kern(seeded.capsys, "--db", str(copy), "verify").status == 0


def test_import_json_reports_sessions_and_events(seeded: Target, tmp_path: Path) -> None:
    exported = tmp_path / "notes.jsonl"
    seeded.kern("export", "notes", "-o", str(exported))
    result = run_kern(
        seeded.capsys, "--db", str(tmp_path / "other.db"), "import", str(exported), "--json"
    )
    assert result.json() == {"sessions": ["notes"], "events": 6, "skipped": []}


def test_import_from_stdin(seeded: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exported = seeded.kern("export", "notes").out
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(exported))
    result = run_kern(seeded.capsys, "--db", str(tmp_path / "in.db"), "import", "-", "--json")
    assert result.json() == {"sessions": ["notes"], "events": 6, "skipped": []}


def test_import_never_overwrites_an_existing_session(seeded: Target, tmp_path: Path) -> None:
    exported = tmp_path / "notes.jsonl"
    seeded.kern("export", "notes", "-o", str(exported))
    result = seeded.kern("import", str(exported))
    assert result.status == 1
    assert result.err == (
        "kern: error: session 'notes' already exists; an import never overwrites a session\n"
    )


def test_import_of_a_file_that_is_not_json_lines_names_the_line(
    seeded: Target, tmp_path: Path
) -> None:
    exported = seeded.kern("export", "notes").out.splitlines()
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("\n".join([*exported[:2], exported[2][:40], *exported[3:]]) + "\n")
    result = run_kern(seeded.capsys, "--db", str(tmp_path / "x.db"), "import", str(corrupt))
    assert result.status == 2
    assert result.err.startswith("kern: error: line 3: not valid JSON")
    assert result.err.count("\n") == 1


def test_import_of_a_binary_file_fails_in_one_line(seeded: Target, tmp_path: Path) -> None:
    binary = tmp_path / "image.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = run_kern(seeded.capsys, "--db", str(tmp_path / "x.db"), "import", str(binary))
    assert result.status == 2
    assert result.err.startswith(f"kern: error: {str(binary)!r} is not UTF-8 text")


def test_import_of_a_missing_file(seeded: Target, tmp_path: Path) -> None:
    result = seeded.kern("import", str(tmp_path / "nothing.jsonl"))
    assert result.status == 2
    assert result.err == f"kern: error: no file to import at {str(tmp_path / 'nothing.jsonl')!r}\n"


def test_import_into_postgres_of_a_sqlite_export(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other direction: sessions recorded in SQLite land in the target store."""
    source = tmp_path / "source.db"
    assert run_kern(capsys, "demo", "--db", str(source), "--runs", "2").status == 0
    exported = tmp_path / "demo.jsonl"
    run_kern(capsys, "--db", str(source), "export", "-o", str(exported))
    result = target.kern("import", str(exported), "--json")
    assert result.status == 0
    [session_id] = result.json()["sessions"]
    assert target.kern("verify", session_id).status == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [entry.hash for entry in target.db.get_log(session_id)] == [
        line["payload"]["hash"] for line in lines
    ]


# -- users and resumed imports ------------------------------------------------------


def test_export_as_a_user_gives_only_their_sessions(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "export")
    assert result.status == 0
    assert {line["session_id"] for line in result.json_lines()} == {"notes"}


def test_export_of_another_users_session_is_not_found(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "export", "research")
    assert result.status == 1
    assert "'research'" in result.err and "not found" in result.err


def test_verify_as_a_user_covers_only_theirs(seeded: Target) -> None:
    sessions = seeded.kern("--user", "alice", "verify", "--json").json()["sessions"]
    assert [s["session_id"] for s in sessions] == ["research"]
    assert seeded.kern("--user", "alice", "verify", "notes").status == 1


def test_import_skip_existing_reports_the_skipped_sessions(seeded: Target, tmp_path: Path) -> None:
    exported = tmp_path / "all.jsonl"
    seeded.kern("export", "-o", str(exported))
    other = str(tmp_path / "other.db")
    notes = seeded.kern("export", "notes").out
    (tmp_path / "notes.jsonl").write_text(notes, encoding="utf-8")
    run_kern(seeded.capsys, "--db", other, "import", str(tmp_path / "notes.jsonl"))

    result = run_kern(seeded.capsys, "--db", other, "import", str(exported), "--skip-existing")

    assert result.status == 0
    assert "skipped: already stored, identical" in result.out
    assert "skipped 1 identical one(s)" in result.out
    as_json = run_kern(
        seeded.capsys, "--db", other, "import", str(exported), "--skip-existing", "--json"
    ).json()
    assert as_json == {"sessions": [], "events": 0, "skipped": ["research", "notes"]}
