"""AsyncSqliteDb: what only the async SQLite store promises (see tests/fixtures/async_stores.py).

The contract suite runs every session test on it too (kind ``sqlite-async``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from kern.adapters.stores.sqlite_thread import StoreThread, ThreadConnection
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.errors import SchemaVersionError
from tests.fixtures import async_stores


def test_a_session_written_async_reads_and_verifies_sync_and_back(tmp_path: Path) -> None:
    db_file = tmp_path / "kern.db"
    async_stores.written_by_async_read_by_sync(AsyncSqliteDb(db_file), lambda: SqliteDb(db_file))
    asyncio.run(async_stores.read_back(AsyncSqliteDb(db_file)))


def test_tasks_appending_to_one_session_on_one_loop_all_land(tmp_path: Path) -> None:
    async_stores.two_tasks_one_session(AsyncSqliteDb(tmp_path / "kern.db"))


def test_a_sync_call_raises_async_store_error_and_writes_nothing(tmp_path: Path) -> None:
    async_stores.sync_call_refused(AsyncSqliteDb(tmp_path / "kern.db"))


def test_constructing_it_opens_and_migrates_the_file_without_a_loop(tmp_path: Path) -> None:
    db_file = tmp_path / "kern.db"
    db = AsyncSqliteDb(db_file)
    assert db_file.exists()
    asyncio.run(db.close())
    with SqliteDb(db_file) as sync_db:
        assert sync_db.get_sessions() == []


def test_appends_and_reads_never_hold_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = AsyncSqliteDb(tmp_path / "kern.db")
    assert async_stores.slow_callbacks(lambda: async_stores.workload(db), caplog) == []


def test_every_sqlite_call_runs_on_the_store_thread(tmp_path: Path) -> None:
    """The loop's thread never touches the file: the store's connection lives on its own thread."""
    db = AsyncSqliteDb(tmp_path / "kern.db")
    seen: set[str] = set()
    connection = db.sync.store.datastore.pool._connection._sqlite_conn._connection  # type: ignore[attr-defined]
    connection.set_trace_callback(lambda _: seen.add(threading.current_thread().name))
    asyncio.run(async_stores.workload(db, sessions=2, runs=1))
    assert seen and all(name.startswith("kern-sqlite-") for name in seen)


def test_a_file_from_a_newer_kern_is_refused_at_construction_and_its_thread_stops(
    tmp_path: Path,
) -> None:
    """Migrations run when it is constructed, as SqliteDb's do, with the same error."""
    db_file = tmp_path / "kern.db"
    SqliteDb(db_file).close()
    with sqlite3.connect(db_file) as connection:
        connection.execute("INSERT INTO kern_sessions_schema (version, summary) VALUES (99, 'x')")
    connection.close()
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        AsyncSqliteDb(db_file)
    assert not [t for t in threading.enumerate() if t.name not in before]


def test_a_begin_sent_with_the_next_statement_still_opens_the_transaction(
    tmp_path: Path,
) -> None:
    """The store's thread connection sends a plain BEGIN with the connection's next
    statement, on whatever cursor: what follows is inside the transaction, and a
    transaction that ran nothing commits or rolls back as nothing."""
    thread = StoreThread("kern-test")
    raw = thread.run(
        lambda: sqlite3.connect(tmp_path / "t.db", check_same_thread=False, isolation_level=None)
    )
    connection = ThreadConnection(raw, thread)
    try:
        connection.execute("CREATE TABLE t (x)")
        connection.cursor().execute("BEGIN")
        connection.cursor().execute("INSERT INTO t VALUES (1)")  # another cursor
        connection.rollback()
        assert connection.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
        connection.execute("BEGIN")
        connection.commit()  # nothing ran: no error
        connection.execute("BEGIN")
        connection.rollback()
        connection.execute("INSERT INTO t VALUES (2)")  # autocommit again
        assert connection.execute("SELECT x FROM t").fetchall() == [(2,)]
    finally:
        connection.close()
        thread.stop()
