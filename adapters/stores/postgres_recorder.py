"""The recorder behind the PostgreSQL store: Kern's own statements on eventsourcing's pool.

It reads a session's events by primary key, appends them and writes the
listing row in one statement (one round trip, no table lock), inserts an
import's sessions in batches, and holds the feed lock every append takes
(see :meth:`kern.adapters.stores.postgres.PostgresStore.read_feed`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from kern.adapters.stores import open_run_rows
from kern.adapters.stores.key_rows import COLUMNS as KEY_COLUMNS
from kern.adapters.stores.key_rows import DataKeyGone
from kern.adapters.stores.key_rows import params as key_params
from kern.application.keys import KeyRow
from kern.projections.listing import name_key
from kern.projections.open_runs import OpenRunChanges

FEED_LOCK_CLASS = 0x4B65726E  # "Kern"
"""The first half of every log's feed lock key (``feed_lock_key``)."""

IMPORT_BATCH = 500
"""Events inserted per statement when an import writes many sessions at once."""


class PostgresLogRecorder(PostgresApplicationRecorder):
    """eventsourcing's postgres recorder, for its datastore (the connection pool)
    and its table name; Kern reads and appends with statements of its own.

    Only public methods are overridden. Each runs its statement once: the
    store tries it again over lost connections (:mod:`kern.adapters.stores.retry`).
    The tables come from :mod:`kern.adapters.stores.postgres_migrations`.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        events_table: str,
        index_table: str,
        keys_table: str,
        runs_table: str,
    ) -> None:
        super().__init__(datastore, events_table_name=events_table)
        self.index_table = index_table
        self.keys_table = keys_table
        self.runs_table = runs_table
        self._statements: dict[tuple[int, tuple[str, ...] | None, bool, bool, bool], bytes] = {}
        self._selects: dict[tuple[bool, ...], bytes] = {}

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The stream's events with gt < version <= lte, in version order (``desc``:
        newest first), at most ``limit``: one range scan of the primary key."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            statement = self._compose_select(*shape).as_bytes(None)
            self._selects[shape] = statement
        params = [str(originator_id), *(v for v in (gt, lte, limit) if v is not None)]
        # Binary results: the state bytea arrives as its bytes, not as hex text
        # twice as long to send and decode.
        with self.datastore.get_connection() as conn, conn.cursor(binary=True) as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def _compose_select(self, gt: bool, lte: bool, desc: bool, limit: bool) -> sql.Composed:
        statement = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = %s"
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name))
        if gt:
            statement += sql.SQL(" AND originator_version > %s")
        if lte:
            statement += sql.SQL(" AND originator_version <= %s")
        statement += sql.SQL(
            " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC"
        )
        if limit:
            statement += sql.SQL(" LIMIT %s")
        return statement

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert the events, write the listing row (``listing=``) and store the session's
        new data key (``keys=``, a KeyRow) in one statement: one round trip, one
        implicit transaction, no table lock. A version that exists, or a key for a
        session that has one, fails the whole statement (an integrity error).
        With ``sealed_with=`` (a key id), the statement writes only if that key is
        there, and holds it (``FOR KEY SHARE``: an erasure's delete waits for this
        append to commit); DataKeyGone when it is not.

        eventsourcing's own insert locks the whole table (to hand out gap-free
        notification ids in commit order), which serialises writers of unrelated
        sessions. Kern reads streams by primary key, where the expected-version
        check is the key itself, so it does not need that lock.
        """
        if not stored_events:
            return None
        keys: list[KeyRow] = list(kwargs.get("keys") or ())
        listings: list[dict[str, Any]] | None = kwargs.get("listings")
        changes: list[OpenRunChanges] = kwargs.get("open_runs") or []
        if listings is not None:
            self._insert_sessions(stored_events, listings, keys, changes)
            return None
        listing: dict[str, Any] | None = kwargs.get("listing")
        row = dict(listing) if listing is not None else None
        if row is not None and "session_name" in row:
            row["session_name_key"] = name_key(row["session_name"])
        if len(keys) > 1:
            raise ValueError("one append stores at most one data key: its session's")
        sealed_with: str | None = kwargs.get("sealed_with")
        runs = changes[0] if changes else None
        statement = self._append_statement(
            len(stored_events),
            row,
            keyed=bool(keys),
            held=sealed_with is not None,
            runs=runs is not None,
        )
        params: list[Any] = [sealed_with] if sealed_with is not None else []
        if keys:
            params += key_params(keys[0])
        for e in stored_events:
            params += [str(e.originator_id), e.originator_version, e.topic, e.state]
        if runs is not None:
            params += _run_params(runs)
        if row is not None:
            if "created_at" in row:
                params += row.values()
            else:
                params += [v for k, v in row.items() if k != "session_id"]
                params.append(row["session_id"])
        with self.datastore.get_connection() as conn:
            written = conn.execute(statement, params, prepare=False).rowcount
        if sealed_with is not None and written == 0:
            raise DataKeyGone(sealed_with)
        return None

    def _insert_sessions(
        self,
        stored_events: Sequence[StoredEvent],
        listings: list[dict[str, Any]],
        keys: list[KeyRow],
        changes: list[OpenRunChanges],
    ) -> None:
        """Several sessions' events, listing rows and data keys (an import) in one
        transaction, the events in batches of :data:`IMPORT_BATCH` rows per statement."""
        with self.datastore.transaction(commit=True) as curs:
            for start in range(0, len(stored_events), IMPORT_BATCH):
                batch = stored_events[start : start + IMPORT_BATCH]
                params: list[Any] = []
                for e in batch:
                    params += [str(e.originator_id), e.originator_version, e.topic, e.state]
                curs.execute(self._append_statement(len(batch), None, keyed=False), params)
            for listing in listings:
                row = dict(listing)
                row["session_name_key"] = name_key(row["session_name"])
                # Gated on the feed lock like every append's writes (the batches
                # above took it already: it is held until the transaction ends).
                statement = sql.SQL("{} {}").format(self._in_flight(), self._listing_statement(row))
                curs.execute(statement, list(row.values()))
            if keys:
                params = [value for key in keys for value in key_params(key)]
                curs.execute(self._key_insert(len(keys)), params)
            table = sql.Identifier(self.datastore.schema, self.runs_table).as_string(None)
            for change in changes:
                for write, write_params in open_run_rows.writes(table, change, mark="%s"):
                    curs.execute(sql.SQL(write).format(), write_params)

    def _append_statement(
        self,
        count: int,
        row: dict[str, Any] | None,
        *,
        keyed: bool,
        held: bool = False,
        runs: bool = False,
    ) -> bytes:
        """The statement appending ``count`` events, writing the listing row
        (columns of ``row``) and, with ``runs``, the open-runs index; when
        ``keyed``, storing a data key, or, when ``held``, writing only if a data
        key is there; composed once per shape."""
        shape = (count, tuple(row) if row is not None else None, keyed, held, runs)
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._compose_append(
                count, row, keyed=keyed, held=held, runs=runs
            ).as_bytes(None)
            self._statements[shape] = statement
        return statement

    def _key_insert(self, count: int = 1) -> sql.Composed:
        """``INSERT`` of ``count`` data key rows (parameters: :func:`key_params`)."""
        values = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(KEY_COLUMNS)))
        return sql.SQL("INSERT INTO {}.{} ({}) VALUES {}").format(
            sql.Identifier(self.datastore.schema),
            sql.Identifier(self.keys_table),
            sql.SQL(", ").join(map(sql.Identifier, KEY_COLUMNS)),
            sql.SQL(", ").join([values] * count),
        )

    def _in_flight(self, *, held: bool = False) -> sql.Composed:
        """``WITH in_flight``: the feed's lock (see feed_lock_key), taken before the
        first row is written, so before the transaction has an id, and held until
        it ends. Every write is gated on it (``WHERE EXISTS (SELECT FROM in_flight)``).

        ``held``: only when the data key whose id is the first parameter is there,
        locked against deletion until the transaction ends; else ``in_flight`` is
        empty, and nothing is written."""
        lock = sql.SQL("pg_advisory_xact_lock_shared({}, {})").format(
            *map(sql.Literal, self.feed_lock_key)
        )
        if not held:
            return sql.SQL("WITH in_flight AS MATERIALIZED (SELECT {})").format(lock)
        return sql.SQL(
            "WITH in_flight AS MATERIALIZED (SELECT {} FROM {}.{} WHERE key_id = %s FOR KEY SHARE)"
        ).format(lock, sql.Identifier(self.datastore.schema), sql.Identifier(self.keys_table))

    def _compose_append(
        self,
        count: int,
        row: dict[str, Any] | None,
        *,
        keyed: bool,
        held: bool = False,
        runs: bool = False,
    ) -> sql.Composed:
        in_flight = self._in_flight(held=held)
        if keyed:
            # The session's new data key, stored by the append whose events it
            # sealed: a session that has a key already fails it like a version would.
            in_flight = sql.SQL("{}, keyed AS ({})").format(in_flight, self._key_insert())
        # %b sends the state as binary bytea (hex text would double its size).
        insert = sql.SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM (VALUES "
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name))
        insert += sql.SQL(", ").join([sql.SQL("(%s, %s::bigint, %s, %b)")] * count)
        insert += sql.SQL(") AS appended WHERE EXISTS (SELECT FROM in_flight)")
        if row is None:
            return sql.SQL("{} {}").format(in_flight, insert)
        # A data-modifying WITH runs to completion whatever the outer statement
        # reads, and they all stand or fall together: a version conflict on the
        # events aborts the listing and open-runs writes too.
        writes = sql.SQL("{}, appended AS ({})").format(in_flight, insert)
        if runs:
            writes = sql.SQL("{}, {}").format(writes, self._runs_writes())
        return sql.SQL("{} {}").format(writes, self._listing_statement(row))

    def _runs_writes(self) -> sql.Composed:
        """The open-runs index's writes of one append, as two WITH queries: the
        ended runs' rows (or all the session's, when it was deleted) removed,
        the other runs' rows written (parameters: :func:`_run_params`)."""
        table = sql.Identifier(self.datastore.schema, self.runs_table)
        return sql.SQL(
            "runs_ended AS (DELETE FROM {table} WHERE session_id = %s "
            "AND (%s OR run_id = ANY(%s::text[])) AND EXISTS (SELECT FROM in_flight)), "
            "runs_written AS (INSERT INTO {table} (session_id, run_id, last_version, last_at) "
            "SELECT %s, w.run_id, w.last_version, w.last_at "
            "FROM unnest(%s::text[], %s::bigint[], %s::float8[]) "
            "AS w(run_id, last_version, last_at) "
            "WHERE EXISTS (SELECT FROM in_flight) ON CONFLICT (session_id, run_id) "
            "DO UPDATE SET last_version = excluded.last_version, last_at = excluded.last_at)"
        ).format(table=table)

    @property
    def feed_lock_key(self) -> tuple[int, int]:
        """The two-int advisory lock key every append to this log holds, shared,
        for its whole transaction: (a constant of Kern's, a hash of the log's
        qualified name). The feed reads its holders from ``pg_locks`` to know
        which appends are still in flight (:meth:`PostgresStore.read_feed`)."""
        name = f"{self.datastore.schema}.{self.events_table_name}".encode()
        return FEED_LOCK_CLASS, zlib.crc32(name) & 0x7FFFFFFF

    def _listing_statement(self, row: dict[str, Any]) -> sql.Composed:
        schema, idx = sql.Identifier(self.datastore.schema), sql.Identifier(self.index_table)
        if "created_at" in row:
            return sql.SQL(
                "INSERT INTO {}.{} ({}) SELECT {} WHERE EXISTS (SELECT FROM in_flight)"
            ).format(
                schema,
                idx,
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            )
        return sql.SQL(
            "UPDATE {}.{} SET {} WHERE session_id = %s AND EXISTS (SELECT FROM in_flight)"
        ).format(
            schema,
            idx,
            sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(c)) for c in row if c != "session_id"
            ),
        )


def _run_params(changes: OpenRunChanges) -> list[Any]:
    """The parameters of :meth:`PostgresLogRecorder._runs_writes`."""
    written = changes.written
    return [
        changes.session_id,
        changes.session_deleted,
        list(changes.ended),
        changes.session_id,
        [row.run_id for row in written],
        [row.last_version for row in written],
        [row.last_at for row in written],
    ]
