"""What goes wrong on the command line is one line on stderr (``kern: error: ...``),
exit status 2 for a bad command line or input and 1 otherwise, never a traceback."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

import kern
from kern.adapters.cli.main import main
from kern.adapters.cli.sessions import DEFAULT_LIMIT
from kern.db.sqlite import SqliteDb
from kern.workflow import Workflow
from tests.conftest import POSTGRES_URL, echo
from tests.contract.cli.conftest import Result, Target, run_kern
from tests.fixtures import V1_SQLITE


def one_line(result: Result, status: int, message: str) -> None:
    assert (result.status, result.out, result.err) == (status, "", f"kern: error: {message}\n")


def test_a_missing_sqlite_file_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.db"
    result = run_kern(capsys, "--db", str(path), "sessions")
    one_line(result, 2, f"no SQLite database at {str(path)!r} (check the path)")
    assert not path.exists()


def test_a_directory_is_not_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_kern(capsys, "--db", str(tmp_path), "sessions")
    one_line(result, 2, f"--db {str(tmp_path)!r} is a directory, not a SQLite file")


def test_a_file_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    result = run_kern(capsys, "--db", str(path), "sessions")
    one_line(
        result,
        2,
        f"no Kern store here: {str(path)!r} is not a SQLite database Kern can read "
        "(file is not a database)",
    )
    assert path.read_text() == "not a database\n" * 100


READ_COMMANDS = [
    ["sessions"],
    ["sessions", "--deleted"],
    ["show", "s1"],
    ["as-of", "s1", "1"],
    ["events", "s1"],
    ["history", "s1"],
    ["step", "s1", "r1", "0"],
    ["verify"],
    ["runs", "--interrupted"],
    ["export"],
    ["diff", "s1", "r1", "r2"],
    ["replay", "s1", "r1", "--workflow", "tests.contract.cli.flows:pipeline"],
    ["anchor", "-o", "anchors.json", "--key", "missing.pem"],
]


def sqlite_files(path: Path) -> dict[str, bytes]:
    """The file and whatever SQLite left beside it (-wal, -shm, -journal), by name."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(f"{path.name}*"))}


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_a_read_command_on_another_programs_sqlite_file_leaves_it_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """No Kern tables: one line naming the file and the table, exit 2, and the file's
    bytes, journal mode and neighbours (no -wal or -shm) unchanged."""
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.execute("INSERT INTO notes VALUES ('mine')")
        other.commit()
    before = sqlite_files(path)
    result = run_kern(capsys, "--db", str(path), *argv)
    one_line(
        result,
        2,
        f"no Kern store here: SQLite database {str(path)!r} has no table kern_sessions_schema "
        "(check the file and the session_table); nothing was created",
    )
    assert sqlite_files(path) == before
    with closing(sqlite3.connect(path)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_an_empty_file_is_no_kern_store_and_stays_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    result = run_kern(capsys, "--db", str(path), "sessions")
    assert (result.status, result.err.startswith("kern: error: no Kern store here: ")) == (2, True)
    assert sqlite_files(path) == {"empty.db": b""}


@pytest.mark.postgres
def test_a_mistyped_schema_is_no_kern_store_and_is_not_created(
    capsys: pytest.CaptureFixture[str], postgres_schema: str
) -> None:
    """(``postgres_schema`` skips the test when there is no server.)"""
    schema = f"kern_typo_{uuid.uuid4().hex[:12]}"
    for argv in (["sessions"], ["show", "s1"], ["export"], ["verify"]):
        result = run_kern(capsys, "--db", POSTGRES_URL, "--schema", schema, *argv)
        assert result.status == 2
        assert result.err.startswith("kern: error: no Kern store here: PostgreSQL at ")
        assert f"no schema {schema!r}" in result.err and "kern_sessions_schema" in result.err
        assert result.err.count("\n") == 1
    with psycopg.connect(POSTGRES_URL) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema]
        ).fetchone()
    assert found == (0,)


def test_a_mistyped_table_is_no_kern_store(target: Target) -> None:
    """The schema (or file) holds Kern's tables, but not under this --table."""
    result = target.kern("--table", "kern_sesions", "sessions")
    assert (result.status, result.out) == (2, "")
    assert result.err.startswith("kern: error: no Kern store here: ")
    assert "no table kern_sesions_schema" in result.err


def test_a_sqlite_url_names_a_file(seeded_sqlite: Target) -> None:
    path = seeded_sqlite.options[1]
    result = run_kern(seeded_sqlite.capsys, "--db", f"sqlite:///{path}", "sessions", "--json")
    assert {row["session_id"] for row in result.json()} == {"research", "notes"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://root@localhost/kern",
            "--db mysql:// is not a database Kern knows: give a SQLite file path or a "
            "postgresql:// URL",
        ),
        (
            "postgresql://kern:secret@[::1/kern",
            "db_url 'postgresql://kern@[::1/kern' cannot be parsed: end of string reached "
            'when looking for matching "]" in IPv6 host address in URI: '
            '"postgresql://kern@[::1/kern"',
        ),
    ],
)
def test_a_bad_url_is_a_usage_error(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line, exit 2, and never the password, even when the parser quotes the URL."""
    result = run_kern(capsys, "--db", url, "sessions")
    one_line(result, 2, message)
    assert "secret" not in result.err


def test_an_unreachable_postgres_server_fails_in_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_kern(capsys, "--db", "postgresql://kern:s3cret@127.0.0.1:1/kern", "sessions")
    assert result.status == 1
    assert result.err.startswith(
        "kern: error: cannot use PostgreSQL at host '127.0.0.1', port 1, database 'kern'"
    )
    assert "s3cret" not in result.err
    assert result.err.count("\n") == 1


def test_schema_applies_to_postgres_only(seeded_sqlite: Target) -> None:
    result = seeded_sqlite.kern("--schema", "audit", "sessions")
    one_line(result, 2, "--schema applies to PostgreSQL only; a SQLite file has no schemas")


def test_a_table_name_that_is_not_an_identifier(seeded_sqlite: Target) -> None:
    result = seeded_sqlite.kern("--table", "kern-sessions", "sessions")
    one_line(
        result,
        2,
        "session_table must be a plain SQL identifier (letters, digits, underscores, "
        "not starting with a digit), got 'kern-sessions'",
    )


def test_table_option_reads_another_set_of_tables(seeded_sqlite: Target) -> None:
    with SqliteDb(db_file=seeded_sqlite.options[1], session_table="other_sessions") as other:
        Workflow(name="Other", db=other, steps=[echo]).run("hi", session_id="elsewhere")
    result = seeded_sqlite.kern("--table", "other_sessions", "sessions", "--json")
    assert [row["session_id"] for row in result.json()] == ["elsewhere"]


def test_db_is_required_unless_kern_db_is_set(
    seeded_sqlite: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERN_DB", raising=False)
    one_line(
        run_kern(seeded_sqlite.capsys, "sessions"),
        2,
        "--db is required: a SQLite file or a postgresql:// URL (or set KERN_DB)",
    )
    monkeypatch.setenv("KERN_DB", seeded_sqlite.options[1])
    assert len(run_kern(seeded_sqlite.capsys, "sessions", "--json").json()) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "nobody"],
        ["as-of", "nobody", "1"],
        ["events", "nobody"],
        ["history", "nobody"],
        ["step", "nobody", "run-1", "0"],
        ["verify", "nobody"],
        ["export", "nobody"],
        ["fork", "nobody", "--at", "1"],
    ],
)
def test_an_unknown_session(seeded: Target, argv: list[str]) -> None:
    one_line(seeded.kern(*argv), 1, "session 'nobody' not found")


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("0", "as_of version must be 1 or more, got 0"),
        ("13", "session 'research' has no version 13 (its last is 12)"),
        ("run-9", "session 'research' has no run 'run-9'"),
        ("2001-01-01", "session 'research' has no event at or before 2001-01-01T00:00:00Z"),
    ],
)
def test_an_as_of_the_session_does_not_have(seeded: Target, as_of: str, message: str) -> None:
    one_line(seeded.kern("as-of", "research", as_of), 2, message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["show"], "the following arguments are required: ID (see: kern show --help)"),
        (["fork", "s1"], "the following arguments are required: --at (see: kern fork --help)"),
        (["sessions", "--limit", "0"], "argument --limit: must be a whole number >= 1, got '0'"),
    ],
)
def test_a_command_line_argparse_refuses_is_one_line_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_kern(capsys, *argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"kern: error: {message}")
    assert err.count("\n") == 1


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_kern(capsys, "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in (
        "demo", "sessions", "show", "as-of", "events", "history", "step",
        "verify", "export", "import", "replay", "fork", "rename", "delete", "migrate", "diff",
    ):  # fmt: skip
        assert command in text


def test_kern_without_arguments_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_kern(capsys)
    assert result.status == 0
    assert result.out.startswith("usage: kern") and "sessions" in result.out
    assert result.err == ""


def test_kern_version_names_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"kern {kern.__version__}"


def test_sessions_lists_a_page_by_default_and_says_how_to_see_more(target: Target) -> None:
    workflow = Workflow(name="Many", db=target.db, steps=[...])
    for n in range(DEFAULT_LIMIT + 3):
        workflow.run(input=n, session_id=f"s{n:02d}")
    first = target.kern("sessions", "--json")
    assert len(first.json()) == DEFAULT_LIMIT
    assert "--page 2" in first.err and "--limit" in first.err
    everything = target.kern("sessions", "--limit", "50", "--json")
    assert len(everything.json()) == DEFAULT_LIMIT + 3 and everything.err == ""
    rest = target.kern("sessions", "--page", "2", "--json")
    assert len(rest.json()) == 3 and rest.err == ""


# -- stores behind this Kern, and writing commands -------------------------------------


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A copy of a database a Kern without schema versions wrote (in WAL mode)."""
    return Path(shutil.copy(V1_SQLITE, tmp_path / "v1.db"))


def test_a_read_command_on_tables_behind_this_kern_changes_nothing_and_says_what_does(
    old_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sqlite_files(old_file)
    result = run_kern(capsys, "--db", str(old_file), "sessions")
    assert (result.status, result.out) == (1, "")
    assert "is at schema version 0" in result.err
    assert result.err.endswith("(kern's read commands never migrate: kern migrate does)\n")
    assert sqlite_files(old_file) == before


def test_migrate_brings_the_tables_up_to_date(
    old_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_kern(capsys, "--db", str(old_file), "migrate")
    assert (result.status, result.err) == (0, "")
    assert result.out == f"Kern's tables at {old_file} are at this Kern's schema version\n"
    listed = run_kern(capsys, "--db", str(old_file), "sessions", "--json")
    assert sorted(row["session_id"] for row in listed.json()) == [
        "alpha", "alpha-fork", "delta", "gamma",
    ]  # fmt: skip


def test_a_writing_command_brings_tables_behind_this_kern_up_to_date(
    old_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_kern(capsys, "--db", str(old_file), "rename", "alpha", "Renamed")
    assert (result.status, result.out) == (0, "Renamed\n")


@pytest.mark.parametrize(
    "argv",
    [["rename", "s1", "x"], ["delete", "s1"], ["fork", "s1", "--at", "1"], ["migrate"]],
    ids=lambda argv: argv[0],
)
def test_a_writing_command_creates_no_store_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.commit()
    before = sqlite_files(path)
    result = run_kern(capsys, "--db", str(path), *argv)
    assert result.status == 2
    assert result.err.startswith("kern: error: no Kern store here: ")
    assert sqlite_files(path) == before


@pytest.mark.postgres
def test_a_writing_command_creates_no_schema(
    capsys: pytest.CaptureFixture[str], postgres_schema: str
) -> None:
    """(``postgres_schema`` skips the test when there is no server.)"""
    schema = f"kern_typo_{uuid.uuid4().hex[:12]}"
    for argv in (["rename", "s1", "x"], ["delete", "s1"], ["fork", "s1", "--at", "1"]):
        result = run_kern(capsys, "--db", POSTGRES_URL, "--schema", schema, *argv)
        assert result.status == 2
        assert f"no schema {schema!r}" in result.err
    with psycopg.connect(POSTGRES_URL) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema]
        ).fetchone()
    assert found == (0,)
