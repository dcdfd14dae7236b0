"""The PostgreSQL store's connections in async mode: psycopg's AsyncConnectionPool, bridged.

``AsyncPostgresDb`` runs the same :class:`~kern.adapters.stores.postgres.PostgresStore`
code as ``PostgresDb``, on the event loop (:mod:`kern.application.bridge`). Only
the pool differs: :class:`BridgedPool` takes the place of eventsourcing's
``PostgresDatastore.pool`` and hands out :class:`BridgedConnection` objects,
which look like psycopg's sync ``Connection`` to the store (``execute``,
``cursor``, ``transaction``, ``adapters``) but run every statement on a
``psycopg.AsyncConnection`` through :func:`~kern.application.bridge.wait`: the
calling task waits, the loop runs other tasks meanwhile.

The pool belongs to the loop that opens it (the first async call's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Protocol, Self

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.adapt import AdaptersMap
from psycopg.rows import DictRow
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from kern.application import bridge
from kern.domain.errors import AsyncStoreError


class _AsyncContext(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


@contextlib.contextmanager
def entered(context: _AsyncContext) -> Iterator[Any]:
    """The async context manager ``context``, entered and exited through :func:`bridge.wait`."""
    value = bridge.wait(context.__aenter__())
    try:
        yield value
    except BaseException as exc:
        if not bridge.wait(context.__aexit__(type(exc), exc, exc.__traceback__)):
            raise
    else:
        bridge.wait(context.__aexit__(None, None, None))


class BridgedCursor:
    """A ``psycopg.AsyncCursor`` used like a sync cursor (``with`` closes it)."""

    def __init__(self, cursor: psycopg.AsyncCursor[DictRow]) -> None:
        self._cursor = cursor

    def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
        bridge.wait(self._cursor.execute(query, params, **options))
        return self

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> DictRow | None:
        return bridge.wait(self._cursor.fetchone())

    def fetchall(self) -> list[DictRow]:
        return bridge.wait(self._cursor.fetchall())

    def close(self) -> None:
        bridge.wait(self._cursor.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BridgedConnection:
    """A ``psycopg.AsyncConnection`` used like the sync connection the store expects."""

    def __init__(self, connection: psycopg.AsyncConnection[DictRow]) -> None:
        self.connection = connection
        """The async connection (also what ``sql.Composable.as_string`` reads)."""

    @property
    def adapters(self) -> AdaptersMap:
        return self.connection.adapters

    def execute(self, query: Any, params: Any = None, **options: Any) -> BridgedCursor:
        return BridgedCursor(bridge.wait(self.connection.execute(query, params, **options)))

    def cursor(self, *, binary: bool = False) -> BridgedCursor:
        return BridgedCursor(self.connection.cursor(binary=binary))

    def transaction(
        self, *, force_rollback: bool = False
    ) -> contextlib.AbstractContextManager[Any]:
        return entered(self.connection.transaction(force_rollback=force_rollback))


class BridgedPool:
    """In place of eventsourcing's ``PostgresDatastore.pool``: the same settings
    (taken from ``like``, the sync pool it replaces, which never opened), served by
    an ``AsyncConnectionPool`` made when the store first opens it, on that loop."""

    def __init__(self, like: ConnectionPool[Any], idle_in_transaction_timeout: float) -> None:
        assert isinstance(like.kwargs, dict)
        self.kwargs: dict[str, Any] = dict(like.kwargs)
        """The connections' parameters (the store adds to them before opening)."""
        self.max_size = like.max_size
        self._like = like
        self._idle_setting = sql.SQL("SET idle_in_transaction_session_timeout = {}").format(
            sql.Literal(f"{int(idle_in_transaction_timeout * 1000)}ms")
        )
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] | None = None
        self._opened: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] | None = None

    async def _configure(self, connection: psycopg.AsyncConnection[DictRow]) -> None:
        """What the sync pool does to each new connection: autocommit, the idle timeout."""
        await connection.set_autocommit(True)
        await connection.execute(self._idle_setting)

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        if self._opened is not None and self._opened is self._pool:
            return  # eventsourcing asks before every statement: open already
        if self._pool is None:
            like = self._like
            self._pool = AsyncConnectionPool(
                kwargs=self.kwargs,
                connection_class=psycopg.AsyncConnection[DictRow],
                min_size=like.min_size,
                max_size=like.max_size,
                open=False,
                configure=self._configure,
                timeout=like.timeout,
                max_lifetime=like.max_lifetime,
            )
        bridge.wait(self._pool.open(wait=wait, timeout=timeout))
        self._opened = self._pool

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[BridgedConnection]:
        pool = self._pool
        assert pool is not None, "open() the pool first"
        # getconn/putconn rather than pool.connection(): what that context manager
        # adds is a third coroutine to step per statement.
        connection = bridge.wait(pool.getconn(timeout))
        try:
            yield BridgedConnection(connection)
        finally:
            bridge.wait(pool.putconn(connection))

    def check(self) -> None:
        if self._pool is not None:
            bridge.wait(self._pool.check())

    def get_stats(self) -> dict[str, int]:
        """The async pool's statistics (psycopg_pool's names), empty before it opened."""
        return self._pool.get_stats() if self._pool is not None else {}

    def close(self) -> None:
        """Close the async pool: through the loop during an async call; from sync
        code (a garbage-collected store) only a pool that never opened."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            bridge.wait(pool.close())
        except AsyncStoreError:
            self._pool = pool  # its loop must close it: AsyncKernDb.close()
            raise


def make_async(datastore: PostgresDatastore) -> None:
    """Put ``datastore`` in async mode: a :class:`BridgedPool` in place of its pool,
    and its composite-type lookup (run when a recorder is made) awaited."""
    datastore.pool = BridgedPool(  # type: ignore[assignment]
        datastore.pool, datastore.idle_in_transaction_session_timeout
    )

    def register_type_adapters() -> None:
        names = [n for n in datastore.db_type_names if n not in datastore.psycopg_type_adapters]
        if not names:
            return
        with datastore.get_connection() as conn:
            assert isinstance(conn, BridgedConnection)
            connection = conn.connection
            for name in names:
                found = CompositeInfo.fetch(connection, f"{datastore.schema}.{name}")
                info = bridge.wait(found)
                if info is None:
                    continue
                register_composite(info, connection)
                datastore.psycopg_type_adapters[name] = info
                datastore.psycopg_python_types[name] = info.python_type

    datastore.register_type_adapters = register_type_adapters  # type: ignore[method-assign]
