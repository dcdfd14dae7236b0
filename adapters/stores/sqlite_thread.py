"""The SQLite store's connection in async mode: one connection on one thread of its own.

``AsyncSqliteDb`` runs the same :class:`~kern.adapters.stores.sqlite.SqliteStore`
code as ``SqliteDb``, on the event loop (:mod:`kern.application.bridge`).
sqlite3 has no async interface, so every sqlite3 call runs on a thread the
store owns (a one-worker executor) while the calling task waits on the loop.
:class:`ThreadPool` takes the place of eventsourcing's ``SQLiteDatastore.pool``:
it holds one connection, made on that thread, and lends it to one task at a
time under a :class:`~kern.application.bridge.CallerLock` (a task waiting for
it waits on the loop). The connection it lends is eventsourcing's own
``SQLiteConnection`` around a :class:`ThreadConnection`, so eventsourcing's
transactions and cursors work unchanged on top.

Outside an async call (the store's construction, which migrates the tables,
and its closing) the thread's calls are waited for directly; taking the
connection is refused there (AsyncStoreError), as on every async store.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

from kern.application import bridge

T = TypeVar("T")


class StoreThread:
    """The one thread every sqlite3 call of an async SQLite store runs on."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread: waited for on the loop during an async call."""
        if not bridge.active():
            return self._executor.submit(fn, *args).result()

        async def on_thread() -> T:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

        return bridge.wait(on_thread())

    def stop(self) -> None:
        self._executor.shutdown(wait=True)


class ThreadCursor:
    """A ``sqlite3.Cursor`` whose statements run on the store's thread.

    One trip to the thread per statement: ``execute`` also fetches the rows
    there, and ``fetchone``/``fetchall`` hand them out (the store reads every
    row of a statement anyway). A plain ``BEGIN`` (eventsourcing's
    transactions issue one) waits on the connection and travels with the
    connection's next statement (:class:`ThreadConnection`): one trip fewer
    per transaction, the same statements in the same order."""

    def __init__(self, cursor: sqlite3.Cursor, connection: ThreadConnection) -> None:
        self._cursor = cursor
        self._connection = connection
        self._rows: list[Any] = []

    def _execute(self, begin: bool, method: Callable[..., Any], args: tuple[Any, ...]) -> list[Any]:
        if begin:
            self._cursor.execute("BEGIN")
        method(*args)
        return self._cursor.fetchall()

    def execute(self, *args: Any) -> None:
        if args == ("BEGIN",) and not self._connection.begin_waits:
            self._connection.begin_waits = True
            return
        begin = self._connection.take_begin()
        self._rows = self._connection.run(self._execute, begin, self._cursor.execute, args)

    def executemany(self, *args: Any) -> None:
        begin = self._connection.take_begin()
        self._rows = self._connection.run(self._execute, begin, self._cursor.executemany, args)

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        self._rows = []
        self._cursor.close()  # frees no file resource: no trip to the thread

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid


class ThreadConnection:
    """A ``sqlite3.Connection`` whose every call runs on the store's thread."""

    def __init__(self, connection: sqlite3.Connection, thread: StoreThread) -> None:
        self._connection = connection
        self._thread = thread
        self.run = thread.run
        self.begin_waits = False
        """A ``BEGIN`` was asked for and goes with the next statement."""

    def take_begin(self) -> bool:
        """Whether the next statement must run ``BEGIN`` first (and it will)."""
        begin, self.begin_waits = self.begin_waits, False
        return begin

    def cursor(self) -> ThreadCursor:
        # Making a cursor does no I/O (the connection allows other threads).
        return ThreadCursor(self._connection.cursor(), self)

    def execute(self, *args: Any) -> ThreadCursor:
        cursor = self.cursor()
        cursor.execute(*args)
        return cursor

    def executemany(self, *args: Any) -> ThreadCursor:
        cursor = self.cursor()
        cursor.executemany(*args)
        return cursor

    def commit(self) -> None:
        if self.take_begin():
            return  # a transaction that ran no statement: nothing to commit
        self._thread.run(self._connection.commit)

    def rollback(self) -> None:
        if self.take_begin():
            return  # nothing ran: nothing to roll back
        self._thread.run(self._connection.rollback)

    def close(self) -> None:
        self._thread.run(self._connection.close)


class ThreadPool:
    """In place of eventsourcing's ``SQLiteDatastore.pool``: one connection, made
    on the store's thread as ``like`` (the sync pool it replaces) makes them, lent
    to one task at a time."""

    def __init__(self, like: SQLiteConnectionPool, thread: StoreThread) -> None:
        self._thread = thread
        made = thread.run(like._create_connection)  # WAL mode, row factory: as SqliteDb's
        raw = made._sqlite_conn
        self._connection = SQLiteConnection(
            cast(sqlite3.Connection, ThreadConnection(raw, thread)), max_age=None
        )
        self._lock = bridge.CallerLock()
        self._opening = True
        self.closed = False

    def opened(self) -> None:
        """The store is open: from now on the connection is lent only during an async call."""
        self._opening = False

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        if not self._opening:
            self._lock.acquire()
        return self._connection

    def put_connection(self, conn: SQLiteConnection) -> None:
        if not self._opening:
            self._lock.release()

    def close(self) -> None:
        """Close the connection, then stop the thread (from sync code too: nothing waits long)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._connection.close()
        finally:
            self._thread.stop()
