"""The SQLite store's table layouts, version by version, and how an open applies them
(see :mod:`kern.adapters.stores.migrations`).

Placeholders: ``{events}``, ``{index}``, ``{segments}``, ``{snapshots}``, ``{keys}``,
``{erasures}``, ``{purging}`` and ``{runs}``, the store's table names (plain identifiers, checked
before any SQL runs).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore

from kern.adapters.stores.identifiers import TableNames
from kern.adapters.stores.migrations import Migration, apply, pending
from kern.domain.errors import SchemaMigrationRequiredError, StoreNotFoundError

_REFUSE = "SELECT RAISE(ABORT, 'the session event log is append-only')"
_ENDED = "kern.domain.events:RunCompleted"
_RUN_TOPICS = ", ".join(
    f"'kern.domain.events:{name}'" for name in ("RunStarted", "StepCompleted", "RunCompleted")
)
"""The run events a log written before migration 6 can hold."""

MIGRATIONS: list[Migration] = [
    Migration(
        version=1,
        summary="the event log (eventsourcing's stored-events table), append-only, "
        "and the listing index",
        statements=(
            "CREATE TABLE IF NOT EXISTS {events} (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))",
            "CREATE TRIGGER IF NOT EXISTS {events}_no_update BEFORE UPDATE ON {events} "
            f"BEGIN {_REFUSE}; END",
            "CREATE TRIGGER IF NOT EXISTS {events}_no_delete BEFORE DELETE ON {events} "
            f"BEGIN {_REFUSE}; END",
            "CREATE TABLE IF NOT EXISTS {index} ("
            "session_id TEXT PRIMARY KEY, user_id TEXT, workflow_id TEXT, "
            "workflow_name TEXT, session_name TEXT NOT NULL DEFAULT '', "
            "session_name_key TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, "
            "updated_at REAL NOT NULL, version INTEGER NOT NULL, "
            "deleted INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS {index}_created ON {index} (created_at)",
            "CREATE INDEX IF NOT EXISTS {index}_updated ON {index} (updated_at)",
            "CREATE INDEX IF NOT EXISTS {index}_user ON {index} (user_id, created_at)",
            "CREATE INDEX IF NOT EXISTS {index}_workflow ON {index} (workflow_id, created_at)",
        ),
    ),
    Migration(
        version=2,
        summary="read-model segments: finished runs of the session read model, derived "
        "from the log and never trusted by verify",
        statements=(
            "CREATE TABLE {segments} (session_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "hash TEXT NOT NULL, previous INTEGER NOT NULL, previous_hash TEXT NOT NULL, "
            "runs_before INTEGER NOT NULL, runs INTEGER NOT NULL, body BLOB NOT NULL, "
            "PRIMARY KEY (session_id, version))",
        ),
    ),
    Migration(
        version=3,
        summary="session snapshots: derived data, one row per session, never trusted",
        statements=(
            "CREATE TABLE {snapshots} (session_id TEXT PRIMARY KEY, "
            "version INTEGER NOT NULL, format INTEGER NOT NULL, head_hash TEXT NOT NULL, "
            "checksum TEXT NOT NULL, body BLOB NOT NULL)",
        ),
    ),
    Migration(
        version=4,
        summary="data keys (one per session, with its owner, wrapped by the master key) "
        "and the erasure ledger",
        statements=(
            "CREATE TABLE {keys} (session_id TEXT PRIMARY KEY, owner TEXT, "
            "key_id TEXT NOT NULL UNIQUE, master_key_id TEXT NOT NULL, wrapped BLOB NOT NULL, "
            "created_at REAL NOT NULL)",
            "CREATE INDEX {keys}_owner ON {keys} (owner)",
            "CREATE TABLE {erasures} (erasure_id TEXT PRIMARY KEY, erased_at REAL NOT NULL, "
            "kind TEXT NOT NULL, subject TEXT NOT NULL, sessions INTEGER NOT NULL, "
            "detail TEXT NOT NULL, reason TEXT NOT NULL, requested_by TEXT NOT NULL)",
        ),
    ),
    Migration(
        version=5,
        summary="purge: the no-delete trigger lets a session's events go only while "
        "the purging table names that session (inside the purge's transaction)",
        statements=(
            "CREATE TABLE {purging} (session_id TEXT PRIMARY KEY)",
            "DROP TRIGGER IF EXISTS {events}_no_delete",
            "CREATE TRIGGER {events}_no_delete BEFORE DELETE ON {events} "
            "WHEN NOT EXISTS (SELECT 1 FROM {purging} WHERE session_id = OLD.originator_id) "
            f"BEGIN {_REFUSE}; END",
        ),
    ),
    Migration(
        version=6,
        summary="the open-runs index: each run started and not ended, with the version "
        "and time of its last event, filled from the logs of the live sessions",
        statements=(
            "CREATE TABLE {runs} (session_id TEXT NOT NULL, run_id TEXT NOT NULL, "
            "last_version INTEGER NOT NULL, last_at REAL NOT NULL, "
            "PRIMARY KEY (session_id, run_id))",
            "CREATE INDEX {runs}_last ON {runs} (last_at)",
            # Ids and timestamps are never sealed: this reads encrypted logs too.
            "INSERT INTO {runs} (session_id, run_id, last_version, last_at) "
            "SELECT e.originator_id, json_extract(CAST(e.state AS TEXT), '$.run_id') AS run, "
            "max(e.originator_version), "
            "max((julianday(json_extract(CAST(e.state AS TEXT), '$.timestamp')) - 2440587.5) "
            "* 86400.0) "
            "FROM {events} e JOIN {index} i ON i.session_id = e.originator_id AND NOT i.deleted "
            f"WHERE e.topic IN ({_RUN_TOPICS}) "
            "GROUP BY e.originator_id, run "
            f"HAVING sum(e.topic = '{_ENDED}') = 0",
        ),
    ),
]
"""Every layout so far; append a migration to change the tables, never edit one."""


def recorded_version(cursor: SQLiteCursor | sqlite3.Cursor, names: TableNames) -> int:
    """The last version applied to these tables (0: none recorded)."""
    if not _has_table(cursor, names.schema_versions):
        return 0
    cursor.execute(f"SELECT max(version) FROM {names.schema_versions}")
    row: Any = cursor.fetchone()
    return int(row[0] or 0)


def _has_table(cursor: SQLiteCursor | sqlite3.Cursor, table: str) -> bool:
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
    return cursor.fetchone() is not None


_HEADER = b"SQLite format 3\x00"
_WAL = 2
"""The file format read and write versions (header bytes 18 and 19) of a WAL database."""


def _in_wal_mode(path: Path) -> bool:
    """Whether ``path`` is a SQLite database in WAL mode, from its header alone."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header.startswith(_HEADER) and header[18] == header[19] == _WAL


def check_current(db_file: str, names: TableNames, *, where: str) -> None:
    """For a store opened with ``migrate=False``: that ``db_file`` holds these tables
    at the latest version, read through a read-only connection, before anything
    opens the file for writing (which would switch it to WAL and leave ``-wal``
    and ``-shm`` files beside it).

    StoreNotFoundError when there is no file, no SQLite database in it, or no
    Kern tables of this name; SchemaMigrationRequiredError when the tables are
    behind; SchemaVersionError when a newer Kern wrote them. Nothing is changed.

    A file already in WAL mode (a Kern file, say) is read through an ordinary
    connection that only reads: a read-only one would leave the ``-wal`` and
    ``-shm`` files it needs behind, where the last ordinary connection to close
    removes them."""
    path = Path(db_file).absolute()
    mode = "rw" if _in_wal_mode(path) else "ro"
    uri = f"{path.as_uri()}?mode={mode}"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            cursor = connection.cursor()
            found = recorded_version(cursor, names)
            adopted = found == 0 and _has_table(cursor, names.events)
    except sqlite3.DatabaseError as exc:
        raise StoreNotFoundError(
            f"no Kern store here: {db_file!r} is not a SQLite database Kern can read ({exc})"
        ) from None
    if found == 0 and not adopted:
        raise StoreNotFoundError(
            f"no Kern store here: SQLite database {db_file!r} has no table "
            f"{names.schema_versions} (check the file and the session_table); nothing was created"
        )
    if pending(found, MIGRATIONS, where=where):
        raise SchemaMigrationRequiredError(
            f"{where} is at schema version {found} and this Kern needs version "
            f"{len(MIGRATIONS)}; this store was opened with migrate=False. Open it once "
            "with migrate=True to migrate it; nothing was changed"
        )


def migrate(datastore: SQLiteDatastore, names: TableNames, *, where: str) -> list[int]:
    """Bring the tables to the latest version; the versions applied (see the module doc)."""
    migrations = MIGRATIONS
    with datastore.get_connection(commit=True) as connection:
        cursor = connection.cursor()
        if not pending(recorded_version(cursor, names), migrations, where=where):
            return []
        # Waits up to the store's timeout for the file's write lock.
        cursor.execute("BEGIN IMMEDIATE")
        try:
            done = _apply(cursor, names, migrations, where)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
    return done


def _apply(
    cursor: SQLiteCursor, names: TableNames, migrations: list[Migration], where: str
) -> list[int]:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {names.schema_versions} (version INTEGER PRIMARY KEY, "
        "summary TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    return apply(
        recorded_version(cursor, names),
        migrations,
        where=where,
        execute=lambda statement: cursor.execute(
            statement.format(
                events=names.events,
                index=names.index,
                segments=names.segments,
                snapshots=names.snapshots,
                keys=names.keys,
                erasures=names.erasures,
                purging=names.purging,
                runs=names.runs,
            )
        ),
        record=lambda m: cursor.execute(
            f"INSERT INTO {names.schema_versions} (version, summary) VALUES (?, ?)",
            [m.version, m.summary],
        ),
    )
