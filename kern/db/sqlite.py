"""``SqliteDb``: sessions in one SQLite file, the embedded default."""

from __future__ import annotations

from pathlib import Path

from kern.adapters.stores.sqlite import DEFAULT_TIMEOUT, SqliteStore
from kern.application.async_sessions import AsyncKernDb
from kern.application.keys import Keyring
from kern.application.sessions import KernDb


class SqliteDb(KernDb):
    """Sessions in ``db_file``; tables named from ``session_table``, brought to the
    latest schema version when it is opened (SchemaVersionError if a newer Kern
    wrote them).

    ``migrate=False`` creates and changes nothing: the file must already hold
    these tables at this Kern's schema version. It is checked through a read-only
    connection before the store opens it, so a file that is not a Kern store is
    left exactly as it was (StoreNotFoundError; tables behind the code raise
    SchemaMigrationRequiredError). The ``kern`` command's read commands open
    their ``--db`` this way.

    A write waits up to ``timeout`` seconds for the file's write lock, then
    raises StoreLockedError having written nothing. With ``strict_users=True``
    every call must name a user_id (the setting for multi-user services).

    With ``keyring`` (:mod:`kern.crypto`), what users supplied and steps produced
    is stored encrypted under a key per data subject, which an erasure destroys
    (see docs/privacy.md); a store written with a keyring refuses to open
    without it (KeyringError), as does a keyring with another master key.
    """

    def __init__(
        self,
        db_file: str | Path = "kern.db",
        session_table: str = "kern_sessions",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        migrate: bool = True,
        strict_users: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        store = SqliteStore(
            db_file,
            session_table=session_table,
            timeout=timeout,
            migrate=migrate,
            asynchronous=not self.blocking,
        )
        try:
            store.use_keyring(keyring, check_now=self.blocking)
        except BaseException:
            store.close()
            raise
        super().__init__(store, strict_users=strict_users)
        self.db_file = str(db_file)
        self.session_table = session_table
        self.timeout = timeout
        self.migrate = migrate


class _OnLoop(SqliteDb):
    """The SqliteDb an AsyncSqliteDb runs: its store in async mode."""

    blocking = False


class AsyncSqliteDb(AsyncKernDb):
    """SqliteDb for asyncio services: the same arguments, file layout and
    guarantees, every method awaited. sqlite3 calls run on one thread the store
    owns while the calling task waits on the loop; the tables are opened (and
    migrated) when it is constructed, which needs no running loop. Use it from
    one event loop. ``await db.close()``, or ``async with``. A sync call on its
    store raises AsyncStoreError."""

    def __init__(
        self,
        db_file: str | Path = "kern.db",
        session_table: str = "kern_sessions",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        migrate: bool = True,
        strict_users: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        super().__init__(
            _OnLoop(
                db_file,
                session_table,
                timeout,
                migrate=migrate,
                strict_users=strict_users,
                keyring=keyring,
            )
        )
        self.db_file = str(db_file)
        self.session_table = session_table
        self.timeout = timeout


__all__ = ["AsyncSqliteDb", "SqliteDb"]
