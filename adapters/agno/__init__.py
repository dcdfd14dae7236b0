"""Reading Agno's databases, for ``kern import-agno`` and :func:`kern.importing.import_agno`.

I/O only: :mod:`.tables` reads Agno's sessions and runs tables with plain SQL
(agno and SQLAlchemy are never needed), :mod:`.sqlite` opens an Agno SQLite
file read-only with the sqlite3 module, :mod:`.postgres` an Agno PostgreSQL
schema with psycopg. What the records become is decided in
:mod:`kern.application.agno_import`.
"""

from __future__ import annotations

from kern.adapters.agno.tables import DEFAULT_TABLE, AgnoTables


def open_agno(
    source: str,
    *,
    table: str = DEFAULT_TABLE,
    runs_table: str | None = None,
    schema: str | None = None,
) -> AgnoTables:
    """The Agno database ``source`` names: a ``postgresql://`` URL (its tables in
    ``schema``, by default Agno's ``ai``) or the path of a SQLite file."""
    if source.lower().startswith(("postgresql://", "postgres://", "postgresql+psycopg")):
        from kern.adapters.agno.postgres import PostgresAgnoTables

        return PostgresAgnoTables(source, table=table, runs_table=runs_table, schema=schema)
    from kern.adapters.agno.sqlite import SqliteAgnoTables

    if schema is not None:
        from kern.domain.errors import InvalidInputError

        raise InvalidInputError("a schema applies to a PostgreSQL source only, not a SQLite file")
    return SqliteAgnoTables(source, table=table, runs_table=runs_table)


__all__ = ["DEFAULT_TABLE", "AgnoTables", "open_agno"]
