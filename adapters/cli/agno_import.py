"""``kern import-agno``: Agno's workflow sessions into a Kern store.

    kern import-agno --from agno.db --db kern.db
    kern import-agno --from postgresql://... --from-schema ai --db kern.db

The Agno database is opened (read-only) and checked before ``--db``, so a
missing file or a database without Agno's tables creates no Kern store.
Exit status 0 when every session is in Kern as Agno had it (imported now or
before), 1 when some were stored otherwise or cannot be stored (the report
names them and why), 2 for a source that cannot be read.
"""

from __future__ import annotations

import argparse

from kern.adapters.agno import DEFAULT_TABLE, AgnoTables, open_agno
from kern.adapters.cli.output import Output, add_row, table
from kern.application.sessions import KernDb


def add_parser(parser: argparse.ArgumentParser) -> None:
    """The options of ``kern import-agno`` (``--db`` and the rest are common)."""
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="FILE_OR_URL",
        help="Agno's SQLite file, or a postgresql:// URL of Agno's PostgreSQL database",
    )
    parser.add_argument(
        "--from-table",
        default=DEFAULT_TABLE,
        metavar="TABLE",
        help=f"Agno's sessions table (its session_table; default: {DEFAULT_TABLE})",
    )
    parser.add_argument(
        "--from-runs-table",
        default=None,
        metavar="TABLE",
        help="Agno's runs table (default: agno_runs, or <TABLE>_runs for another --from-table)",
    )
    parser.add_argument(
        "--from-schema",
        default=None,
        metavar="SCHEMA",
        help="PostgreSQL only: the schema of Agno's tables (its db_schema; default: ai)",
    )


def open_source(args: argparse.Namespace) -> AgnoTables:
    """The Agno database the options name, opened and checked."""
    return open_agno(
        args.source,
        table=args.from_table,
        runs_table=args.from_runs_table,
        schema=args.from_schema,
    )


def import_agno(db: KernDb, args: argparse.Namespace, out: Output) -> int:
    """Import every workflow session of the source opened as ``args.agno``."""
    source: AgnoTables = args.agno
    with out.progress("Importing Agno sessions") as progress:
        report = db.import_agno(source, progress=progress)
    if out.as_json:
        out.json(report)
        return 0 if report.ok else 1
    grid = table("session_id", "result")
    for session_id in report.imported:
        add_row(grid, session_id, "imported")
    for session_id in report.skipped:
        add_row(grid, session_id, "skipped: already imported")
    for session_id, problem in report.differing:
        add_row(grid, session_id, f"left alone: {problem}")
    for session_id, problem in report.refused:
        add_row(grid, session_id, f"not imported: {problem}")
    summary = (
        f"Imported {len(report.imported)} session(s) ({report.events} event(s)) from "
        f"{source.shown} table {source.table!r}; {len(report.skipped)} already imported"
    )
    if not report.ok:
        summary += f"; {len(report.differing) + len(report.refused)} not imported (see above)"
    out.print(grid, summary)
    return 0 if report.ok else 1
