"""The raw-driver baselines: the rows of one Kern run inserted with sqlite3 or psycopg.

The table has the shape of Kern's events table (text id and bigint version
as the primary key, a text topic, the state as a blob/bytea) and gets the
very bytes Kern stored for a run. Two ways of committing:

- ``insert_each``: the rows in the transactions Kern commits them in
  (:data:`KERN_COMMITS`: RunStarted, then each StepCompleted before the next
  step starts, the last one together with RunCompleted);
- ``insert_all``: the five rows in one transaction.

Each transaction is one statement sent in autocommit mode on PostgreSQL (a
multi-row ``INSERT`` when it holds several rows): the fewest round trips the
driver can commit those rows in, so the baseline is as fast as it can be.

SQLite runs in WAL mode with ``synchronous=FULL``: what eventsourcing's
``SQLiteDatastore`` (under ``SqliteDb``) leaves in effect, since it switches
to WAL and keeps SQLite's default synchronous level, FULL.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg

Rows = Sequence[tuple[str, bytes]]  # (topic, state) of each event of a run

KERN_COMMITS: tuple[tuple[int, ...], ...] = ((0,), (1,), (2,), (3, 4))
"""Which of a 3-step run's five events Kern commits together (see docs/concepts.md)."""

TABLE = "raw_events"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (originator_id TEXT NOT NULL, "
    "originator_version BIGINT NOT NULL, topic TEXT, state {blob}, "
    "PRIMARY KEY (originator_id, originator_version))"
)


class _Raw:
    """Commit a run's rows the way Kern does, or all at once; subclasses commit a group."""

    conn: sqlite3.Connection | psycopg.Connection[Any]

    def __init__(self) -> None:
        self._ids = itertools.count()

    def insert_each(self, rows: Rows) -> None:
        """The rows in Kern's transactions."""
        self._insert_groups(rows, KERN_COMMITS)

    def insert_all(self, rows: Rows) -> None:
        """All rows in one transaction."""
        self._insert_groups(rows, (tuple(range(len(rows))),))

    def _insert_groups(self, rows: Rows, groups: Sequence[Sequence[int]]) -> None:
        stream = f"raw-{next(self._ids)}"
        for group in groups:
            self.commit_group([(stream, i + 1, *rows[i]) for i in group])

    def commit_group(self, rows: list[tuple[str, int, str, bytes]]) -> None:
        """Insert ``rows`` (id, version, topic, state) in one transaction."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class RawSqlite(_Raw):
    """sqlite3 on the same file as the Kern store, transactions begun by hand."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(_CREATE.format(blob="BLOB"))

    def commit_group(self, rows: list[tuple[str, int, str, bytes]]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")


class RawPostgres(_Raw):
    """psycopg, one autocommit connection, in the benchmark's schema: each group
    is one statement, its own transaction, one round trip."""

    def __init__(self, url: str, schema: str) -> None:
        super().__init__()
        self.conn = psycopg.connect(url, options=f"-c search_path={schema}", autocommit=True)
        self.conn.execute(_CREATE.format(blob="BYTEA"))

    def commit_group(self, rows: list[tuple[str, int, str, bytes]]) -> None:
        values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        params = [value for row in rows for value in row]
        self.conn.execute(f"INSERT INTO {TABLE} VALUES {values}", params)
