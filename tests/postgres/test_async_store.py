"""AsyncPostgresDb: what only the async PostgreSQL store promises (see
tests/fixtures/async_stores.py). The contract suite runs every session test on
it too (kind ``postgres-async``)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from kern.adapters.stores.async_pool import BridgedPool
from kern.db.postgres import AsyncPostgresDb, PostgresDb
from tests.conftest import POSTGRES_URL
from tests.fixtures import async_stores


def test_a_session_written_async_reads_and_verifies_sync_and_back(
    postgres_schema: str, table: str
) -> None:
    def open_async() -> AsyncPostgresDb:
        return AsyncPostgresDb(POSTGRES_URL, table, postgres_schema)

    async_stores.written_by_async_read_by_sync(
        open_async(), lambda: PostgresDb(POSTGRES_URL, table, postgres_schema)
    )
    asyncio.run(async_stores.read_back(open_async()))


def test_tasks_appending_to_one_session_on_one_loop_all_land(
    postgres_schema: str, table: str
) -> None:
    async_stores.two_tasks_one_session(AsyncPostgresDb(POSTGRES_URL, table, postgres_schema))


def test_a_sync_call_raises_async_store_error_and_writes_nothing(
    postgres_schema: str, table: str
) -> None:
    async_stores.sync_call_refused(AsyncPostgresDb(POSTGRES_URL, table, postgres_schema))


def test_appends_and_reads_never_hold_the_loop(
    postgres_schema: str, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = AsyncPostgresDb(POSTGRES_URL, table, postgres_schema)
    assert async_stores.slow_callbacks(lambda: async_stores.workload(db), caplog) == []


def test_fifty_sessions_share_the_pool_at_once(postgres_schema: str, table: str) -> None:
    """50 sessions' runs at once through one pool: it serves several connections at a time."""
    db = AsyncPostgresDb(POSTGRES_URL, table, postgres_schema, pool_size=2, max_overflow=8)
    in_use: list[int] = []

    async def watch(pool: BridgedPool) -> None:
        while True:
            stats = pool.get_stats()
            in_use.append(stats.get("pool_size", 0) - stats.get("pool_available", 0))
            await asyncio.sleep(0)

    async def main() -> None:
        await db.get_sessions()  # opens the pool
        pool = db.sync.store.recorder.datastore.pool  # type: ignore[attr-defined]
        assert isinstance(pool, BridgedPool)
        watcher = asyncio.create_task(watch(pool))
        await async_stores.workload(db, sessions=50, runs=1)
        watcher.cancel()

    asyncio.run(main())
    assert max(in_use) > 1


def test_it_never_opens_a_blocking_connection(
    postgres_schema: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection it opens is an AsyncConnection: a sync one would block the loop."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a blocking psycopg connection was opened")

    monkeypatch.setattr(psycopg.Connection, "connect", refuse)
    db = AsyncPostgresDb(POSTGRES_URL, table, postgres_schema)
    asyncio.run(async_stores.workload(db, sessions=3, runs=2))
