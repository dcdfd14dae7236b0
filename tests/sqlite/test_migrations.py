"""SQLite tables carry a schema version: opening a database brings it up to date,
once, in order, and a database from a newer Kern is refused untouched."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from kern.adapters.stores import sqlite_migrations
from kern.adapters.stores.migrations import Migration
from kern.crypto import Keyring
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.errors import (
    KernError,
    SchemaMigrationRequiredError,
    SchemaVersionError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.conftest import TEST_KEYRING
from tests.fixtures import (
    V1_SQLITE,
    append_a_run,
    assert_reads_back,
    assert_same_open_runs,
    expected,
    leave_runs_open,
)

LATEST = len(sqlite_migrations.MIGRATIONS)

EXTRA_COLUMN = Migration(
    version=LATEST + 1,
    summary="a column for a test",
    statements=("ALTER TABLE {index} ADD COLUMN extra TEXT",),
)


def versions(db_file: Path, table: str = "kern_sessions") -> list[int]:
    """The versions recorded in the file, in order."""
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute(f"SELECT version FROM {table}_schema ORDER BY version")
        found = [row[0] for row in rows]
    connection.close()
    return found


def layout(db_file: Path) -> dict[str, str]:
    """Every table, index and trigger in the file, by name, with its SQL."""
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        found = dict(rows.fetchall())
    connection.close()
    return found


def columns(db_file: Path, table: str) -> list[str]:
    with sqlite3.connect(db_file) as connection:
        found = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
    connection.close()
    return found


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A copy of the database a Kern without schema versions wrote."""
    return Path(shutil.copy(V1_SQLITE, tmp_path / "v1.db"))


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    """A database this Kern created, at its latest version, with one session."""
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file=db_file) as db:
        Workflow(name="Seed", db=db, steps=[echo]).run("hi", session_id="s1")
    return db_file


@pytest.fixture
def with_extra_column(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This Kern, plus a next version that adds a column to the listing."""
    monkeypatch.setattr(
        sqlite_migrations, "MIGRATIONS", [*sqlite_migrations.MIGRATIONS, EXTRA_COLUMN]
    )
    yield


# -- a database written before versioning ------------------------------------------------------


def test_a_database_written_before_versioning_is_adopted_and_reads_back(old_file: Path) -> None:
    """Version table present at the latest version; every session, run, state and name as
    it was; every hash chain verifies; a new run lands."""
    assert "kern_sessions_schema" not in layout(old_file)
    with SqliteDb(db_file=old_file) as db:
        assert versions(old_file) == list(range(1, LATEST + 1))
        assert_reads_back(db, expected("v1_sqlite"))
        listed = sorted(s.session_id for s in db.get_sessions())
        assert listed == ["alpha", "alpha-fork", "delta", "gamma"]  # beta was deleted
        append_a_run(db)


def test_adoption_changes_none_of_the_old_tables(old_file: Path, tmp_path: Path) -> None:
    """Version 1 is exactly the old layout: the old file's tables, indexes and triggers
    are untouched (version 2 only adds the snapshots table), and a new database gets
    the very same ones."""
    before = layout(old_file)
    SqliteDb(db_file=old_file).close()
    after = layout(old_file)
    assert after.pop("kern_sessions_schema").startswith("CREATE TABLE kern_sessions_schema")
    # Migrations 2, 3 and 4 add the read-model segments, the snapshots, the data keys
    # and the erasure ledger; 5 adds the purging table and lets the no-delete trigger
    # through for the session it names; 6 adds the open-runs index; nothing else changes.
    for added in ("segments", "snapshots", "keys", "erasures", "purging", "runs"):
        table = f"kern_sessions_{added}"
        assert after.pop(table).startswith(f"CREATE TABLE {table}")
    assert after.pop("kern_sessions_keys_owner").startswith("CREATE INDEX kern_sessions_keys_owner")
    assert after.pop("kern_sessions_runs_last").startswith("CREATE INDEX kern_sessions_runs_last")
    no_delete = after.pop("kern_sessions_events_no_delete")
    assert before.pop("kern_sessions_events_no_delete").endswith(no_delete.split(") ")[-1])
    assert "WHEN NOT EXISTS (SELECT 1 FROM kern_sessions_purging" in no_delete
    assert after == before
    fresh = tmp_path / "fresh.db"
    SqliteDb(db_file=fresh).close()
    assert layout(fresh) == layout(old_file)


# -- migrations applied in order, once ----------------------------------------------------------


def test_a_new_database_records_every_version_once(tmp_path: Path) -> None:
    db_file = tmp_path / "kern.db"
    for _ in range(3):
        SqliteDb(db_file=db_file).close()
    assert versions(db_file) == list(range(1, LATEST + 1))


def test_a_new_migration_upgrades_an_existing_database_once(
    v1_file: Path, with_extra_column: None
) -> None:
    """The next version runs on open; opening again applies nothing (adding the column twice
    would fail); the data stays readable and writable."""
    assert "extra" not in columns(v1_file, "kern_sessions_index")
    with SqliteDb(db_file=v1_file) as db:
        assert versions(v1_file) == list(range(1, LATEST + 2))
        assert "extra" in columns(v1_file, "kern_sessions_index")
        assert db.get_session("s1") is not None
    before = layout(v1_file)
    with SqliteDb(db_file=v1_file) as db:
        Workflow(name="Seed", db=db, steps=[echo]).run("again", session_id="s1")
    assert layout(v1_file) == before
    assert versions(v1_file) == list(range(1, LATEST + 2))


def test_migrations_run_in_their_order(v1_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second test version indexes the column the first adds: it only works after it."""
    index_extra = Migration(
        version=LATEST + 2,
        summary="an index for a test",
        statements=("CREATE INDEX {index}_extra ON {index} (extra)",),
    )
    monkeypatch.setattr(
        sqlite_migrations,
        "MIGRATIONS",
        [*sqlite_migrations.MIGRATIONS, EXTRA_COLUMN, index_extra],
    )
    SqliteDb(db_file=v1_file).close()
    assert versions(v1_file) == list(range(1, LATEST + 3))
    assert "kern_sessions_index_extra" in layout(v1_file)


def test_a_failing_migration_changes_nothing(
    v1_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first statement ran, its second failed: both are rolled back, the version stays."""
    broken = Migration(
        version=LATEST + 1,
        summary="a broken migration",
        statements=("ALTER TABLE {index} ADD COLUMN extra TEXT", "ALTER TABLE nowhere ADD x"),
    )
    monkeypatch.setattr(sqlite_migrations, "MIGRATIONS", [*sqlite_migrations.MIGRATIONS, broken])
    before = layout(v1_file)
    with pytest.raises(StoreUnavailableError, match="no such table: nowhere"):
        SqliteDb(db_file=v1_file)
    assert layout(v1_file) == before
    assert versions(v1_file) == list(range(1, LATEST + 1))


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Each opener has its own connection, like a process: BEGIN IMMEDIATE serialises them."""
    db_file = tmp_path / "kern.db"
    start = threading.Barrier(8, timeout=30)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            start.wait()
            SqliteDb(db_file=db_file).close()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions(db_file) == list(range(1, LATEST + 1))


def test_many_openers_upgrading_at_once_run_the_migration_once(
    v1_file: Path, with_extra_column: None
) -> None:
    """The next version would fail if run twice: the openers take turns and it runs once."""
    start = threading.Barrier(6, timeout=30)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            start.wait()
            SqliteDb(db_file=v1_file).close()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions(v1_file) == list(range(1, LATEST + 2))


# -- a database from a newer Kern --------------------------------------------------------------


def test_a_database_from_a_newer_kern_is_refused_untouched(v1_file: Path) -> None:
    with sqlite3.connect(v1_file) as connection:
        connection.execute(
            "INSERT INTO kern_sessions_schema (version, summary) VALUES (?, 'from the future')",
            [LATEST + 1],
        )
    connection.close()
    before = layout(v1_file)
    with pytest.raises(SchemaVersionError) as raised:
        SqliteDb(db_file=v1_file)
    message = str(raised.value)
    assert f"schema version {LATEST + 1}" in message
    assert f"knows versions up to {LATEST}" in message
    assert "kern.db" in message and "nothing was changed" in message
    assert layout(v1_file) == before
    assert versions(v1_file) == [*range(1, LATEST + 1), LATEST + 1]


# -- migrate=False: nothing created, nothing changed ------------------------------------------


def neighbours(db_file: Path) -> dict[str, bytes]:
    """The file and whatever SQLite keeps beside it (-wal, -shm, -journal), by name."""
    return {p.name: p.read_bytes() for p in sorted(db_file.parent.glob(f"{db_file.name}*"))}


def test_migrate_false_leaves_another_programs_file_untouched(tmp_path: Path) -> None:
    """Checked through a read-only connection before anything opens it for writing:
    same bytes, no -wal or -shm beside it, the journal mode it had."""
    db_file = tmp_path / "other.db"
    with closing(sqlite3.connect(db_file)) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.commit()
    before = neighbours(db_file)
    with pytest.raises(StoreNotFoundError, match="has no table kern_sessions_schema"):
        SqliteDb(db_file=db_file, migrate=False)
    assert neighbours(db_file) == before
    with closing(sqlite3.connect(db_file)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("content", [None, b"", b"not a database\n" * 50])
def test_migrate_false_finds_no_store_in_a_missing_empty_or_foreign_file(
    tmp_path: Path, content: bytes | None
) -> None:
    db_file = tmp_path / "nothing.db"
    if content is not None:
        db_file.write_bytes(content)
    with pytest.raises(StoreNotFoundError, match=r"^no Kern store here: "):
        SqliteDb(db_file=db_file, migrate=False)
    assert neighbours(db_file) == ({} if content is None else {"nothing.db": content})


def test_migrate_false_opens_current_tables(v1_file: Path) -> None:
    with SqliteDb(db_file=v1_file, migrate=False) as db:
        assert db.get_session("s1") is not None
        Workflow(name="Seed", db=db, steps=[echo]).run("again", session_id="s1")


def test_migrate_false_opens_them_in_async_mode_too(v1_file: Path) -> None:
    async def read() -> bool:
        async with AsyncSqliteDb(db_file=v1_file, migrate=False) as db:
            return await db.get_session("s1") is not None

    assert asyncio.run(read())


def test_migrate_false_refuses_tables_behind_the_code(
    v1_file: Path, with_extra_column: None
) -> None:
    before = layout(v1_file)
    with pytest.raises(SchemaMigrationRequiredError, match="migrate=False"):
        SqliteDb(db_file=v1_file, migrate=False)
    assert layout(v1_file) == before


def test_migrate_false_refuses_tables_from_before_versioning(old_file: Path) -> None:
    """Kern's tables without a version table are a store to migrate, not a missing one."""
    before = layout(old_file)
    with pytest.raises(SchemaMigrationRequiredError, match="at schema version 0"):
        SqliteDb(db_file=old_file, migrate=False)
    assert layout(old_file) == before


def test_migrate_false_refuses_tables_from_a_newer_kern(v1_file: Path) -> None:
    with closing(sqlite3.connect(v1_file)) as connection:
        connection.execute(
            "INSERT INTO kern_sessions_schema (version, summary) VALUES (?, 'later')", [LATEST + 1]
        )
        connection.commit()
    with pytest.raises(SchemaVersionError):
        SqliteDb(db_file=v1_file, migrate=False)


def test_migrate_false_leaves_no_wal_files_beside_a_wal_mode_file(tmp_path: Path) -> None:
    """Another program's database in WAL mode: nothing left beside it either."""
    db_file = tmp_path / "wal.db"
    with closing(sqlite3.connect(db_file)) as other:
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE notes (body TEXT)")
        other.commit()
    before = neighbours(db_file)
    assert list(before) == ["wal.db"]
    with pytest.raises(StoreNotFoundError):
        SqliteDb(db_file=db_file, migrate=False)
    assert neighbours(db_file) == before


def test_migrate_false_on_tables_behind_leaves_no_wal_files(
    v1_file: Path, with_extra_column: None
) -> None:
    before = neighbours(v1_file)
    with pytest.raises(SchemaMigrationRequiredError):
        SqliteDb(db_file=v1_file, migrate=False)
    assert neighbours(v1_file) == before


# -- migration 6: the open-runs index -------------------------------------------------------


@pytest.mark.parametrize("keyring", [None, TEST_KEYRING], ids=["plain", "keyring"])
def test_migration_6_fills_the_open_runs_index_from_the_logs(
    tmp_path: Path, keyring: Keyring | None
) -> None:
    """A store from before the index lists the runs its logs leave open (a deleted
    session's not), with the version and time of their last events."""
    db_file = tmp_path / "kern.db"
    db = SqliteDb(db_file, keyring=keyring)
    parked = leave_runs_open(db)
    wanted = db.get_interrupted_runs(timedelta(0))
    db.close()
    with closing(sqlite3.connect(db_file)) as connection, connection:
        connection.execute("DROP TABLE kern_sessions_runs")
        connection.execute("DELETE FROM kern_sessions_schema WHERE version = 6")
    assert versions(db_file) == list(range(1, 6))

    with SqliteDb(db_file, keyring=keyring) as db:
        assert versions(db_file) == list(range(1, LATEST + 1))
        found = db.get_interrupted_runs(timedelta(0))
        assert [(r.session_id, r.run_id) for r in found] == [("a", "a-1"), ("b", "b-1")]
        assert_same_open_runs(found, wanted)
    for events in parked:
        with contextlib.suppress(KernError):
            events.close()
