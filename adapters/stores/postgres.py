"""The PostgreSQL store: eventsourcing's postgres recorder plus a listing table.

Tables, in ``db_schema``, named from ``session_table`` (default ``kern_sessions``):

- ``<session_table>_events``: eventsourcing's stored-events table
  (originator_id text = session_id, originator_version bigint = version,
  topic text, state bytea, notification_id bigserial) plus
  transaction_id xid8 for the store-wide feed's order, primary key
  (originator_id, originator_version). Triggers refuse UPDATE, DELETE and
  TRUNCATE: the log is append-only, enforced by the database. Kern appends
  with its own one-statement insert, without the recorder's table lock.
- ``<session_table>_index``: one row per session, written in the same
  transaction as the events it summarises, serving ``get_sessions``.
- ``<session_table>_snapshots``: one snapshot per session (derived data, see
  :mod:`kern.projections.snapshots`), replaced only by a newer one.
- ``<session_table>_erasures``: the erasure ledger. A purge deletes a
  session's events in a transaction that names it in ``kern.purge_session``
  (``SET LOCAL``): the guard lets exactly those rows go, and only for a role
  granted DELETE (the owner; never the least-privilege application role).
- ``<session_table>_schema``: the versions of this layout applied (see
  :mod:`kern.adapters.stores.postgres_migrations`), brought up to date on first use.

Nothing connects until first use; then the connection is probed once so an
unreachable server, a refused login or a missing database raises
StoreUnavailableError naming host, port and database (never the password),
with the driver's reason. Every statement is tried again over a lost
connection, and only then (:mod:`kern.adapters.stores.retry`); a closed
store raises StoreClosedError at once.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow

from kern.adapters.stores import (
    async_pool,
    erasure_rows,
    key_rows,
    open_run_rows,
    postgres_migrations,
    segment_rows,
    snapshot_rows,
)
from kern.adapters.stores.identifiers import check_identifier, redact_url, table_names
from kern.adapters.stores.postgres_recorder import PostgresLogRecorder
from kern.adapters.stores.recorder import RecorderStore, T
from kern.adapters.stores.retry import RetryPolicy
from kern.application import bridge
from kern.application.keys import KeyRow
from kern.application.ports import FeedEntry, FeedPosition
from kern.domain.erasure import ErasureEntry
from kern.domain.errors import InvalidInputError, StoreUnavailableError
from kern.projections.listing import INDEX_COLUMNS, SessionQuery, SessionSummary
from kern.projections.open_runs import InterruptedRun
from kern.projections.segments import ReadSegment
from kern.projections.snapshots import SnapshotRow

APPLICATION_NAME = "kern"
WRITER_LOCK_CLASS = 0x4B657277  # "Kerw"
"""The first half of every session's writer-queue lock key (``PostgresStore.writing``)."""
TURN_TIMEOUT = "10s"
"""How long a writer waits for its turn at a session before going ahead without it."""
_SQL_CONDITIONS = {
    "=": "{column} = %s",
    ">=": "{column} >= %s",
    "<": "{column} < %s",
    "contains": "strpos({column}, %s) > 0",
}
"""How each listing condition (kern.projections.listing.Predicate) reads in PostgreSQL."""
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")


def parse_db_url(db_url: str) -> dict[str, Any]:
    """Connection parameters from a ``postgresql://`` (or ``+psycopg``) URL."""
    if not isinstance(db_url, str) or "://" not in db_url:
        raise InvalidInputError(
            "db_url must be a URL like postgresql://user:password@host:5432/dbname"
        )
    scheme, rest = db_url.split("://", 1)
    if scheme.lower() not in _SCHEMES:
        raise InvalidInputError(
            f"db_url scheme must be postgresql:// or postgresql+psycopg://, got {scheme}://"
        )
    try:
        params = conninfo_to_dict(f"postgresql://{rest}")
    except (psycopg.ProgrammingError, ValueError) as exc:
        shown = redact_url(db_url)
        reason = str(exc).replace(f"postgresql://{rest}", shown).replace(rest, shown)
        raise InvalidInputError(f"db_url {shown!r} cannot be parsed: {reason}") from None
    params.setdefault("host", "localhost")
    params.setdefault("port", 5432)
    params.setdefault("user", "postgres")
    params.setdefault("dbname", params["user"])
    params.setdefault("password", "")
    return params


class PostgresStore(RecorderStore[PostgresLogRecorder]):
    """Sessions in PostgreSQL, through one psycopg_pool pool (thread-safe)."""

    def __init__(
        self,
        db_url: str,
        session_table: str = "kern_sessions",
        db_schema: str = "public",
        pool_size: int = 2,
        max_overflow: int = 8,
        connect_timeout: float = 5.0,
        application_name: str = APPLICATION_NAME,
        migrate: bool = True,
        *,
        asynchronous: bool = False,
    ) -> None:
        super().__init__(None, new_lock=bridge.CallerLock if asynchronous else threading.RLock)
        self.asynchronous = asynchronous
        """Async mode: connections from an AsyncConnectionPool, every wait on the
        event loop (:mod:`kern.adapters.stores.async_pool`)."""
        self.migrate = migrate
        self.application_name = application_name
        self.names = table_names(session_table)
        self.schema = check_identifier(db_schema, what="db_schema")
        self.params = parse_db_url(db_url)
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.connect_timeout = connect_timeout
        self.name = f"the PostgreSQL store at {self.where}"
        self.retry = RetryPolicy(recover=self._check_idle_connections)
        """How a statement is tried again over a lost connection."""
        self._ready: PostgresLogRecorder | None = None
        self._datastore: PostgresDatastore | None = None
        self._lock = self.new_lock()

    @property
    def where(self) -> str:
        """host:port/dbname, for messages (never the password)."""
        p = self.params
        return f"host {p['host']!r}, port {p['port']}, database {p['dbname']!r}"

    @property
    def recorder(self) -> PostgresLogRecorder:
        """The recorder, connecting and bringing the tables up to date on first use."""
        self.check_open()
        if self._ready is None:
            with self._lock:
                self.check_open()
                if self._ready is None:
                    self._ready = self._connect()
        return self._ready

    def attempt(self, call: Callable[[], T]) -> T:
        return self.retry(call)

    def _connect(self) -> PostgresLogRecorder:
        p = self.params
        try:
            # One direct connection first: the pool would only report a timeout,
            # this gives the server's own reason (refused, no such database, ...).
            self._probe()
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        datastore = PostgresDatastore(
            dbname=str(p["dbname"]),
            host=str(p["host"]),
            port=p["port"],
            user=str(p["user"]),
            password=str(p["password"]),
            schema=self.schema,
            originator_id_type="text",
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            connect_timeout=self.connect_timeout,
            pre_ping=False,  # see kern.adapters.stores.retry
        )
        if self.asynchronous:
            async_pool.make_async(datastore)
        assert isinstance(datastore.pool.kwargs, dict)
        datastore.pool.kwargs["application_name"] = self.application_name
        # No server-side prepared statements: when a pipelined insert is aborted by
        # an expected-version conflict, psycopg can believe a statement was prepared
        # that the server never kept, and the next insert on that connection fails
        # ("prepared statement does not exist"). Reads ask for it (prepare=True).
        datastore.pool.kwargs["prepare_threshold"] = None
        self._datastore = datastore
        try:
            recorder = PostgresLogRecorder(
                datastore, self.names.events, self.names.index, self.names.keys, self.names.runs
            )
            where = f"PostgreSQL at {self.where} (table {self.schema}.{self.names.schema_versions})"
            self.retry(
                lambda: postgres_migrations.migrate(
                    datastore, self.schema, self.names, where=where, allowed=self.migrate
                )
            )
        except BaseException as exc:
            self._datastore = None
            datastore.close()
            if isinstance(exc, PersistenceError | psycopg.Error):
                raise self._unavailable(exc) from None
            raise
        return recorder

    def _probe(self) -> None:
        """Connect once and close (psycopg.Error with the server's reason if it cannot)."""
        params: dict[str, Any] = {k: v for k, v in self.params.items() if v != ""}
        params |= {
            "connect_timeout": max(1, int(self.connect_timeout)),
            "application_name": self.application_name,
        }
        if self.asynchronous:
            connection = bridge.wait(psycopg.AsyncConnection.connect(**params))
            bridge.wait(connection.close())
        else:
            psycopg.connect(**params).close()

    @contextlib.contextmanager
    def writing(self, session_id: str) -> Iterator[None]:
        """A turn at the session: a transaction-level advisory lock on (WRITER_LOCK_CLASS,
        a hash of the log and the session), held on a connection of its own while the
        block reads, decides and appends on others. PostgreSQL grants it in the order
        writers asked, so writers of a busy session queue. A writer that cannot get
        it (TURN_TIMEOUT passed, a lost connection, a pool of one connection) goes ahead
        without it: the append's version check still decides; and the lock goes away
        with its connection, so a writer that dies in its turn blocks nobody."""
        datastore = self.recorder.datastore
        name = f"{self.schema}.{self.names.events}:{session_id}".encode()
        key = (WRITER_LOCK_CLASS, zlib.crc32(name) & 0x7FFFFFFF)
        entered = done = False
        try:
            if datastore.pool.max_size > 1:
                with datastore.get_connection() as conn, conn.transaction():
                    conn.execute("SELECT set_config('lock_timeout', %s, true)", [TURN_TIMEOUT])
                    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)
                    entered = True
                    yield
                    done = True
        except (PersistenceError, psycopg.Error):
            if entered and not done:
                raise
            # No turn (or its release failed after the block: the lock went with the
            # connection); the version check decides.
        if not entered:
            yield

    def _check_idle_connections(self) -> None:
        """After a failure: replace the pool's idle connections the server dropped."""
        datastore = self._datastore
        if datastore is not None:
            with contextlib.suppress(psycopg.Error):  # PoolClosed too
                datastore.pool.check()

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        reason = " ".join(str(exc).split()).replace(str(self.params.get("password") or "\0"), "***")
        error = StoreUnavailableError(f"cannot use PostgreSQL at {self.where}: {reason}")
        error.reason = reason  # type: ignore[attr-defined]
        return error

    def _fetch(
        self,
        what: str,
        statement: sql.Composed,
        params: Sequence[Any] = (),
        *,
        binary: bool = False,
    ) -> list[DictRow]:
        """Rows of a read-only statement, tried again over a lost connection.

        ``binary`` asks for the results in PostgreSQL's binary format: bytea then
        arrives as its bytes, not as hex text twice as long to send and decode."""
        datastore = self.recorder.datastore

        def fetch() -> list[DictRow]:
            with datastore.transaction(commit=False) as curs:
                curs.execute(statement, params, binary=binary)
                return curs.fetchall()

        try:
            return self.retry(fetch)
        except PersistenceError as exc:
            raise self.store_error(f"could not {what} at {self.where}", exc) from exc

    def list_sessions(self, query: SessionQuery) -> list[SessionSummary]:
        statement, params = self.listing_sql(query)
        rows = self._fetch("list sessions", statement, params)
        return [SessionSummary(**{k: row[k] for k in INDEX_COLUMNS}) for row in rows]

    def listing_sql(self, query: SessionQuery) -> tuple[sql.Composed, list[Any]]:
        """The SELECT that serves ``query`` from the index table, and its parameters."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        for condition in query.predicates():
            column = sql.Identifier(condition.column)
            if isinstance(condition.value, bool):
                # Written out, so the partial indexes (WHERE NOT deleted) serve it.
                where.append(sql.SQL("{}" if condition.value else "NOT {}").format(column))
                continue
            where.append(sql.SQL(_SQL_CONDITIONS[condition.op]).format(column=column))
            params.append(condition.value)
        # Code-point order for text and NULLs below every value: what SQLite and
        # the in-memory store do, so a listing reads the same on every store.
        text = query.text_sort
        order = sql.SQL("DESC" if query.descending else "ASC")
        # The timestamps are NOT NULL: a bare direction lets their btree indexes
        # serve the order (an explicit NULLS clause would not match them).
        nulls = sql.SQL(" NULLS LAST" if query.descending else " NULLS FIRST")
        sort = sql.SQL('{} COLLATE "C"' if text else "{}").format(sql.Identifier(query.sort_by))
        statement = sql.SQL(
            "SELECT {columns} FROM {schema}.{idx} WHERE {where} "
            'ORDER BY {sort} {order}{nulls}, session_id COLLATE "C" {order}'
        ).format(
            columns=sql.SQL(", ").join(map(sql.Identifier, INDEX_COLUMNS)),
            schema=sql.Identifier(self.schema),
            idx=sql.Identifier(self.names.index),
            where=sql.SQL(" AND ").join(where),
            sort=sort,
            order=order,
            nulls=nulls if text else sql.SQL(""),
        )
        if query.limit is not None:
            statement += sql.SQL(" LIMIT %s OFFSET %s")
            params += [query.limit, query.offset]
        return statement, params

    def read_feed(self, after: FeedPosition | None = None, limit: int = 1000) -> list[FeedEntry]:
        """Appends do not lock the table, so notification ids are handed out in
        insert order, not commit order: a follower reading by id alone could
        pass an id whose transaction commits later. The feed orders by the
        appending transaction's id first and serves only rows below the
        horizon (:meth:`_feed_horizon`): the oldest Kern append still in
        flight, so no row can ever appear before a position already served,
        and no other transaction on the server holds the feed back."""
        tx, seq = after if after is not None else FeedPosition(0, 0)
        horizon, page = self._feed_statements()
        datastore = self.recorder.datastore

        def fetch() -> list[DictRow]:
            # Two statements on an autocommit connection: each its own
            # transaction, so the page's snapshot is taken after the horizon
            # was read, whatever the server's default isolation level.
            with datastore.get_connection() as conn:
                row = conn.execute(horizon, self.recorder.feed_lock_key).fetchone()
                assert row is not None
                return conn.execute(page, [str(tx), seq, row["horizon"], limit]).fetchall()

        try:
            rows = self.retry(fetch)
        except PersistenceError as exc:
            raise self.store_error(f"could not read the feed at {self.where}", exc) from exc
        return self.expanded_feed(
            [
                FeedEntry(
                    FeedPosition(int(row["tx"]), int(row["notification_id"])),
                    self.decode(
                        StoredEvent(
                            originator_id=row["originator_id"],
                            originator_version=row["originator_version"],
                            topic=row["topic"],
                            state=bytes(row["state"]),
                        )
                    ),
                )
                for row in rows
            ]
        )

    def _feed_statements(self) -> tuple[sql.SQL, sql.Composed]:
        """The feed's horizon, then a page of the log below it (see :meth:`read_feed`).

        The horizon is the lowest transaction id among the appends to this log
        still in flight, found as the holders of the log's feed lock in
        ``pg_locks`` (each append takes it before its transaction has an id,
        :meth:`PostgresLogRecorder.feed_lock_key`), and otherwise the
        first transaction id not yet handed out when the horizon was read. An
        append that had an id then is either still holding the lock (and is
        the horizon, or above it) or has committed before the page's snapshot
        is taken; an append that gets an id later gets one above the horizon.
        ``pg_locks`` shows 32-bit transaction ids: they are matched against
        the snapshot's in-progress ids, which are 64-bit, like the log's.
        """
        horizon = sql.SQL(
            "SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))::text AS horizon "
            "FROM pg_snapshot_xip(pg_current_snapshot()) AS x "
            "WHERE x::text::bigint %% 4294967296 IN ("
            "SELECT t.transactionid::text::bigint FROM pg_locks a JOIN pg_locks t "
            "ON t.virtualtransaction = a.virtualtransaction "
            "WHERE a.locktype = 'advisory' AND a.classid = %s::oid AND a.objid = %s::oid "
            "AND a.objsubid = 2 "
            "AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted)"
        )
        page = sql.SQL(
            "SELECT transaction_id::text::bigint AS tx, notification_id, originator_id, "
            "originator_version, topic, state FROM {}.{} "
            "WHERE (transaction_id, notification_id) > (%s::text::xid8, %s) "
            "AND transaction_id < %s::xid8 "
            "ORDER BY transaction_id, notification_id LIMIT %s"
        ).format(sql.Identifier(self.schema), sql.Identifier(self.names.events))
        return horizon, page

    def listing_row(self, session_id: str) -> SessionSummary | None:
        statement = sql.SQL("SELECT {} FROM {}.{} WHERE session_id = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, INDEX_COLUMNS)),
            sql.Identifier(self.schema),
            sql.Identifier(self.names.index),
        )
        rows = self._fetch(f"read the listing of {session_id!r}", statement, [session_id])
        return SessionSummary(**{k: rows[0][k] for k in INDEX_COLUMNS}) if rows else None

    def open_runs(
        self, before: float, *, user_id: str | None = None, run_id: str | None = None
    ) -> list[InterruptedRun]:
        statement = open_run_rows.select(
            self._table(self.names.runs),
            self._table(self.names.index),
            mark="%s",
            user=user_id is not None,
            run=run_id is not None,
            live="NOT i.deleted",
        )
        params = [before, *(v for v in (user_id, run_id) if v is not None)]
        rows = self._fetch("list the open runs", sql.SQL(statement).format(), params)
        return [open_run_rows.to_run(row) for row in rows]

    def session_ids(self) -> list[str]:
        statement = sql.SQL(
            'SELECT session_id FROM {}.{} ORDER BY created_at, session_id COLLATE "C"'
        ).format(sql.Identifier(self.schema), sql.Identifier(self.names.index))
        return [row["session_id"] for row in self._fetch("list sessions", statement)]

    def _segments_table(self) -> str:
        return sql.Identifier(self.schema, self.names.segments).as_string(None)

    def read_segments(self, session_id: str, upto: int | None = None) -> list[ReadSegment]:
        statement = segment_rows.select(self._segments_table(), upto=upto is not None, mark="%s")
        params = [session_id] if upto is None else [session_id, upto]
        rows = self._fetch(
            f"read the segments of {session_id!r}",
            sql.SQL(statement).format(),
            params,
            binary=True,
        )
        return [segment_rows.to_segment(row) for row in rows]

    def write_segments(self, session_id: str, segments: Sequence[ReadSegment]) -> None:
        if not segments:
            return
        writes = segment_rows.statements(self._segments_table(), session_id, segments, mark="%s")
        datastore = self.recorder.datastore

        def write() -> None:
            with datastore.transaction(commit=True) as curs:
                for statement, params in writes:
                    curs.execute(sql.SQL(statement).format(), params)

        try:
            self.retry(write)
        except PersistenceError as exc:
            what = f"could not keep the segments of {session_id!r} at {self.where}"
            raise self.store_error(what, exc) from exc

    def _snapshots_table(self) -> str:
        return sql.Identifier(self.schema, self.names.snapshots).as_string(None)

    def snapshot_row(self, session_id: str) -> SnapshotRow | None:
        statement = sql.SQL(snapshot_rows.select(self._snapshots_table(), mark="%s")).format()
        rows = self._fetch(f"read the snapshot of {session_id!r}", statement, [session_id])
        return snapshot_rows.to_snapshot(rows[0]) if rows else None

    def save_snapshot(self, row: SnapshotRow) -> None:
        statement, params = snapshot_rows.save(self._snapshots_table(), row, mark="%s")
        self._write(sql.SQL(statement).format(), params)

    def drop_snapshot(self, row: SnapshotRow) -> None:
        statement, params = snapshot_rows.drop(self._snapshots_table(), row, mark="%s")
        self._write(sql.SQL(statement).format(), params)

    # -- data keys ----------------------------------------------------------------

    def _table(self, name: str) -> str:
        return sql.Identifier(self.schema, name).as_string(None)

    def get_key(self, *, session_id: str | None = None, key_id: str | None = None) -> KeyRow | None:
        column, value = ("session_id", session_id) if session_id is not None else ("key_id", key_id)
        statement = sql.SQL(key_rows.select(self._table(self.names.keys), column, mark="%s"))
        rows = self._fetch("read a data key", statement.format(), [value], binary=True)
        return key_rows.to_key(rows[0]) if rows else None

    def any_key(self) -> KeyRow | None:
        statement = sql.SQL(key_rows.select_any(self._table(self.names.keys))).format()
        rows = self._fetch("read a data key", statement, binary=True)
        return key_rows.to_key(rows[0]) if rows else None

    def key_rows(self, owner: str | None = None) -> list[KeyRow]:
        table = self._table(self.names.keys)
        if owner is None:
            statement = sql.SQL(key_rows.select_all(table)).format()
            rows = self._fetch("read the data keys", statement, binary=True)
        else:
            statement = sql.SQL(key_rows.select(table, "owner", mark="%s")).format()
            rows = self._fetch("read the data keys", statement, [owner], binary=True)
        return [key_rows.to_key(row) for row in rows]

    def key_erased(self, key_id: str) -> bool:
        statement = sql.SQL(key_rows.erased(self._table(self.names.erasures), mark="%s"))
        pattern = key_rows.erased_pattern(key_id)
        return bool(self._fetch("read the erasure ledger", statement.format(), [pattern]))

    def destroy_keys(self, rows: Sequence[KeyRow], entry: ErasureEntry) -> None:
        delete = sql.SQL(key_rows.delete(self._table(self.names.keys), mark="%s")).format()
        blank = sql.SQL(
            "UPDATE {} SET session_name = '', session_name_key = '' WHERE session_id = %s"
        ).format(sql.Identifier(self.schema, self.names.index))
        insert, params = erasure_rows.insert(self._table(self.names.erasures), entry, mark="%s")
        datastore = self.recorder.datastore

        def destroy() -> None:
            with datastore.transaction(commit=True) as curs:
                for row in rows:
                    curs.execute(delete, [row.key_id], prepare=False)
                    curs.execute(blank, [row.session_id], prepare=False)
                curs.execute(sql.SQL(insert).format(), params, prepare=False)

        try:
            self.retry(destroy)
        except PersistenceError as exc:
            raise self.store_error("could not destroy data keys", exc) from exc

    def rewrap_keys(self, rows: Sequence[KeyRow]) -> None:
        statement = sql.SQL(key_rows.rewrap(self._table(self.names.keys), mark="%s")).format()
        datastore = self.recorder.datastore

        def rewrap() -> None:
            with datastore.transaction(commit=True) as curs:
                for row in rows:
                    curs.execute(
                        statement, [row.wrapped, row.master_key_id, row.key_id], prepare=False
                    )

        try:
            self.retry(rewrap)
        except PersistenceError as exc:
            raise self.store_error("could not rewrap the data keys", exc) from exc

    def delete_session_rows(self, session_id: str, entry: ErasureEntry) -> None:
        names = self.names
        statements: list[tuple[str, Sequence[Any]]] = [
            ("SELECT set_config('kern.purge_session', %s, true)", [session_id]),
            (f"DELETE FROM {self._table(names.events)} WHERE originator_id = %s", [session_id]),
            ("SELECT set_config('kern.purge_session', '', true)", []),
            open_run_rows.delete_session(self._table(names.runs), session_id, mark="%s"),
            *erasure_rows.purge_deletes(
                session_id,
                index=self._table(names.index),
                segments=self._table(names.segments),
                snapshots=self._table(names.snapshots),
                keys=self._table(names.keys),
                mark="%s",
            ),
            erasure_rows.insert(self._table(names.erasures), entry, mark="%s"),
        ]
        with self.recorder.datastore.transaction(commit=True) as curs:
            for statement, params in statements:
                curs.execute(sql.SQL(statement).format(), params, prepare=False)

    def insert_erasure(self, entry: ErasureEntry) -> None:
        statement, params = erasure_rows.insert(self._table(self.names.erasures), entry, mark="%s")
        self._write(sql.SQL(statement).format(), params)

    def erasures(self) -> list[ErasureEntry]:
        statement = sql.SQL(erasure_rows.select(self._table(self.names.erasures))).format()
        return [
            erasure_rows.to_entry(row) for row in self._fetch("read the erasure ledger", statement)
        ]

    def _write(self, statement: sql.Composed, params: Sequence[Any]) -> None:
        """One statement in its own transaction (the store tries it again over a
        lost connection, :meth:`attempt`)."""
        with self.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(statement, params, prepare=False)

    def close(self) -> None:
        super().close()
        with self._lock:
            datastore, self._datastore = self._datastore, None
        if datastore is not None:
            datastore.close()
