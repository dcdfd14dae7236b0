"""Which stores may block their thread on I/O: what an asyncio service asks before calling one."""

from __future__ import annotations

from pathlib import Path

from kern.application.async_sessions import AsyncKernDb
from kern.db import KernDb
from kern.db.in_memory import InMemoryDb
from kern.db.sqlite import AsyncSqliteDb, SqliteDb


def test_the_sqlite_store_blocks_and_the_in_memory_one_never_does(tmp_path: Path) -> None:
    assert KernDb.blocking is True
    with SqliteDb(tmp_path / "kern.db") as db:
        assert db.blocking is True
    assert InMemoryDb().blocking is False


def test_an_async_store_and_the_core_it_runs_never_block(tmp_path: Path) -> None:
    db = AsyncSqliteDb(tmp_path / "kern.db")
    assert db.blocking is False and db.sync.blocking is False
    assert AsyncKernDb.blocking is False
    db.sync.store.close()
