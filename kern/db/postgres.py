"""``PostgresDb``: sessions in PostgreSQL, Kern's production store (needs ``kern[postgres]``)."""

from __future__ import annotations

from kern.application.sessions import KernDb

try:
    from kern.adapters.stores.postgres import APPLICATION_NAME, PostgresStore
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
        *,
        strict_users: bool = False,
    ) -> None:
        super().__init__(
            PostgresStore(
                db_url,
                session_table=session_table,
                db_schema=db_schema,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_timeout=connect_timeout,
                application_name=application_name,
            ),
            strict_users=strict_users,
        )
        self.session_table = session_table
        self.db_schema = db_schema


__all__ = ["PostgresDb"]
