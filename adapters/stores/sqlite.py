"""The SQLite store: eventsourcing's SQLite recorder plus a listing table.

Tables, named from ``session_table`` (default ``kern_sessions``):

- ``<session_table>_events``: eventsourcing's stored-events table
  (originator_id = session_id, originator_version = version, topic, state),
  primary key (originator_id, originator_version); triggers refuse UPDATE
  and DELETE, so the log is append-only.
- ``<session_table>_index``: one row per session, written in the same
  transaction as the events, serving ``get_sessions``.
- ``<session_table>_runs``: the open-runs index, one row per run not yet
  ended, written in the same transaction, serving ``get_interrupted_runs``.
- ``<session_table>_snapshots``: one snapshot per session (derived data, see
  :mod:`kern.projections.snapshots`), replaced only by a newer one.
- ``<session_table>_erasures``: the erasure ledger; ``<session_table>_purging``
  names the session a purge deletes, inside the purge's transaction only.
- ``<session_table>_schema``: the versions of this layout applied (see
  :mod:`kern.adapters.stores.sqlite_migrations`), brought up to date on open.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import ConnectionUnavailableError, PersistenceError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from kern.adapters.stores import (
    erasure_rows,
    key_rows,
    open_run_rows,
    segment_rows,
    snapshot_rows,
    sqlite_migrations,
)
from kern.adapters.stores.identifiers import TableNames, table_names
from kern.adapters.stores.recorder import RecorderStore
from kern.adapters.stores.sqlite_thread import StoreThread, ThreadPool
from kern.application import bridge
from kern.application.keys import KeyRow
from kern.application.ports import AppendConflict
from kern.domain.erasure import ErasureEntry
from kern.domain.errors import (
    InvalidInputError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from kern.domain.events import SessionEvent
from kern.projections.listing import INDEX_COLUMNS, SessionQuery, SessionSummary, name_key
from kern.projections.open_runs import InterruptedRun, OpenRunChanges
from kern.projections.segments import ReadSegment
from kern.projections.snapshots import SnapshotRow

DEFAULT_TIMEOUT = 30.0

_SQL_CONDITIONS = {
    "=": "{column} = ?",
    ">=": "{column} >= ?",
    "<": "{column} < ?",
    "contains": "instr({column}, ?) > 0",
}
"""How each listing condition (kern.projections.listing.Predicate) reads in SQLite."""


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _is_lock_timeout(exc: PersistenceError | sqlite3.Error) -> bool:
    """Whether ``exc`` is a wait for the write lock that ran out of time: SQLite's
    "database is locked" (or "busy"), or the pool's wait for this process's writer."""
    text = str(exc)
    return "locked" in text or "busy" in text or isinstance(exc, ConnectionUnavailableError)


class _IndexedSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite recorder that writes the listing row in the insert's transaction.

    It overrides the public ``insert_events`` with Kern's own insert (the
    library's hook for extra writes is private); the tables come from
    :mod:`kern.adapters.stores.sqlite_migrations`, not from the recorder.
    """

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table: str,
        index_table: str,
        keys_table: str,
        runs_table: str,
    ) -> None:
        self.index_table = index_table
        self.keys_table = keys_table
        self.runs_table = runs_table
        super().__init__(datastore, events_table_name=events_table)
        self.append_statement = (
            f"INSERT INTO {events_table} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)"
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the events, write the listing row given as ``listing=`` (or the
        rows of several sessions, ``listings=``) and store the data keys given as
        ``keys=`` (KeyRow), in one transaction (IntegrityError, and nothing written,
        if a version exists or a session has a key already; DataKeyGone if the key
        named ``sealed_with=`` is not there)."""
        rows = [
            (str(e.originator_id), e.originator_version, e.topic, e.state) for e in stored_events
        ]
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self.append_statement, rows)
            listing: dict[str, Any] | None = kwargs.get("listing")
            listings: list[dict[str, Any]] = kwargs.get("listings") or []
            for row in [listing] if listing is not None else listings:
                self._write_listing(c, dict(row))
            for key in kwargs.get("keys") or ():
                c.execute(*key_rows.insert(self.keys_table, key, mark="?"))
            changes: list[OpenRunChanges] = kwargs.get("open_runs") or []
            for change in changes:
                for statement, params in open_run_rows.writes(self.runs_table, change, mark="?"):
                    c.execute(statement, params)
            sealed_with: str | None = kwargs.get("sealed_with")
            # Checked once this transaction holds the write lock: no erasure can
            # commit between the check and the commit.
            if sealed_with is not None:
                c.execute(key_rows.exists(self.keys_table, mark="?"), [sealed_with])
                if c.fetchone() is None:
                    raise key_rows.DataKeyGone(sealed_with)
        return None

    def _write_listing(self, c: SQLiteCursor, row: dict[str, Any]) -> None:
        if "session_name" in row:
            row["session_name_key"] = name_key(row["session_name"])
        if "created_at" in row:
            columns = ", ".join(row)
            marks = ", ".join("?" * len(row))
            c.execute(
                f"INSERT INTO {self.index_table} ({columns}) VALUES ({marks})", list(row.values())
            )
            return
        session_id = row.pop("session_id")
        assignments = ", ".join(f"{column} = ?" for column in row)
        c.execute(
            f"UPDATE {self.index_table} SET {assignments} WHERE session_id = ?",
            [*row.values(), session_id],
        )


class SqliteStore(RecorderStore[_IndexedSQLiteRecorder]):
    """Sessions in one SQLite file (WAL mode; safe across threads and processes).

    Opening it brings the tables to the latest layout; with ``migrate=False`` it
    first checks, without writing to the file, that they are there and current
    (StoreNotFoundError, SchemaMigrationRequiredError otherwise). A write waits up to
    ``timeout`` seconds for the file's write lock (held by another process, or
    by another thread of this one), then fails with StoreLockedError and
    writes nothing.
    """

    def __init__(
        self,
        db_file: str | Path,
        session_table: str = "kern_sessions",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        migrate: bool = True,
        asynchronous: bool = False,
    ) -> None:
        names = table_names(session_table)
        self.names = names
        self.segments_table = names.segments
        self.keys_table = names.keys
        self.erasures_table = names.erasures
        self.db_file = str(db_file)
        self.timeout = _check_timeout(timeout)
        self.name = f"SQLite database {self.db_file!r}"
        self.migrate = migrate
        where = f"{self.name} (table {names.schema_versions})"
        if not migrate:
            sqlite_migrations.check_current(self.db_file, names, where=where)
        try:
            self.datastore = SQLiteDatastore(
                db_name=self.db_file,
                originator_id_type="text",
                # sqlite3.connect takes fractional seconds; the library only annotates int.
                lock_timeout=self.timeout,  # type: ignore[arg-type]
                # Threads of this process queue for the one writer connection: as long.
                pool_timeout=self.timeout,
            )
            if asynchronous:
                self.datastore.pool = ThreadPool(  # type: ignore[assignment]
                    self.datastore.pool, StoreThread(f"kern-sqlite-{names.events}")
                )
            self._migrate(names, where)
            recorder = _IndexedSQLiteRecorder(
                self.datastore, names.events, names.index, names.keys, names.runs
            )
            self.snapshots_table = names.snapshots
        except (PersistenceError, sqlite3.Error) as exc:
            if _is_lock_timeout(exc):
                raise self._locked("cannot open SQLite database") from exc
            raise StoreUnavailableError(f"cannot open {self.name}: {exc}") from exc
        super().__init__(recorder, new_lock=bridge.CallerLock if asynchronous else threading.RLock)
        self.asynchronous = asynchronous
        """Async mode: every sqlite3 call on a thread of the store's own, waited
        for on the event loop (:mod:`kern.adapters.stores.sqlite_thread`)."""

    def _migrate(self, names: TableNames, where: str) -> None:
        """Bring the tables to the latest layout (unless opened with migrate=False);
        in async mode, then lend the connection only during async calls (and stop
        its thread if this failed)."""
        pool = self.datastore.pool
        try:
            if self.migrate:
                sqlite_migrations.migrate(self.datastore, names, where=where)
        except BaseException:
            if isinstance(pool, ThreadPool):
                pool.close()
            raise
        if isinstance(pool, ThreadPool):
            pool.opened()

    def append(self, events: Sequence[SessionEvent]) -> None:
        started = time.monotonic()
        try:
            super().append(events)
        except StoreLockedError as exc:
            # Refused before the timeout ran out: SQLite answered "busy" at once (another
            # connection recovering the WAL or checkpointing), not after waiting. Nothing
            # was written; read the session again and retry, like any other conflict.
            if time.monotonic() - started < self.timeout:
                raise AppendConflict(str(exc)) from exc
            raise

    def store_error(self, what: str, exc: PersistenceError) -> StoreError:
        if not self.closed and _is_lock_timeout(exc):
            return self._locked(what)
        return super().store_error(what, exc)

    def _locked(self, what: str) -> StoreLockedError:
        return StoreLockedError(
            f"{what}: {self.name} is locked: another connection "
            f"held its write lock for longer than the {self.timeout:g} s timeout; "
            "nothing was written"
        )

    def _rows(self, what: str, statement: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of a read-only statement; StoreError naming ``what`` if it fails."""
        datastore = self.recorder.datastore
        try:
            with datastore.transaction(commit=False) as c:
                c.execute(statement, params)
                rows: list[sqlite3.Row] = c.fetchall()
        except PersistenceError as exc:
            raise self.store_error(f"could not {what}", exc) from exc
        return rows

    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        where, params = [], []
        for condition in query.predicates():
            where.append(_SQL_CONDITIONS[condition.op].format(column=condition.column))
            params.append(condition.value)
        order = "DESC" if query.descending else "ASC"
        sql = (
            f"SELECT {', '.join(INDEX_COLUMNS)} FROM {self.recorder.index_table} "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY {query.sort_by} {order}, session_id {order}"
        )
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [query.limit, query.offset]
        return [
            SessionSummary(**{k: row[k] for k in INDEX_COLUMNS} | {"deleted": bool(row["deleted"])})
            for row in self._rows("list sessions", sql, params)
        ]

    def listing_row(self, session_id: str) -> SessionSummary | None:
        sql = (
            f"SELECT {', '.join(INDEX_COLUMNS)} FROM {self.recorder.index_table} "
            "WHERE session_id = ?"
        )
        rows = self._rows(f"read the listing of {session_id!r}", sql, [session_id])
        if not rows:
            return None
        row = rows[0]
        return SessionSummary(
            **{k: row[k] for k in INDEX_COLUMNS} | {"deleted": bool(row["deleted"])}
        )

    def open_runs(
        self, before: float, *, user_id: str | None = None, run_id: str | None = None
    ) -> list[InterruptedRun]:
        statement = open_run_rows.select(
            self.names.runs,
            self.names.index,
            mark="?",
            user=user_id is not None,
            run=run_id is not None,
            live="NOT i.deleted",
        )
        params = [before, *(v for v in (user_id, run_id) if v is not None)]
        rows = self._rows("list the open runs", statement, params)
        return [open_run_rows.to_run(row) for row in rows]

    def session_ids(self) -> list[str]:
        sql = f"SELECT session_id FROM {self.recorder.index_table} ORDER BY created_at, session_id"
        return [row["session_id"] for row in self._rows("list sessions", sql)]

    def read_segments(self, session_id: str, upto: int | None = None) -> list[ReadSegment]:
        statement = segment_rows.select(self.segments_table, upto=upto is not None, mark="?")
        params = [session_id] if upto is None else [session_id, upto]
        rows = self._rows(f"read the segments of {session_id!r}", statement, params)
        return [segment_rows.to_segment(row) for row in rows]

    def write_segments(self, session_id: str, segments: Sequence[ReadSegment]) -> None:
        if not segments:
            return
        writes = segment_rows.statements(self.segments_table, session_id, segments, mark="?")
        try:
            with self.recorder.datastore.transaction(commit=True) as c:
                for statement, params in writes:
                    c.execute(statement, params)
        except PersistenceError as exc:
            raise self.store_error(f"could not keep the segments of {session_id!r}", exc) from exc

    def snapshot_row(self, session_id: str) -> SnapshotRow | None:
        statement = snapshot_rows.select(self.snapshots_table, mark="?")
        rows = self._rows(f"read the snapshot of {session_id!r}", statement, [session_id])
        return snapshot_rows.to_snapshot(rows[0]) if rows else None

    def save_snapshot(self, row: SnapshotRow) -> None:
        self._write(*snapshot_rows.save(self.snapshots_table, row, mark="?"))

    def drop_snapshot(self, row: SnapshotRow) -> None:
        self._write(*snapshot_rows.drop(self.snapshots_table, row, mark="?"))

    def delete_session_rows(self, session_id: str, entry: ErasureEntry) -> None:
        """One transaction with ``secure_delete`` on, so the deleted rows' bytes are
        overwritten, not just unlinked; then a checkpoint, so the WAL (whose
        frames held them too) is copied back and emptied when no reader holds it."""
        names = self.names
        statements: list[tuple[str, Sequence[Any]]] = [
            ("PRAGMA secure_delete = ON", ()),
            (f"INSERT INTO {names.purging} (session_id) VALUES (?)", [session_id]),
            (f"DELETE FROM {names.events} WHERE originator_id = ?", [session_id]),
            (f"DELETE FROM {names.purging} WHERE session_id = ?", [session_id]),
            open_run_rows.delete_session(names.runs, session_id, mark="?"),
            *erasure_rows.purge_deletes(
                session_id,
                index=names.index,
                segments=names.segments,
                snapshots=names.snapshots,
                keys=names.keys,
                mark="?",
            ),
            erasure_rows.insert(names.erasures, entry, mark="?"),
        ]
        datastore = self.recorder.datastore
        previous: int | None = None
        with datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            try:
                # Errors inside the transaction come out as eventsourcing's, rolled back.
                with connection.transaction(commit=True) as c:
                    c.execute("PRAGMA secure_delete")
                    previous = int(c.fetchone()[0])
                    for statement, params in statements:
                        c.execute(statement, params)
            finally:
                if previous is not None:
                    with contextlib.suppress(sqlite3.Error):
                        cursor.execute(f"PRAGMA secure_delete = {previous}")
            # The purge has committed: a checkpoint that cannot run now (a reader
            # holds the WAL) is left to the next one, and fails nothing.
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def insert_erasure(self, entry: ErasureEntry) -> None:
        self._write(*erasure_rows.insert(self.names.erasures, entry, mark="?"))

    def erasures(self) -> list[ErasureEntry]:
        rows = self._rows("read the erasure ledger", erasure_rows.select(self.names.erasures))
        return [erasure_rows.to_entry(row) for row in rows]

    def _write(self, statement: str, params: Sequence[Any]) -> None:
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(statement, params)

    # -- data keys ----------------------------------------------------------------

    def get_key(self, *, session_id: str | None = None, key_id: str | None = None) -> KeyRow | None:
        column, value = ("session_id", session_id) if session_id is not None else ("key_id", key_id)
        statement = key_rows.select(self.keys_table, column, mark="?")
        rows = self._rows("read a data key", statement, [value])
        return key_rows.to_key(rows[0]) if rows else None

    def any_key(self) -> KeyRow | None:
        rows = self._rows("read a data key", key_rows.select_any(self.keys_table))
        return key_rows.to_key(rows[0]) if rows else None

    def key_rows(self, owner: str | None = None) -> list[KeyRow]:
        if owner is None:
            rows = self._rows("read the data keys", key_rows.select_all(self.keys_table))
        else:
            statement = key_rows.select(self.keys_table, "owner", mark="?")
            rows = self._rows("read the data keys", statement, [owner])
        return [key_rows.to_key(row) for row in rows]

    def key_erased(self, key_id: str) -> bool:
        statement = key_rows.erased(self.erasures_table, mark="?")
        pattern = key_rows.erased_pattern(key_id)
        return bool(self._rows("read the erasure ledger", statement, [pattern]))

    def destroy_keys(self, rows: Sequence[KeyRow], entry: ErasureEntry) -> None:
        delete = key_rows.delete(self.keys_table, mark="?")
        blank = (
            f"UPDATE {self.recorder.index_table} SET session_name = '', session_name_key = '' "
            "WHERE session_id = ?"
        )
        insert, params = erasure_rows.insert(self.erasures_table, entry, mark="?")
        datastore = self.recorder.datastore
        try:
            with datastore.transaction(commit=True) as c:
                # Deleted rows are overwritten with zeros in the file, not just unlinked.
                c.execute("PRAGMA secure_delete = ON")
                for row in rows:
                    c.execute(delete, [row.key_id])
                    c.execute(blank, [row.session_id])
                c.execute(insert, params)
            with datastore.transaction(commit=False) as c:
                # Copy the WAL into the file and empty it: no frame keeps the old key.
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except PersistenceError as exc:
            raise self.store_error("could not destroy data keys", exc) from exc

    def rewrap_keys(self, rows: Sequence[KeyRow]) -> None:
        statement = key_rows.rewrap(self.keys_table, mark="?")
        try:
            with self.recorder.datastore.transaction(commit=True) as c:
                c.execute("PRAGMA secure_delete = ON")
                for row in rows:
                    c.execute(statement, [row.wrapped, row.master_key_id, row.key_id])
        except PersistenceError as exc:
            raise self.store_error("could not rewrap the data keys", exc) from exc

    def close(self) -> None:
        super().close()
        self.datastore.close()
