"""``kern demo`` ends by going back in time, verifying the session it recorded, and
saying how to see it in the browser."""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from tests.conftest import POSTGRES_URL, postgres_table
from tests.contract.cli.conftest import run_kern
from tests.web.server import kern_serving


def sections(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("== ")]


def test_demo_ends_with_time_travel_a_verify_and_the_way_to_the_browser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_kern(capsys, "demo", "--db", str(tmp_path / "demo.db"), "--runs", "3")
    assert result.status == 0
    assert sections(result.out)[-3:] == [
        "== Time travel: the session as of run 2's start (version 7) ==",
        "== Verify: recompute every hash of the session from the stored bytes ==",
        "== See it in the browser: runs, a version scrubber, each step, diffs ==",
    ]
    assert "  run 2: RUNNING   input='Vector databases'" in result.out
    assert "  | [Workflow Run-1]" in result.out  # what summarize saw in run 2
    assert "  ok: 17 events, the hash chain is intact" in result.out


def test_demo_shell_hints_work_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``kern --db ...`` line the demo prints runs and succeeds."""
    monkeypatch.chdir(tmp_path)
    demo = run_kern(capsys, "demo", "--db", "demo.db", "--runs", "2")
    hints = [
        line.split("kern ", 1)[1].split() for line in demo.out.splitlines() if "kern --db" in line
    ]
    assert len(hints) == 6
    for argv in hints:
        if "serve" in argv:
            check_serve_hint(argv, demo.out, tmp_path)
        else:
            assert run_kern(capsys, *argv).status == 0, argv


def test_demo_with_one_run_travels_to_that_runs_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "one.db"
    result = run_kern(capsys, "demo", "--db", str(db_file), "--runs", "1")
    assert "== Time travel: the session as of run 1's start (version 2) ==" in result.out
    assert "  run 1: RUNNING   input='AI trends'" in result.out
    with SqliteDb(db_file=db_file) as db:
        assert db.verify().ok


@pytest.mark.postgres
def test_demo_records_into_postgres_and_its_hints_work(
    capsys: pytest.CaptureFixture[str], postgres_schema: str
) -> None:
    """``kern demo --db postgresql://...`` records into that schema and table, and the
    ``kern`` lines it prints read the session back from there."""
    table = postgres_table()
    options = ["--db", POSTGRES_URL, "--schema", postgres_schema, "--table", table]
    result = run_kern(capsys, "demo", *options, "--runs", "2")
    assert result.status == 0, result.err
    assert f"(PostgreSQL, schema {postgres_schema})" in result.out
    assert "  ok: 12 events, the hash chain is intact" in result.out
    with PostgresDb(POSTGRES_URL, session_table=table, db_schema=postgres_schema) as db:
        [session] = db.get_sessions()
        assert len(session.runs or []) == 2 and db.verify().ok
    hints = [line.split("kern ", 1)[1] for line in result.out.splitlines() if "kern --db" in line]
    assert len(hints) == 6
    for hint in hints:
        if " serve " in hint:
            check_serve_hint(shlex.split(hint), result.out, Path.cwd())
        else:
            assert run_kern(capsys, *shlex.split(hint)).status == 0, hint


def check_serve_hint(argv: list[str], out: str, cwd: Path) -> None:
    """The demo's ``kern ... serve`` line serves the session the page it names shows."""
    opened = next(line for line in out.splitlines() if line.startswith("then open "))
    fragment = opened.split("#/sessions/", 1)[1]
    with kern_serving(argv, cwd) as base:
        answer = httpx.get(f"{base}/api/sessions/{fragment}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["session"]["session_id"] == unquote(fragment)
        assert httpx.get(f"{base}/").status_code == 200


def test_demo_refuses_a_schema_for_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_kern(capsys, "demo", "--db", str(tmp_path / "d.db"), "--schema", "x")
    assert (result.status, result.err) == (
        2,
        "kern: error: --schema applies to PostgreSQL only; a SQLite file has no schemas\n",
    )
    assert not (tmp_path / "d.db").exists()


def test_the_stored_row_the_demo_prints_is_the_one_in_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "rows.db"
    result = run_kern(capsys, "demo", "--db", str(db_file), "--runs", "2")
    lines = result.out.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("Stored row of version"))
    version = int(lines[heading].split()[4].rstrip(":"))
    with SqliteDb(db_file=db_file) as db:
        (session_id,) = [s.session_id for s in db.get_sessions()]
        record = db.store.read_records(session_id)[version - 1]
    assert record.version == version
    assert lines[heading + 1] == record.state.decode("utf-8")
