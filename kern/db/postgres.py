"""``PostgresDb``: sessions in PostgreSQL, Kern's production store (needs ``kern[postgres]``)."""

from __future__ import annotations

from kern.application.async_sessions import AsyncKernDb
from kern.application.keys import Keyring
from kern.application.sessions import KernDb

try:
    from kern.adapters.stores.identifiers import check_identifier, table_names
    from kern.adapters.stores.postgres import APPLICATION_NAME, PostgresStore
    from kern.adapters.stores.postgres_migrations import app_role_grants as _grants
except ModuleNotFoundError as exc:  # psycopg is an optional dependency
    raise ModuleNotFoundError(
        f"PostgresDb needs psycopg and psycopg_pool ({exc}): pip install 'kern[postgres]'"
    ) from exc


class PostgresDb(KernDb):
    """Sessions in PostgreSQL at ``db_url`` (``postgresql://`` or ``postgresql+psycopg://``).

    Tables are created in ``db_schema`` on first use, named from ``session_table``,
    or brought to the latest schema version (SchemaVersionError if a newer Kern
    wrote them). One connection pool per instance (``pool_size`` kept open, up
    to ``pool_size + max_overflow``), safe to share across threads; ``close()``
    it or use it as a context manager, after which every call raises
    StoreClosedError. Its connections show ``application_name`` in
    ``pg_stat_activity``. With ``strict_users=True`` every call must name a
    user_id (the setting for multi-user services; see KernDb.user).

    ``migrate=False`` never changes the tables: opening tables behind this Kern's
    schema version raises SchemaMigrationRequiredError (as does opening them
    with a role that may not migrate them). See :func:`app_role_grants` for a
    least-privilege application role.

    With ``keyring`` (:mod:`kern.crypto`), what users supplied and steps produced
    is stored encrypted under a key per data subject (see docs/privacy.md).
    """

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
        strict_users: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        store = PostgresStore(
            db_url,
            session_table=session_table,
            db_schema=db_schema,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_timeout=connect_timeout,
            application_name=application_name,
            migrate=migrate,
            asynchronous=not self.blocking,
        )
        # With a keyring, its check reaches the database now (a wrong master key
        # fails at open); without one, before the first write.
        try:
            store.use_keyring(keyring, check_now=keyring is not None and self.blocking)
        except BaseException:
            store.close()
            raise
        super().__init__(store, strict_users=strict_users)
        self.session_table = session_table
        self.db_schema = db_schema


class _OnLoop(PostgresDb):
    """The PostgresDb an AsyncPostgresDb runs: its store in async mode."""

    blocking = False


class AsyncPostgresDb(AsyncKernDb):
    """PostgresDb for asyncio services: the same arguments, tables and guarantees,
    every method awaited. It runs PostgresDb's code on the event loop, its
    connections from a ``psycopg_pool.AsyncConnectionPool`` (opened on the loop
    of its first call: use it from that loop only). ``await db.close()``, or
    ``async with``. A sync call on its store raises AsyncStoreError."""

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
        strict_users: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        sync = _OnLoop(
            db_url,
            session_table,
            db_schema,
            pool_size,
            max_overflow,
            connect_timeout,
            application_name,
            migrate,
            strict_users=strict_users,
            keyring=keyring,
        )
        super().__init__(sync)
        self.session_table = session_table
        self.db_schema = db_schema


def app_role_grants(
    role: str, session_table: str = "kern_sessions", db_schema: str = "public"
) -> list[str]:
    """The GRANT statements the owner role runs, after migrating, to let ``role``
    (an application role) run Kern on these tables and do nothing else: SELECT and
    INSERT on the events, SELECT, INSERT and UPDATE on the listing, SELECT on the
    schema version. It can then neither delete, truncate nor update events, nor
    disable the append-only triggers, nor drop a table."""
    return _grants(
        check_identifier(db_schema, what="db_schema"),
        table_names(session_table),
        check_identifier(role, what="role"),
    )


__all__ = ["AsyncPostgresDb", "PostgresDb", "app_role_grants"]
