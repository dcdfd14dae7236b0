"""Purging a session from a SQLite file: the no-delete trigger lets exactly that
session's events go inside the purge's transaction, the bytes are overwritten
(secure_delete) and checkpointed out of the WAL, and a failure undoes it all."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.errors import StoreError
from kern.workflow import Workflow
from tests.conftest import echo, shout
from tests.contract.reliability._inputs import contents
from tests.fixtures import async_stores

MARKER = b"marker-5e1f0c"


def _record(db: SqliteDb) -> None:
    workflow = Workflow(name="Private", db=db, steps=[echo, shout])
    workflow.run(input=f"{MARKER.decode()} holds personal data", session_id="s1")
    workflow.run(input="more", session_id="s1")
    workflow.run(input="someone else", session_id="s2")


def _raw_bytes(db_file: Path) -> bytes:
    wal = Path(f"{db_file}-wal")
    return db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_a_purged_session_leaves_no_bytes_in_the_file_or_its_wal(tmp_path: Path) -> None:
    """The marker a run held is in the file (or WAL) before, and nowhere after."""
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file) as db:
        _record(db)
        assert MARKER in _raw_bytes(db_file)
        db.purge_session("s1", reason="ticket 1", requested_by="dpo")
        assert MARKER not in _raw_bytes(db_file)  # while the store is still open
        assert db.verify().ok
    assert MARKER not in _raw_bytes(db_file)


def test_the_trigger_refuses_a_delete_of_a_session_not_being_purged(tmp_path: Path) -> None:
    """A permit row for s2 does not let s1's events go; a plain DELETE is refused."""
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file) as db:
        _record(db)
        before = contents(db)
        raw = sqlite3.connect(db_file)
        try:
            raw.execute("INSERT INTO kern_sessions_purging (session_id) VALUES ('s2')")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute("DELETE FROM kern_sessions_events WHERE originator_id = 's1'")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute("UPDATE kern_sessions_events SET topic = 'x'")
            raw.rollback()
        finally:
            raw.close()
        assert contents(db) == before


def test_a_purge_that_fails_midway_changes_nothing(tmp_path: Path) -> None:
    """The ledger insert, the last statement, fails: the events, the listing row
    and the segments are all still there, and the ledger is empty."""
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file) as db:
        _record(db)
        before = contents(db)
        segments = db.store.read_segments("s1")
        with sqlite3.connect(db_file) as raw:
            raw.execute(
                "CREATE TRIGGER fail_ledger BEFORE INSERT ON kern_sessions_erasures "
                "BEGIN SELECT RAISE(ABORT, 'ledger unavailable'); END"
            )
        raw.close()
        with pytest.raises(StoreError, match="ledger unavailable"):
            db.purge_session("s1", reason="ticket 1", requested_by="dpo")
        assert contents(db) == before
        assert db.store.read_segments("s1") == segments
        assert db.store.listing_row("s1") is not None
        assert db.erasures() == []
        assert db.verify().ok
        with sqlite3.connect(db_file) as raw:
            assert raw.execute("SELECT count(*) FROM kern_sessions_purging").fetchone() == (0,)
        raw.close()


def test_a_purge_survives_reopening_the_file(tmp_path: Path) -> None:
    """A new store object reads the ledger, and the session is gone."""
    db_file = tmp_path / "kern.db"
    with SqliteDb(db_file) as db:
        _record(db)
        entry = db.purge_session("s1", reason="ticket 1", requested_by="dpo")
    with SqliteDb(db_file) as again:
        assert again.erasures() == [entry]
        assert again.store.read_records("s1") == []
        assert [s.session_id for s in again.get_sessions(limit=10)] == ["s2"]


def test_the_async_store_purges_and_reads_the_ledger_awaited(tmp_path: Path) -> None:
    """AsyncSqliteDb's purge_session and erasures, awaited on the loop."""

    async def purge() -> None:
        db = AsyncSqliteDb(tmp_path / "kern.db")
        try:
            await async_stores.run(db, "s1", "personal")
            entry = await db.purge_session("s1", reason="ticket 1", requested_by="dpo")
            assert await db.erasures() == [entry]
            assert await db.get_session("s1") is None
        finally:
            await db.close()

    asyncio.run(purge())
