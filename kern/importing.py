"""Importing sessions from other systems into a Kern store: Agno's workflow sessions.

    from kern.importing import import_agno

    report = import_agno("agno.db", db)   # or a postgresql:// URL, schema="ai"

See docs/from-agno.md for what the import records and what differs from Agno.
"""

from __future__ import annotations

from kern.adapters.agno import DEFAULT_TABLE, open_agno
from kern.application.agno_import import AgnoImportReport, Progress, SessionProblem
from kern.application.sessions import KernDb
from kern.domain.errors import InvalidInputError


def import_agno(
    source: str,
    db: KernDb,
    *,
    table: str = DEFAULT_TABLE,
    runs_table: str | None = None,
    schema: str | None = None,
    progress: Progress | None = None,
) -> AgnoImportReport:
    """Import every workflow session of an Agno database into ``db``.

    ``source`` is the path of Agno's SQLite file or a ``postgresql://`` URL;
    ``table`` its sessions table (Agno's ``session_table``), ``runs_table`` its
    runs table (by default Agno's own choice: ``agno_runs`` beside
    ``agno_sessions``, else ``<table>_runs``), and ``schema``, for PostgreSQL
    only, the schema holding them (default ``ai``, Agno's ``db_schema``).

    Each session is written in its own transaction, so an import cut short
    keeps whole sessions and a second one goes on from there: what is already
    in ``db`` exactly as the import would write it is skipped. The report lists
    the sessions imported, skipped, stored otherwise (``differing``, left
    alone) and ``refused`` (ones Kern cannot store, with why).

    ImportSourceError (nothing imported) for a file that does not exist, a
    server that cannot be reached, a database without the table or a table
    without Agno's columns; InvalidIdentifierError for a table or schema name
    that is not a plain SQL identifier.
    """
    if not isinstance(db, KernDb):
        raise InvalidInputError(
            f"db must be a Kern store (SqliteDb, PostgresDb, InMemoryDb), got "
            f"{type(db).__name__}; an import runs on the sync store of the same database"
        )
    if not isinstance(source, str) or not source:
        raise InvalidInputError(
            f"source must be a file path or a postgresql:// URL, got {source!r}"
        )
    with open_agno(source, table=table, runs_table=runs_table, schema=schema) as tables:
        return db.import_agno(tables, progress=progress)


__all__ = ["AgnoImportReport", "SessionProblem", "import_agno"]
